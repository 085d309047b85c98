// Package toy is a model member for testing the simulator itself: a group
// whose "commits" are plain records ordered by a longest-chain rule, with
// head beacons, chain fetches and anti-entropy for application messages. It
// has no cryptography and proves nothing about mlsnode's cores; it exists so
// that the engine, the network model, the observers and the writers can be
// tested, and so that a checker can be shown to catch a broken member.
package toy

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"slices"

	"github.com/mlsnode/mlsnode/sim"
)

// Bugs switch on deliberate defects, to show that the checkers catch them.
type Bugs struct {
	// NoAntiEntropy never re-sends application messages: loss loses them.
	NoAntiEntropy bool
	// DeliverTwice hands every application message to the app twice.
	DeliverTwice bool
	// IgnoreRemoval keeps a removed member's head in the group.
	IgnoreRemoval bool
	// NoFetch never fetches a missed chain: forks stay.
	NoFetch bool
}

type commit struct {
	Parent    sim.EpochID
	Epoch     uint64
	Committer sim.MemberID
	Nonce     uint64
	Op        string // "update", "add", "remove"
	Target    sim.MemberID
}

func (c *commit) id() sim.EpochID {
	b, _ := json.Marshal(c)
	return sha256.Sum256(b)
}

type epoch struct {
	c      commit
	id     sim.EpochID
	roster []sim.MemberID
}

type wireMsg struct {
	Kind    string // "commit", "app", "beacon", "fetch", "chain"
	Commits []commit
	Head    sim.EpochID
	Sender  sim.MemberID
	Seq     uint64
	Data    []byte
}

// Member is the toy member.
type Member struct {
	id     sim.MemberID
	rand   io.Reader
	bugs   Bugs
	epochs map[sim.EpochID]*epoch
	orphan map[sim.EpochID][]commit
	head   sim.EpochID
	ever   bool

	known     map[[2]uint64][]byte // app messages seen
	delivered map[[2]uint64]bool
	own       []wireMsg
	ticks     int

	out sim.Output
}

// Population builds toy members; all share the genesis epoch.
type Population struct {
	Seed sim.Seed
	Bugs Bugs
	n    int
}

func genesis(n int) *epoch {
	e := &epoch{c: commit{Op: "genesis", Epoch: 0, Nonce: uint64(n)}}
	e.id = e.c.id()
	for i := range n {
		e.roster = append(e.roster, sim.MemberID(i))
	}
	return e
}

func (p *Population) member(id sim.MemberID) *Member {
	m := &Member{
		id: id, rand: p.Seed.Reader("toy/" + string(binary.AppendUvarint(nil, uint64(id)))), bugs: p.Bugs,
		epochs: map[sim.EpochID]*epoch{}, orphan: map[sim.EpochID][]commit{},
		known: map[[2]uint64][]byte{}, delivered: map[[2]uint64]bool{},
	}
	g := genesis(p.n)
	m.epochs[g.id] = g
	m.head = g.id
	return m
}

// Genesis implements sim.Population.
func (p *Population) Genesis(n int) ([]sim.Member, error) {
	p.n = n
	out := make([]sim.Member, n)
	for i := range n {
		out[i] = p.member(sim.MemberID(i))
	}
	return out, nil
}

// NewJoiner implements sim.Population.
func (p *Population) NewJoiner(id sim.MemberID) (sim.Member, []byte, error) {
	return p.member(id), binary.AppendUvarint(nil, uint64(id)), nil
}

func (m *Member) inGroup() bool {
	e := m.epochs[m.head]
	_, found := slices.BinarySearch(e.roster, m.id)
	return found || (m.bugs.IgnoreRemoval && m.ever)
}

func (m *Member) broadcast(w wireMsg) { m.send(sim.Broadcast, w) }
func (m *Member) send(to sim.MemberID, w wireMsg) {
	b, _ := json.Marshal(w)
	m.out.Messages = append(m.out.Messages, sim.Message{To: to, Data: b})
}

func (m *Member) nonce() uint64 {
	var b [8]byte
	io.ReadFull(m.rand, b[:])
	return binary.LittleEndian.Uint64(b[:])
}

// better is the longest-chain rule, ties by the lowest id.
func better(a, b *epoch) bool {
	if a.c.Epoch != b.c.Epoch {
		return a.c.Epoch > b.c.Epoch
	}
	return bytes.Compare(a.id[:], b.id[:]) < 0
}

// accept adds a commit whose parent is known, then any orphans waiting on it.
func (m *Member) accept(c commit) {
	id := c.id()
	if _, ok := m.epochs[id]; ok {
		return
	}
	p, ok := m.epochs[c.Parent]
	if !ok {
		m.orphan[c.Parent] = append(m.orphan[c.Parent], c)
		return
	}
	e := &epoch{c: c, id: id, roster: slices.Clone(p.roster)}
	switch c.Op {
	case "add":
		if i, found := slices.BinarySearch(e.roster, c.Target); !found {
			e.roster = slices.Insert(e.roster, i, c.Target)
		}
	case "remove":
		if i, found := slices.BinarySearch(e.roster, c.Target); found {
			e.roster = slices.Delete(e.roster, i, i+1)
		}
	}
	m.epochs[id] = e
	if better(e, m.epochs[m.head]) {
		if m.epochs[m.head].c.Epoch >= e.c.Epoch {
			m.out.Rollbacks++
		}
		m.head = id
		if m.inGroup() {
			m.ever = true
		}
	}
	waiting := m.orphan[id]
	delete(m.orphan, id)
	for _, w := range waiting {
		m.accept(w)
	}
}

