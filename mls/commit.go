package mls

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

var (
	// ErrInvalidCommit: a commit failed a check of §12.4.2; the message
	// says which.
	ErrInvalidCommit = errors.New("mls: invalid commit")
	// ErrUnknownProposal: a commit refers to a proposal this member has
	// not received in this epoch.
	ErrUnknownProposal = errors.New("mls: commit refers to an unknown proposal")
	// ErrStaleCommit: Merge was given a commit staged on another epoch.
	ErrStaleCommit = errors.New("mls: staged commit does not apply to the current epoch")
)

// Processed is the result of a handshake message: a proposal now held for
// a later commit, or a staged commit that the caller may merge.
type Processed struct {
	Proposal    *QueuedProposal
	ProposalRef []byte // the reference by which a commit can include Proposal
	Commit      *StagedCommit
}

// ProcessHandshake authenticates a proposal or commit of the current epoch
// (§6, §12). A proposal is kept for commits that refer to it; a commit is
// staged, not applied: the group changes only on Merge. Nothing changes if
// the message is rejected.
func (g *Group) ProcessHandshake(m *wire.MLSMessage) (*Processed, error) {
	// This member's own commit back from the network: it cannot decrypt
	// it (its handshake key was consumed when sending) and its path
	// secrets were never encrypted to it, so it resolves to the state
	// staged when the commit was made.
	if len(g.ownCommits)+len(g.ownProposals) > 0 {
		digest, err := g.messageDigest(m)
		if err != nil {
			return nil, err
		}
		if sc, ok := g.ownCommits[digest]; ok {
			return &Processed{Commit: sc}, nil
		}
		if p, ok := g.ownProposals[digest]; ok {
			return p, nil
		}
	}
	var ac *wire.AuthenticatedContent
	var err error
	switch {
	case m.PublicMessage != nil:
		switch m.PublicMessage.Content.Sender.SenderType {
		case wire.SenderTypeMember:
			if ac, err = g.framing.UnprotectPublic(m.PublicMessage); err != nil {
				return nil, err
			}
			if err = g.verifyMember(ac); err != nil {
				return nil, err
			}
		case wire.SenderTypeNewMemberCommit:
			// An external commit (§12.4.3.2): signed by the key in its
			// path's leaf, under the current GroupContext.
			if ac, err = g.framing.UnprotectPublic(m.PublicMessage); err != nil {
				return nil, err
			}
			c := ac.Content.Commit
			if ac.Content.ContentType != wire.ContentTypeCommit || c == nil || c.Path == nil {
				return nil, fmt.Errorf("%w: new_member_commit without a commit and path", ErrInvalidCommit)
			}
			if err = framing.Verify(g.suite, c.Path.LeafNode.SignatureKey, ac, &g.context); err != nil {
				return nil, err
			}
		case wire.SenderTypeExternal, wire.SenderTypeNewMemberProposal:
			if ac, err = g.framing.UnprotectPublic(m.PublicMessage); err != nil {
				return nil, err
			}
			if err = g.verifyExternalProposal(ac); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("%w: %v sender", ErrUnsupportedMessage, m.PublicMessage.Content.Sender.SenderType)
		}
	case m.PrivateMessage != nil && m.PrivateMessage.ContentType != wire.ContentTypeApplication:
		if ac, err = g.framing.UnprotectPrivate(m.PrivateMessage, g.verifyMember); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: %v is not a handshake message", ErrUnsupportedMessage, m.WireFormat)
	}
	switch ac.Content.ContentType {
	case wire.ContentTypeProposal:
		encoded, err := codec.Marshal(ac)
		if err != nil {
			return nil, err
		}
		qp := QueuedProposal{Proposal: ac.Content.Proposal, Sender: ac.Content.Sender}
		if g.proposals == nil {
			g.proposals = map[string]QueuedProposal{}
		}
		ref := g.suite.MakeProposalRef(encoded)
		g.proposals[string(ref)] = qp
		return &Processed{Proposal: &qp, ProposalRef: ref}, nil
	case wire.ContentTypeCommit:
		sc, err := g.stageCommit(ac)
		if err != nil {
			return nil, err
		}
		return &Processed{Commit: sc}, nil
	}
	return nil, fmt.Errorf("%w: %v", ErrUnsupportedMessage, ac.Content.ContentType)
}

