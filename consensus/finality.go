package consensus

// Tick advances logical time by one unit: races whose window has closed
// are decided, their losers and the parent's retained state released, and
// held messages older than the window dropped.
func (c *Core) Tick() {
	c.tick++
	c.updateHead()
	c.finalize()
	for _, id := range append([]EpochID(nil), c.pendingOrder...) {
		if q := c.pending[id]; q != nil && c.tick-q.since > 2*c.cfg.WindowTicks {
			c.dropPending(id)
		}
	}
	c.prune()
}

// finalize closes the races on head-chain epochs whose window has passed.
// Closing the race on epoch P makes its chosen child final: the other
// candidates on P are dropped, P's retained state is deleted (nothing can
// roll back to it any more), and application messages sent in the child
// leave the outbox.
func (c *Core) finalize() {
	for _, n := range pathFrom(nil, c.headNode) {
		if n.closed || n == c.headNode || !n.hadChild {
			continue
		}
		if c.tick-n.firstChild < c.cfg.WindowTicks {
			break // later epochs started later
		}
		c.close(n)
	}
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
	n.state, n.staged = nil, nil
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

// prune keeps the tree within MaxRetainedEpochs. Closed epochs at the
// root are forgotten first, keeping half the capacity as history for
// catch-up (CommitsAfter); if the tree is still too large, the oldest open
// race on the head chain is closed early: the bound wins over the window
// (docs/ordering.md, "Bounds and bad input").
func (c *Core) prune() {
	for len(c.nodes) > c.cfg.MaxRetainedEpochs/2 && c.forgetRoot() {
	}
	for len(c.nodes) > c.cfg.MaxRetainedEpochs {
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
