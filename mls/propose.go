package mls

import (
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ProposeOptions shape a proposal message.
type ProposeOptions struct {
	// PublicMessage sends it readable by the network; default PrivateMessage.
	PublicMessage     bool
	Padding           int
	AuthenticatedData []byte
}

// Propose sends a proposal in the current epoch (§12.1) and returns the
// message and its ProposalRef, by which a commit can include it. The
// proposal is also kept by this member, since it cannot decrypt its own
// PrivateMessage when the proposal comes back from the network.
func (g *Group) Propose(rand io.Reader, p *wire.Proposal, opts ProposeOptions) (*wire.MLSMessage, []byte, error) {
	if g.signingKey == nil {
		return nil, nil, ErrPassive
	}
	sender := wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: uint32(g.ownLeaf)}
	wf := wire.WireFormatPrivateMessage
	if opts.PublicMessage {
		wf = wire.WireFormatPublicMessage
	}
	content := &wire.FramedContent{
		GroupID: g.context.GroupID, Epoch: g.context.Epoch, Sender: sender,
		AuthenticatedData: opts.AuthenticatedData, ContentType: wire.ContentTypeProposal, Proposal: p,
	}
	ac, err := framing.Sign(g.signingKey, wf, content, &g.context)
	if err != nil {
		return nil, nil, err
	}
	encoded, err := codec.Marshal(ac)
	if err != nil {
		return nil, nil, err
	}
	ref := g.suite.MakeProposalRef(encoded)
	m, err := g.protect(rand, ac, opts.Padding)
	if err != nil {
		return nil, nil, err
	}
	qp := QueuedProposal{Proposal: p, Sender: sender}
	if g.proposals == nil {
		g.proposals = map[string]QueuedProposal{}
	}
	g.proposals[string(ref)] = qp
	digest, err := g.messageDigest(m)
	if err != nil {
		return nil, nil, err
	}
	if g.ownProposals == nil {
		g.ownProposals = map[string]*Processed{}
	}
	g.ownProposals[digest] = &Processed{Proposal: &qp, ProposalRef: ref}
	return m, ref, nil
}

// NewUpdate makes an Update proposal for this member's leaf with a fresh
// encryption key drawn from rand (§12.1.2). The private key is kept until
// a commit applies the update; send the proposal with Propose.
func (g *Group) NewUpdate(rand io.Reader) (*wire.Proposal, error) {
	if g.signingKey == nil {
		return nil, ErrPassive
	}
	priv, pub, err := g.suite.GenerateKeyPair(rand)
	if err != nil {
		return nil, err
	}
	leaf := *g.tree.Leaf(g.ownLeaf)
	leaf.EncryptionKey = pub
	leaf.LeafNodeSource = wire.LeafNodeSourceUpdate
	leaf.Lifetime, leaf.ParentHash = nil, nil
	tbs, err := leaf.TBS(g.context.GroupID, uint32(g.ownLeaf))
	if err != nil {
		return nil, err
	}
	if leaf.Signature, err = g.signingKey.SignWithLabel("LeafNodeTBS", tbs); err != nil {
		return nil, fmt.Errorf("mls: signing the update: %w", err)
	}
	if g.pendingUpdates == nil {
		g.pendingUpdates = map[string][]byte{}
	}
	g.pendingUpdates[string(pub)] = priv
	return &wire.Proposal{Type: wire.ProposalTypeUpdate, Update: &wire.Update{LeafNode: leaf}}, nil
}

// NewAdd and NewRemove are conveniences for the two membership proposals.
func NewAdd(kp *wire.KeyPackage) *wire.Proposal {
	return &wire.Proposal{Type: wire.ProposalTypeAdd, Add: &wire.Add{KeyPackage: *kp}}
}

// NewRemove proposes removing the member at leaf.
func NewRemove(leaf uint32) *wire.Proposal {
	return &wire.Proposal{Type: wire.ProposalTypeRemove, Remove: &wire.Remove{Removed: leaf}}
}

// protect wraps a signed AuthenticatedContent of this member as the
// PublicMessage or PrivateMessage its wire format names.
func (g *Group) protect(rand io.Reader, ac *wire.AuthenticatedContent, padding int) (*wire.MLSMessage, error) {
	if ac.WireFormat == wire.WireFormatPublicMessage {
		pm, err := g.framing.ProtectPublic(ac)
		if err != nil {
			return nil, err
		}
		return wire.NewMLSMessage(pm), nil
	}
	pm, err := g.framing.ProtectPrivate(rand, ac, padding)
	if err != nil {
		return nil, err
	}
	return wire.NewMLSMessage(pm), nil
}
