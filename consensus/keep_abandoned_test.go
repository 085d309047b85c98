package consensus_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
)

// TestKeepAbandoned: a member's commit that loses a race has its
// proposals committed again on the winner, unless KeepAbandoned says so
// for the commit's authenticated data (package fork's batch re-adds).
// m1's Add loses to m0's removal (removals rank first); with the hook
// m1 re-commits nothing, without it the Add comes back.
func TestKeepAbandoned(t *testing.T) {
	for _, keep := range []bool{false, true} {
		configure := func(i int, cfg *consensus.Config) {
			if keep {
				cfg.KeepAbandoned = func(aad []byte) bool { return bytes.Equal(aad, []byte("keep")) }
			}
		}
		n := newNet(t, 3, configure)
		kp, _ := newcomer(t, n.Suite, rand.NewChaCha8([32]byte{'k', 'a'}))
		if err := n.Members[1].Core.CommitWithData([]byte("keep"), mls.NewAdd(kp.KeyPackage)); err != nil {
			t.Fatal(err)
		}
		if err := n.Members[0].Core.Commit(mls.NewRemove(2)); err != nil {
			t.Fatal(err)
		}
		reproposed := 0
		n.OnReady = func(i int, rd *consensus.Ready) {
			for _, ev := range rd.Events {
				if i == 1 && ev.Kind == consensus.EventReproposed {
					reproposed += ev.Count
				}
			}
		}
		n.Collect()
		if n.Deliver(consensustest.Filter{From: 0, To: 1}) == 0 {
			t.Fatal("nothing delivered")
		}
		switch {
		case keep && reproposed != 0:
			t.Fatalf("with KeepAbandoned: %d proposals committed again", reproposed)
		case !keep && reproposed != 1:
			t.Fatalf("without KeepAbandoned: %d proposals committed again, want the Add", reproposed)
		}
	}
}
