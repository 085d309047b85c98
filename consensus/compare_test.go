package consensus_test

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
)

type policyFigures struct {
	switches, rolledBack int
	// convergeTicks sums, over rounds, the ticks from the commits until
	// every member has the round's final head.
	convergeTicks int
	rounds        int
}

// runRaces plays rounds in which two random members commit at once over
// links with random delays of 0..3 ticks, and counts branch switches and
// the ticks until everyone is on the same head.
func runRaces(t *testing.T, apply consensus.ApplyPolicy, seed uint64, rounds int) policyFigures {
	t.Helper()
	const members = 5
	n, err := consensustest.NewNetwork(consensustest.Options{Members: members, Seed: seed, Configure: func(_ int, cfg *consensus.Config) {
		cfg.Apply, cfg.WindowTicks = apply, 12
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	rng := rand.New(rand.NewPCG(seed, 7))
	var f policyFigures
	for r := 0; r < rounds; r++ {
		for a := 0; a < members; a++ {
			for b := 0; b < members; b++ {
				n.SetDelay(a, b, uint64(rng.IntN(4)))
			}
		}
		x := rng.IntN(members)
		y := (x + 1 + rng.IntN(members-1)) % members
		for _, i := range []int{x, y} {
			if err := n.Members[i].Core.Commit(); err != nil {
				t.Fatalf("round %d: m%d commits: %v", r, i, err)
			}
		}
		n.Collect()
		converged := -1
		for tick := 1; tick <= 12; tick++ {
			n.Tick()
			n.Deliver(consensustest.Any)
			same := true
			for _, m := range n.Members[1:] {
				same = same && m.Core.HeadID() == n.Members[0].Core.HeadID()
			}
			if same && converged < 0 && n.Members[0].Core.HeadRef().Epoch == uint64(r+2) && len(n.Queue) == 0 {
				converged = tick
			}
		}
		if converged < 0 {
			t.Fatalf("%s: round %d did not converge:\n%s", apply.Name(), r, n.Out.String())
		}
		f.convergeTicks += converged
		f.rounds++
		for _, line := range strings.Split(n.Out.String(), "\n") {
			if strings.Contains(line, " switched ") {
				f.switches++
			}
		}
		n.Out.Reset()
	}
	return f
}

// TestApplyPoliciesSideBySide runs the same races under both apply
// policies: waiting until the rivals are in avoids most rollbacks at the
// cost of latency. Both must converge every round.
func TestApplyPoliciesSideBySide(t *testing.T) {
	const rounds = 12
	sw := runRaces(t, consensus.ApplySwitch{}, 1, rounds)
	wd := runRaces(t, consensus.WaitDecide{Wait: 4}, 1, rounds)
	t.Logf("apply-switch: %d switches, %.2f ticks to converge per round", sw.switches, float64(sw.convergeTicks)/float64(sw.rounds))
	t.Logf("wait-decide(4): %d switches, %.2f ticks to converge per round", wd.switches, float64(wd.convergeTicks)/float64(wd.rounds))
	if sw.switches == 0 {
		t.Fatal("the races never made apply-switch roll back; the scenario tests nothing")
	}
	if wd.switches >= sw.switches {
		t.Fatalf("wait-decide rolled back %d times, apply-switch %d", wd.switches, sw.switches)
	}
}
