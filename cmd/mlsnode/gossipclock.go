package main

import (
	"context"
	"sync"
	"time"

	"github.com/mlsnode/mlsnode/node"
)

// gossipClock is the protocol time of a gossip-mode run, in ticks of
// gossipTick. Two kinds:
//
//   - wall: every node runs its own ticker of gossipTick × time scale; the
//     clock reads the wall clock. Protocol timers fire on time whether or
//     not the process has handled the input that came before them, so a
//     process that cannot keep up with its nodes sees beacons as stale,
//     rejoins collide and healing thrashes.
//   - paced: the nodes run WithManualTicks and this clock ticks them all
//     together, at most once per gossipTick × time scale of wall time and
//     only after every node has handled the envelopes in its inbox and the
//     previous tick (Node.Tick). Logical time slows down when the process
//     falls behind instead of running ahead of the input. What it does not
//     see is gossipsub's own pipeline (queues and validation before the
//     inbox) and its heartbeat, which stay in wall time.
type gossipClock interface {
	// Now is the protocol time elapsed since the clock started.
	Now() time.Duration
	// Sleep waits for d of protocol time (or ctx).
	Sleep(ctx context.Context, d time.Duration)
	Stop()
}

type wallClock struct {
	start time.Time
	scale float64
}

func (c *wallClock) Now() time.Duration {
	return time.Duration(float64(time.Since(c.start)) / c.scale)
}

func (c *wallClock) Sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(time.Duration(float64(d) * c.scale))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (c *wallClock) Stop() {}

// pacedClock ticks a set of nodes made WithManualTicks.
type pacedClock struct {
	mu     sync.Mutex
	ticks  uint64
	cond   chan struct{} // closed and replaced at every tick
	cancel context.CancelFunc
	done   chan struct{}
	// slow counts ticks that came later than their wall interval because
	// a node was still busy: the clock ran slower than the time scale.
	slow uint64
}

func newPacedClock(nodes []*node.Node, interval time.Duration) *pacedClock {
	ctx, cancel := context.WithCancel(context.Background())
	c := &pacedClock{cond: make(chan struct{}), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		next := time.Now().Add(interval)
		for {
			if d := time.Until(next); d > 0 {
				select {
				case <-time.After(d):
				case <-ctx.Done():
					return
				}
			}
			var wg sync.WaitGroup
			for _, nd := range nodes {
				wg.Add(1)
				go func() { defer wg.Done(); _ = nd.Tick(ctx) }()
			}
			wg.Wait()
			if ctx.Err() != nil {
				return
			}
			now := time.Now()
			c.mu.Lock()
			c.ticks++
			if now.After(next.Add(interval)) {
				c.slow++
			}
			close(c.cond)
			c.cond = make(chan struct{})
			c.mu.Unlock()
			next = next.Add(interval)
			if next.Before(now) {
				next = now // behind: do not burst to catch up
			}
		}
	}()
	return c
}

func (c *pacedClock) Now() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Duration(c.ticks) * gossipTick
}

func (c *pacedClock) Sleep(ctx context.Context, d time.Duration) {
	c.mu.Lock()
	until := c.ticks + uint64((d+gossipTick-1)/gossipTick)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		if c.ticks >= until {
			c.mu.Unlock()
			return
		}
		ch := c.cond
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return
		case <-c.done:
			return
		}
	}
}

func (c *pacedClock) Stop() {
	c.cancel()
	<-c.done
}

// slowTicks reports how many ticks came late.
func (c *pacedClock) slowTicks() (slow, total uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.slow, c.ticks
}
