package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
)

// epochInfo is what members said about one epoch id. Every member that
// reaches an epoch must say the same thing about it.
type epochInfo struct {
	epoch     uint64
	parent    EpochID
	roster    []RosterEntry
	rosterSum [32]byte
	firstAt   Time
	firstBy   MemberID
	// removed lists the members in the parent's roster missing here;
	// returned those missing in the parent and present here.
	removed, returned []MemberID
	linked            bool
}

// sentMessage is an application message a member accepted to send.
type sentMessage struct {
	sender    MemberID
	seq       uint64
	at        Time
	epoch     EpochID // the sender's head when it sent: the epoch it was sealed in
	sum       [32]byte
	delivered []uint64 // bitset of receivers
}

// Violation is one broken invariant, with what shows it.
type Violation struct {
	At     Time   `json:"at_ms"`
	Kind   string `json:"kind"`
	Detail string `json:"detail"`
}

// observer holds the measures and the invariant checkers. It sees only what
// members really did (heads, messages accepted, deliveries), never what the
// workload intended.
type observer struct {
	r *Runner

	epochs   map[EpochID]*epochInfo
	children map[EpochID][]EpochID // children recorded before their parent

	// liveHeads counts live members per head epoch id.
	liveHeads map[EpochID]int

	sentByKey map[[2]uint64]*sentMessage
	sentList  []*sentMessage

	removeRequested map[MemberID]bool
	removedEdges    map[MemberID][]EpochID // epochs whose commit removed the member
	addsAccepted    int
	refusedCount    int
	firstRefusal    string

	// convergence
	healAt       Time
	healPending  bool
	convergeMs   []float64
	convergeAt   []Time
	unconverged  int
	partitions   int
	finalAt      Time
	finalPending bool
	finalMs      float64
	finalOK      bool
	partitionLog [][2]Time

	// counters reported by the cores
	coreRollbacks, coreReAdds, undecryptable, rejected int
	deliveredCount, duplicates                         int

	// heldBy lists, per member, the epochs it held (see Output.Held).
	heldBy map[MemberID]map[EpochID]bool

	violations    []Violation
	violationKeys map[string]bool
	violationsAll int
}

func newObserver(r *Runner) *observer {
	return &observer{
		r:               r,
		epochs:          map[EpochID]*epochInfo{},
		children:        map[EpochID][]EpochID{},
		liveHeads:       map[EpochID]int{},
		sentByKey:       map[[2]uint64]*sentMessage{},
		removeRequested: map[MemberID]bool{},
		removedEdges:    map[MemberID][]EpochID{},
		violationKeys:   map[string]bool{},
		heldBy:          map[MemberID]map[EpochID]bool{},
	}
}

// violate records a broken invariant once per key.
func (o *observer) violate(key, kind, format string, args ...any) {
	o.violationsAll++
	if o.violationKeys[key] {
		return
	}
	o.violationKeys[key] = true
	o.violations = append(o.violations, Violation{At: o.r.clock.Now(), Kind: kind, Detail: fmt.Sprintf(format, args...)})
}

