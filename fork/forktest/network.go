// Package forktest wires fork.Members to a controllable in-memory network
// for interaction tests, in the manner of etcd-io/raft's rafttest: scripts
// deliver, drop, partition, heal and tick, and the network renders what
// happened deterministically so that golden files replay byte for byte.
//
// Everything is a function of the seed: each node draws from its own
// ChaCha8 stream, deliveries happen in queue order, and nodes are visited
// in name order.
package forktest

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Options shape a network's members.
type Options struct {
	Seed           uint64
	WindowTicks    uint64
	BeaconInterval uint64
	HealDelay      uint64
	// Adversaries ignore the survivors' removed set and try to rejoin.
	Adversaries []string
	// Apply is the consensus apply policy (nil: the core's default).
	Apply consensus.ApplyPolicy
	// MaxJoinRequests bounds the join requests each member holds (0:
	// fork's default).
	MaxJoinRequests int
	// ExternalRejoin makes losers rejoin by external commit only.
	ExternalRejoin bool
}

// Node is one peer: a member of the group once it has joined.
type Node struct {
	Name   string
	Member *fork.Member
	key    *suite.SigningKey
	kp     *mls.KeyPackageBundle // waiting for a Welcome
	rng    *rand.ChaCha8

	// delivered maps message ids to texts, in delivery order.
	delivered map[consensus.MessageID]bool
	texts     []string
	dups      int
	joinedAt  int // index into Network.sent when it joined
	// State is the last fork.State the member asked to persist.
	State *fork.State
	// MaxBeaconSeq is the highest beacon sequence number it sent.
	MaxBeaconSeq uint64
}

type packet struct {
	from, to string
	env      consensus.Envelope
	due      uint64 // network tick from which it may be delivered
}

type sentMsg struct {
	id      consensus.MessageID
	from    string
	text    string
	members []string // members (joined, not gone) when it was sent
}

// Network is the set of nodes and the messages in flight.
type Network struct {
	opts  Options
	cs    *suite.Suite
	nodes map[string]*Node
	names []string
	queue []packet
	cut   map[[2]string]bool
	// delay holds packets on a link for that many network ticks.
	delay map[[2]string]uint64
	now   uint64
	// side assigns nodes to partition sides (0: unassigned, linked to
	// all); a node added later takes its adder's side.
	side map[string]int
	sent []sentMsg
	log  []string
	// Errors counts Step errors by their first line, for the bad-input
	// summary.
	Errors map[string]int
	Steps  int
	// Lose, if set, drops the packets it reports true for, as a lossy
	// link drops one copy (tests of what a single loss does).
	Lose func(from, to string, env *consensus.Envelope) bool
}

// New creates a group of the named members: the first creates it and adds
// the others in one commit; every member then runs a fork.Member.
func New(opts Options, names ...string) (*Network, error) {
	cs, err := suite.Lookup(suite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		return nil, err
	}
	n := &Network{opts: opts, cs: cs, nodes: map[string]*Node{}, cut: map[[2]string]bool{}, delay: map[[2]string]uint64{}, side: map[string]int{}, Errors: map[string]int{}}
	for _, name := range names {
		if _, err := n.newNode(name); err != nil {
			return nil, err
		}
	}
	creator := n.nodes[names[0]]
	g, err := mls.CreateGroup(creator.rng, cs, mls.CreateConfig{GroupID: []byte("forktest"), KeyPackage: creator.kp, SigningKey: creator.key})
	if err != nil {
		return nil, err
	}
	var adds []*wire.Proposal
	for _, name := range names[1:] {
		adds = append(adds, mls.NewAdd(n.nodes[name].kp.KeyPackage))
	}
	groups := map[string]*mls.Group{names[0]: g}
	if len(adds) > 0 {
		res, err := g.Commit(creator.rng, mls.CommitOptions{Proposals: adds, PublicMessage: true})
		if err != nil {
			return nil, err
		}
		if err := g.Merge(res.Staged); err != nil {
			return nil, err
		}
		for _, name := range names[1:] {
			nd := n.nodes[name]
			jg, err := mls.JoinFromWelcome(cs, res.Welcome, mls.JoinConfig{KeyPackage: nd.kp, SigningKey: nd.key})
			if err != nil {
				return nil, fmt.Errorf("%s joins: %w", name, err)
			}
			groups[name] = jg
		}
	}
	for _, name := range names {
		if err := n.start(n.nodes[name], groups[name]); err != nil {
			return nil, err
		}
	}
	n.flushAll()
	return n, nil
}

