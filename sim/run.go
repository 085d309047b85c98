package sim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
)

// slot is the simulator's record of one participant.
type slot struct {
	id     MemberID
	m      Member
	online bool
	side   int8 // partition side
	head   Head
	roster []RosterEntry
	// inGroup intervals [start, end) of simulated time, as the member's
	// own head said; end == 0 while open.
	inGroup [][2]Time
	// history of heads, for plots.
	history []HeadSample
	// next application message sequence number.
	seq uint64
	// offline churn: already scheduled.
	churned bool

	// Worker side: what the last capture of this member saw, so that a
	// capture (which may run beside other members' work) knows whether
	// the shared side will need the roster, without reading the shared
	// side. It mirrors head and roster == nil exactly (see take).
	wHead      Head
	wSeen      bool
	wRosterNil bool
}

// capture is what a member produced in one event, taken on the worker
// side and handed to the shared side (apply) in event order.
type capture struct {
	out         Output
	head        Head
	roster      []RosterEntry
	rosterTaken bool
}

// HeadSample is one change of a member's head.
type HeadSample struct {
	At      Time
	InGroup bool
	Epoch   uint64
	ID      EpochID
}

// Progress is told how far a run is, for a progress bar.
type Progress func(now, end Time)

// Runner runs one simulation.
type Runner struct {
	cfg   Config
	clock Clock
	net   *Network
	pop   Population
	slots []*slot

	rngFaults, rngWork, rngTicks *rand.Rand

	partitionOn bool
	faultsOver  bool
	end         Time

	obs      *observer
	progress Progress
	err      error
	// workers run the members' work of one window in parallel (1: one
	// at a time); the result does not depend on it.
	workers int
}

// NewRunner prepares a run; the group is created outside simulated time.
func NewRunner(cfg Config, pop Population) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{
		cfg: cfg, pop: pop, workers: 1,
		rngFaults: cfg.Seed.Stream("faults"),
		rngWork:   cfg.Seed.Stream("workload"),
		rngTicks:  cfg.Seed.Stream("ticks"),
	}
	r.end = cfg.DurationMs + cfg.SettleMs + cfg.CheckMs
	r.net = newNetwork(cfg.Net, cfg.Seed, &r.clock, func(id MemberID) bool { return r.slots[id].online })
	r.net.cut = r.cut
	r.obs = newObserver(r)
	members, err := pop.Genesis(cfg.Members)
	if err != nil {
		return nil, fmt.Errorf("sim: genesis: %w", err)
	}
	for i, m := range members {
		r.addSlot(MemberID(i), m)
	}
	return r, nil
}

// SetProgress installs a progress callback, called about every simulated
// second.
func (r *Runner) SetProgress(p Progress) { r.progress = p }

// SetWorkers sets how many members' work may run at once (default 1). The
// result is the same for any number: see Run. A Population with a method
// Sequential() bool that returns true (members that write a shared trace)
// is always run one member at a time.
func (r *Runner) SetWorkers(n int) {
	if n < 1 {
		n = 1
	}
	r.workers = n
}

func (r *Runner) addSlot(id MemberID, m Member) *slot {
	s := &slot{id: id, m: m, online: true, wRosterNil: true}
	r.slots = append(r.slots, s)
	c := &capture{}
	r.takeHead(s, c)
	r.observeHead(s, c)
	r.scheduleTicks(s)
	return s
}

func (r *Runner) cut(from, to MemberID) bool {
	if !r.partitionOn {
		return false
	}
	a, b := r.slots[from].side, r.slots[to].side
	if a == b {
		return false
	}
	if r.cfg.Partition == PartitionAsymmetric {
		return a == 0 && b == 1
	}
	return true
}

