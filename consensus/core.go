package consensus

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Core is the ordering state machine of one member in one group. It is not
// safe for concurrent use; the caller serialises Step, Tick, Send,
// Propose, Commit, Ready and Advance.
type Core struct {
	cfg Config
	// head is the live MLS state of the head epoch.
	head   *mls.Group
	headID EpochID
	tick   uint64
	ready  Ready
}

// New starts a Core in the epoch of cfg.Group.
func New(cfg Config) (*Core, error) {
	if cfg.Group == nil || cfg.Rand == nil {
		return nil, fmt.Errorf("%w: Group and Rand are required", ErrConfig)
	}
	c := &Core{cfg: cfg.withDefaults(), head: cfg.Group}
	c.headID = EpochIDOf(cfg.Group)
	return c, nil
}

// Step processes one envelope from the network. A rejected envelope
// returns an error wrapping one of the sentinels of errors.go and changes
// nothing.
func (c *Core) Step(env Envelope) error {
	return fmt.Errorf("%w: not implemented yet", ErrNotHandled)
}

// Tick advances logical time by one unit.
func (c *Core) Tick() { c.tick++ }

// Send seals application data in the head epoch and queues it for
// broadcast. The message stays in the outbox until its epoch is final and
// is re-sent (same MessageID) if its epoch loses.
func (c *Core) Send(data []byte) (MessageID, error) {
	return MessageID{}, fmt.Errorf("%w: not implemented yet", ErrConfig)
}

// Propose sends a proposal in the head epoch.
func (c *Core) Propose(p *wire.Proposal) error {
	return fmt.Errorf("%w: not implemented yet", ErrConfig)
}

// Commit commits the given proposals by value together with every
// proposal received in the head epoch, with an UpdatePath when required or
// when there are no proposals at all.
func (c *Core) Commit(proposals ...*wire.Proposal) error {
	return fmt.Errorf("%w: not implemented yet", ErrConfig)
}

// HasReady reports whether Ready has anything.
func (c *Core) HasReady() bool { return !c.ready.IsEmpty() }

// Ready returns the output accumulated since the last Advance.
func (c *Core) Ready() Ready { return c.ready }

// Advance acknowledges that the caller has acted on rd.
func (c *Core) Advance(rd Ready) { c.ready = Ready{} }

// Head is the live MLS state of the head epoch, for reading only.
func (c *Core) Head() *mls.Group { return c.head }

// HeadID is the id of the head epoch.
func (c *Core) HeadID() EpochID { return c.headID }

// Tick count since New.
func (c *Core) Now() uint64 { return c.tick }

// Knows reports whether id names a retained epoch, on any branch.
func (c *Core) Knows(id EpochID) bool { return id == c.headID }

// TreeOf is the ratchet tree of a retained epoch, or nil.
func (c *Core) TreeOf(id EpochID) *ratchettree.Tree {
	if id == c.headID {
		return c.head.Tree()
	}
	return nil
}

// Chain is the head chain, newest first, at most max entries (max <= 0:
// all retained).
func (c *Core) Chain(max int) []EpochRef {
	return []EpochRef{{Epoch: c.head.Epoch(), ID: c.headID}}
}

// CommitsAfter returns the commit envelopes on the head chain after epoch
// id, oldest first, exactly as broadcast, at most max; ok is false when id
// is not on the retained head chain.
func (c *Core) CommitsAfter(id EpochID, max int) (envs []Envelope, ok bool) {
	return nil, id == c.headID
}

// Epochs describes the retained epoch tree, sorted by epoch number then
// id, for tests, golden files and status pages.
func (c *Core) Epochs() []EpochInfo { return nil }

// EpochInfo describes one retained epoch.
type EpochInfo struct {
	Ref       EpochRef
	Parent    EpochID
	Committer uint32
	// OnChain: on the head chain. Head: the head itself. Final: final.
	OnChain, Head, Final bool
	// Equivocated: its commit's committer equivocated on the parent.
	Equivocated bool
}
