package consensus_test

import (
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
)

// TestOpensFrom: a member that merges four epochs at once (it was cut off)
// still opens messages of the epoch it left, though four epochs behind
// its head, until the races it merged close; a member that lived through
// them opens the engine's last mls.DefaultPastEpochs epochs only.
func TestOpensFrom(t *testing.T) {
	n, err := consensustest.NewNetwork(consensustest.Options{Members: 3, Seed: 9, Configure: func(_ int, cfg *consensus.Config) {
		cfg.WindowTicks = 4
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	m0, m1, m2 := n.Members[0], n.Members[1], n.Members[2]
	left := m2.Core.HeadRef()
	n.Partition([]int{0, 1}, []int{2})
	for range 4 {
		if err := m1.Core.Commit(); err != nil {
			t.Fatal(err)
		}
		n.Collect()
		n.Deliver(consensustest.Any)
		for range 5 {
			n.Tick() // each race closes at 0 and 1
		}
	}
	head := m0.Core.HeadRef()
	if head.Epoch != left.Epoch+4 || m0.Core.OpensFrom() != head.Epoch-mls.DefaultPastEpochs {
		t.Fatalf("m0 at %d opens from %d, want %d", head.Epoch, m0.Core.OpensFrom(), head.Epoch-mls.DefaultPastEpochs)
	}
	if m2.Core.OpensFrom() != left.Epoch {
		t.Fatalf("m2, still in epoch %d, opens from %d", left.Epoch, m2.Core.OpensFrom())
	}
	commits, ok := m1.Core.CommitsAfter(left.ID, 0)
	if !ok || len(commits) != 4 {
		t.Fatalf("setup: %d commits after m2's epoch", len(commits))
	}
	for _, env := range commits {
		if err := m2.Core.Step(env); err != nil {
			t.Fatal(err)
		}
	}
	if m2.Core.HeadID() != head.ID {
		t.Fatal("m2 did not catch up")
	}
	if got := m2.Core.OpensFrom(); got != left.Epoch {
		t.Fatalf("m2 merged %d..%d at once and opens from %d, want %d (the races are open at m2)", left.Epoch+1, head.Epoch, got, left.Epoch)
	}
	for range 5 {
		m2.Core.Tick()
	}
	if got := m2.Core.OpensFrom(); got != head.Epoch-mls.DefaultPastEpochs {
		t.Fatalf("after the window m2 opens from %d, want %d", got, head.Epoch-mls.DefaultPastEpochs)
	}
}
