package consensus

import (
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Carrying a member's proposal of its own removal.
//
// A member that inherits its own removal (a mutual removal, inherit.go)
// cannot commit it (RFC 9420 §12.2): it proposes it, and "the next commit
// by any other member carries it by reference". When no other member has
// anything to commit, that next commit never comes, and the member whose
// removal was asked for stays in the group for good (simulator
// commit-storm seed 8: member 28 removed 30 on top of a candidate that
// lost to 30's own commit removing 28; 30 inherited and proposed its
// removal as the workload's commits stopped, and stayed).
//
// So a member that holds such a proposal in its head epoch, and sees no
// commit on that epoch, commits one itself (it carries every proposal of
// the epoch by reference), after a delay that grows with its place among
// the epoch's members by leaf index (the leaver left out): the first
// commits after one window, the next one window later, and so on, so one
// member normally does it and a silent one is covered. Rival commits, if
// any, race as usual; each carries the proposal.

// leaveSeen is when a member's proposal of its own removal was first seen
// in an epoch, and that member's leaf.
type leaveSeen struct {
	at   uint64
	leaf uint32
}

// maxLeaves bounds the epochs whose leave proposals are remembered.
const maxLeaves = 64

// noteLeave records proposal p by the member at leaf sender, received in
// epoch n, if it is that member's own removal.
func (c *Core) noteLeave(n *node, sender uint32, p *wire.Proposal) {
	if p == nil || p.Type != wire.ProposalTypeRemove || p.Remove.Removed != sender {
		return
	}
	if _, ok := c.leaves[n.ref.ID]; ok {
		return
	}
	if c.leaves == nil || len(c.leaves) >= maxLeaves {
		c.leaves = map[EpochID]leaveSeen{}
	}
	c.leaves[n.ref.ID] = leaveSeen{at: c.tick, leaf: sender}
}

// commitLeave commits, when due, on a head epoch holding another member's
// proposal of its own removal and no commit yet.
func (c *Core) commitLeave() {
	if c.head == nil || len(c.leaves) == 0 {
		return
	}
	h := c.headNode
	l, ok := c.leaves[h.ref.ID]
	if !ok || len(h.children) > 0 {
		return
	}
	own := uint32(c.head.OwnLeaf())
	if own == l.leaf {
		return
	}
	rank := uint64(0)
	for _, m := range c.head.Tree().Members() {
		if uint32(m) < own && uint32(m) != l.leaf {
			rank++
		}
	}
	if c.tick-l.at < (1+rank)*c.cfg.WindowTicks {
		return
	}
	delete(c.leaves, h.ref.ID)
	if err := c.Commit(); err != nil {
		c.emit(Event{Kind: EventCommitRejected, Reason: "committing a member's proposal of its own removal: " + err.Error()})
	}
}