// chain lists the commits from genesis to the head.
func (m *Member) chain() []commit {
	var out []commit
	for id := m.head; ; {
		e := m.epochs[id]
		if e.c.Op == "genesis" {
			break
		}
		out = append(out, e.c)
		id = e.c.Parent
	}
	slices.Reverse(out)
	return out
}

// Receive implements sim.Member.
func (m *Member) Receive(from sim.MemberID, data []byte, now sim.Time) {
	var w wireMsg
	if err := json.Unmarshal(data, &w); err != nil {
		m.out.Rejected++
		return
	}
	switch w.Kind {
	case "commit", "chain":
		for _, c := range w.Commits {
			m.accept(c)
		}
	case "app":
		k := [2]uint64{uint64(w.Sender), w.Seq}
		if _, ok := m.known[k]; !ok {
			m.known[k] = w.Data
		}
		m.deliverKnown()
	case "beacon":
		if _, ok := m.epochs[w.Head]; !ok && !m.bugs.NoFetch {
			m.send(from, wireMsg{Kind: "fetch"})
		}
	case "fetch":
		m.send(from, wireMsg{Kind: "chain", Commits: m.chain()})
	default:
		m.out.Rejected++
	}
}

func (m *Member) deliverKnown() {
	if !m.ever {
		return
	}
	keys := make([][2]uint64, 0, len(m.known))
	for k := range m.known {
		if !m.delivered[k] {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b [2]uint64) int {
		if a[0] != b[0] {
			return int(a[0]) - int(b[0])
		}
		return int(a[1] - b[1])
	})
	for _, k := range keys {
		m.delivered[k] = true
		d := sim.Delivered{Sender: sim.MemberID(k[0]), Data: m.known[k]}
		m.out.Delivered = append(m.out.Delivered, d)
		if m.bugs.DeliverTwice {
			m.out.Delivered = append(m.out.Delivered, d)
		}
	}
}

// Tick implements sim.Member: a beacon every 5 ticks, anti-entropy every 20.
func (m *Member) Tick(now sim.Time) {
	m.ticks++
	if m.ticks%5 == 0 {
		m.broadcast(wireMsg{Kind: "beacon", Head: m.head})
	}
	if m.ticks%20 == 0 && !m.bugs.NoAntiEntropy {
		for _, w := range m.own {
			m.broadcast(w)
		}
	}
}

// Send implements sim.Member.
func (m *Member) Send(data []byte, now sim.Time) error {
	if !m.inGroup() {
		return sim.ErrNotInGroup
	}
	w := wireMsg{Kind: "app", Sender: m.id, Seq: uint64(len(m.own) + 1), Data: data}
	m.own = append(m.own, w)
	m.broadcast(w)
	return nil
}

func (m *Member) commit(op string, target sim.MemberID) error {
	if !m.inGroup() {
		return sim.ErrNotInGroup
	}
	h := m.epochs[m.head]
	c := commit{Parent: m.head, Epoch: h.c.Epoch + 1, Committer: m.id, Nonce: m.nonce(), Op: op, Target: target}
	m.accept(c)
	m.broadcast(wireMsg{Kind: "commit", Commits: []commit{c}})
	return nil
}

// Update implements sim.Member.
func (m *Member) Update(now sim.Time) error { return m.commit("update", 0) }

// Add implements sim.Member.
func (m *Member) Add(kp []byte, now sim.Time) error {
	id, n := binary.Uvarint(kp)
	if n <= 0 {
		return errors.New("toy: bad key package")
	}
	return m.commit("add", sim.MemberID(id))
}

// Remove implements sim.Member.
func (m *Member) Remove(target sim.MemberID, now sim.Time) error { return m.commit("remove", target) }

// Output implements sim.Member.
func (m *Member) Output() sim.Output {
	o := m.out
	m.out = sim.Output{}
	return o
}

// Head implements sim.Member.
func (m *Member) Head() sim.Head {
	e := m.epochs[m.head]
	return sim.Head{InGroup: m.inGroup(), ID: m.head, Parent: e.c.Parent, Epoch: e.c.Epoch}
}

// Roster implements sim.Member.
func (m *Member) Roster() []sim.RosterEntry {
	e := m.epochs[m.head]
	out := make([]sim.RosterEntry, len(e.roster))
	for i, id := range e.roster {
		out[i] = sim.RosterEntry{ID: id, Leaf: uint32(id)}
	}
	return out
}
