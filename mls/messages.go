package mls

import (
	"errors"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

var (
	// ErrPassive: the member joined without a signing key and cannot send.
	ErrPassive = errors.New("mls: member has no signing key")
	// ErrUnsupportedMessage: a message kind this version cannot process
	// yet (handshake messages until commit processing lands).
	ErrUnsupportedMessage = errors.New("mls: message kind not supported yet")
)

// startFraming builds the epoch's message keys from its secrets.
func (g *Group) startFraming(w secrettree.Window) error {
	if w == (secrettree.Window{}) {
		w = secrettree.DefaultWindow
	}
	g.window = w
	tree, err := secrettree.New(g.suite, g.epoch.EncryptionSecret, g.tree.LeafCount(), w)
	if err != nil {
		return err
	}
	g.setFraming(tree)
	return nil
}

// setFraming installs the epoch's framing state around a secret tree.
func (g *Group) setFraming(tree *secrettree.Tree) {
	// The epoch's framing state owns copies of what it needs, so that it
	// stays valid when the group moves on and it is kept for late messages.
	ctx := g.context
	members := g.tree
	g.framing = &framing.Epoch{
		Suite:            g.suite,
		Context:          &ctx,
		MembershipKey:    append([]byte{}, g.epoch.MembershipKey...),
		SenderDataSecret: append([]byte{}, g.epoch.SenderDataSecret...),
		SecretTree:       tree,
		IsMember: func(leaf uint32) bool {
			return leaf < members.LeafCount() && members.Leaf(treemath.LeafIndex(leaf)) != nil
		},
	}
	g.framingTree = members
}

// pastEpoch is what a group keeps of an earlier epoch to open late
// application messages: its framing keys and its tree (for signatures).
type pastEpoch struct {
	framing *framing.Epoch
	tree    *ratchettree.Tree
}

func (p *pastEpoch) wipe() {
	p.framing.SecretTree.Wipe()
	clear(p.framing.MembershipKey)
	clear(p.framing.SenderDataSecret)
}

// SealApplication encrypts application data from this member as a
// PrivateMessage of the current epoch (§6.3), padded with padding zero
// bytes; rand supplies the reuse guard.
func (g *Group) SealApplication(rand io.Reader, data, authenticatedData []byte, padding int) (*wire.MLSMessage, error) {
	if g.signingKey == nil {
		return nil, ErrPassive
	}
	if g.reinit != nil {
		return nil, ErrReInitPending
	}
	content := &wire.FramedContent{
		GroupID:           g.context.GroupID,
		Epoch:             g.context.Epoch,
		Sender:            wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: uint32(g.ownLeaf)},
		AuthenticatedData: authenticatedData,
		ContentType:       wire.ContentTypeApplication,
		ApplicationData:   data,
	}
	ac, err := framing.Sign(g.signingKey, wire.WireFormatPrivateMessage, content, &g.context)
	if err != nil {
		return nil, err
	}
	pm, err := g.framing.ProtectPrivate(rand, ac, padding)
	if err != nil {
		return nil, err
	}
	return wire.NewMLSMessage(pm), nil
}

// Received is an authenticated message from a member.
type Received struct {
	Sender            treemath.LeafIndex
	Epoch             uint64
	ApplicationData   []byte
	AuthenticatedData []byte
	// Content is the verified content with the sender's signature
	// (FramedContent and FramedContentAuthData), and Context a copy of
	// the GroupContext of its epoch, which the signature covers: with
	// the sender's signature key they let a third party check the
	// message again (FramedContentTBS, §6.1) after the epoch's keys are
	// gone. The caller must not modify them.
	Content *wire.AuthenticatedContent
	Context wire.GroupContext
}

// OpenMessage authenticates and decrypts a message of the current epoch.
// Application messages are returned; handshake messages yield
// ErrUnsupportedMessage until commit processing exists. A message that
// fails any check leaves the group unchanged.
func (g *Group) OpenMessage(m *wire.MLSMessage) (*Received, error) {
	pm := m.PrivateMessage
	if pm == nil {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedMessage, m.WireFormat)
	}
	if pm.ContentType != wire.ContentTypeApplication {
		return nil, fmt.Errorf("%w: %v in a PrivateMessage", ErrUnsupportedMessage, pm.ContentType)
	}
	// Application messages of the retained earlier epochs still open
	// (late delivery over gossip); older ones find ErrWrongEpoch.
	fr, tree := g.framing, g.framingTree
	for _, p := range g.past {
		if p.framing.Context.Epoch == pm.Epoch {
			fr, tree = p.framing, p.tree
		}
	}
	ac, err := fr.UnprotectPrivate(pm, func(ac *wire.AuthenticatedContent) error {
		leaf := tree.Leaf(treemath.LeafIndex(ac.Content.Sender.LeafIndex))
		if leaf == nil {
			return framing.ErrUnknownSender
		}
		return framing.Verify(g.suite, leaf.SignatureKey, ac, fr.Context)
	})
	if err != nil {
		return nil, err
	}
	return &Received{
		Sender:            treemath.LeafIndex(ac.Content.Sender.LeafIndex),
		Epoch:             ac.Content.Epoch,
		ApplicationData:   ac.Content.ApplicationData,
		AuthenticatedData: ac.Content.AuthenticatedData,
		Content:           ac,
		Context:           *fr.Context,
	}, nil
}
