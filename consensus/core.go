package consensus

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"sort"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
)

// Core is the ordering state machine of one member in one group. It is not
// safe for concurrent use; the caller serialises Step, Tick, Send,
// Propose, Commit, Ready and Advance.
type Core struct {
	cfg     Config
	groupID []byte
	cs      *suite.Suite
	tick    uint64

	// The epoch tree: root is the oldest retained epoch, headNode the
	// epoch the member lives in, head its live MLS state (nil once this
	// member is removed on the head branch).
	nodes    map[EpochID]*node
	root     *node
	headNode *node
	head     *mls.Group

	// seenCommits holds the digests of the commits in the tree (replays).
	seenCommits map[[32]byte]*node
	// pending holds envelopes for epochs not yet known, or commits
	// waiting for a proposal, by epoch id.
	pending      map[EpochID]*pendingQueue
	pendingOrder []EpochID
	// known lists epochs admitted since the last release of held messages.
	known []EpochID

	outbox []*OutboxEntry
	// delivered and seenApp remember delivered message ids and the
	// digests of application envelopes, in FIFOs of bounded length.
	delivered fifoSet[MessageID]
	seenApp   fifoSet[[32]byte]
	// forgotten remembers ids of closed epochs dropped from the tree.
	forgotten fifoSet[EpochID]

	// repropose holds the proposals of this member's losing commits until
	// they are committed again on the head.
	repropose []reproposal
	// inherited holds removals of losing commits whose committer the
	// winner removed, which this member, the winner's committer, commits
	// again on the head (inherit.go).
	inherited []reproposal
	// leaving: this member inherited its own removal and proposes it in
	// every head epoch (leftIn: the last one) until it is out.
	leaving bool
	leftIn  EpochID
	// leaves records, per epoch, when a member's proposal of its own
	// removal was first seen there and whose it was (leave.go).
	leaves map[EpochID]leaveSeen

	ready Ready
	dirty bool
}

type pendingQueue struct {
	since uint64
	envs  []Envelope
}

// New starts a Core in the epoch of cfg.Group; that epoch is the root of
// the epoch tree and final by definition.
func New(cfg Config) (*Core, error) {
	if cfg.Group == nil || cfg.Rand == nil {
		return nil, fmt.Errorf("%w: Group and Rand are required", ErrConfig)
	}
	cfg = cfg.withDefaults()
	if cfg.MaxRivalsPerParent < 2 || cfg.MaxRetainedEpochs < 4 {
		return nil, fmt.Errorf("%w: MaxRivalsPerParent must be >= 2 and MaxRetainedEpochs >= 4", ErrConfig)
	}
	g := cfg.Group
	c := &Core{
		cfg:         cfg,
		groupID:     append([]byte{}, g.GroupID()...),
		cs:          g.Suite(),
		nodes:       map[EpochID]*node{},
		seenCommits: map[[32]byte]*node{},
		pending:     map[EpochID]*pendingQueue{},
		head:        g,
		delivered:   newFifoSet[MessageID](maxRemembered),
		seenApp:     newFifoSet[[32]byte](maxRemembered),
		forgotten:   newFifoSet[EpochID](maxRemembered),
	}
	c.cfg.Group = nil
	root := &node{ref: EpochRef{Epoch: g.Epoch(), ID: EpochIDOf(g)}, closed: false, final: true, tree: g.Tree()}
	c.addNode(root)
	c.root, c.headNode = root, root
	c.dirty = true
	return c, nil
}

// maxRemembered bounds the replay and delivered-id memories.
const maxRemembered = 4096

func (c *Core) addNode(n *node) {
	n.bySigner = map[string]*node{}
	n.builders = map[string]bool{}
	n.equivocators = map[string]bool{}
	c.nodes[n.ref.ID] = n
	if n.parent != nil {
		c.seenCommits[n.digest] = n
	}
}

// HasReady reports whether Ready has anything.
func (c *Core) HasReady() bool { return !c.ready.IsEmpty() || c.dirty }

// Ready returns the output accumulated since the last Advance.
func (c *Core) Ready() Ready {
	rd := c.ready
	if c.dirty && !c.cfg.SkipPersist {
		rd.Persist = c.persist()
	}
	return rd
}