// Run executes the whole run and returns its measures.
//
// Events run in (time, scheduling order). To use more than one core, the
// loop takes a window of member events at a time: those due before the
// network's least delay has passed since the first of them, up to the
// next barrier (faults, workload: anything that reads or changes more
// than one member). Nothing such a window runs can schedule an event
// inside it (every consequence reaches another member through the
// network, at least one least-delay later), and each member event's work
// touches its own member only; so the work of different members runs in
// parallel, each member's in order, and then every event's shared part
// (network, observers, invariant checks) runs in event order on the
// loop, seeing exactly what it would have seen one event at a time. A
// violation of that premise stops the run with ErrLookahead.
func (r *Runner) Run() (*Result, error) {
	r.scheduleFaults()
	r.scheduleWorkload()
	r.clock.At(r.cfg.DurationMs, r.restoreAll)
	lastProgress := Time(0)
	lookahead := r.net.minDelay()
	if p, ok := r.pop.(interface{ Sequential() bool }); ok && p.Sequential() {
		r.workers = 1
	}
	for {
		batch, end := r.clock.window(r.end, lookahead)
		if len(batch) == 0 {
			break
		}
		parallel := r.workers > 1 && len(batch) > 1
		if parallel {
			r.runWork(batch)
		}
		if len(batch) > 1 {
			r.clock.horizon = end
		}
		for _, e := range batch {
			r.clock.now = e.at
			r.clock.Executed++
			if e.work != nil && !parallel {
				e.work(e.at)
			}
			e.run()
			r.obs.afterEvent(r.clock.Now())
			if r.err == nil {
				r.err = r.clock.early
			}
			if r.err != nil {
				return nil, r.err
			}
			if r.progress != nil && r.clock.Now() >= lastProgress+1000 {
				lastProgress = r.clock.Now()
				r.progress(lastProgress, r.end)
			}
		}
		r.clock.horizon = 0
	}
	r.clock.now = r.end
	if r.progress != nil {
		r.progress(r.end, r.end)
	}
	return r.obs.result(), nil
}

// runWork runs the work of a window's member events: each member's in
// event order, different members' on up to r.workers goroutines.
func (r *Runner) runWork(batch []*event) {
	var order []int32
	per := map[int32][]*event{}
	for _, e := range batch {
		if _, ok := per[e.member]; !ok {
			order = append(order, e.member)
		}
		per[e.member] = append(per[e.member], e)
	}
	next := make(chan int32)
	var wg sync.WaitGroup
	for range min(r.workers, len(order)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range next {
				for _, e := range per[m] {
					e.work(e.at)
				}
			}
		}()
	}
	for _, m := range order {
		next <- m
	}
	close(next)
	wg.Wait()
}

// live reports whether a participant counts for convergence: online and in
// the group by its own head.
func (s *slot) live() bool { return s.online && s.head.InGroup }

// scheduleTicks starts a member's ticks at a random phase, so members do not
// tick in lockstep.
func (r *Runner) scheduleTicks(s *slot) {
	phase := Time(r.rngTicks.Uint64N(uint64(r.cfg.TickMs))) + 1
	var schedule func(d Time)
	schedule = func(d Time) {
		var c *capture
		r.clock.AtMember(r.clock.Now()+d, s.id,
			func(now Time) {
				if s.online {
					s.m.Tick(now)
					c = r.take(s)
				}
			},
			func() {
				if c != nil {
					r.apply(s, c)
				}
				schedule(r.cfg.TickMs)
			})
	}
	schedule(phase)
}

// arrival is the member event of a copy of data from a member reaching
// member to.
func (r *Runner) arrival(from MemberID, to *slot, data []byte) func() (func(Time), func()) {
	return func() (func(Time), func()) {
		var c *capture
		return func(now Time) {
				to.m.Receive(from, data, now)
				c = r.take(to)
			}, func() {
				r.apply(to, c)
			}
	}
}

// drain takes and applies at once what a member produced: for barrier
// events, which call members directly.
func (r *Runner) drain(s *slot) { r.apply(s, r.take(s)) }

// take is the worker side of draining a member: its output and its head
// (takeHead).
func (r *Runner) take(s *slot) *capture {
	c := &capture{out: s.m.Output()}
	r.takeHead(s, c)
	return c
}

// takeHead reads the member's head and, when the shared side will need it
// (observeHead, whose conditions this mirrors on the worker side), its
// roster.
func (r *Runner) takeHead(s *slot, c *capture) {
	h := s.m.Head()
	c.head = h
	if h == s.wHead && s.wSeen {
		return
	}
	old := s.wHead
	if h.InGroup {
		if h.ID != old.ID || !old.InGroup || s.wRosterNil {
			c.roster, c.rosterTaken = s.m.Roster(), true
			s.wRosterNil = c.roster == nil
		}
	} else {
		s.wRosterNil = true
	}
	s.wHead, s.wSeen = h, true
}

