package mls

import (
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ExternalJoinConfig is what a client brings to join by external commit.
type ExternalJoinConfig struct {
	// GroupInfo of the epoch to join, with an external_pub extension.
	GroupInfo *wire.GroupInfo
	// RatchetTree, when the GroupInfo carries no ratchet_tree extension.
	RatchetTree wire.RatchetTree
	// KeyPackage supplies the joiner's leaf (credential, capabilities,
	// extensions); its keys are replaced by fresh ones.
	KeyPackage *KeyPackageBundle
	SigningKey *suite.SigningKey
	// RemoveOld, if set, removes the joiner's previous leaf in the same
	// commit (a member resyncing after losing state, §12.4.3.2).
	RemoveOld *uint32
	// InjectPSKs are PSKs the external commit injects (§12.2 allows
	// PreSharedKey proposals in an external commit), each with its nonce;
	// PSKs must resolve them, as must every member processing the commit.
	InjectPSKs []wire.PreSharedKeyID
	// Policy and retention as in JoinConfig.
	PSKs              PSKStore
	Credentials       CredentialValidator
	Now, MaxLifetime  uint64
	Window            secrettree.Window
	PastEpochs        int
	AuthenticatedData []byte
}

// JoinExternal joins a group by external commit (RFC 9420 §12.4.3.2): it
// validates the GroupInfo and tree, derives the init secret from the
// group's external public key, takes the leftmost blank leaf with a fresh
// UpdatePath, and returns the joiner's group in the new epoch with the
// commit to send (a PublicMessage). Members that accept the commit reach
// the same epoch.
func JoinExternal(rand io.Reader, cs *suite.Suite, cfg ExternalJoinConfig) (*Group, *wire.MLSMessage, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidWelcome}, args...)...)
	}
	gi := cfg.GroupInfo
	if gi.GroupContext.CipherSuite != wire.CipherSuite(cs.ID()) {
		return nil, nil, bad("GroupInfo of suite %v", gi.GroupContext.CipherSuite)
	}
	tree, err := verifiedGroupInfoTree(cs, gi, cfg.RatchetTree, cfg.Credentials, cfg.Now, cfg.MaxLifetime)
	if err != nil {
		return nil, nil, err
	}
	ext := gi.Extensions.Find(wire.ExtensionTypeExternalPub)
	if ext == nil {
		return nil, nil, bad("GroupInfo has no external_pub extension")
	}
	var extPub wire.ExternalPub
	if err := codec.Unmarshal(ext.ExtensionData, &extPub); err != nil {
		return nil, nil, bad("external_pub: %w", err)
	}
	kemOutput, initSecret, err := keyschedule.ExternalInitSecret(cs, rand, extPub.ExternalPub)
	if err != nil {
		return nil, nil, err
	}
	defer clear(initSecret)

	// The state the joiner acts on: the GroupInfo's epoch.
	base := &Group{suite: cs, context: gi.GroupContext, tree: tree, signingKey: cfg.SigningKey,
		psks: cfg.PSKs, policy: ProposalCheck{Now: cfg.Now, MaxLifetime: cfg.MaxLifetime, Credentials: cfg.Credentials}}
	sender := wire.Sender{SenderType: wire.SenderTypeNewMemberCommit}
	proposals := []QueuedProposal{{Sender: sender, Proposal: &wire.Proposal{Type: wire.ProposalTypeExternalInit, ExternalInit: &wire.ExternalInit{KEMOutput: kemOutput}}}}
	if cfg.RemoveOld != nil {
		proposals = append(proposals, QueuedProposal{Sender: sender, Proposal: NewRemove(*cfg.RemoveOld)})
	}
	for _, id := range cfg.InjectPSKs {
		proposals = append(proposals, QueuedProposal{Sender: sender, Proposal: &wire.Proposal{
			Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{PSK: id}}})
	}
	policy := base.policy
	policy.External = true
	if err := base.ValidateProposals(sender, proposals, policy); err != nil {
		return nil, nil, err
	}
	applied, err := base.ApplyProposals(proposals)
	if err != nil {
		return nil, nil, err
	}
	template := cfg.KeyPackage.KeyPackage.LeafNode
	own, err := applied.Tree.AddLeaf(&template)
	if err != nil {
		return nil, nil, err
	}
	base.ownLeaf = own
	ctx := gi.GroupContext
	ctx.Epoch++
	ctx.Extensions = applied.Extensions
	keys, secrets := map[treemath.NodeIndex][]byte{}, map[treemath.NodeIndex][]byte{}
	path, commitSecret, err := base.generatePath(rand, applied.Tree, nil, ctx, keys, secrets)
	if err != nil {
		return nil, nil, err
	}
	defer clear(commitSecret)
	for _, s := range secrets {
		clear(s)
	}
	commit := &wire.Commit{Path: path}
	for _, qp := range proposals {
		commit.Proposals = append(commit.Proposals, wire.ProposalOrRef{Type: wire.ProposalOrRefTypeProposal, Proposal: qp.Proposal})
	}
	content := &wire.FramedContent{GroupID: ctx.GroupID, Epoch: gi.GroupContext.Epoch, Sender: sender,
		AuthenticatedData: cfg.AuthenticatedData, ContentType: wire.ContentTypeCommit, Commit: commit}
	ac, err := framing.Sign(cfg.SigningKey, wire.WireFormatPublicMessage, content, &gi.GroupContext)
	if err != nil {
		return nil, nil, err
	}
	prevInterim, err := keyschedule.InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	if ctx.TreeHash, err = applied.Tree.TreeHash(); err != nil {
		return nil, nil, err
	}
	epoch, err := advanceEpoch(cs, &ctx, prevInterim, ac, initSecret, commitSecret, applied.PSKs, cfg.PSKs, nil)
	if err != nil {
		return nil, nil, err
	}
	ac.Auth.ConfirmationTag = epoch.ConfirmationTag(cs, ctx.ConfirmedTranscriptHash)
	interim, err := keyschedule.InterimTranscriptHash(cs, ctx.ConfirmedTranscriptHash, ac.Auth.ConfirmationTag)
	if err != nil {
		return nil, nil, err
	}
	g := &Group{
		suite: cs, context: ctx, tree: applied.Tree, ownLeaf: own, pathKeys: keys, epoch: epoch,
		interimTranscriptHash: interim, signingKey: cfg.SigningKey, psks: cfg.PSKs, policy: base.policy,
		pastEpochs: pastEpochsSetting(cfg.PastEpochs),
	}
	if err := g.startFraming(cfg.Window); err != nil {
		return nil, nil, err
	}
	msg := wire.NewMLSMessage(&wire.PublicMessage{Content: ac.Content, Auth: ac.Auth})
	return g, msg, nil
}

// GroupInfo returns a signed GroupInfo of the current epoch with the
// ratchet tree and the external public key, for Welcome-less joins by
// external commit (§12.4.3).
func (g *Group) GroupInfo() (*wire.GroupInfo, error) {
	if g.signingKey == nil {
		return nil, ErrPassive
	}
	rt := g.tree.ToWire()
	treeExt, err := codec.Marshal(&rt)
	if err != nil {
		return nil, err
	}
	_, extPub, err := g.epoch.ExternalKeyPair(g.suite)
	if err != nil {
		return nil, err
	}
	pubExt, err := codec.Marshal(&wire.ExternalPub{ExternalPub: extPub})
	if err != nil {
		return nil, err
	}
	gi := &wire.GroupInfo{
		GroupContext: g.context,
		Extensions: wire.Extensions{
			{ExtensionType: wire.ExtensionTypeRatchetTree, ExtensionData: treeExt},
			{ExtensionType: wire.ExtensionTypeExternalPub, ExtensionData: pubExt},
		},
		ConfirmationTag: g.epoch.ConfirmationTag(g.suite, g.context.ConfirmedTranscriptHash),
		Signer:          uint32(g.ownLeaf),
	}
	return gi, SignGroupInfo(g.signingKey, gi)
}
