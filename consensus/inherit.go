package consensus

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Orphaned removals. "Removals rank first" keeps a removal from losing to
// a commit that removes nobody, but two commits that both remove can race,
// and the loser's committer may be one of the members the winner removes.
// The loser's removals would then be lost for good: the ordinary recovery
// (afterSwitch: a losing committer commits its proposals again) needs the
// committer, which is out. The simulator's commit storm showed it: member
// 8 removed 18, member 1 removed 8 on the same parent, 1's commit won and
// 18 stayed in the group although every member had applied its removal.
//
// The winner's committer inherits them. On every Tick, a member whose own
// commit W is on its head chain with the race on W's parent still open
// looks at the other candidates on that parent and at every commit built
// on them (a removal made on top of a losing candidate is abandoned with
// it: commit-storm seed 15, member 23 removed 10 on top of a commit that
// lost to one removing 23): each that is a member commit with removals,
// not disqualified, and whose committer is absent from W's tree, has its
// removals committed again by this member on its head, re-targeted by
// credential (a target already gone is skipped). The committer was a
// member of the race's parent or of a commit built on it, and acted
// concurrently with W: its removal is an act of its time, and is kept
// even though W removes it (docs/ordering.md, "Removals are never lost
// to a fork"). A
// mutual removal (the loser removed W's committer) makes W's committer
// propose its own removal, which the next commit by anyone carries: both
// removals were asked for, both take effect. Only W's
// committer holds the duty, so heirs do not race one another. It acts as
// soon as it holds both commits, not at the race's close: in a storm of
// commits the heir may itself be removed within one window. If W later
// loses, the inherited commit (its own, on W's branch) is re-committed by
// afterSwitch, and the new winner's committer inherits too; re-targeting
// drops whatever is already done.
//
// Not covered: a losing removal that reaches the winner's committer only
// after the race closed (refused as final), and a restart before the
// commit is made (the duty is not persisted).

// inheritRemovals looks, on every open race of the head chain won (so
// far) by this member's own commit, at the losing candidates not looked
// at yet, and records the removals of the orphaned ones.
func (c *Core) inheritRemovals() {
	if c.head == nil {
		return
	}
	me := c.ownKey()
	for _, n := range pathFrom(nil, c.headNode) {
		if n.closed || n == c.headNode {
			continue
		}
		var chosen *node
		for _, ch := range n.children {
			if ch.isAncestorOf(c.headNode) {
				chosen = ch
			}
		}
		if chosen == nil || chosen.signer != me || chosen.tree == nil {
			continue
		}
		for _, loser := range n.children {
			if loser == chosen {
				continue
			}
			// The losing candidate and everything built on it: a removal
			// made on top of a losing commit is abandoned with it, and
			// its committer may be one the winner removes.
			for _, l := range loser.subtree() {
				if l.inheritSeen {
					continue
				}
				l.inheritSeen = true
				if l.external || l.equivocated || len(l.removedIDs) == 0 || l.signer == "" || hasSigner(chosen.tree, l.signer) {
					continue // nothing to inherit, or its committer re-commits them itself (afterSwitch)
				}
				for _, id := range l.removedIDs {
					if len(id) > 0 {
						c.inherited = append(c.inherited, reproposal{proposal: mls.NewRemove(0), removed: id})
					}
				}
			}
		}
	}
}

func hasSigner(t *ratchettree.Tree, signer string) bool {
	for i := uint32(0); i < t.LeafCount(); i++ {
		if leaf := t.Leaf(leafIndex(i)); leaf != nil && string(leaf.SignatureKey) == signer {
			return true
		}
	}
	return false
}

// commitInherited commits the inherited removals still to be made on the
// head. It waits while this member already has a commit on the head epoch
// (the next head takes them).
func (c *Core) commitInherited() {
	if c.head == nil {
		return
	}
	if c.leaving && c.leftIn != c.headNode.ref.ID {
		c.leaveInherited() // the last proposal's epoch was left without it
	}
	if len(c.inherited) == 0 {
		return
	}
	own, _ := codec.Marshal(&c.head.Tree().Leaf(c.head.OwnLeaf()).Credential)
	var list []*wire.Proposal
	var self []reproposal
	seen := map[string]bool{}
	for _, r := range c.inherited {
		if seen[string(r.removed)] {
			continue
		}
		seen[string(r.removed)] = true
		if bytes.Equal(r.removed, own) {
			self = append(self, r)
			continue
		}
		if p := c.retarget(r); p != nil {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		c.inherited = nil
		if len(self) > 0 {
			c.leaveInherited()
		}
		return
	}
	err := c.Commit(list...)
	if errors.Is(err, ErrAlreadyCommitted) {
		return
	}
	c.inherited = self // our own removal waits for the next head
	if err != nil {
		c.inherited = nil
		c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("committing %d inherited removals: %v", len(list), err)})
		return
	}
	c.emit(Event{Kind: EventReproposed, Count: len(list), Epoch: c.headNode.ref.Epoch, ID: c.headNode.ref.ID})
}

// leaveInherited handles a mutual removal: the losing commit removed this
// member, whose own commit removed the loser's committer. Both removals
// were asked for by members entitled to make them, so both take effect:
// this member proposes its own removal (a member cannot commit it, RFC
// 9420 §12.2), which the next commit of any other member carries by
// reference. Until this member is removed, it proposes again in each new
// head epoch (a proposal belongs to one epoch, and rival commits made on
// it before it arrived do not carry it).
func (c *Core) leaveInherited() {
	c.leaving, c.leftIn = true, c.headNode.ref.ID
	if err := c.Propose(mls.NewRemove(uint32(c.head.OwnLeaf()))); err != nil {
		c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("proposing this member's inherited removal: %v", err)})
		return
	}
	c.emit(Event{Kind: EventReproposed, Count: 1, Epoch: c.headNode.ref.Epoch, ID: c.headNode.ref.ID})
}
