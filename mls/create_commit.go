package mls

import (
	"bytes"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// CommitOptions shape a commit this member creates.
type CommitOptions struct {
	// Proposals are committed by value.
	Proposals []*wire.Proposal
	// References names received proposals (by ProposalRef) to commit.
	References [][]byte
	// ForcePath adds an UpdatePath even when no proposal requires one.
	ForcePath bool
	// PublicMessage sends the commit as a PublicMessage (readable by the
	// network, e.g. for validators); the default is PrivateMessage.
	PublicMessage bool
	// Padding is the number of zero bytes added to a PrivateMessage.
	Padding int
	// AuthenticatedData travels with the commit, signed but unencrypted.
	AuthenticatedData []byte
}

// CommitResult is a created commit: the message to send, the Welcome for
// new members (nil when nobody is added), and the staged next epoch. The
// group changes only when the caller merges Staged, which the ordering
// layer does once it has picked the winner among rivals.
type CommitResult struct {
	Commit  *wire.MLSMessage
	Welcome *wire.Welcome
	Staged  *StagedCommit
}

// Commit creates a commit (RFC 9420 §12.4.1) with randomness from rand.
func (g *Group) Commit(rand io.Reader, opts CommitOptions) (*CommitResult, error) {
	if g.signingKey == nil {
		return nil, ErrPassive
	}
	committer := wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: uint32(g.ownLeaf)}
	commit := &wire.Commit{}
	var proposals []QueuedProposal
	for _, p := range opts.Proposals {
		commit.Proposals = append(commit.Proposals, wire.ProposalOrRef{Type: wire.ProposalOrRefTypeProposal, Proposal: p})
		proposals = append(proposals, QueuedProposal{Proposal: p, Sender: committer})
	}
	for _, ref := range opts.References {
		qp, ok := g.proposals[string(ref)]
		if !ok {
			return nil, fmt.Errorf("%w: reference %x", ErrUnknownProposal, ref)
		}
		commit.Proposals = append(commit.Proposals, wire.ProposalOrRef{Type: wire.ProposalOrRefTypeReference, Reference: ref})
		proposals = append(proposals, qp)
	}
	if err := g.ValidateProposals(committer, proposals, g.policy); err != nil {
		return nil, err
	}
	applied, err := g.ApplyProposals(proposals)
	if err != nil {
		return nil, err
	}
	tree := applied.Tree
	ctx := g.context
	ctx.Epoch++
	ctx.Extensions = applied.Extensions
	keys := g.keptPathKeys(tree)

	var commitSecret []byte
	pathSecrets := map[treemath.NodeIndex][]byte{}
	if opts.ForcePath || PathRequired(proposals) {
		var path *wire.UpdatePath
		path, commitSecret, err = g.generatePath(rand, tree, applied.Added, ctx, keys, pathSecrets)
		if err != nil {
			return nil, err
		}
		defer clear(commitSecret)
		commit.Path = path
	}
	if ctx.TreeHash, err = tree.TreeHash(); err != nil {
		return nil, err
	}

	wf := wire.WireFormatPrivateMessage
	if opts.PublicMessage {
		wf = wire.WireFormatPublicMessage
	}
	content := &wire.FramedContent{
		GroupID: g.context.GroupID, Epoch: g.context.Epoch, Sender: committer,
		AuthenticatedData: opts.AuthenticatedData, ContentType: wire.ContentTypeCommit, Commit: commit,
	}
	ac, err := framing.Sign(g.signingKey, wf, content, &g.context)
	if err != nil {
		return nil, err
	}
	epoch, err := advanceEpoch(g.suite, &ctx, g.interimTranscriptHash, ac, g.epoch.InitSecret, commitSecret, applied.PSKs, g.psks, g.ownResumption)
	if err != nil {
		return nil, err
	}
	ac.Auth.ConfirmationTag = epoch.ConfirmationTag(g.suite, ctx.ConfirmedTranscriptHash)
	interim, err := keyschedule.InterimTranscriptHash(g.suite, ctx.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag)
	if err != nil {
		return nil, err
	}

	// A PrivateMessage commit consumes a generation of this member's own
	// handshake ratchet even if the commit later loses, so that no key is
	// ever used twice.
	msg, err := g.protect(rand, ac, opts.Padding)
	if err != nil {
		return nil, err
	}
	res := &CommitResult{Commit: msg}

	next := &Group{
		suite: g.suite, context: ctx, tree: tree, ownLeaf: g.ownLeaf, pathKeys: keys, epoch: epoch,
		interimTranscriptHash: interim, signingKey: g.signingKey, psks: g.psks, policy: g.policy,
		resumption: g.nextResumption(), pastEpochs: g.pastEpochs, reinit: applied.ReInit,
	}
	if err := next.startFraming(g.window); err != nil {
		return nil, err
	}
	res.Staged = &StagedCommit{
		parentAuth: bytes.Clone(g.epoch.EpochAuthenticator), parentNum: g.context.Epoch, next: next,
		Committer: g.ownLeaf, Proposals: proposals, Added: applied.Added,
	}
	for _, qp := range proposals {
		switch qp.Proposal.Type {
		case wire.ProposalTypeRemove:
			res.Staged.Removed = append(res.Staged.Removed, treemath.LeafIndex(qp.Proposal.Remove.Removed))
		case wire.ProposalTypeUpdate:
			res.Staged.Updated = append(res.Staged.Updated, treemath.LeafIndex(qp.Sender.LeafIndex))
		}
	}
	if g.ownCommits == nil {
		g.ownCommits = map[string]*StagedCommit{}
	}
	digest, err := g.messageDigest(res.Commit)
	if err != nil {
		return nil, err
	}
	g.ownCommits[digest] = res.Staged
	if len(applied.Added) > 0 {
		if res.Welcome, err = next.welcome(rand, proposals, applied, pathSecrets); err != nil {
			return nil, err
		}
	}
	for _, s := range pathSecrets {
		clear(s)
	}
	return res, nil
}