// apply is the shared side of draining a member: messages to the network,
// deliveries and counters to the observers, and the new head if it
// changed.
func (r *Runner) apply(s *slot, c *capture) {
	out := c.out
	for _, msg := range out.Messages {
		data := msg.Data
		if msg.To == Broadcast {
			for _, t := range r.slots {
				if t.id != s.id {
					r.net.send(s.id, t.id, data, r.arrival(s.id, t, data))
				}
			}
		} else if int(msg.To) >= 0 && int(msg.To) < len(r.slots) && msg.To != s.id {
			t := r.slots[msg.To]
			r.net.send(s.id, t.id, data, r.arrival(s.id, t, data))
		}
	}
	for _, d := range out.Delivered {
		r.obs.delivered(s, d)
	}
	r.obs.counters(s, out)
	r.obs.held(s.id, out.Held...)
	r.observeHead(s, c)
}

func (r *Runner) observeHead(s *slot, c *capture) {
	h := c.head
	if h == s.head && len(s.history) > 0 {
		return
	}
	old := s.head
	s.head = h
	now := r.clock.Now()
	if h.InGroup {
		if h.ID != old.ID || !old.InGroup || s.roster == nil {
			if !c.rosterTaken {
				// take mirrors this condition; reaching here is a defect
				// of the engine, not of the member.
				panic("sim: roster needed but not taken")
			}
			s.roster = c.roster
		}
	} else {
		s.roster = nil
	}
	if h.InGroup != old.InGroup || len(s.history) == 0 {
		if h.InGroup {
			s.inGroup = append(s.inGroup, [2]Time{now, 0})
		} else if n := len(s.inGroup); n > 0 && s.inGroup[n-1][1] == 0 {
			s.inGroup[n-1][1] = now + 1 // closed; +1 keeps a zero-length stay non-empty
		}
	}
	s.history = append(s.history, HeadSample{At: now, InGroup: h.InGroup, Epoch: h.Epoch, ID: h.ID})
	r.obs.headChanged(s, old)
}

// inGroupAt reports whether the member's own head put it in the group at t.
func (s *slot) inGroupAt(t Time) bool {
	for _, iv := range s.inGroup {
		if t >= iv[0] && (iv[1] == 0 || t < iv[1]) {
			return true
		}
	}
	return false
}

// scheduleFaults plans partitions and churn from the faults stream.
func (r *Runner) scheduleFaults() {
	c := r.cfg
	if c.Partition != PartitionNone {
		start := c.DurationMs / 5
		if c.FlapMs > 0 {
			stop := c.DurationMs * 4 / 5
			for t := start; t+c.FlapMs <= stop; t += 2 * c.FlapMs {
				r.clock.At(t, r.startPartition)
				r.clock.At(t+c.FlapMs, r.healPartition)
			}
		} else {
			r.clock.At(start, r.startPartition)
			if start+c.PartitionMs < c.DurationMs {
				r.clock.At(start+c.PartitionMs, r.healPartition)
			}
		}
	}
	if c.ChurnFraction > 0 {
		n := int(float64(c.Members)*c.ChurnFraction + 0.5)
		perm := r.rngFaults.Perm(c.Members)
		for _, i := range perm[:n] {
			s := r.slots[i]
			span := c.DurationMs * 3 / 4
			at := c.DurationMs/10 + Time(r.rngFaults.Uint64N(uint64(span)))
			length := Time(r.rngFaults.Uint64N(uint64(c.ChurnMaxOfflineMs))) + 1
			r.clock.At(at, func() { r.setOnline(s, false) })
			if at+length < c.DurationMs {
				r.clock.At(at+length, func() { r.setOnline(s, true) })
			}
		}
	}
}

func (r *Runner) setOnline(s *slot, on bool) {
	if s.online == on {
		return
	}
	s.online = on
	r.obs.onlineChanged(s)
}

func (r *Runner) startPartition() {
	if r.faultsOver {
		return
	}
	// Fresh sides for every partition: random halves, or one isolated.
	for _, s := range r.slots {
		s.side = 0
	}
	switch r.cfg.Partition {
	case PartitionIsolate:
		r.slots[r.rngFaults.IntN(len(r.slots))].side = 1
	default:
		perm := r.rngFaults.Perm(len(r.slots))
		for _, i := range perm[:len(perm)/2] {
			r.slots[i].side = 1
		}
	}
	r.partitionOn = true
	r.obs.partition(true)
}

func (r *Runner) healPartition() {
	if !r.partitionOn {
		return
	}
	r.partitionOn = false
	r.obs.partition(false)
}

// restoreAll ends the fault phase: the network is whole, everyone is back
// online, and the workload stops.
func (r *Runner) restoreAll() {
	r.healPartition()
	for _, s := range r.slots {
		r.setOnline(s, true)
	}
	r.faultsOver = true
	r.obs.faultsOver()
}