// verifyMember checks a member's signature with its leaf's key.
func (g *Group) verifyMember(ac *wire.AuthenticatedContent) error {
	leaf := g.tree.Leaf(treemath.LeafIndex(ac.Content.Sender.LeafIndex))
	if ac.Content.Sender.LeafIndex >= g.tree.LeafCount() || leaf == nil {
		return framing.ErrUnknownSender
	}
	return framing.Verify(g.suite, leaf.SignatureKey, ac, &g.context)
}

// StagedCommit is a processed but unmerged commit: the next epoch's state,
// ready to inspect, compare with rivals for the same epoch, and merge or
// discard. Several may be staged on one epoch.
type StagedCommit struct {
	parentAuth []byte // epoch authenticator of the epoch it was staged on
	parentNum  uint64
	next       *Group // nil when this member is removed by the commit

	Committer   treemath.LeafIndex
	Proposals   []QueuedProposal
	Added       []treemath.LeafIndex
	Removed     []treemath.LeafIndex
	Updated     []treemath.LeafIndex
	SelfRemoved bool
}

// Epoch is the number of the epoch the commit creates.
func (s *StagedCommit) Epoch() uint64 { return s.parentNum + 1 }

// EpochAuthenticator of the new epoch; nil when this member was removed.
func (s *StagedCommit) EpochAuthenticator() []byte {
	if s.next == nil {
		return nil
	}
	return s.next.epoch.EpochAuthenticator
}

// GroupContext of the new epoch; nil when this member was removed.
func (s *StagedCommit) GroupContext() *wire.GroupContext {
	if s.next == nil {
		return nil
	}
	return &s.next.context
}

// Merge moves the group to the staged commit's epoch. The old epoch's
// secrets are deleted. A commit staged on another epoch is refused.
func (g *Group) Merge(s *StagedCommit) error {
	if s.parentNum != g.context.Epoch || !bytes.Equal(s.parentAuth, g.epoch.EpochAuthenticator) {
		return ErrStaleCommit
	}
	if s.SelfRemoved {
		return fmt.Errorf("mls: this member was removed in epoch %d", s.Epoch())
	}
	old := *g
	*g = *s.next
	old.epoch.Wipe()
	for _, psk := range old.resumption {
		clear(psk)
	}
	// Keep the old epoch's message keys for late application messages,
	// dropping (and wiping) the oldest beyond the retention.
	g.pastEpochs = old.pastEpochs
	g.past = append(old.past, &pastEpoch{framing: old.framing, tree: old.framingTree})
	for len(g.past) > g.pastEpochs {
		g.past[0].wipe()
		g.past = g.past[1:]
	}
	// The new state holds its own copies of every key it kept.
	for _, k := range old.pathKeys {
		clear(k)
	}
	for _, k := range old.pendingUpdates {
		clear(k)
	}
	return nil
}