// ownResumption answers resumption PSKs of this group's recent epochs.
func (g *Group) ownResumption(id *wire.PreSharedKeyID) ([]byte, bool) {
	if id.PSKType != wire.PSKTypeResumption || string(id.PSKGroupID) != string(g.context.GroupID) {
		return nil, false
	}
	return g.resumptionPSK(id.PSKEpoch)
}

// generatePath refreshes this member's leaf and filtered direct path in
// tree (§7.4, §7.5, §7.9) and encrypts each path secret to the copath
// resolution minus the members added by this commit, under the
// provisional GroupContext ctx (new epoch and extensions, old confirmed
// transcript hash). It records the new private keys in keys and the path
// secret of each path node in secrets (for the Welcome), and returns the
// UpdatePath and the commit secret.
func (g *Group) generatePath(rand io.Reader, tree *ratchettree.Tree, added []treemath.LeafIndex, ctx wire.GroupContext,
	keys, secrets map[treemath.NodeIndex][]byte) (*wire.UpdatePath, []byte, error) {
	cs := g.suite
	steps, err := tree.FilteredPath(g.ownLeaf)
	if err != nil {
		return nil, nil, err
	}
	leafPriv, leafPub, err := cs.GenerateKeyPair(rand)
	if err != nil {
		return nil, nil, err
	}
	secret := make([]byte, cs.HashSize())
	if _, err := io.ReadFull(rand, secret); err != nil {
		return nil, nil, fmt.Errorf("mls: reading randomness: %w", err)
	}
	if err := tree.BlankPath(g.ownLeaf); err != nil {
		return nil, nil, err
	}
	path := &wire.UpdatePath{Nodes: make([]wire.UpdatePathNode, len(steps))}
	for i, st := range steps {
		if i > 0 {
			next, err := cs.DeriveSecret(secret, "path")
			if err != nil {
				return nil, nil, err
			}
			secret = next
		}
		secrets[st.Node] = secret
		nodeSecret, err := cs.DeriveSecret(secret, "node")
		if err != nil {
			return nil, nil, err
		}
		priv, pub, err := cs.DeriveKeyPair(nodeSecret)
		clear(nodeSecret)
		if err != nil {
			return nil, nil, err
		}
		keys[st.Node] = priv
		path.Nodes[i].EncryptionKey = pub
		if err := tree.SetParent(st.Node, &wire.ParentNode{EncryptionKey: pub}); err != nil {
			return nil, nil, err
		}
	}
	commitSecret, err := cs.DeriveSecret(secret, "path")
	if err != nil {
		return nil, nil, err
	}
	if len(steps) == 0 {
		clear(secret) // not kept in secrets: nobody else receives it
	}
	leaf := *tree.Leaf(g.ownLeaf)
	leaf.EncryptionKey = leafPub
	leaf.LeafNodeSource = wire.LeafNodeSourceCommit
	leaf.Lifetime = nil
	if leaf.ParentHash, err = tree.SetPathParentHashes(g.ownLeaf); err != nil {
		return nil, nil, err
	}
	tbs, err := leaf.TBS(ctx.GroupID, uint32(g.ownLeaf))
	if err != nil {
		return nil, nil, err
	}
	if leaf.Signature, err = g.signingKey.SignWithLabel("LeafNodeTBS", tbs); err != nil {
		return nil, nil, err
	}
	path.LeafNode = leaf
	stored := leaf
	if err := tree.SetLeaf(g.ownLeaf, &stored); err != nil {
		return nil, nil, err
	}
	keys[g.ownLeaf.Node()] = leafPriv
	if ctx.TreeHash, err = tree.TreeHash(); err != nil {
		return nil, nil, err
	}
	encodedCtx, err := codec.Marshal(&ctx)
	if err != nil {
		return nil, nil, err
	}
	isAdded := map[treemath.NodeIndex]bool{}
	for _, l := range added {
		isAdded[l.Node()] = true
	}
	for i, st := range steps {
		for _, x := range tree.Resolution(st.Copath) {
			if isAdded[x] {
				continue
			}
			kem, ct, err := cs.EncryptWithLabel(rand, tree.EncryptionKey(x), "UpdatePathNode", encodedCtx, secrets[st.Node])
			if err != nil {
				return nil, nil, err
			}
			path.Nodes[i].EncryptedPathSecret = append(path.Nodes[i].EncryptedPathSecret, wire.HPKECiphertext{KEMOutput: kem, Ciphertext: ct})
		}
	}
	return path, commitSecret, nil
}