// Advance acknowledges that the caller has acted on rd.
func (c *Core) Advance(rd Ready) {
	c.ready.Messages = c.ready.Messages[len(rd.Messages):]
	c.ready.Delivered = c.ready.Delivered[len(rd.Delivered):]
	c.ready.Events = c.ready.Events[len(rd.Events):]
	if len(c.ready.Messages) == 0 {
		c.ready.Messages = nil
	}
	if len(c.ready.Delivered) == 0 {
		c.ready.Delivered = nil
	}
	if len(c.ready.Events) == 0 {
		c.ready.Events = nil
	}
	c.dirty = false
}

func (c *Core) emit(e Event)           { c.ready.Events = append(c.ready.Events, e) }
func (c *Core) broadcast(env Envelope) { c.ready.Messages = append(c.ready.Messages, env) }
func (c *Core) deliver(d Delivered)    { c.ready.Delivered = append(c.ready.Delivered, d) }
func (c *Core) reject(reason string, err error) error {
	c.emit(Event{Kind: EventCommitRejected, Reason: reason})
	return err
}

// persist collects the durable state.
func (c *Core) persist() *Persist {
	p := &Persist{HeadID: c.headNode.ref.ID, Tick: c.tick}
	if c.head != nil {
		if st, err := c.head.MarshalState(); err == nil {
			p.HeadState = st
		}
	}
	for _, n := range c.sortedNodes() {
		// A copy: the Core zeroes its own when the epoch is released.
		r := RetainedEpoch{Ref: n.ref, State: bytes.Clone(n.state)}
		if n.parent != nil {
			r.Parent = n.parent.ref.ID
			r.Commit, _ = n.env.MarshalBinary()
		}
		var age uint64
		if n.hadChild {
			age = c.tick - n.firstChild
		}
		r.Meta, _ = codec.Marshal(&nodeMeta{n: n, age: age})
		p.Retained = append(p.Retained, r)
	}
	for _, o := range c.outbox {
		p.Outbox = append(p.Outbox, *o)
	}
	return p
}

// sortedNodes lists the retained epochs by number, then id.
func (c *Core) sortedNodes() []*node { return sortNodes(c.nodes) }

// sortNodes lists a set of epochs by number, then id.
func sortNodes(m map[EpochID]*node) []*node {
	out := make([]*node, 0, len(m))
	for _, n := range m {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ref.Epoch != out[j].ref.Epoch {
			return out[i].ref.Epoch < out[j].ref.Epoch
		}
		return string(out[i].ref.ID[:]) < string(out[j].ref.ID[:])
	})
	return out
}

// Head is the live MLS state of the head epoch, for reading only; nil once
// this member has been removed on the head branch.
func (c *Core) Head() *mls.Group { return c.head }

// HeadID is the id of the head epoch.
func (c *Core) HeadID() EpochID { return c.headNode.ref.ID }

// HeadRef is the number and id of the head epoch.
func (c *Core) HeadRef() EpochRef { return c.headNode.ref }

// Now is the number of ticks since New.
func (c *Core) Now() uint64 { return c.tick }

// suite is the group's cipher suite.
func (c *Core) suite() *suite.Suite { return c.cs }

// RankRule is the rule the Core ranks rivals with.
func (c *Core) RankRule() RankRule { return c.cfg.Rank }

// Removed reports whether this member is removed on the head branch.
func (c *Core) Removed() bool { return c.head == nil }

// Knows reports whether id names a retained epoch, on any branch.
func (c *Core) Knows(id EpochID) bool {
	_, ok := c.nodes[id]
	return ok
}

// TreeOf is the ratchet tree of a retained epoch, or nil when the member
// never held that epoch's state (a rival it did not need to rebuild).
func (c *Core) TreeOf(id EpochID) *ratchettree.Tree {
	n := c.nodes[id]
	switch {
	case n == nil:
		return nil
	case n == c.headNode && c.head != nil:
		return c.head.Tree()
	}
	return n.tree
}

// Chain is the head chain, newest first, at most max entries (max <= 0:
// all retained).
func (c *Core) Chain(max int) []EpochRef {
	var out []EpochRef
	for n := c.headNode; n != nil && (max <= 0 || len(out) < max); n = n.parent {
		out = append(out, n.ref)
	}
	return out
}

// CommitsAfter returns the commit envelopes on the head chain after epoch
// id, oldest first, exactly as broadcast, at most max (max <= 0: all); ok
// is false when id is not on the retained head chain.
func (c *Core) CommitsAfter(id EpochID, max int) (envs []Envelope, ok bool) {
	n := c.nodes[id]
	if n == nil || !n.isAncestorOf(c.headNode) {
		return nil, false
	}
	for _, x := range pathFrom(n, c.headNode) {
		if max > 0 && len(envs) == max {
			break
		}
		envs = append(envs, x.env)
	}
	return envs, true
}

