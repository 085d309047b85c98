package fork_test

import (
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
)

// TestFetchInsideWindowIsNotAFork: under wait-decide a member stays on
// the parent while a candidate waits; a peer already on that candidate
// (or a member that joined by its Welcome) asks it for what it lacks. The
// chains part inside the window, which is the consensus core's to decide:
// the member must not answer with a BranchInfo (which made the peer heal
// by external commit a fork that was none: simulator commit-storm, 8
// members, wait-decide), but with nothing, since the peer is ahead.
func TestFetchInsideWindowIsNotAFork(t *testing.T) {
	n, err := forktest.New(forktest.Options{Seed: 4, WindowTicks: 20, BeaconInterval: 2,
		Apply: consensus.WaitDecide{Wait: 10}}, "a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Commit("b"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	a := n.Node("a").Member
	var cand consensus.EpochRef
	for _, e := range a.Core().Epochs() {
		if !e.OnChain {
			cand = e.Ref
		}
	}
	if cand.ID.IsZero() {
		t.Fatal("a holds no waiting candidate")
	}
	a.Advance(a.Ready())
	req := fork.FetchRequest{GroupID: []byte("forktest"), RequestID: 3, Want: cand, Have: []consensus.EpochRef{cand}}
	env := envelope(t, consensus.KindFetchRequest, cand, &req)
	if err := a.Step("x", &env); err != nil {
		t.Fatal(err)
	}
	if rd := a.Ready(); len(rd.Direct) != 0 {
		t.Fatalf("a answered a peer ahead of it inside the window with %d directed envelopes (a BranchInfo before the fix)", len(rd.Direct))
	}
}