func rosterSum(roster []RosterEntry) [32]byte {
	h := sha256.New()
	var b [8]byte
	for _, e := range roster {
		binary.BigEndian.PutUint32(b[:4], uint32(e.ID))
		binary.BigEndian.PutUint32(b[4:], e.Leaf)
		h.Write(b[:])
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func shortID(id EpochID) string { return fmt.Sprintf("%x", id[:4]) }

// headChanged is called whenever a member's head differs from the last one
// observed.
func (o *observer) headChanged(s *slot, old Head) {
	if old.InGroup && s.online {
		o.liveDec(old.ID)
	}
	if s.live() {
		o.liveHeads[s.head.ID]++
	}
	if !s.head.InGroup {
		return
	}
	o.held(s.id, s.head.ID)
	o.recordEpoch(s)
	o.checkRemovedHolder(s)
}

// held notes epochs a member came to hold the keys of.
func (o *observer) held(m MemberID, ids ...EpochID) {
	if len(ids) == 0 {
		return
	}
	set := o.heldBy[m]
	if set == nil {
		set = map[EpochID]bool{}
		o.heldBy[m] = set
	}
	for _, id := range ids {
		set[id] = true
	}
}

func (o *observer) liveDec(id EpochID) {
	o.liveHeads[id]--
	if o.liveHeads[id] <= 0 {
		delete(o.liveHeads, id)
	}
}

func (o *observer) onlineChanged(s *slot) {
	if !s.head.InGroup {
		return
	}
	if s.online {
		o.liveHeads[s.head.ID]++
	} else {
		o.liveDec(s.head.ID)
	}
}

// recordEpoch notes what a member says about its head epoch and checks it
// against what others said: one epoch id, one epoch number, one parent, one
// roster.
func (o *observer) recordEpoch(s *slot) {
	h := s.head
	sum := rosterSum(s.roster)
	if e, ok := o.epochs[h.ID]; ok {
		if e.epoch != h.Epoch || e.rosterSum != sum || (e.parent != h.Parent && h.Parent != (EpochID{}) && e.parent != (EpochID{})) {
			o.violate("epoch-mismatch/"+shortID(h.ID), "epoch-mismatch",
				"member %d holds epoch id %s as epoch %d with %d members; member %d said epoch %d with %d members",
				s.id, shortID(h.ID), h.Epoch, len(s.roster), e.firstBy, e.epoch, len(e.roster))
		}
		if e.parent == (EpochID{}) && h.Parent != (EpochID{}) {
			e.parent = h.Parent
			o.link(h.ID)
		}
		return
	}
	e := &epochInfo{epoch: h.Epoch, parent: h.Parent, roster: append([]RosterEntry(nil), s.roster...), rosterSum: sum, firstAt: o.r.clock.Now(), firstBy: s.id}
	o.epochs[h.ID] = e
	o.link(h.ID)
	for _, c := range o.children[h.ID] {
		o.link(c)
	}
	delete(o.children, h.ID)
}

// link computes who an epoch's commit removed and brought back, once both
// it and its parent are known.
func (o *observer) link(id EpochID) {
	e := o.epochs[id]
	if e == nil || e.linked || e.parent == (EpochID{}) {
		return
	}
	p, ok := o.epochs[e.parent]
	if !ok {
		o.children[e.parent] = append(o.children[e.parent], id)
		return
	}
	e.linked = true
	in := func(r []RosterEntry, m MemberID) bool {
		i := sort.Search(len(r), func(i int) bool { return r[i].ID >= m })
		return i < len(r) && r[i].ID == m
	}
	for _, x := range p.roster {
		if !in(e.roster, x.ID) {
			e.removed = append(e.removed, x.ID)
			o.removedEdges[x.ID] = append(o.removedEdges[x.ID], id)
		}
	}
	for _, x := range e.roster {
		if !in(p.roster, x.ID) {
			e.returned = append(e.returned, x.ID)
		}
	}
}

// isAncestor reports whether anc is id or one of its ancestors, as far as
// the observed epoch tree reaches.
func (o *observer) isAncestor(anc, id EpochID) bool {
	a, ok := o.epochs[anc]
	if !ok {
		return false
	}
	for steps := 0; steps < 1<<20; steps++ {
		if id == anc {
			return true
		}
		e, ok := o.epochs[id]
		if !ok || e.epoch <= a.epoch || e.parent == (EpochID{}) {
			return false
		}
		id = e.parent
	}
	return false
}

// checkRemovedHolder: a member whose removal the workload asked for, once a
// commit removing it has been merged by anyone, must never hold an epoch
// descending from that commit.
func (o *observer) checkRemovedHolder(s *slot) {
	if !o.removeRequested[s.id] {
		return
	}
	for _, rem := range o.removedEdges[s.id] {
		if o.isAncestor(rem, s.head.ID) {
			o.violate(fmt.Sprintf("removed-holds/%d/%s", s.id, shortID(s.head.ID)), "removed-member-holds-later-epoch",
				"member %d, removed by the commit creating epoch %s, holds epoch %d (%s)",
				s.id, shortID(rem), s.head.Epoch, shortID(s.head.ID))
		}
	}
}

func (o *observer) sent(s *slot, seq uint64, data []byte) {
	m := &sentMessage{sender: s.id, seq: seq, at: o.r.clock.Now(), epoch: s.head.ID, sum: digest(data)}
	o.sentByKey[[2]uint64{uint64(s.id), seq}] = m
	o.sentList = append(o.sentList, m)
}

// refused counts workload requests a member turned down (nil: accepted),
// by error text, so a run where members refuse everything shows it.
func (o *observer) refused(err error) {
	if err == nil {
		return
	}
	o.refusedCount++
	if o.firstRefusal == "" {
		o.firstRefusal = err.Error()
	}
}

func (o *observer) added(s *slot, joiner MemberID) { o.addsAccepted++ }

// delivered checks that a delivered message is authentic (a member really
// sent these bytes, and the member that delivered it authenticated that
// sender) and delivered once.
func (o *observer) delivered(s *slot, d Delivered) {
	o.deliveredCount++
	sender, seq, ok := parsePayload(d.Data)
	m := o.sentByKey[[2]uint64{uint64(sender), seq}]
	if !ok || m == nil {
		o.violate(fmt.Sprintf("unsent/%d/%x", s.id, digest(d.Data)), "inauthentic",
			"member %d delivered %q which no member sent", s.id, trunc(d.Data))
		return
	}
	if d.Sender != sender || digest(d.Data) != m.sum {
		o.violate(fmt.Sprintf("forged/%d/%d/%d", s.id, sender, seq), "inauthentic",
			"member %d delivered message %d/%d attributed to member %d", s.id, sender, seq, d.Sender)
		return
	}
	word, bit := int(s.id)/64, uint(s.id)%64
	for len(m.delivered) <= word {
		m.delivered = append(m.delivered, 0)
	}
	if m.delivered[word]&(1<<bit) != 0 {
		o.duplicates++
		o.violate(fmt.Sprintf("dup/%d/%d/%d", s.id, sender, seq), "delivered-twice",
			"member %d delivered message %d/%d twice", s.id, sender, seq)
		return
	}
	m.delivered[word] |= 1 << bit
}

func trunc(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "..."
	}
	return string(b)
}

func (m *sentMessage) deliveredTo(id MemberID) bool {
	word, bit := int(id)/64, uint(id)%64
	return word < len(m.delivered) && m.delivered[word]&(1<<bit) != 0
}

func (o *observer) counters(s *slot, out Output) {
	o.coreRollbacks += out.Rollbacks
	o.coreReAdds += out.ReAdds
	o.undecryptable += out.Undecryptable
	o.rejected += out.Rejected
	for _, c := range out.Crashes {
		o.violate("failed/"+c, "member-failed", "member %d: %s", s.id, c)
	}
}

func (o *observer) partition(on bool) {
	now := o.r.clock.Now()
	if on {
		o.partitions++
		o.partitionLog = append(o.partitionLog, [2]Time{now, 0})
		if o.healPending {
			// cut again before it converged: that heal never converged
			o.healPending = false
			o.unconverged++
		}
		return
	}
	if n := len(o.partitionLog); n > 0 {
		o.partitionLog[n-1][1] = now
	}
	o.healAt, o.healPending = now, true
}

func (o *observer) faultsOver() {
	o.finalAt, o.finalPending = o.r.clock.Now(), true
}

func (o *observer) converged() bool { return len(o.liveHeads) == 1 }

// afterEvent runs the checks that follow every event.
func (o *observer) afterEvent(now Time) {
	if !o.converged() {
		if now >= o.r.cfg.DurationMs+o.r.cfg.SettleMs {
			o.violate("fork-after-settle", "fork-after-settle",
				"%d different heads among live members after the network was whole for the settle time", len(o.liveHeads))
		}
		return
	}
	if o.healPending {
		o.convergeMs = append(o.convergeMs, float64(now-o.healAt))
		o.convergeAt = append(o.convergeAt, now)
		o.healPending = false
	}
	if o.finalPending {
		o.finalMs = float64(now - o.finalAt)
		o.finalPending, o.finalOK = false, true
	}
}