// scheduleWorkload plans the application messages and commits as Poisson
// processes over the whole group.
func (r *Runner) scheduleWorkload() {
	w := r.cfg.Workload
	if rate := w.AppPerMemberPerSec * float64(r.cfg.Members); rate > 0 {
		r.poisson(rate, r.appEvent)
	}
	if w.CommitsPerSec > 0 {
		r.poisson(w.CommitsPerSec, r.commitEvent)
	}
}

func (r *Runner) poisson(perSec float64, fire func()) {
	var next func()
	next = func() {
		if r.faultsOver {
			return
		}
		fire()
		r.clock.After(Time(r.rngWork.ExpFloat64()*1000/perSec)+1, next)
	}
	r.clock.After(Time(r.rngWork.ExpFloat64()*1000/perSec)+1, next)
}

// pickLive chooses a random live member; nil if none.
func (r *Runner) pickLive() *slot {
	var live []*slot
	for _, s := range r.slots {
		if s.live() {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return live[r.rngWork.IntN(len(live))]
}

func (r *Runner) appEvent() {
	s := r.pickLive()
	if s == nil {
		return
	}
	s.seq++
	data := appPayload(s.id, s.seq, r.cfg.Workload.MessageBytes)
	if err := s.m.Send(data, r.clock.Now()); err == nil {
		r.obs.sent(s, s.seq, data)
	} else {
		r.obs.refused(err)
	}
	r.drain(s)
}

func (r *Runner) commitEvent() {
	s := r.pickLive()
	if s == nil {
		return
	}
	w := r.cfg.Workload
	total := w.UpdateWeight + w.AddWeight + w.RemoveWeight
	x := r.rngWork.Float64() * total
	now := r.clock.Now()
	switch {
	case x < w.AddWeight:
		id := MemberID(len(r.slots))
		joiner, kp, err := r.pop.NewJoiner(id)
		if err != nil {
			r.err = fmt.Errorf("sim: new joiner %d: %w", id, err)
			return
		}
		js := r.addSlot(id, joiner)
		js.side = s.side // the joiner sits where its sponsor is
		if err := s.m.Add(kp, now); err == nil {
			r.obs.added(s, id)
		} else {
			r.obs.refused(err)
		}
	case x < w.AddWeight+w.RemoveWeight:
		if len(s.roster) <= w.MinMembers {
			r.obs.refused(s.m.Update(now))
			break
		}
		var candidates []MemberID
		for _, e := range s.roster {
			if e.ID != s.id && !r.obs.removeRequested[e.ID] {
				candidates = append(candidates, e.ID)
			}
		}
		if len(candidates) == 0 {
			break
		}
		target := candidates[r.rngWork.IntN(len(candidates))]
		if err := s.m.Remove(target, now); err == nil {
			r.obs.removeRequested[target] = true
		} else {
			r.obs.refused(err)
		}
	default:
		r.obs.refused(s.m.Update(now))
	}
	r.drain(s)
}

// appPayload is an application message that names its sender and sequence
// number, padded to size; the observers identify messages by it.
func appPayload(sender MemberID, seq uint64, size int) []byte {
	b := fmt.Appendf(nil, "app|%d|%d|", sender, seq)
	for len(b) < size {
		b = append(b, byte('a'+len(b)%26))
	}
	return b
}

// parsePayload reads back what appPayload wrote; ok is false for anything
// else (which, delivered, is not a message any member sent).
func parsePayload(b []byte) (sender MemberID, seq uint64, ok bool) {
	rest, found := bytes.CutPrefix(b, []byte("app|"))
	if !found {
		return 0, 0, false
	}
	num := func() (uint64, bool) {
		i := bytes.IndexByte(rest, '|')
		if i <= 0 || i > 19 {
			return 0, false
		}
		v, err := strconv.ParseUint(string(rest[:i]), 10, 64)
		rest = rest[i+1:]
		return v, err == nil
	}
	s, ok1 := num()
	q, ok2 := num()
	if !ok1 || !ok2 || s > 1<<31-1 {
		return 0, 0, false
	}
	return MemberID(s), q, true
}

func digest(b []byte) [32]byte { return sha256.Sum256(b) }

// sortedIDs returns the keys of a set in order.
func sortedIDs(m map[MemberID]bool) []MemberID {
	out := make([]MemberID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
