package mls

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// externalProposalAllowed lists the proposal types an external sender may
// send (§12.1.8); anything else from one is malformed.
func externalProposalAllowed(t wire.ProposalType) bool {
	switch t {
	case wire.ProposalTypeAdd, wire.ProposalTypeRemove, wire.ProposalTypePSK,
		wire.ProposalTypeReInit, wire.ProposalTypeGroupContextExtensions:
		return true
	}
	return false
}

// NewExternalProposal signs a proposal from the external sender at index
// senderIndex of the group's external_senders extension (§12.1.8.1), for
// the epoch of ctx. It travels as a PublicMessage without membership tag.
func NewExternalProposal(key *suite.SigningKey, senderIndex uint32, ctx *wire.GroupContext, p *wire.Proposal) (*wire.MLSMessage, error) {
	return externalProposal(key, wire.Sender{SenderType: wire.SenderTypeExternal, SenderIndex: senderIndex}, ctx, p)
}

// NewJoinProposal is a would-be member's own Add proposal
// (new_member_proposal, §12.1.8): the group's members decide whether to
// commit it.
func NewJoinProposal(key *suite.SigningKey, ctx *wire.GroupContext, kp *wire.KeyPackage) (*wire.MLSMessage, error) {
	return externalProposal(key, wire.Sender{SenderType: wire.SenderTypeNewMemberProposal}, ctx, NewAdd(kp))
}

func externalProposal(key *suite.SigningKey, sender wire.Sender, ctx *wire.GroupContext, p *wire.Proposal) (*wire.MLSMessage, error) {
	content := &wire.FramedContent{GroupID: ctx.GroupID, Epoch: ctx.Epoch, Sender: sender,
		ContentType: wire.ContentTypeProposal, Proposal: p}
	ac, err := framing.Sign(key, wire.WireFormatPublicMessage, content, ctx)
	if err != nil {
		return nil, err
	}
	return wire.NewMLSMessage(&wire.PublicMessage{Content: ac.Content, Auth: ac.Auth}), nil
}

// verifyExternalProposal checks a proposal from a non-member (§12.1.8):
// an external sender listed in the group's external_senders extension, or
// a new member proposing its own Add, signed with the matching key.
func (g *Group) verifyExternalProposal(ac *wire.AuthenticatedContent) error {
	c := &ac.Content
	if c.ContentType != wire.ContentTypeProposal || c.Proposal == nil {
		return fmt.Errorf("%w: a %v sender may only send proposals", ErrInvalidProposals, c.Sender.SenderType)
	}
	var key []byte
	switch c.Sender.SenderType {
	case wire.SenderTypeExternal:
		if !externalProposalAllowed(c.Proposal.Type) {
			return fmt.Errorf("%w: %v from an external sender", ErrInvalidProposals, c.Proposal.Type)
		}
		ext := g.context.Extensions.Find(wire.ExtensionTypeExternalSenders)
		if ext == nil {
			return fmt.Errorf("%w: the group has no external senders", ErrInvalidProposals)
		}
		var senders wire.ExternalSenders
		if err := codec.Unmarshal(ext.ExtensionData, &senders); err != nil {
			return fmt.Errorf("%w: external_senders: %w", ErrInvalidProposals, err)
		}
		if int(c.Sender.SenderIndex) >= len(senders) {
			return fmt.Errorf("%w: external sender %d of %d", framing.ErrUnknownSender, c.Sender.SenderIndex, len(senders))
		}
		key = senders[c.Sender.SenderIndex].SignatureKey
	case wire.SenderTypeNewMemberProposal:
		if c.Proposal.Type != wire.ProposalTypeAdd {
			return fmt.Errorf("%w: new member proposal of type %v", ErrInvalidProposals, c.Proposal.Type)
		}
		key = c.Proposal.Add.KeyPackage.LeafNode.SignatureKey
	default:
		return fmt.Errorf("%w: %v sender", ErrUnsupportedMessage, c.Sender.SenderType)
	}
	return framing.Verify(g.suite, key, ac, &g.context)
}
