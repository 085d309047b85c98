package sim

import (
	"container/heap"
	"errors"
	"fmt"
)

// ErrLookahead reports a defect of the engine: an event scheduled inside
// the window of member events that was running, which would have run in a
// different order had the members been run one at a time.
var ErrLookahead = errors.New("sim: event scheduled inside a parallel window")

// Time is virtual time in milliseconds since the start of a run.
type Time = uint64

// event is one scheduled action. Events at the same time run in the order
// they were scheduled (seq), which makes the order a function of the seed.
//
// A member event (member >= 0) touches one member only: work is what it
// asks of that member at time now (and may run on another goroutine, beside other
// members' work), run is what it then does to the shared state of the run
// (the network, the observers), always on the loop, in event order. Any
// other event (member < 0, work nil) is a barrier: it runs alone.
type event struct {
	at     Time
	seq    uint64
	member int32
	work   func(now Time)
	run    func()
}

type eventHeap []*event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*event)) }
func (h *eventHeap) Pop() any {
	old := *h
	n := len(old)
	e := old[n-1]
	old[n-1] = nil
	*h = old[:n-1]
	return e
}

// Clock is the virtual clock and the event queue: the whole notion of time
// in a run.
type Clock struct {
	now    Time
	seq    uint64
	events eventHeap
	// Executed counts events run, for progress and for the measures.
	Executed uint64
	// horizon, while a window of member events is being run, is the time
	// before which nothing may be scheduled any more (see runWindow);
	// early records the first violation.
	horizon Time
	early   error
}

// Now is the current virtual time.
func (c *Clock) Now() Time { return c.now }

// At schedules run at time at; a time in the past runs at the current time.
func (c *Clock) At(at Time, run func()) {
	if at < c.now {
		at = c.now
	}
	c.push(&event{at: at, member: -1, run: run})
}

// AtMember schedules a member event (see event) for member at time at.
func (c *Clock) AtMember(at Time, member MemberID, work func(now Time), run func()) {
	if at < c.now {
		at = c.now
	}
	c.push(&event{at: at, member: int32(member), work: work, run: run})
}

func (c *Clock) push(e *event) {
	if e.at < c.horizon && c.early == nil {
		c.early = fmt.Errorf("%w: an event at %d ms was scheduled while the window up to %d ms ran", ErrLookahead, e.at, c.horizon)
	}
	c.seq++
	e.seq = c.seq
	heap.Push(&c.events, e)
}

// After schedules run d milliseconds from now.
func (c *Clock) After(d Time, run func()) { c.At(c.now+d, run) }

// Step runs the next event if it is due no later than until, and reports
// whether one ran.
func (c *Clock) Step(until Time) bool {
	if len(c.events) == 0 || c.events[0].at > until {
		return false
	}
	e := heap.Pop(&c.events).(*event)
	c.now = e.at
	c.Executed++
	if e.work != nil {
		e.work(e.at)
	}
	e.run()
	return true
}

// window pops the events due no later than until and earlier than
// lookahead after the first of them, stopping before the first barrier
// (a barrier at the front is returned alone). Nothing run in such a window
// can schedule an event inside it: every member event's consequences reach
// other members through the network, whose delays are at least lookahead.
// The second result is the end of the window (exclusive).
func (c *Clock) window(until, lookahead Time) ([]*event, Time) {
	if len(c.events) == 0 || c.events[0].at > until {
		return nil, 0
	}
	first := heap.Pop(&c.events).(*event)
	batch := []*event{first}
	if first.member < 0 {
		return batch, first.at
	}
	end := first.at + lookahead
	for len(c.events) > 0 {
		e := c.events[0]
		if e.at > until || e.at >= end || e.member < 0 {
			break
		}
		batch = append(batch, heap.Pop(&c.events).(*event))
	}
	return batch, end
}

// Pending is the number of events scheduled.
func (c *Clock) Pending() int { return len(c.events) }
