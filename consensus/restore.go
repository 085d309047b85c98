package consensus

import (
	"bytes"
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Restore starts a Core again from what an earlier one persisted
// (Ready.Persist). cfg.Group must be nil.
//
// When every retained epoch carries its Meta, the epoch tree is rebuilt as
// it was: candidates, saved states, open races with their windows (Tick),
// equivocators, received proposals; the restarted member can still switch
// to a better rival of an epoch before the restart. A candidate that was
// never merged and whose commit was this member's own cannot be re-staged
// (the engine refuses commits in the member's own name): it stays in the
// tree for ranking but cannot become the head again. Without Meta only the
// head is restored, as the root of a fresh tree.
//
// Messages in the outbox are broadcast again as they were last sent
// (receivers drop what they already delivered, by MessageID); with a head
// only restore they are sealed again in the head.
func Restore(cfg Config, p *Persist) (*Core, error) {
	if cfg.Group != nil || p == nil || p.HeadState == nil {
		return nil, fmt.Errorf("%w: Restore needs a persisted head state and no Group", ErrConfig)
	}
	g, err := mls.LoadGroup(p.HeadState, mls.LoadConfig{SigningKey: cfg.SigningKey, PSKs: cfg.PSKs, Credentials: cfg.Credentials})
	if err != nil {
		return nil, fmt.Errorf("consensus: restoring the head: %w", err)
	}
	if EpochIDOf(g) != p.HeadID {
		return nil, fmt.Errorf("%w: persisted head id %v does not match its state", ErrConfig, p.HeadID)
	}
	cfg.Group = g
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.rebuild(p); err != nil {
		// Fall back to the head alone, which New already set up.
		c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("epoch tree not restored: %v", err)})
		for i := range p.Outbox {
			o := p.Outbox[i]
			if err := c.sealApp(&o); err != nil {
				return nil, err
			}
			c.delivered.add(o.ID)
		}
		return c, nil
	}
	for i := range p.Outbox {
		o := p.Outbox[i]
		c.outbox = append(c.outbox, &o)
		c.delivered.add(o.ID)
		c.broadcast(o.Sealed)
	}
	return c, nil
}

// rebuild replaces the fresh tree of New with the persisted one.
func (c *Core) rebuild(p *Persist) error {
	if len(p.Retained) == 0 {
		return fmt.Errorf("%w: no retained epochs", ErrConfig)
	}
	nodes := map[EpochID]*node{}
	parents := map[EpochID]EpochID{}
	for _, r := range p.Retained {
		if r.Meta == nil {
			return fmt.Errorf("%w: epoch %v has no Meta", ErrConfig, r.Ref.ID)
		}
		var m nodeMeta
		if err := codec.Unmarshal(r.Meta, &m); err != nil {
			return fmt.Errorf("%w: epoch %v: %w", ErrMalformed, r.Ref.ID, err)
		}
		n := m.n
		n.ref = r.Ref
		n.state = bytes.Clone(r.State)
		if m.age > p.Tick {
			return fmt.Errorf("%w: epoch %v: window age %d beyond tick %d", ErrMalformed, r.Ref.ID, m.age, p.Tick)
		}
		n.firstChild = p.Tick - m.age
		if r.Commit != nil {
			env, err := UnmarshalEnvelope(r.Commit)
			if err != nil {
				return fmt.Errorf("epoch %v: %w", r.Ref.ID, err)
			}
			n.env = *env
			parents[r.Ref.ID] = r.Parent
		}
		if nodes[r.Ref.ID] != nil {
			return fmt.Errorf("%w: epoch %v twice", ErrMalformed, r.Ref.ID)
		}
		nodes[r.Ref.ID] = n
	}
	var root *node
	for id, n := range nodes {
		pid, ok := parents[id]
		if !ok || nodes[pid] == nil {
			if root != nil && root.ref.Epoch <= n.ref.Epoch {
				continue
			}
			root = n
		}
	}
	head := nodes[p.HeadID]
	if root == nil || head == nil {
		return fmt.Errorf("%w: no root or no head among the retained epochs", ErrMalformed)
	}
	// Link in epoch order, so parents come first; drop what does not hang
	// from the root (it could not be reached anyway).
	for _, n := range sortNodes(nodes) {
		if n == root {
			continue
		}
		parent := nodes[parents[n.ref.ID]]
		if parent == nil || !parent.linked(root) {
			delete(nodes, n.ref.ID)
			continue
		}
		n.parent = parent
		n.key = c.cfg.Rank.Key(&Candidate{Parent: parent.ref.ID, Committer: n.committer, Removes: len(n.removed), External: n.external, Digest: n.digest})
		parent.insertChild(n)
		parent.bySigner[n.signer] = n
	}
	if !head.linked(root) {
		return fmt.Errorf("%w: the head does not hang from the root", ErrMalformed)
	}
	c.nodes = map[EpochID]*node{}
	c.seenCommits = map[[32]byte]*node{}
	for _, n := range nodes {
		c.nodes[n.ref.ID] = n
		if n.parent != nil {
			c.seenCommits[n.digest] = n
		}
	}
	c.root, c.headNode = root, head
	head.tree = c.head.Tree()
	c.tick = p.Tick
	// Parents first: opening a sealed commit may need its parent rebuilt.
	me := c.ownKey()
	for _, n := range c.sortedNodes() {
		if n.parent != nil {
			n.msg = c.commitMessage(n)
			n.unreachable = n.signer == me && n.state == nil && n != head
		}
	}
	return nil
}

// linked reports whether n hangs from root through parent links set so
// far.
func (n *node) linked(root *node) bool {
	for x := n; x != nil; x = x.parent {
		if x == root {
			return true
		}
	}
	return false
}

// commitMessage recovers the commit of a restored node from its envelope,
// opening a sealed one with the parent epoch's key when the parent's state
// is at hand; nil when it cannot (the node then cannot be re-entered
// without a saved state of its own).
func (c *Core) commitMessage(n *node) *wire.MLSMessage {
	body := n.env.Body
	if n.env.Kind == KindSealed {
		var s Sealed
		if codec.Unmarshal(body, &s) != nil {
			return nil
		}
		key, err := c.sealKey(n.parent)
		if err != nil {
			return nil
		}
		aad, err := sealAAD(&n.env, s.InnerKind)
		if err != nil {
			return nil
		}
		if body, err = c.suite().Open(key, s.Nonce, aad, s.Ciphertext); err != nil {
			return nil
		}
	}
	var cb CommitBody
	if codec.Unmarshal(body, &cb) != nil {
		return nil
	}
	return cb.Commit
}