// stageCommit processes a commit from a member (§12.4.2) into the state of
// the next epoch without touching the group.
func (g *Group) stageCommit(ac *wire.AuthenticatedContent) (*StagedCommit, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidCommit}, args...)...)
	}
	commit := ac.Content.Commit
	committer := ac.Content.Sender
	external := committer.SenderType == wire.SenderTypeNewMemberCommit
	if !external && committer.SenderType != wire.SenderTypeMember {
		return nil, fmt.Errorf("%w: commit from a %v sender", ErrUnsupportedMessage, committer.SenderType)
	}
	if external {
		for _, por := range commit.Proposals {
			if por.Type != wire.ProposalOrRefTypeProposal {
				return nil, bad("an external commit refers to a proposal by reference")
			}
		}
	}
	if !external && treemath.LeafIndex(committer.LeafIndex) == g.ownLeaf {
		// Our own commits are recognised by ProcessHandshake before this;
		// a commit in our name that we did not make is refused.
		return nil, ErrOwnCommitFromWire
	}
	proposals, err := g.resolveProposals(committer, commit.Proposals)
	if err != nil {
		return nil, err
	}
	policy := g.policy
	policy.External = external
	if err := g.ValidateProposals(committer, proposals, policy); err != nil {
		return nil, err
	}
	if commit.Path == nil && (external || PathRequired(proposals)) {
		return nil, bad("the proposals require an UpdatePath and none is present")
	}
	applied, err := g.ApplyProposals(proposals)
	if err != nil {
		return nil, err
	}
	committerLeaf := treemath.LeafIndex(committer.LeafIndex)
	initSecret := g.epoch.InitSecret
	if external {
		// The joiner takes the leftmost blank leaf (§12.4.3.2), and the
		// epoch's init secret comes from its ExternalInit (§8.3).
		placeholder := commit.Path.LeafNode
		if committerLeaf, err = applied.Tree.AddLeaf(&placeholder); err != nil {
			return nil, err
		}
		priv, _, err := g.epoch.ExternalKeyPair(g.suite)
		if err != nil {
			return nil, err
		}
		initSecret, err = keyschedule.ReceiveExternalInit(g.suite, priv, applied.ExternalInit.KEMOutput)
		clear(priv)
		if err != nil {
			return nil, bad("external init: %w", err)
		}
		defer clear(initSecret)
	}
	sc := &StagedCommit{
		// A copy: Merge wipes the parent's authenticator, and a rival must
		// still merge into a restored copy of the parent (rollback).
		parentAuth: bytes.Clone(g.epoch.EpochAuthenticator),
		parentNum:  g.context.Epoch,
		Committer:  committerLeaf,
		Proposals:  proposals,
		Added:      applied.Added,
	}
	for _, qp := range proposals {
		switch qp.Proposal.Type {
		case wire.ProposalTypeRemove:
			r := treemath.LeafIndex(qp.Proposal.Remove.Removed)
			sc.Removed = append(sc.Removed, r)
			sc.SelfRemoved = sc.SelfRemoved || r == g.ownLeaf
		case wire.ProposalTypeUpdate:
			sc.Updated = append(sc.Updated, treemath.LeafIndex(qp.Sender.LeafIndex))
		}
	}
	if sc.SelfRemoved {
		return sc, nil
	}

	// The new GroupContext: provisional (old confirmed transcript hash)
	// for the path, then final.
	ctx := g.context
	ctx.Epoch++
	ctx.Extensions = applied.Extensions
	tree := applied.Tree
	keys := g.keptPathKeys(tree)
	g.installPendingUpdate(tree, keys)
	var commitSecret []byte
	if commit.Path != nil {
		pathKeys, secret, err := g.applyUpdatePath(tree, committerLeaf, commit.Path, applied.Added, ctx, keys)
		if err != nil {
			return nil, bad("update path: %w", err)
		}
		for x, k := range pathKeys {
			keys[x] = k
		}
		commitSecret = secret
		defer clear(commitSecret)
	}
	if ctx.TreeHash, err = tree.TreeHash(); err != nil {
		return nil, err
	}
	epoch, err := advanceEpoch(g.suite, &ctx, g.interimTranscriptHash, ac, initSecret, commitSecret, applied.PSKs, g.psks, g.ownResumption)
	if err != nil {
		return nil, err
	}
	if !g.suite.VerifyMAC(epoch.ConfirmationKey, ctx.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag) {
		epoch.Wipe()
		return nil, bad("confirmation tag does not match")
	}
	interim, err := keyschedule.InterimTranscriptHash(g.suite, ctx.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag)
	if err != nil {
		return nil, err
	}
	next := &Group{
		suite:                 g.suite,
		context:               ctx,
		tree:                  tree,
		ownLeaf:               g.ownLeaf,
		pathKeys:              keys,
		epoch:                 epoch,
		interimTranscriptHash: interim,
		signingKey:            g.signingKey,
		psks:                  g.psks,
		policy:                g.policy,
		resumption:            g.nextResumption(),
		pastEpochs:            g.pastEpochs,
		reinit:                applied.ReInit,
	}
	if err := next.startFraming(g.window); err != nil {
		return nil, err
	}
	sc.next = next
	return sc, nil
}