func (n *Network) newNode(name string) (*Node, error) {
	h := fnv.New64a()
	h.Write([]byte(name))
	var seed [32]byte
	copy(seed[:], fmt.Sprintf("%016x%016x", n.opts.Seed, h.Sum64()))
	nd := &Node{Name: name, rng: rand.NewChaCha8(seed), delivered: map[consensus.MessageID]bool{}}
	priv, _, err := n.cs.GenerateSignatureKey(nd.rng)
	if err != nil {
		return nil, err
	}
	if nd.key, err = n.cs.NewSigningKey(priv); err != nil {
		return nil, err
	}
	if err := n.freshKeyPackage(nd); err != nil {
		return nil, err
	}
	n.nodes[name] = nd
	n.names = append(n.names, name)
	sort.Strings(n.names)
	return nd, nil
}

func (n *Network) freshKeyPackage(nd *Node) error {
	kp, err := mls.NewKeyPackage(nd.rng, n.cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(nd.Name)},
		nd.key, mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	nd.kp = kp
	return err
}

// start wraps a joined group in a fork.Member.
func (n *Network) start(nd *Node, g *mls.Group) error {
	m, err := fork.New(fork.Config{
		Core: consensus.Config{Group: g, SigningKey: nd.key, Rand: nd.rng,
			WindowTicks: n.opts.WindowTicks, SkipPersist: true, Apply: n.opts.Apply},
		BeaconInterval:  n.opts.BeaconInterval,
		HealDelay:       n.opts.HealDelay,
		IgnoreRemoval:   slices.Contains(n.opts.Adversaries, nd.Name),
		MaxJoinRequests: n.opts.MaxJoinRequests,
		ExternalRejoin:  n.opts.ExternalRejoin,
	})
	if err != nil {
		return err
	}
	nd.Member = m
	nd.kp = nil
	nd.joinedAt = len(n.sent)
	return nil
}

func (n *Network) member(name string) (*Node, error) {
	nd := n.nodes[name]
	if nd == nil || nd.Member == nil {
		return nil, fmt.Errorf("%s is not a member", name)
	}
	return nd, nil
}

// KeyPackage makes a fresh KeyPackage for the named node (created if
// new), for tests that build proposals by hand.
func (n *Network) KeyPackage(t interface{ Fatal(...any) }, name string) *wire.KeyPackage {
	nd, ok := n.nodes[name]
	if !ok {
		var err error
		if nd, err = n.newNode(name); err != nil {
			t.Fatal(err)
		}
	}
	if err := n.freshKeyPackage(nd); err != nil {
		t.Fatal(err)
	}
	return nd.kp.KeyPackage
}

// SigningKey is the named node's signature key (for tests that forge or
// pre-sign messages).
func (n *Network) SigningKey(name string) *suite.SigningKey { return n.nodes[name].key }

// Node returns the named node.
func (n *Network) Node(name string) *Node { return n.nodes[name] }

// Names lists the nodes in name order.
func (n *Network) Names() []string { return n.names }

func (n *Network) logf(format string, args ...any) {
	n.log = append(n.log, fmt.Sprintf(format, args...))
}

// TakeLog returns and clears what happened since the last call.
func (n *Network) TakeLog() []string {
	l := n.log
	n.log = nil
	return l
}

// flush moves a node's Ready into the network.
func (n *Network) flush(nd *Node) {
	m := nd.Member
	if m == nil || !m.HasReady() {
		return
	}
	rd := m.Ready()
	m.Advance(rd)
	if rd.State != nil {
		nd.State = rd.State
	}
	for _, env := range rd.Messages {
		var b fork.Beacon
		if env.Kind == consensus.KindBeacon && codec.Unmarshal(env.Body, &b) == nil {
			nd.MaxBeaconSeq = max(nd.MaxBeaconSeq, b.Seq)
		}
		for _, to := range n.names {
			if to != nd.Name {
				n.enqueue(packet{from: nd.Name, to: to, env: env})
			}
		}
	}
	for _, d := range rd.Direct {
		n.enqueue(packet{from: nd.Name, to: string(d.To), env: d.Envelope})
	}
	for _, d := range rd.Delivered {
		if nd.delivered[d.ID] {
			nd.dups++
			continue
		}
		nd.delivered[d.ID] = true
		nd.texts = append(nd.texts, string(d.Data))
	}
	for _, ev := range rd.Events {
		switch ev.Kind {
		case consensus.EventBranchSwitched:
			n.logf("%s: switched %v -> %v (rolled back %d)", nd.Name, ev.From, ev.ID, ev.RolledBack)
		case consensus.EventRemoved:
			n.logf("%s: removed", nd.Name)
		case consensus.EventEquivocation:
			n.logf("%s: equivocation by leaf %d", nd.Name, ev.Leaf)
		}
	}
	for _, ev := range rd.Fork {
		n.logf("%s: %s", nd.Name, renderEvent(ev))
	}
}

