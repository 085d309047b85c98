package cores

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/sim"
)

// Population makes real members for one run.
type Population struct {
	cs          *suite.Suite
	memo        *suite.VerifyMemo // nil when members verify alone
	seed        sim.Seed
	rank        consensus.RankRule
	apply       consensus.ApplyPolicy
	windowTicks uint64
	beaconTicks uint64
	noStore     bool
	dir         *directory
}

// verifyMemoLimit bounds the verdicts a run's shared memo holds: about
// 40 MB; a 1,000-member split checks fewer distinct signatures than that.
const verifyMemoLimit = 1 << 19

// NewPopulation reads the cipher suite, the ordering rules and the window
// from the run's Config. Its members share one suite.VerifyMemo: a
// signature that many members receive is checked once with real crypto
// and its verdict shared, which changes no result (the verdict is a pure
// function of its inputs) and saves most of a large run's CPU.
func NewPopulation(c sim.Config) (sim.Population, error) {
	return newPopulation(c, true)
}

// NewPopulationVerifyingAlone is NewPopulation with no shared memo: every
// member checks every signature it receives itself, as separate nodes
// do. Results are the same; it is there to show that they are.
func NewPopulationVerifyingAlone(c sim.Config) (sim.Population, error) {
	return newPopulation(c, false)
}

// SignatureChecks returns how many signature checks this population's
// members made with real crypto and how many a shared verdict answered
// (0 for a population verifying alone, which does not count them).
func (p *Population) SignatureChecks() (computed, shared uint64) {
	if p.memo == nil {
		return 0, 0
	}
	hits, misses := p.memo.Stats()
	return misses, hits
}

func newPopulation(c sim.Config, shareVerdicts bool) (sim.Population, error) {
	cs, err := suite.Lookup(suite.ID(c.Suite))
	if err != nil {
		return nil, fmt.Errorf("sim/cores: suite %d: %w", c.Suite, err)
	}
	var memo *suite.VerifyMemo
	if shareVerdicts {
		memo = suite.NewVerifyMemo(verifyMemoLimit)
		cs = cs.WithVerifyMemo(memo)
	}
	p := &Population{cs: cs, memo: memo, seed: c.Seed, beaconTicks: c.BeaconTicks, noStore: c.NoStore, dir: &directory{keys: map[sim.MemberID][]byte{}}}
	if c.Rank != "" {
		if p.rank, err = consensus.RankByName(c.Rank); err != nil {
			return nil, err
		}
	}
	if c.Apply != "" {
		if p.apply, err = consensus.ApplyByName(c.Apply); err != nil {
			return nil, err
		}
	}
	if c.TickMs > 0 {
		p.windowTicks = max(1, uint64(c.WindowMs/c.TickMs))
	}
	return p, nil
}

// Genesis implements sim.Population.
func (p *Population) Genesis(n int) ([]sim.Member, error) {
	clients, groups, err := genesis(p.cs, p.seed, n, p.dir)
	if err != nil {
		return nil, fmt.Errorf("sim/cores: genesis: %w", err)
	}
	out := make([]sim.Member, n)
	for i, c := range clients {
		m := &Member{p: p, c: c}
		if err := m.start(groups[i]); err != nil {
			return nil, fmt.Errorf("sim/cores: member %d: %w", i, err)
		}
		out[i] = m
	}
	return out, nil
}

// NewJoiner implements sim.Population: a client with a fresh KeyPackage and
// no group yet; it joins when a Welcome for its KeyPackage arrives.
func (p *Population) NewJoiner(id sim.MemberID) (sim.Member, []byte, error) {
	c, err := newClient(p.cs, p.seed, id, p.dir)
	if err != nil {
		return nil, nil, err
	}
	kp, err := c.keyPackageBytes()
	if err != nil {
		return nil, nil, err
	}
	return &Member{p: p, c: c, pending: c.kp}, kp, nil
}

// Member is one real member: an MLS client and its core.
type Member struct {
	p       *Population
	c       *client
	fm      *fork.Member
	removed bool
	// pending is the KeyPackage a Welcome may be addressed to.
	pending *mls.KeyPackageBundle
	// store is the member's in-memory store (nil with Config.NoStore).
	store *persister
	// parents of merged epochs, learnt from the core's events.
	parents map[consensus.EpochID]consensus.EpochID
	out     sim.Output
	now     sim.Time // of the latest call, for the trace
}