// resolveProposals turns a commit's ProposalOrRefs into proposals with
// their senders: by value from the committer, by reference from the
// proposals received in this epoch.
func (g *Group) resolveProposals(committer wire.Sender, list []wire.ProposalOrRef) ([]QueuedProposal, error) {
	out := make([]QueuedProposal, 0, len(list))
	for i, por := range list {
		switch por.Type {
		case wire.ProposalOrRefTypeProposal:
			out = append(out, QueuedProposal{Proposal: por.Proposal, Sender: committer})
		case wire.ProposalOrRefTypeReference:
			qp, ok := g.proposals[string(por.Reference)]
			if !ok {
				return nil, fmt.Errorf("%w: entry %d, reference %x", ErrUnknownProposal, i, por.Reference)
			}
			out = append(out, qp)
		}
	}
	return out, nil
}

// keptPathKeys copies the private keys that still belong to the new tree:
// those of nodes whose public key did not change.
func (g *Group) keptPathKeys(next interface {
	EncryptionKey(treemath.NodeIndex) []byte
}) map[treemath.NodeIndex][]byte {
	keys := map[treemath.NodeIndex][]byte{}
	for x, k := range g.pathKeys {
		if pub := next.EncryptionKey(x); pub != nil && bytes.Equal(pub, g.tree.EncryptionKey(x)) {
			keys[x] = append([]byte{}, k...)
		}
	}
	return keys
}

// nextResumption is the resumption PSK history the next epoch inherits:
// this epoch's added, the oldest beyond ResumptionEpochs dropped.
func (g *Group) nextResumption() map[uint64][]byte {
	next := make(map[uint64][]byte, len(g.resumption)+1)
	for e, psk := range g.resumption {
		if g.context.Epoch-e < ResumptionEpochs {
			next[e] = append([]byte{}, psk...)
		}
	}
	next[g.context.Epoch] = append([]byte{}, g.epoch.ResumptionPSK...)
	return next
}

// messageDigest identifies a message by the hash of its encoding.
func (g *Group) messageDigest(m *wire.MLSMessage) (string, error) {
	b, err := codec.Marshal(m)
	if err != nil {
		return "", err
	}
	return string(g.suite.Hash(b)), nil
}

// installPendingUpdate gives the member the private key of its own leaf
// when a commit applied one of its Update proposals.
func (g *Group) installPendingUpdate(tree interface {
	Leaf(treemath.LeafIndex) *wire.LeafNode
}, keys map[treemath.NodeIndex][]byte) {
	if leaf := tree.Leaf(g.ownLeaf); leaf != nil {
		if priv, ok := g.pendingUpdates[string(leaf.EncryptionKey)]; ok {
			keys[g.ownLeaf.Node()] = append([]byte{}, priv...)
		}
	}
}

// advanceEpoch runs the part of §12.4.1/§12.4.2 that every path to a new
// epoch shares: the new confirmed transcript hash from the commit's
// AuthenticatedContent (written into ctx, whose tree hash must be final),
// the PSK secret, and the key schedule from initSecret and commitSecret.
// The caller sets or checks the confirmation tag with the result.
func advanceEpoch(cs *suite.Suite, ctx *wire.GroupContext, prevInterim []byte, ac *wire.AuthenticatedContent,
	initSecret, commitSecret []byte, psks []wire.PreSharedKeyID, store PSKStore,
	own func(*wire.PreSharedKeyID) ([]byte, bool)) (*keyschedule.Epoch, error) {
	input, err := ac.ConfirmedTranscriptHashInput()
	if err != nil {
		return nil, err
	}
	ctx.ConfirmedTranscriptHash = keyschedule.ConfirmedTranscriptHash(cs, prevInterim, input)
	pskSecret, err := resolvePSKs(cs, psks, store, own)
	if err != nil {
		return nil, err
	}
	encodedCtx, err := codec.Marshal(ctx)
	if err != nil {
		return nil, err
	}
	return keyschedule.Derive(cs, initSecret, commitSecret, pskSecret, encodedCtx)
}
