package consensus

// Tick advances logical time by one unit: races whose window has closed
// are decided, their losers and the parent's retained state released, and
// held messages older than the window dropped.
func (c *Core) Tick() {
	c.tick++
	c.updateHead()
	c.inheritRemovals()
	c.finalize()
	c.commitInherited()
	c.commitLeave()
	for _, id := range append([]EpochID(nil), c.pendingOrder...) {
		if q := c.pending[id]; q != nil && c.tick-q.since > 2*c.cfg.WindowTicks {
			c.dropPending(id)
		}
	}
	c.prune()
}

// finalize closes the races on head-chain epochs that are decided: those
// whose window has passed since their first candidate arrived, and those
// whose chosen child every member of the epoch has built on (sent
// something in it or later), except members the child removes. An honest
// member moves to a child only when it ranks above every candidate that
// member knows, its own included, so once all have built on the child no
// honest rival that beats it can still be in flight (docs/ordering.md,
// "Finality"). Closing the race on epoch P makes its chosen child final:
// the other candidates on P are dropped, P's retained state is deleted
// (nothing can roll back to it any more), and application messages sent
// in P or in the child leave the outbox.
func (c *Core) finalize() {
	for _, n := range pathFrom(nil, c.headNode) {
		if n.closed || n == c.headNode || !n.hadChild {
			continue
		}
		if c.tick-n.firstChild >= c.cfg.WindowTicks || c.allBuiltOn(n) {
			c.close(n)
			continue
		}
		return // an open race: its descendants stay open too
	}
}

// allBuiltOn reports whether every member of n, except those removed by
// its chosen child, has built on that child.
func (c *Core) allBuiltOn(n *node) bool {
	var ch *node
	for _, x := range n.children {
		if x.isAncestorOf(c.headNode) {
			ch = x
		}
	}
	if ch == nil || n.tree == nil {
		return false
	}
	removed := map[uint32]bool{}
	for _, r := range ch.removed {
		removed[r] = true
	}
	me := ""
	if c.head != nil {
		me = c.ownKey() // this member follows its head chain by construction
	}
	for i := uint32(0); i < n.tree.LeafCount(); i++ {
		leaf := n.tree.Leaf(leafIndex(i))
		if leaf == nil || removed[i] || string(leaf.SignatureKey) == me {
			continue
		}
		if !ch.builders[string(leaf.SignatureKey)] {
			return false
		}
	}
	return true
}

// close decides the race on n in favour of its child on the head chain.
func (c *Core) close(n *node) {
	var chosen *node
	for _, ch := range append([]*node(nil), n.children...) {
		if ch.isAncestorOf(c.headNode) {
			chosen = ch
		} else {
			c.drop(ch)
		}
	}
	n.closed = true
	n.setState(nil)
	n.staged = nil
	if chosen == nil {
		return
	}
	chosen.final = true
	kept := c.outbox[:0]
	for _, o := range c.outbox {
		if o.EpochID != chosen.ref.ID && o.EpochID != n.ref.ID {
			kept = append(kept, o)
		}
	}
	c.outbox = kept
	c.emit(Event{Kind: EventEpochFinal, Epoch: chosen.ref.Epoch, ID: chosen.ref.ID, Parent: n.ref.ID})
	c.dirty = true
}

// prune keeps the tree within MaxRetainedEpochs, giving up first what
// matters least (docs/ordering.md, "Bounds and bad input"):
//  1. closed epochs at the root, kept as history for catch-up
//     (CommitsAfter) down to half the capacity;
//  2. candidates off the head chain, the oldest race first and the worst
//     candidate first: a losing rival cannot become the head unless the
//     winner is later disqualified;
//  3. last, the oldest open race on the head chain is closed before its
//     window ends: the bound wins over the window.
func (c *Core) prune() {
	for len(c.nodes) > c.cfg.MaxRetainedEpochs/2 && c.forgetRoot() {
	}
	for len(c.nodes) > c.cfg.MaxRetainedEpochs {
		if victim := c.worstOffChain(); victim != nil {
			c.drop(victim)
			continue
		}
		var open *node
		for _, n := range pathFrom(nil, c.headNode) {
			if !n.closed && n != c.headNode && n.hadChild {
				open = n
				break
			}
		}
		if open == nil {
			return
		}
		c.close(open)
		for len(c.nodes) > c.cfg.MaxRetainedEpochs/2 && c.forgetRoot() {
		}
	}
}

// worstOffChain is the worst candidate off the head chain on the oldest
// head-chain epoch that has one.
func (c *Core) worstOffChain() *node {
	for _, n := range pathFrom(nil, c.headNode) {
		for i := len(n.children) - 1; i >= 0; i-- {
			if ch := n.children[i]; !ch.isAncestorOf(c.headNode) {
				return ch
			}
		}
	}
	return nil
}

// forgetRoot drops the root when its race is closed.
func (c *Core) forgetRoot() bool {
	r := c.root
	if r == c.headNode || !r.closed || len(r.children) != 1 {
		return false
	}
	next := r.children[0]
	delete(c.nodes, r.ref.ID)
	delete(c.seenCommits, r.digest)
	c.forgotten.add(r.ref.ID)
	next.parent = nil
	c.root = next
	c.dirty = true
	return true
}