func (m *Member) start(g *mls.Group) error {
	fm, err := fork.New(fork.Config{
		Core: consensus.Config{
			Group: g, SigningKey: m.c.key, Credentials: m.p.dir, Rand: m.c.rand,
			Rank: m.p.rank, Apply: m.p.apply, WindowTicks: m.p.windowTicks,
			SkipPersist: m.p.noStore,
		},
		KeyPackageLifetime: lifetime,
		BeaconInterval:     m.p.beaconTicks,
	})
	if err != nil {
		return err
	}
	m.fm, m.removed = fm, false
	m.out.Held = append(m.out.Held, sim.EpochID(fm.Core().HeadID()))
	if !m.p.noStore && m.store == nil {
		if m.store, err = newPersister(g.GroupID()); err != nil {
			return err
		}
	}
	if m.parents == nil {
		m.parents = map[consensus.EpochID]consensus.EpochID{}
	}
	return nil
}

// guard turns a panic of the cores into a reported crash, so that one bug
// shows up as an invariant violation in the results instead of ending the
// run. The input that caused it is dropped.
func (m *Member) guard(what string) {
	if r := recover(); r != nil {
		m.out.Crashes = append(m.out.Crashes, fmt.Sprintf("panic in %s: %v at %s", what, r, panicSite()))
	}
}

func (m *Member) guardErr(what string, err *error) {
	if r := recover(); r != nil {
		m.out.Crashes = append(m.out.Crashes, fmt.Sprintf("panic in %s: %v at %s", what, r, panicSite()))
		*err = fmt.Errorf("sim/cores: %s panicked", what)
	}
}

// panicSite names the first frame of mlsnode code below the runtime, so
// equal crashes are reported once.
func panicSite() string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(3, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	first := "unknown"
	for {
		f, more := frames.Next()
		site := fmt.Sprintf("%s (%s:%d)", strings.TrimPrefix(f.Function, "github.com/mlsnode/mlsnode/"), filepath.Base(f.File), f.Line)
		if strings.Contains(f.Function, "mlsnode/mlsnode/fork.") || strings.Contains(f.Function, "mlsnode/mlsnode/consensus.") {
			if first != "unknown" {
				return site + " via " + first
			}
			return site
		}
		if first == "unknown" && strings.Contains(f.Function, "mlsnode/mlsnode/") {
			first = site
		}
		if !more {
			return first
		}
	}
}

// Receive implements sim.Member.
func (m *Member) Receive(from sim.MemberID, data []byte, now sim.Time) {
	defer m.guard("Step")
	m.now = now
	env, err := consensus.UnmarshalEnvelope(data)
	if err != nil {
		m.out.Rejected++
		return
	}
	if env.Kind == consensus.KindCommit && (m.fm == nil || m.removed) && m.pending != nil {
		m.tryJoin(env)
		m.collect()
		return
	}
	if m.fm == nil {
		return // not in the group: it cannot read group traffic
	}
	err = m.fm.Step(peerOf(from), env)
	m.traceReceive(from, env, err)
	if err != nil {
		switch {
		case errors.Is(err, consensus.ErrDuplicate):
		case env.Kind == consensus.KindApplication && m.inGroup():
			m.out.Undecryptable++
		default:
			m.out.Rejected++
		}
	}
	m.collect()
}

// tryJoin joins from the Welcome of a commit, if it is addressed to us.
func (m *Member) tryJoin(env *consensus.Envelope) {
	var body consensus.CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil || body.Welcome == nil {
		return
	}
	g, err := mls.JoinFromWelcome(m.p.cs, body.Welcome, mls.JoinConfig{KeyPackage: m.pending, SigningKey: m.c.key, Credentials: m.p.dir})
	if err != nil {
		return // not for us, or not joinable
	}
	if err := m.start(g); err != nil {
		m.out.Rejected++
	}
}

// peerOf and memberOfPeer name simulated members as fork's peers.
func peerOf(id sim.MemberID) fork.PeerID { return fork.PeerID("m" + strconv.Itoa(int(id))) }

func memberOfPeer(p fork.PeerID) (sim.MemberID, bool) {
	s, ok := strings.CutPrefix(string(p), "m")
	n, err := strconv.ParseInt(s, 10, 32)
	return sim.MemberID(n), ok && err == nil && n >= 0
}

