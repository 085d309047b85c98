package consensus_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
)

// TestRivalFloodIsBounded: eleven members commit on one epoch; a member
// with MaxRivalsPerParent=3 keeps at most three candidates and still ends
// on the same head as a member that keeps them all (the best is never
// evicted).
func TestRivalFloodIsBounded(t *testing.T) {
	const members = 12
	n := newNet(t, members, func(i int, cfg *consensus.Config) {
		cfg.MaxRivalsPerParent = 3
		if i == 0 {
			cfg.MaxRivalsPerParent = 16
		}
	})
	var envs []consensus.Envelope
	for i := 2; i < members; i++ {
		envs = append(envs, rawCommit(t, n, i))
	}
	bounded, reference := n.Members[1].Core, n.Members[0].Core
	refused := 0
	for _, env := range envs {
		if err := bounded.Step(env); errors.Is(err, consensus.ErrRivalLimit) {
			refused++
		} else if err != nil {
			t.Fatal(err)
		}
		if s := bounded.Stats(); s.MaxRivals > 3 {
			t.Fatalf("%d rivals kept, bound 3", s.MaxRivals)
		}
		if err := reference.Step(env); err != nil {
			t.Fatal(err)
		}
	}
	if refused == 0 {
		t.Fatal("the bound never refused a worse rival")
	}
	if bounded.HeadID() != reference.HeadID() {
		t.Fatalf("bounded member on %v, reference on %v", bounded.HeadID(), reference.HeadID())
	}
	t.Logf("%d rivals offered, %d refused, %d kept", len(envs), refused, bounded.Stats().MaxRivals)
}

// TestEquivocationFloodIsBounded: one member signs many commits on one
// epoch; the second one proves equivocation and every later one is
// refused without being staged.
func TestEquivocationFloodIsBounded(t *testing.T) {
	n := newNet(t, 3, nil)
	m0 := n.Members[0].Core
	for k := 0; k < 20; k++ {
		err := m0.Step(rawCommit(t, n, 1))
		switch {
		case k < 2 && err != nil:
			t.Fatalf("commit %d: %v", k, err)
		case k >= 2 && !errors.Is(err, consensus.ErrEquivocator):
			t.Fatalf("commit %d: %v, want ErrEquivocator", k, err)
		}
	}
	if s := m0.Stats(); s.MaxRivals > 2 || s.Epochs > 3 {
		t.Fatalf("after a flood of one member's commits: %+v", s)
	}
}

// TestPendingFloodIsBounded: envelopes naming epochs nobody knows are held
// within MaxPendingEpochs x MaxPendingPerEpoch, then refused.
func TestPendingFloodIsBounded(t *testing.T) {
	const perEpoch, epochs = 4, 3
	n := newNet(t, 3, func(_ int, cfg *consensus.Config) {
		cfg.MaxPendingPerEpoch, cfg.MaxPendingEpochs = perEpoch, epochs
	})
	m0 := n.Members[0].Core
	limited := 0
	for k := 0; k < 40; k++ {
		env := rawCommit(t, n, 1+k%2)
		env.EpochID[0] = byte(k % 10) // ten unknown epochs
		env.EpochID[1] ^= 0xff
		err := m0.Step(env)
		switch {
		case errors.Is(err, consensus.ErrPendingLimit):
			limited++
		case !errors.Is(err, consensus.ErrUnknownEpoch):
			t.Fatalf("envelope %d: %v", k, err)
		}
		if s := m0.Stats(); s.PendingEpochs > epochs || s.Pending > epochs*perEpoch {
			t.Fatalf("pending %+v over the bound", s)
		}
	}
	if limited == 0 {
		t.Fatal("the bound never refused anything")
	}
	// Held messages expire after two windows.
	for range 2*consensus.DefaultWindowTicks + 1 {
		n.Tick()
	}
	if s := m0.Stats(); s.Pending != 0 {
		t.Fatalf("held messages did not expire: %+v", s)
	}
}

// TestRetainedEpochsAreBounded: a long run of commits with no tick (so no
// window ever closes) keeps the epoch tree within MaxRetainedEpochs; the
// bound closes the oldest races early.
func TestRetainedEpochsAreBounded(t *testing.T) {
	const bound = 8
	n := newNet(t, 3, func(_ int, cfg *consensus.Config) { cfg.MaxRetainedEpochs = bound })
	peak := 0
	for k := 0; k < 30; k++ {
		// two rivals per epoch, so losers accumulate too
		a, b := n.Members[k%3].Core, n.Members[(k+1)%3].Core
		if err := a.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		n.Collect()
		n.Deliver(consensustest.Any)
		for _, m := range n.Members {
			s := m.Core.Stats()
			peak = max(peak, s.Epochs)
			if s.Epochs > bound || s.RetainedStates > bound {
				t.Fatalf("round %d: %s holds %+v, bound %d", k, m.Name, s, bound)
			}
		}
	}
	h := n.Members[0].Core.HeadID()
	for _, m := range n.Members {
		if m.Core.HeadID() != h {
			t.Fatalf("members diverged under the bound")
		}
	}
	t.Logf("peak %d epochs retained with bound %d", peak, bound)
}

// TestOutboxIsBounded: Send refuses beyond MaxOutbox until epochs become
// final, when the outbox empties.
func TestOutboxIsBounded(t *testing.T) {
	n := newNet(t, 2, func(_ int, cfg *consensus.Config) { cfg.MaxOutbox, cfg.WindowTicks = 5, 2 })
	m0 := n.Members[0].Core
	// Messages sent in a final epoch never enter the outbox; move to a
	// fresh epoch first.
	if err := n.Members[1].Core.Commit(); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	for k := 0; k < 5; k++ {
		if _, err := m0.Send([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m0.Send([]byte("x")); !errors.Is(err, consensus.ErrOutboxFull) {
		t.Fatalf("sixth send: %v", err)
	}
	if s := m0.Stats(); s.Outbox != 5 {
		t.Fatalf("outbox %d, want 5", s.Outbox)
	}
	for range 3 {
		n.Tick()
	}
	if s := m0.Stats(); s.Outbox != 0 {
		t.Fatalf("outbox %d after the epoch became final", s.Outbox)
	}
	if _, err := m0.Send([]byte("x")); err != nil {
		t.Fatal(err)
	}
}