func (n *Network) enqueue(p packet) {
	p.due = n.now + n.delay[[2]string{p.from, p.to}]
	n.queue = append(n.queue, p)
}

func renderEvent(ev fork.Event) string {
	switch ev.Kind {
	case fork.EventReadded:
		return fmt.Sprintf("re-added from %d/%v to %d/%v (resent %d, removals %d)", ev.From.Epoch, ev.From.ID, ev.To.Epoch, ev.To.ID, ev.Count, ev.Removals)
	case fork.EventBatchCommitted:
		return fmt.Sprintf("batch-committed %d on %d/%v", ev.Count, ev.Rival.Epoch, ev.Rival.ID)
	case fork.EventJoinRequested:
		return fmt.Sprintf("join-requested on %d/%v via %s", ev.Rival.Epoch, ev.Rival.ID, ev.Peer)
	case fork.EventRejoined:
		return fmt.Sprintf("rejoined from %d/%v to %d/%v (resent %d, removals %d)", ev.From.Epoch, ev.From.ID, ev.To.Epoch, ev.To.ID, ev.Count, ev.Removals)
	case fork.EventCarriedOver:
		return fmt.Sprintf("carried over %d removals of %d/%v", ev.Removals, ev.Rival.Epoch, ev.Rival.ID)
	case fork.EventServedRejoiner:
		return fmt.Sprintf("served rejoiner forked at %d/%v (resent %d)", ev.From.Epoch, ev.From.ID, ev.Count)
	case fork.EventServedLagging:
		return fmt.Sprintf("served a member still in %d/%v (resent %d)", ev.From.Epoch, ev.From.ID, ev.Count)
	case fork.EventBranchFound, fork.EventSurvived, fork.EventNoVerdict, fork.EventStayOut:
		return fmt.Sprintf("%v %d/%v via %s", ev.Kind, ev.Rival.Epoch, ev.Rival.ID, ev.Peer)
	case fork.EventRefusedRejoin:
		return fmt.Sprintf("%v on %d", ev.Kind, ev.Rival.Epoch)
	}
	return ev.Kind.String()
}

func (n *Network) flushAll() {
	for _, name := range n.names {
		n.flush(n.nodes[name])
	}
}

// Deliver processes messages in flight until none is left (or limit
// deliveries happened), dropping those across a cut.
func (n *Network) Deliver(limit int) int {
	done := 0
	var held []packet
	for len(n.queue) > 0 && done < limit {
		p := n.queue[0]
		n.queue = n.queue[1:]
		if n.cut[[2]string{p.from, p.to}] || n.side[p.from] != n.side[p.to] {
			continue
		}
		if p.due > n.now {
			held = append(held, p)
			continue
		}
		if n.Lose != nil && n.Lose(p.from, p.to, &p.env) {
			continue
		}
		done++
		n.receive(p)
	}
	n.queue = append(held, n.queue...)
	return done
}

func (n *Network) receive(p packet) {
	nd := n.nodes[p.to]
	if nd == nil {
		return
	}
	if nd.Member == nil || nd.kp != nil && nd.Member.Gone() {
		// Not in the group yet, or removed and added again with a
		// fresh KeyPackage: it joins from the Welcome.
		n.maybeJoin(nd, p.env)
		if nd.Member == nil || nd.kp != nil {
			return
		}
		if p.env.Kind == consensus.KindCommit {
			return // the Welcome's commit: the new member starts after it
		}
	}
	n.Steps++
	if err := nd.Member.Step(fork.PeerID(p.from), &p.env); err != nil {
		n.Errors[errorKey(err)]++
	}
	n.flush(nd)
}

func errorKey(err error) string {
	for _, s := range []error{fork.ErrRemovedMember, fork.ErrBadBeacon, fork.ErrReplayedBeacon, fork.ErrRateLimited,
		fork.ErrUnsolicited, fork.ErrUnknownGroup, consensus.ErrDuplicate, consensus.ErrUnknownEpoch} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "other"
}

