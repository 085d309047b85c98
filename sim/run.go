package sim

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
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
}

// NewRunner prepares a run; the group is created outside simulated time.
func NewRunner(cfg Config, pop Population) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Runner{
		cfg: cfg, pop: pop,
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

func (r *Runner) addSlot(id MemberID, m Member) *slot {
	s := &slot{id: id, m: m, online: true}
	r.slots = append(r.slots, s)
	r.observeHead(s)
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
func (r *Runner) Run() (*Result, error) {
	r.scheduleFaults()
	r.scheduleWorkload()
	r.clock.At(r.cfg.DurationMs, r.restoreAll)
	lastProgress := Time(0)
	for r.clock.Step(r.end) {
		r.obs.afterEvent(r.clock.Now())
		if r.err != nil {
			return nil, r.err
		}
		if r.progress != nil && r.clock.Now() >= lastProgress+1000 {
			lastProgress = r.clock.Now()
			r.progress(lastProgress, r.end)
		}
	}
	r.clock.now = r.end
	if r.progress != nil {
		r.progress(r.end, r.end)
	}
	return r.obs.result(), nil
}

// live reports whether a participant counts for convergence: online and in
// the group by its own head.
func (s *slot) live() bool { return s.online && s.head.InGroup }

// scheduleTicks starts a member's ticks at a random phase, so members do not
// tick in lockstep.
func (r *Runner) scheduleTicks(s *slot) {
	phase := Time(r.rngTicks.Uint64N(uint64(r.cfg.TickMs))) + 1
	var tick func()
	tick = func() {
		if s.online {
			s.m.Tick(r.clock.Now())
			r.drain(s)
		}
		r.clock.After(r.cfg.TickMs, tick)
	}
	r.clock.After(phase, tick)
}

// deliver hands bytes to a member and acts on what it produced.
func (r *Runner) deliver(from MemberID, to *slot, data []byte) {
	to.m.Receive(from, data, r.clock.Now())
	r.drain(to)
}

// drain takes a member's output: messages to the network, deliveries and
// counters to the observers, and the new head if it changed.
func (r *Runner) drain(s *slot) {
	out := s.m.Output()
	for _, msg := range out.Messages {
		data := msg.Data
		if msg.To == Broadcast {
			for _, t := range r.slots {
				if t.id != s.id {
					r.net.send(s.id, t.id, data, func() { r.deliver(s.id, t, data) })
				}
			}
		} else if int(msg.To) >= 0 && int(msg.To) < len(r.slots) && msg.To != s.id {
			t := r.slots[msg.To]
			r.net.send(s.id, t.id, data, func() { r.deliver(s.id, t, data) })
		}
	}
	for _, d := range out.Delivered {
		r.obs.delivered(s, d)
	}
	r.obs.counters(s, out)
	r.obs.held(s.id, out.Held...)
	r.observeHead(s)
}

func (r *Runner) observeHead(s *slot) {
	h := s.m.Head()
	if h == s.head && len(s.history) > 0 {
		return
	}
	old := s.head
	s.head = h
	now := r.clock.Now()
	if h.InGroup {
		if h.ID != old.ID || !old.InGroup || s.roster == nil {
			s.roster = s.m.Roster()
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
