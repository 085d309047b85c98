package fork

import (
	"errors"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// recordRemovalsHook is the consensus commit hook of every Member: each
// commit it creates keeps the removed set (ExtensionTypeRemoved) right,
// for the proposals it carries by value and those it references.
func recordRemovalsHook(head *mls.Group, byValue, byRef []*wire.Proposal) []*wire.Proposal {
	out, err := RecordRemovals(head.Context(), head.Tree(), byValue, byRef)
	if err != nil {
		// The removed set is full, damaged or cannot be merged: commit
		// as asked; the policy below then refuses the commit everywhere,
		// ours first, rather than let a removal go unrecorded.
		return byValue
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
		// The joiner's credential is in its UpdatePath leaf. Judged
		// against the parent epoch's set, so every member agrees, even
		// one whose head is behind or ahead.
		if c.Message != nil && c.Message.PublicMessage != nil {
			if cm := c.Message.PublicMessage.Content.Commit; cm != nil && cm.Path != nil {
				if before.Contains(IdentityOf(&cm.Path.LeafNode.Credential)) {
					return ErrRemovedMember
				}
			}
		}
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

// screenCommit reads the heal note a rejoining member puts in the
// authenticated data of its external commit, and whether the joiner is
// listed in the head's removed set (for the event only: the refusal
// itself is removalPolicy's, judged against the commit's parent epoch).
func (m *Member) screenCommit(env *consensus.Envelope) (note *healNote, removedJoiner bool) {
	var body consensus.CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil || m.outside() {
		return nil, false // the core reports a malformed one
	}
	pm := body.Commit.PublicMessage
	if pm == nil || pm.Content.Sender.SenderType != wire.SenderTypeNewMemberCommit ||
		pm.Content.Commit == nil || pm.Content.Commit.Path == nil {
		return nil, false
	}
	joiner := IdentityOf(&pm.Content.Commit.Path.LeafNode.Credential)
	set, err := RemovedSetOf(m.core.Head().Context().Extensions)
	removedJoiner = err == nil && set.Contains(joiner)
	// Only a returning member is served: one whose old leaf, with the
	// same identity, the commit removes from the parent epoch's tree. A
	// newcomer by external commit could otherwise ask, with a heal note
	// of its choosing, for messages sent before it joined.
	tree := m.core.TreeOf(env.EpochID)
	if tree == nil {
		tree = m.core.Head().Tree()
	}
	returning := false
	for _, por := range pm.Content.Commit.Proposals {
		if p := por.Proposal; p != nil && p.Type == wire.ProposalTypeRemove {
			if leaf := tree.Leaf(treemath.LeafIndex(p.Remove.Removed)); leaf != nil && IdentityOf(&leaf.Credential) == joiner {
				returning = true
			}
		}
	}
	var n healNote
	if returning && codec.Unmarshal(pm.Content.AuthenticatedData, &n) == nil {
		note = &n
	}
	return note, removedJoiner
}

// stepCommit steps a commit into the core and follows up on a rejoin: a
// refusal of a removed joiner is reported, an accepted rejoin is served.
func (m *Member) stepCommit(env *consensus.Envelope) error {
	note, removedJoiner := m.screenCommit(env)
	before := m.core.HeadID()
	err := m.core.Step(*env)
	if err != nil {
		if removedJoiner && errors.Is(err, consensus.ErrPolicy) {
			m.emit(Event{Kind: EventRefusedRejoin, Rival: EpochRef{Epoch: env.Epoch, ID: env.EpochID}})
			return fmt.Errorf("%w (%w)", ErrRemovedMember, err)
		}
		return err
	}
	m.drain()
	if note != nil && m.core.HeadID() != before {
		m.serveRejoiner(note)
	}
	return nil
}