// collect turns the member's Ready into the simulator's Output.
func (m *Member) collect() {
	if m.fm == nil || !m.fm.HasReady() {
		return
	}
	rd := m.fm.Ready()
	m.traceReady(&rd)
	// As a node does: persist before anything leaves.
	if rd.Persist != nil && m.store != nil {
		if err := m.store.write(rd.Persist); err != nil {
			m.out.Crashes = append(m.out.Crashes, err.Error())
		}
	}
	send := func(to sim.MemberID, env *consensus.Envelope) {
		b, err := env.MarshalBinary()
		if err != nil {
			m.out.Rejected++
			return
		}
		m.out.Messages = append(m.out.Messages, sim.Message{To: to, Data: b})
	}
	for i := range rd.Messages {
		send(sim.Broadcast, &rd.Messages[i])
	}
	for i := range rd.Direct {
		if to, ok := memberOfPeer(rd.Direct[i].To); ok {
			send(to, &rd.Direct[i].Envelope)
		} else {
			m.out.Rejected++
		}
	}
	for _, d := range rd.Delivered {
		sender, err := MemberOf(d.Identity)
		if err != nil {
			sender = -2 // an identity no simulated member has: the checker flags it
		}
		m.out.Delivered = append(m.out.Delivered, sim.Delivered{Sender: sender, Data: d.Data, LosingBranch: d.LosingBranch})
	}
	for _, ev := range rd.Events {
		switch ev.Kind {
		case consensus.EventEpochMerged:
			m.parents[ev.ID] = ev.Parent
			m.out.Held = append(m.out.Held, sim.EpochID(ev.ID))
		case consensus.EventBranchSwitched:
			m.out.Rollbacks += ev.RolledBack
		case consensus.EventRemoved:
			m.removed = true
		}
	}
	for _, ev := range rd.Fork {
		switch ev.Kind {
		case fork.EventRejoined, fork.EventReadded:
			m.out.ReAdds++
			m.out.Held = append(m.out.Held, sim.EpochID(ev.To.ID))
		case fork.EventStayOut:
			m.removed = true
		}
	}
	m.fm.Advance(rd)
	if m.fm.Gone() {
		m.removed = true
	}
}

func (m *Member) inGroup() bool {
	if m.fm == nil || m.removed {
		return false
	}
	core := m.fm.Core()
	g := core.Head()
	return !core.Removed() && g != nil && g.Tree().Leaf(g.OwnLeaf()) != nil
}

// Tick implements sim.Member.
func (m *Member) Tick(now sim.Time) {
	defer m.guard("Tick")
	m.now = now
	if m.fm == nil {
		return
	}
	m.fm.Tick()
	m.collect()
}

// Send implements sim.Member.
func (m *Member) Send(data []byte, now sim.Time) (err error) {
	defer m.guardErr("Send", &err)
	m.now = now
	if m.fm != nil {
		// The author's identity prefix, as beacons' nacks name it.
		id := m.fm.Identity()
		m.trace("send %q author=%x", trunc(data), id[:2])
	} else {
		m.trace("send %q", trunc(data))
	}
	if !m.inGroup() {
		return sim.ErrNotInGroup
	}
	_, err = m.fm.Send(data)
	m.collect()
	return err
}

// Update implements sim.Member: an empty commit with a fresh path.
func (m *Member) Update(now sim.Time) (err error) {
	defer m.guardErr("Update", &err)
	if !m.inGroup() {
		return sim.ErrNotInGroup
	}
	err = m.fm.Commit()
	m.collect()
	return err
}

// Add implements sim.Member.
func (m *Member) Add(keyPackage []byte, now sim.Time) (err error) {
	defer m.guardErr("Add", &err)
	if !m.inGroup() {
		return sim.ErrNotInGroup
	}
	msg, err := wire.ParseMLSMessage(keyPackage)
	if err != nil || msg.KeyPackage == nil {
		return fmt.Errorf("sim/cores: not a KeyPackage: %v", err)
	}
	err = m.fm.Commit(mls.NewAdd(msg.KeyPackage))
	m.collect()
	return err
}

// Remove implements sim.Member.
func (m *Member) Remove(target sim.MemberID, now sim.Time) (err error) {
	defer m.guardErr("Remove", &err)
	if !m.inGroup() {
		return sim.ErrNotInGroup
	}
	for _, e := range roster(m.fm.Core().Head()) {
		if e.ID == target {
			err := m.fm.Commit(mls.NewRemove(e.Leaf))
			m.collect()
			return err
		}
	}
	return fmt.Errorf("sim/cores: member %d is not in the head epoch", target)
}

// Output implements sim.Member.
func (m *Member) Output() sim.Output {
	o := m.out
	m.out = sim.Output{}
	return o
}

// Head implements sim.Member.
func (m *Member) Head() sim.Head {
	if m.fm == nil {
		return sim.Head{}
	}
	ref := m.fm.Core().HeadRef()
	return sim.Head{InGroup: m.inGroup(), ID: sim.EpochID(ref.ID), Parent: sim.EpochID(m.parents[ref.ID]), Epoch: ref.Epoch}
}

// Roster implements sim.Member.
func (m *Member) Roster() []sim.RosterEntry {
	if m.fm == nil || m.fm.Core().Head() == nil {
		return nil
	}
	return roster(m.fm.Core().Head())
}

// String names the member in logs.
func (m *Member) String() string { return "m" + strconv.Itoa(int(m.c.id)) }

// Sequential reports whether the members must run one at a time: when
// MLSNODE_SIM_TRACE is set, they write one trace in event order.
func (p *Population) Sequential() bool { return traceOn }
