package sim

import (
	"math"
	"math/bits"
	"sort"
	"strconv"
)

// Fixed is a float written in JSON with three decimals, so equal runs give
// equal bytes whatever the platform's shortest float formatting does.
type Fixed float64

// MarshalJSON writes the number with three decimals.
func (f Fixed) MarshalJSON() ([]byte, error) {
	v := float64(f)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = -1
	}
	return strconv.AppendFloat(nil, v, 'f', 3, 64), nil
}

// Result is every measure of one run. Top-level keys are stable; JSON keys
// come out sorted because Write marshals through a map.
type Result struct {
	Scenario  string `json:"scenario"`
	Seed      uint64 `json:"seed"`
	Members   int    `json:"members"`
	Rank      string `json:"rank"`
	Apply     string `json:"apply"`
	Suite     uint16 `json:"suite"`
	Partition string `json:"partition"`

	DurationMs  uint64  `json:"duration_ms"`
	SettleMs    uint64  `json:"settle_ms"`
	PartitionMs uint64  `json:"partition_ms"`
	WindowMs    uint64  `json:"window_ms"`
	BeaconTicks uint64  `json:"beacon_ticks"`
	NoStore     bool    `json:"no_store"`
	TickMs      uint64  `json:"tick_ms"`
	Latency     string  `json:"latency"`
	Loss        Fixed   `json:"loss"`
	Duplicate   Fixed   `json:"duplicate"`
	Reorder     Fixed   `json:"reorder"`
	Events      uint64  `json:"events"`
	EndMs       uint64  `json:"end_ms"`
	ChurnFrac   Fixed   `json:"churn_fraction"`
	CommitRate  Fixed   `json:"commits_per_sec"`
	AppRate     Fixed   `json:"app_per_member_per_sec"`
	Partitions  int     `json:"partitions"`
	Unconverged int     `json:"heals_unconverged"`
	Samples     int     `json:"converge_samples"`
	ConvergeP50 Fixed   `json:"converge_ms_p50"`
	ConvergeP99 Fixed   `json:"converge_ms_p99"`
	ConvergeMax Fixed   `json:"converge_ms_max"`
	ConvergeAll []Fixed `json:"converge_ms"`
	FinalMs     Fixed   `json:"final_converge_ms"`

	ForksRemaining int `json:"forks_remaining"`
	LostMessages   int `json:"lost_messages"`
	// Lost lists the lost deliveries (the first maxLostListed), so a
	// failing run shows what to look at.
	Lost []LostDelivery `json:"lost"`
	// UnrecoverableByDesign counts the (message, member) pairs that would
	// be lost by the definition above but that the protocol's delivery
	// guarantee excludes (observer.unrecoverable); Unrecoverable lists the
	// first maxLostListed with the reason. Reported, never hidden.
	UnrecoverableByDesign int            `json:"unrecoverable_by_design"`
	Unrecoverable         []LostDelivery `json:"unrecoverable"`
	ReadmittedRemoved     int            `json:"readmitted_removed"`
	ReadmittedIDs         []MemberID     `json:"readmitted_ids"`
	InvariantViolations   int            `json:"invariant_violations"`
	ViolationEvents       int            `json:"invariant_violation_events"`

	MessagesSent      int `json:"messages_sent"`
	MessagesDelivered int `json:"messages_delivered"`
	DuplicateDeliver  int `json:"messages_delivered_twice"`
	Undecryptable     int `json:"undecryptable_messages"`
	Rejected          int `json:"inputs_rejected"`

	CommitsMerged     int `json:"commits_merged"`
	CommitsFinalChain int `json:"commits_on_final_chain"`
	CommitsRolledBack int `json:"commits_rolled_back"`
	ReAdds            int `json:"re_adds"`
	CoreRollbacks     int `json:"core_reported_rollbacks"`
	CoreReAdds        int `json:"core_reported_re_adds"`
	AddsAccepted      int `json:"adds_accepted"`
	RemovesAccepted   int `json:"removes_accepted"`
	RemovesNotApplied int `json:"removes_not_applied"`
	FinalMembers      int `json:"final_members"`
	// RequestsRefused counts workload requests (send, commit) the members
	// refused; FirstRefusal is the first error. Vacuous marks a run in
	// which no message or no commit the workload asked for happened: it
	// proves nothing and does not count as clean.
	RequestsRefused int    `json:"requests_refused"`
	FirstRefusal    string `json:"first_refusal"`
	Vacuous         bool   `json:"vacuous"`
	FinalEpoch      int    `json:"final_epoch"`

	BytesTotal              uint64 `json:"bytes_total"`
	BytesPerMemberPerCommit Fixed  `json:"bytes_per_member_per_commit"`
	CopiesSent              uint64 `json:"net_copies_sent"`
	CopiesLost              uint64 `json:"net_copies_lost"`
	CopiesCut               uint64 `json:"net_copies_cut"`
	CopiesDuplicated        uint64 `json:"net_copies_duplicated"`

	Violations []Violation `json:"violations"`

	// For plots, not written to JSON.
	Heads      map[MemberID][]HeadSample `json:"-"`
	PartLog    [][2]Time                 `json:"-"`
	ConvergeAt []Time                    `json:"-"`
}