// maybeJoin lets a node waiting for a Welcome join from a commit's.
func (n *Network) maybeJoin(nd *Node, env consensus.Envelope) {
	if nd.kp == nil || env.Kind != consensus.KindCommit {
		return
	}
	var body consensus.CommitBody
	if codec.Unmarshal(env.Body, &body) != nil || body.Welcome == nil {
		return
	}
	g, err := mls.JoinFromWelcome(n.cs, body.Welcome, mls.JoinConfig{KeyPackage: nd.kp, SigningKey: nd.key})
	if err != nil {
		return // not for this node
	}
	if n.start(nd, g) == nil {
		n.logf("%s: joined at epoch %d", nd.Name, g.Epoch())
		n.flush(nd)
	}
}

// Tick advances every member by one tick, then delivers everything due.
func (n *Network) Tick() {
	n.now++
	for _, name := range n.names {
		if m := n.nodes[name].Member; m != nil {
			m.Tick()
			n.flush(n.nodes[name])
		}
	}
	n.Deliver(1 << 20)
}

// Partition cuts every link between nodes of different sides. Nodes not
// named form one more side; a node added later joins its adder's side.
func (n *Network) Partition(sides ...[]string) {
	clear(n.side)
	for _, name := range n.names {
		n.side[name] = len(sides) + 1
	}
	for i, s := range sides {
		for _, x := range s {
			n.side[x] = i + 1
		}
	}
}

// Delay holds what travels from -> to for ticks network ticks.
func (n *Network) Delay(from, to string, ticks uint64) { n.delay[[2]string{from, to}] = ticks }

// Drop cuts the link from -> to.
func (n *Network) Drop(from, to string) { n.cut[[2]string{from, to}] = true }

// Heal restores every link.
func (n *Network) Heal() {
	clear(n.cut)
	clear(n.side)
	clear(n.delay)
}

// Send has a member send text.
func (n *Network) Send(from, text string) error {
	nd, err := n.member(from)
	if err != nil {
		return err
	}
	id, err := nd.Member.Send([]byte(text))
	if err != nil {
		return err
	}
	nd.delivered[id] = true
	nd.texts = append(nd.texts, text)
	n.sent = append(n.sent, sentMsg{id: id, from: from, text: text, members: n.liveMembers()})
	n.flush(nd)
	return nil
}

func (n *Network) liveMembers() []string {
	var out []string
	for _, name := range n.names {
		if m := n.nodes[name].Member; m != nil && !m.Gone() {
			out = append(out, name)
		}
	}
	return out
}

// Commit has a member commit proposals (none: an update).
func (n *Network) Commit(by string, proposals ...*wire.Proposal) error {
	nd, err := n.member(by)
	if err != nil {
		return err
	}
	err = nd.Member.Commit(proposals...)
	n.flush(nd)
	return err
}