// EpochInfo describes one retained epoch.
type EpochInfo struct {
	Ref       EpochRef
	Parent    EpochID
	Committer uint32
	// Rank is the position among the candidates on its parent (0 best).
	Rank int
	// OnChain: on the head chain. Head: the head itself. Final: final.
	OnChain, Head, Final bool
	// Equivocated: its committer equivocated on the parent.
	Equivocated bool
	// Removed: this member is not in the epoch.
	Removed bool
}

// Epochs describes the retained epoch tree, sorted by epoch number then
// id, for tests, golden files and status pages.
func (c *Core) Epochs() []EpochInfo {
	var out []EpochInfo
	for _, n := range c.sortedNodes() {
		info := EpochInfo{Ref: n.ref, Committer: n.committer, OnChain: n.isAncestorOf(c.headNode),
			Head: n == c.headNode, Final: n.final, Equivocated: n.equivocated, Removed: n.selfRemoved}
		if n.parent != nil {
			info.Parent = n.parent.ref.ID
			for i, ch := range n.parent.children {
				if ch == n {
					info.Rank = i
				}
			}
		}
		out = append(out, info)
	}
	return out
}

// Outbox lists application messages sent but not yet final.
func (c *Core) Outbox() []OutboxEntry {
	out := make([]OutboxEntry, len(c.outbox))
	for i, o := range c.outbox {
		out[i] = *o
	}
	return out
}

// OpensFrom is the lowest epoch number of the head chain whose application
// messages Step can still open: the head's engine keeps the keys of the
// last mls.DefaultPastEpochs epochs it merged, and an epoch whose race is
// still open keeps (or can rebuild from its parent) its whole state. A
// member that merged many epochs at once (it was offline, or cut off
// inside the window) therefore still opens messages of all of them until
// their races close, though they are more than DefaultPastEpochs behind
// its head. For a removed member (no head) it is past the head: nothing
// opens. Peers read it in beacons (fork), to send a message's original
// copy only to a member that can open it.
func (c *Core) OpensFrom() uint64 {
	head := c.headNode.ref.Epoch
	if c.head == nil {
		return head + 1
	}
	path := pathFrom(nil, c.headNode)
	low := head
	// The engine's own past epochs (merged by this group, so on the
	// retained chain or before its root).
	if k := len(path) - 1 - mls.DefaultPastEpochs; k >= 0 {
		low = path[k].ref.Epoch
	} else if len(path) > 0 {
		low = path[0].ref.Epoch
	}
	// Retained states: groupCopyAt rebuilds an epoch from its own saved
	// state, or from its parent's when its race is still open.
	rebuildable := false
	for _, n := range path {
		rebuildable = !n.selfRemoved && (n.state != nil || (rebuildable && !n.closed))
		if rebuildable {
			return min(low, n.ref.Epoch)
		}
	}
	return low
}

// Stats are the sizes of the Core's bounded memories.
type Stats struct {
	Epochs, MaxRivals, Pending, PendingEpochs, Outbox, RetainedStates int
}

// Stats reports the sizes of what the Core holds, so tests can show the
// bounds hold under a flood.
func (c *Core) Stats() Stats {
	s := Stats{Epochs: len(c.nodes), PendingEpochs: len(c.pending), Outbox: len(c.outbox)}
	for _, n := range c.nodes {
		s.MaxRivals = max(s.MaxRivals, len(n.children))
		if n.state != nil {
			s.RetainedStates++
		}
	}
	for _, q := range c.pending {
		s.Pending += len(q.envs)
	}
	return s
}

func digestOf(v codec.Marshaler) ([32]byte, []byte, error) {
	b, err := codec.Marshal(v)
	if err != nil {
		return [32]byte{}, nil, err
	}
	return sha256.Sum256(b), b, nil
}

// fifoSet is a set that forgets its oldest element beyond a bound.
type fifoSet[K comparable] struct {
	max   int
	set   map[K]struct{}
	order []K
}

func newFifoSet[K comparable](max int) fifoSet[K] {
	return fifoSet[K]{max: max, set: map[K]struct{}{}}
}

func (f *fifoSet[K]) has(k K) bool { _, ok := f.set[k]; return ok }

func (f *fifoSet[K]) add(k K) {
	if f.has(k) {
		return
	}
	f.set[k] = struct{}{}
	f.order = append(f.order, k)
	if len(f.order) > f.max {
		delete(f.set, f.order[0])
		f.order = f.order[1:]
	}
}