// LostDelivery is one lost (message, member) pair and what the observer
// knew of it.
type LostDelivery struct {
	Sender   MemberID `json:"sender"`
	Seq      uint64   `json:"seq"`
	SentAtMs Time     `json:"sent_at_ms"`
	Epoch    uint64   `json:"epoch"`
	EpochID  string   `json:"epoch_id"`
	// OnFinalChain: the epoch it was sealed in is an ancestor of a final
	// head; SenderStays: the sender is in the group at the end.
	OnFinalChain bool     `json:"on_final_chain"`
	SenderStays  bool     `json:"sender_stays"`
	Receiver     MemberID `json:"receiver"`
	// Delivered counts the members that did deliver it.
	Delivered int `json:"delivered_by"`
	// ByDesign is why the pair is unrecoverable by design ("" if not).
	ByDesign string `json:"by_design,omitempty"`
}

// Reasons a pair is unrecoverable by design (observer.unrecoverable).
const (
	ByDesignSentAfterRemoval = "sent-after-removal"
	ByDesignNeverHeldEpoch   = "never-held-epoch"
	ByDesignNeverLeftSender  = "never-left-sender"
)

// unrecoverable says why no member can give message m to member to, by
// the delivery guarantee of docs/ordering.md ("Delivery guarantee"), or ""
// when it must be delivered. Only a message whose sender is out of the
// group at the end can be unrecoverable: a sender in the group re-sends
// what a member lacks. Once the sender is out, the only copy that can
// still travel is the sender's original ciphertext, relayed by a member
// that delivered it, and only a member holding the epoch's keys opens it.
// So the pair is unrecoverable when
//
//   - sent-after-removal: a commit on the final chain removing the sender
//     had been merged (by some member) before it sent the message: the
//     group had already removed it; or
//   - never-held-epoch: the member never held the keys of the epoch the
//     message was sealed in (it was on another branch, or skipped the
//     epoch by rejoining through an external commit); or
//   - never-left-sender: no member delivered the message at all: it never
//     left its sender, which is now out and sends nothing more.
func (o *observer) unrecoverable(m *sentMessage, to MemberID, onChain map[EpochID]bool) string {
	if int(m.sender) < len(o.r.slots) && o.r.slots[m.sender].head.InGroup {
		return ""
	}
	for _, rem := range o.removedEdges[m.sender] {
		if e := o.epochs[rem]; e != nil && onChain[rem] && e.firstAt <= m.at {
			return ByDesignSentAfterRemoval
		}
	}
	if !o.heldBy[to][m.epoch] {
		return ByDesignNeverHeldEpoch
	}
	for _, w := range m.delivered {
		if w != 0 {
			return ""
		}
	}
	return ByDesignNeverLeftSender
}