// Remove has by commit the removal of the named members, as its head's
// tree knows them.
func (n *Network) Remove(by string, victims ...string) error {
	nd, err := n.member(by)
	if err != nil {
		return err
	}
	if nd.Member.Gone() {
		return fmt.Errorf("%s is out of the group", by)
	}
	g := nd.Member.Core().Head()
	var props []*wire.Proposal
	for _, v := range victims {
		found := false
		for _, l := range g.Tree().Members() {
			if string(g.Tree().Leaf(l).Credential.Identity) == v {
				props = append(props, mls.NewRemove(uint32(l)))
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s is not a member in %s's head", v, by)
		}
	}
	return n.Commit(by, props...)
}

// Add has by add a new node.
func (n *Network) Add(by, name string) error {
	nd, ok := n.nodes[name]
	if !ok {
		var err error
		if nd, err = n.newNode(name); err != nil {
			return err
		}
		if s, ok := n.side[by]; ok {
			n.side[name] = s
		}
	}
	if nd.kp == nil {
		if err := n.freshKeyPackage(nd); err != nil {
			return err
		}
	}
	return n.Commit(by, mls.NewAdd(nd.kp.KeyPackage))
}

// Status renders every node's head.
func (n *Network) Status(w io.Writer) {
	for _, name := range n.names {
		nd := n.nodes[name]
		if nd.Member == nil {
			fmt.Fprintf(w, "%s: not joined\n", name)
			continue
		}
		m := nd.Member
		ref := m.Core().HeadRef()
		if m.Gone() {
			fmt.Fprintf(w, "%s: out (last epoch %d/%v)\n", name, ref.Epoch, ref.ID)
			continue
		}
		fmt.Fprintf(w, "%s: epoch %d/%v members=%s\n", name, ref.Epoch, ref.ID, strings.Join(n.roster(m), ","))
	}
}

func (n *Network) roster(m *fork.Member) []string {
	t := m.Core().Head().Tree()
	var out []string
	for _, l := range t.Members() {
		out = append(out, string(t.Leaf(l).Credential.Identity))
	}
	sort.Strings(out)
	return out
}

// Check renders the invariants: whether the members agree on one head,
// and which messages some member that should have one lacks. A node that
// no other node's head lists as a member (a removed adversary that
// believes itself in) is listed apart and neither owed messages nor
// counted as a fork.
func (n *Network) Check(w io.Writer) {
	var outside []string
	for _, name := range n.liveMembers() {
		listed := false
		for _, other := range n.liveMembers() {
			if other != name && slices.Contains(n.roster(n.nodes[other].Member), name) {
				listed = true
			}
		}
		if !listed && len(n.liveMembers()) > 1 {
			outside = append(outside, name)
		}
	}
	if len(outside) > 0 {
		fmt.Fprintf(w, "outside the group: %s\n", strings.Join(outside, ","))
	}
	heads := map[consensus.EpochID][]string{}
	var order []consensus.EpochID
	for _, name := range n.liveMembers() {
		if slices.Contains(outside, name) {
			continue
		}
		id := n.nodes[name].Member.Core().HeadID()
		if _, ok := heads[id]; !ok {
			order = append(order, id)
		}
		heads[id] = append(heads[id], name)
	}
	if len(heads) == 1 {
		fmt.Fprintf(w, "converged: %s\n", strings.Join(heads[order[0]], ","))
	} else {
		var parts []string
		for _, id := range order {
			parts = append(parts, fmt.Sprintf("%v=%s", id, strings.Join(heads[id], ",")))
		}
		fmt.Fprintf(w, "forked: %s\n", strings.Join(parts, " "))
	}
	var live []string
	for _, name := range n.liveMembers() {
		if !slices.Contains(outside, name) {
			live = append(live, name)
		}
	}
	var lost, excused, withheld, leaked []string
	for i, s := range n.sent {
		// Members of the final group who were not members when s was
		// sent: a re-send of s would let them read it.
		var later []string
		for _, x := range live {
			if !slices.Contains(s.members, x) && n.nodes[x].joinedAt > i {
				later = append(later, x)
			}
		}
		for _, r := range live {
			nd := n.nodes[r]
			if r == s.from {
				continue
			}
			if !slices.Contains(s.members, r) {
				if nd.delivered[s.id] {
					leaked = append(leaked, fmt.Sprintf("%q from %s at %s", s.text, s.from, r))
				}
				continue
			}
			if nd.delivered[s.id] {
				continue
			}
			item := fmt.Sprintf("%q from %s at %s", s.text, s.from, r)
			switch {
			case !slices.Contains(live, s.from):
				excused = append(excused, item)
			case len(later) > 0:
				withheld = append(withheld, item+" (would reach "+strings.Join(later, ",")+")")
			default:
				lost = append(lost, item)
			}
		}
	}
	fmt.Fprintf(w, "lost: %s\n", listOrNone(lost))
	fmt.Fprintf(w, "read by a member who joined after it was sent: %s\n", listOrNone(leaked))
	if len(withheld) > 0 {
		fmt.Fprintf(w, "not re-sent, a member added since would read it: %s\n", strings.Join(withheld, "; "))
	}
	if len(excused) > 0 {
		fmt.Fprintf(w, "not delivered, sender out of the group: %s\n", strings.Join(excused, "; "))
	}
	dups := 0
	for _, name := range n.names {
		dups += n.nodes[name].dups
	}
	fmt.Fprintf(w, "duplicates: %d\n", dups)
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, "; ")
}

// Delivered renders the texts each node delivered, in order.
func (n *Network) Delivered(w io.Writer) {
	for _, name := range n.names {
		nd := n.nodes[name]
		fmt.Fprintf(w, "%s: %s\n", name, strings.Join(nd.texts, " "))
	}
}

// InFlight lists the distinct envelopes of a kind that from has sent and
// that are still queued, oldest first.
func (n *Network) InFlight(from string, kind consensus.EnvelopeKind) []consensus.Envelope {
	var out []consensus.Envelope
	for _, p := range n.queue {
		if p.from != from || p.env.Kind != kind {
			continue
		}
		dup := false
		for _, e := range out {
			if bytes.Equal(e.Body, p.env.Body) {
				dup = true
			}
		}
		if !dup {
			out = append(out, p.env)
		}
	}
	return out
}

// Inject hands a raw envelope from a pseudo-peer to a node, for bad-input
// scripts.
func (n *Network) Inject(from, to string, env consensus.Envelope) error {
	nd := n.nodes[to]
	err := nd.Member.Step(fork.PeerID(from), &env)
	n.flush(nd)
	return err
}
