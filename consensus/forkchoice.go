package consensus

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

func leafIndex(i uint32) treemath.LeafIndex { return treemath.LeafIndex(i) }

// load restores a retained MLS state.
func (c *Core) load(state []byte) (*mls.Group, error) {
	g, err := mls.LoadGroup(state, mls.LoadConfig{SigningKey: c.cfg.SigningKey, PSKs: c.cfg.PSKs, Credentials: c.cfg.Credentials})
	if err != nil {
		return nil, fmt.Errorf("consensus: restoring a retained epoch: %w", err)
	}
	return g, nil
}

// groupAt is the MLS state of epoch n for staging or opening messages in
// it: the live head for the head, a restored copy otherwise.
func (c *Core) groupAt(n *node) (*mls.Group, error) {
	if n == c.headNode {
		if c.head == nil {
			return nil, ErrRemoved
		}
		return c.head, nil
	}
	return c.groupCopyAt(n)
}

// groupCopyAt returns a fresh copy of epoch n's state, rebuilding it from
// its parent and commit when the member never held it, and caching the
// result (state and tree) in the node.
func (c *Core) groupCopyAt(n *node) (*mls.Group, error) {
	switch {
	case n.selfRemoved:
		return nil, fmt.Errorf("%w: this member is not in epoch %v", ErrUnknownEpoch, n.ref.ID)
	case n == c.headNode:
		if c.head == nil {
			return nil, ErrRemoved
		}
		st, err := c.head.MarshalState()
		if err != nil {
			return nil, err
		}
		return c.load(st)
	case n.state != nil:
		return c.load(n.state)
	case n.parent == nil || n.closed:
		return nil, fmt.Errorf("%w: epoch %v", ErrReleased, n.ref.ID)
	}
	g, err := c.groupCopyAt(n.parent)
	if err != nil {
		return nil, err
	}
	if err := c.enter(g, n); err != nil {
		return nil, err
	}
	st, err := g.MarshalState()
	if err != nil {
		return nil, err
	}
	n.setState(st)
	n.tree = g.Tree()
	return g, nil
}

// enter moves g, the state of n's parent, into epoch n: by merging the
// commit staged when it arrived (once), or by processing it again.
func (c *Core) enter(g *mls.Group, n *node) error {
	if n.staged != nil {
		sc := n.staged
		n.staged = nil
		if err := g.Merge(sc); err == nil {
			return nil
		}
	}
	if n.msg == nil {
		return fmt.Errorf("%w: the commit of epoch %v is not available", ErrUnknownEpoch, n.ref.ID)
	}
	p, err := g.ProcessHandshake(n.msg)
	if err != nil {
		return fmt.Errorf("consensus: re-processing the commit of epoch %v: %w", n.ref.ID, err)
	}
	return g.Merge(p.Commit)
}

// target is the fork choice: from the root, follow the best candidate of
// each epoch while the apply policy lets the member act on it.
func (c *Core) target() *node {
	n := c.root
	for {
		best := n.best()
		if best == nil {
			return n
		}
		if !best.isAncestorOf(c.headNode) && !c.cfg.Apply.Settled(c.tick-n.firstChild, c.cfg.WindowTicks) {
			return n
		}
		n = best
		if n.selfRemoved {
			return n
		}
	}
}

// updateHead moves the head to the fork choice, reporting what changed.
func (c *Core) updateHead() {
	t := c.target()
	if t == c.headNode {
		return
	}
	old := c.headNode
	anc := commonAncestor(old, t)
	if anc == nil {
		return // cannot happen: one tree
	}
	// Leave the old head: keep its state (it holds this member's sending
	// ratchets, which must never be rebuilt from scratch).
	if c.head != nil {
		if st, err := c.head.MarshalState(); err == nil {
			old.setState(st)
			old.tree = c.head.Tree()
		}
	}
	var g *mls.Group
	var err error
	if anc == old {
		g = c.head
	} else if g, err = c.groupCopyAt(anc); err != nil {
		c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("cannot restore epoch %v: %v", anc.ref.ID, err)})
		return
	}
	abandoned := pathFrom(anc, old)
	if len(abandoned) > 0 {
		c.emit(Event{Kind: EventBranchSwitched, From: old.ref.ID, ID: t.ref.ID, Epoch: t.ref.Epoch, RolledBack: len(abandoned)})
	}
	for _, x := range pathFrom(anc, t) {
		if x.selfRemoved {
			g = nil
		} else if x.state != nil {
			// Lived in or rebuilt before: its saved state is the one
			// whose ratchets are current.
			if g, err = c.load(x.state); err != nil {
				c.abortMove(old, err)
				return
			}
		} else if err = c.enter(g, x); err != nil {
			c.abortMove(old, err)
			return
		}
		if g != nil {
			x.tree = g.Tree()
		}
		if x != t && g != nil {
			st, err := g.MarshalState()
			if err != nil {
				c.abortMove(old, err)
				return
			}
			x.setState(st)
		}
		ev := Event{Kind: EventEpochMerged, Epoch: x.ref.Epoch, ID: x.ref.ID, Parent: x.parent.ref.ID,
			Committer: x.committer, Added: x.added, Removed: x.removed, RemovedIdentities: x.removedIDs}
		if g != nil {
			ev.ContextHash = ContextHash(g.Context())
		}
		c.emit(ev)
		if x.selfRemoved {
			break
		}
	}
	c.head, c.headNode = g, t
	c.dirty = true
	if g == nil {
		c.emit(Event{Kind: EventRemoved, Epoch: t.ref.Epoch, ID: t.ref.ID})
		return
	}
	if len(abandoned) > 0 {
		c.afterSwitch(abandoned)
	}
}

// abortMove undoes a head move that failed half way (a saved state that
// does not load, a commit that no longer merges: neither happens unless
// memory is corrupted or the engine changed): the live head may have been
// merged forward already, so it is restored from the state saved when the
// move began, and the failure is reported.
func (c *Core) abortMove(old *node, err error) {
	c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("moving the head: %v", err)})
	if c.head != nil && old.state != nil {
		if g, lerr := c.load(old.state); lerr == nil {
			c.head = g
		}
	}
}