// maxLostListed bounds Result.Lost.
const maxLostListed = 200

func (o *observer) lostDelivery(m *sentMessage, e *epochInfo, to MemberID, onChain map[EpochID]bool) LostDelivery {
	n := 0
	for _, w := range m.delivered {
		n += bits.OnesCount64(w)
	}
	stays := int(m.sender) < len(o.r.slots) && o.r.slots[m.sender].head.InGroup
	return LostDelivery{Sender: m.sender, Seq: m.seq, SentAtMs: m.at, Epoch: e.epoch, EpochID: shortID(m.epoch),
		OnFinalChain: onChain[m.epoch], SenderStays: stays, Receiver: to, Delivered: n}
}

// Percentile is the nearest-rank percentile of xs (0 for no samples).
func Percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	k := int(math.Ceil(p/100*float64(len(s)))) - 1
	k = max(0, min(k, len(s)-1))
	return s[k]
}

// result computes the final measures from what was observed.
func (o *observer) result() *Result {
	r := o.r
	c := r.cfg
	res := &Result{
		Scenario: c.Scenario, Seed: uint64(c.Seed), Members: c.Members,
		Rank: c.Rank, Apply: c.Apply, Suite: c.Suite, Partition: string(c.Partition),
		DurationMs: c.DurationMs, SettleMs: c.SettleMs, PartitionMs: c.PartitionMs, WindowMs: c.WindowMs,
		BeaconTicks: c.BeaconTicks, TickMs: c.TickMs, NoStore: c.NoStore,
		Latency: c.Net.Latency.String(), Loss: Fixed(c.Net.Loss), Duplicate: Fixed(c.Net.Duplicate), Reorder: Fixed(c.Net.Reorder),
		ChurnFrac: Fixed(c.ChurnFraction), CommitRate: Fixed(c.Workload.CommitsPerSec), AppRate: Fixed(c.Workload.AppPerMemberPerSec),
		Events: r.clock.Executed, EndMs: r.end,
		Partitions: o.partitions, Unconverged: o.unconverged,
	}
	if o.healPending {
		res.Unconverged++
	}
	samples := o.convergeMs
	if o.partitions == 0 && o.finalOK {
		// No partition: the end of the fault phase is the one heal.
		samples = []float64{o.finalMs}
	}
	res.Samples = len(samples)
	res.ConvergeP50 = Fixed(Percentile(samples, 50))
	res.ConvergeP99 = Fixed(Percentile(samples, 99))
	res.ConvergeMax = Fixed(Percentile(samples, 100))
	res.ConvergeAll = make([]Fixed, len(samples))
	for i, v := range samples {
		res.ConvergeAll[i] = Fixed(v)
	}
	res.FinalMs = -1
	if o.finalOK {
		res.FinalMs = Fixed(o.finalMs)
	}

	// Heads at the end, of live members.
	finalHeads := map[EpochID]bool{}
	for _, s := range r.slots {
		if s.live() {
			finalHeads[s.head.ID] = true
		}
	}
	res.ForksRemaining = max(0, len(finalHeads)-1)

	// The final chain(s): every epoch that is an ancestor of a final head.
	onChain := map[EpochID]bool{}
	finalRoster := map[MemberID]bool{}
	for h := range finalHeads {
		for id := h; ; {
			e, ok := o.epochs[id]
			if !ok || onChain[id] {
				break
			}
			onChain[id] = true
			if e.parent == (EpochID{}) {
				break
			}
			id = e.parent
		}
		if e, ok := o.epochs[h]; ok {
			for _, x := range e.roster {
				finalRoster[x.ID] = true
			}
			res.FinalEpoch = max(res.FinalEpoch, int(e.epoch))
		}
	}
	res.FinalMembers = len(finalRoster)
	res.CommitsMerged = max(0, len(o.epochs)-1)
	res.CommitsFinalChain = max(0, len(onChain)-1)
	res.CommitsRolledBack = len(o.epochs) - len(onChain)

	// Re-adds on the final chain: a member that comes back after having
	// been in the group before, or whose leaf changes in one commit.
	for id := range onChain {
		e := o.epochs[id]
		if !e.linked {
			continue
		}
		for _, m := range e.returned {
			if int(m) < len(r.slots) && len(r.slots[m].inGroup) > 0 && r.slots[m].inGroup[0][0] < e.firstAt {
				res.ReAdds++
			}
		}
		p := o.epochs[e.parent]
		for _, x := range e.roster {
			i := sort.Search(len(p.roster), func(i int) bool { return p.roster[i].ID >= x.ID })
			if i < len(p.roster) && p.roster[i].ID == x.ID && p.roster[i].Leaf != x.Leaf {
				res.ReAdds++
			}
		}
	}

	for _, m := range sortedIDs(o.removeRequested) {
		res.RemovesAccepted++
		if !finalRoster[m] {
			continue
		}
		if len(o.removedEdges[m]) > 0 {
			res.ReadmittedRemoved++
			res.ReadmittedIDs = append(res.ReadmittedIDs, m)
		} else {
			res.RemovesNotApplied++
		}
	}
	res.AddsAccepted = o.addsAccepted

	// Lost messages: for every message a member accepted to send, every
	// other member that was in the group when it was sent (in the roster
	// of the epoch the sender sealed it in, as members reported that
	// epoch) and is still in it at the end must have delivered it; unless
	// the protocol's delivery guarantee (docs/ordering.md) says nobody can
	// give it to that member: then the pair is counted apart, as
	// unrecoverable by design (see unrecoverable).
	for _, m := range o.sentList {
		e := o.epochs[m.epoch]
		if e == nil {
			continue // cannot happen: the sender reported its head
		}
		for _, x := range e.roster {
			if x.ID == m.sender || int(x.ID) >= len(r.slots) || !r.slots[x.ID].head.InGroup {
				continue
			}
			if m.deliveredTo(x.ID) {
				continue
			}
			ld := o.lostDelivery(m, e, x.ID, onChain)
			if ld.ByDesign = o.unrecoverable(m, x.ID, onChain); ld.ByDesign != "" {
				res.UnrecoverableByDesign++
				if len(res.Unrecoverable) < maxLostListed {
					res.Unrecoverable = append(res.Unrecoverable, ld)
				}
				continue
			}
			res.LostMessages++
			if len(res.Lost) < maxLostListed {
				res.Lost = append(res.Lost, ld)
			}
		}
	}
	res.MessagesSent = len(o.sentList)
	res.MessagesDelivered = o.deliveredCount
	res.DuplicateDeliver = o.duplicates
	res.Undecryptable = o.undecryptable
	res.Rejected = o.rejected
	res.CoreRollbacks = o.coreRollbacks
	res.CoreReAdds = o.coreReAdds

	for _, b := range r.net.BytesSent {
		res.BytesTotal += b
	}
	if res.CommitsFinalChain > 0 {
		res.BytesPerMemberPerCommit = Fixed(float64(res.BytesTotal) / float64(c.Members) / float64(res.CommitsFinalChain))
	}
	res.CopiesSent, res.CopiesLost, res.CopiesCut, res.CopiesDuplicated = r.net.CopiesSent, r.net.CopiesLost, r.net.CopiesCut, r.net.CopiesDup

	res.RequestsRefused, res.FirstRefusal = o.refusedCount, o.firstRefusal
	res.Vacuous = (c.Workload.AppPerMemberPerSec > 0 && res.MessagesSent == 0) ||
		(c.Workload.CommitsPerSec > 0 && res.CommitsMerged == 0)

	res.Violations = append([]Violation{}, o.violations...)
	res.InvariantViolations = len(o.violations)
	res.ViolationEvents = o.violationsAll

	res.Heads = map[MemberID][]HeadSample{}
	for _, s := range r.slots {
		res.Heads[s.id] = s.history
	}
	res.PartLog = o.partitionLog
	res.ConvergeAt = o.convergeAt
	return res
}