// welcome builds the Welcome for the members a commit adds (§12.4.3.1):
// a signed GroupInfo of the new epoch (g is the new state) with the
// ratchet tree and external public key, encrypted with the welcome key,
// and for each new member its GroupSecrets encrypted to its init key.
func (g *Group) welcome(rand io.Reader, proposals []QueuedProposal, applied *AppliedProposals,
	pathSecrets map[treemath.NodeIndex][]byte) (*wire.Welcome, error) {
	cs := g.suite
	// g is the new epoch's state, so its GroupInfo carries the commit's
	// confirmation tag: MAC(confirmation_key, confirmed_transcript_hash).
	gi, err := g.GroupInfo()
	if err != nil {
		return nil, err
	}
	giBytes, err := codec.Marshal(gi)
	if err != nil {
		return nil, err
	}
	key, nonce, err := keyschedule.WelcomeKeyNonce(cs, g.epoch.WelcomeSecret)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	w := &wire.Welcome{CipherSuite: wire.CipherSuite(cs.ID())}
	if w.EncryptedGroupInfo, err = cs.Seal(key, nonce, nil, giBytes); err != nil {
		return nil, err
	}
	// One encryptor for all new members: the context (the encrypted
	// GroupInfo, tree included) is hashed once, not once per member.
	enc, err := cs.NewLabelEncryptor("Welcome", w.EncryptedGroupInfo)
	if err != nil {
		return nil, err
	}
	i := 0
	for _, qp := range proposals {
		if qp.Proposal.Type != wire.ProposalTypeAdd {
			continue
		}
		kp := &qp.Proposal.Add.KeyPackage
		leaf := applied.Added[i]
		i++
		gs := &wire.GroupSecrets{JoinerSecret: g.epoch.JoinerSecret, PSKs: applied.PSKs}
		if s, ok := pathSecrets[treemath.CommonAncestor(leaf.Node(), g.ownLeaf.Node())]; ok {
			gs.PathSecret = &wire.PathSecret{PathSecret: s}
		}
		plain, err := codec.Marshal(gs)
		if err != nil {
			return nil, err
		}
		kem, ct, err := enc.Encrypt(rand, kp.InitKey, plain)
		clear(plain)
		if err != nil {
			return nil, err
		}
		kpBytes, err := codec.Marshal(kp)
		if err != nil {
			return nil, err
		}
		w.Secrets = append(w.Secrets, wire.EncryptedGroupSecrets{
			NewMember:             cs.MakeKeyPackageRef(kpBytes),
			EncryptedGroupSecrets: wire.HPKECiphertext{KEMOutput: kem, Ciphertext: ct},
		})
	}
	return w, nil
}
