package fork

import (
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// recordRemovalsHook is the consensus CommitHook of every Member: each
// commit it creates keeps the removed set (ExtensionTypeRemoved) right.
func recordRemovalsHook(head *mls.Group, proposals []*wire.Proposal) []*wire.Proposal {
	out, err := RecordRemovals(head.Context(), head.Tree(), proposals)
	if err != nil {
		// The removed set is full or damaged: commit as asked; the
		// policy below then refuses the commit everywhere, ours first,
		// rather than let a removal go unrecorded.
		return proposals
	}
	return out
}

// removalPolicy wraps the configured MembershipPolicy with the removed-set
// rule: a commit made by a member that removes someone must record them in
// the new epoch's removed set (unless the same commit adds them back), and
// the set never loses an identity except by an explicit Add. Being a
// function of the parent epoch and the commit only, every member reaches
// the same answer.
type removalPolicy struct {
	inner consensus.MembershipPolicy
}

func (p removalPolicy) Name() string {
	if p.inner == nil {
		return "removed-set"
	}
	return p.inner.Name() + "+removed-set"
}

func (p removalPolicy) Check(c *consensus.ProposedCommit) error {
	if p.inner != nil {
		if err := p.inner.Check(c); err != nil {
			return err
		}
	}
	ctx := c.Staged.GroupContext()
	if ctx == nil {
		return nil // this member is removed; it cannot see the new epoch
	}
	before, err := RemovedSetOf(c.Parent.Context().Extensions)
	if err != nil {
		return err
	}
	after, err := RemovedSetOf(ctx.Extensions)
	if err != nil {
		return err
	}
	var added []Identity
	for _, qp := range c.Staged.Proposals {
		if qp.Proposal.Type == wire.ProposalTypeAdd {
			added = append(added, IdentityOf(&qp.Proposal.Add.KeyPackage.LeafNode.Credential))
		}
	}
	for _, id := range before.IDs {
		if !after.Contains(id) && !slices.Contains(added, id) {
			return fmt.Errorf("%w: the removed set lost an identity", ErrRemovedMember)
		}
	}
	if c.External {
		// An external commit may only remove the joiner's own old leaf
		// (§12.4.3.2) and cannot carry a GroupContextExtensions proposal.
		return nil
	}
	for _, l := range c.Staged.Removed {
		leaf := c.Parent.Tree().Leaf(l)
		if leaf == nil {
			continue
		}
		id := IdentityOf(&leaf.Credential)
		if !after.Contains(id) && !slices.Contains(added, id) {
			return fmt.Errorf("%w: commit removes leaf %d without recording it", ErrRemovedMember, l)
		}
	}
	return nil
}

// screenCommit refuses an external commit by an identity the head's
// removed set lists, before the core spends any work on it, and reads the
// heal note a rejoining member puts in its authenticated data.
func (m *Member) screenCommit(env *consensus.Envelope) (*healNote, error) {
	var body consensus.CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil {
		return nil, nil // the core reports it as malformed
	}
	pm := body.Commit.PublicMessage
	if pm == nil || pm.Content.Sender.SenderType != wire.SenderTypeNewMemberCommit ||
		pm.Content.Commit == nil || pm.Content.Commit.Path == nil {
		return nil, nil
	}
	if m.gone {
		return nil, nil
	}
	id := IdentityOf(&pm.Content.Commit.Path.LeafNode.Credential)
	set, err := RemovedSetOf(m.core.Head().Context().Extensions)
	if err == nil && set.Contains(id) {
		m.emit(Event{Kind: EventRefusedRejoin, Rival: EpochRef{Epoch: env.Epoch, ID: env.EpochID}})
		return nil, fmt.Errorf("%w (%w)", ErrRemovedMember, consensus.ErrPolicy)
	}
	var note healNote
	if codec.Unmarshal(pm.Content.AuthenticatedData, &note) != nil {
		return nil, nil
	}
	return &note, nil
}
