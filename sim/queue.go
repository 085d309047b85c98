package sim

import "container/heap"

// Time is virtual time in milliseconds since the start of a run.
type Time = uint64

// event is one scheduled action. Events at the same time run in the order
// they were scheduled (seq), which makes the order a function of the seed.
type event struct {
	at  Time
	seq uint64
	run func()
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
}

// Now is the current virtual time.
func (c *Clock) Now() Time { return c.now }

// At schedules run at time at; a time in the past runs at the current time.
func (c *Clock) At(at Time, run func()) {
	if at < c.now {
		at = c.now
	}
	c.seq++
	heap.Push(&c.events, &event{at: at, seq: c.seq, run: run})
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
	e.run()
	return true
}

// Pending is the number of events scheduled.
func (c *Clock) Pending() int { return len(c.events) }
