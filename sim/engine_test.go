package sim_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/sim"
	"github.com/mlsnode/mlsnode/sim/toy"
)

func runToy(t *testing.T, scenario string, seed sim.Seed, members int, bugs toy.Bugs, adjust func(*sim.Config)) *sim.Result {
	t.Helper()
	cfg, err := sim.ScenarioConfig(scenario)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed, cfg.Members = seed, members
	if adjust != nil {
		adjust(&cfg)
	}
	r, err := sim.NewRunner(cfg, &toy.Population{Seed: seed, Bugs: bugs})
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run()
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// noRemovals: the toy's longest-chain rule loses removals made on a losing
// branch (see TestCheckersCatch), so the clean runs leave them out.
func noRemovals(c *sim.Config) { c.Workload.RemoveWeight = 0 }

// The engine with a sound member: every scenario ends converged, with
// nothing lost and no invariant broken, and the measures are not vacuous.
func TestToyScenariosClean(t *testing.T) {
	for _, sc := range sim.Scenarios() {
		for seed := sim.Seed(1); seed <= 2; seed++ {
			res := runToy(t, sc, seed, 12, toy.Bugs{}, noRemovals)
			if !res.Clean() {
				t.Errorf("%s seed %d: forks %d lost %d readmitted %d violations %+v", sc, seed,
					res.ForksRemaining, res.LostMessages, res.ReadmittedRemoved, res.Violations)
			}
			if res.MessagesSent == 0 || res.MessagesDelivered < res.MessagesSent*(res.Members-1)/2 || res.CommitsFinalChain == 0 {
				t.Errorf("%s seed %d: vacuous run: sent %d delivered %d commits %d", sc, seed, res.MessagesSent, res.MessagesDelivered, res.CommitsFinalChain)
			}
			if res.Partition != "" && res.Samples == 0 {
				t.Errorf("%s seed %d: a partition scenario measured no convergence", sc, seed)
			}
		}
	}
}

// Each deliberate defect of the toy is caught by the measure meant for it.
func TestCheckersCatch(t *testing.T) {
	t.Run("lost messages without anti-entropy", func(t *testing.T) {
		res := runToy(t, "lossy", 1, 12, toy.Bugs{NoAntiEntropy: true}, noRemovals)
		if res.LostMessages == 0 {
			t.Fatal("lost_messages = 0 for a member that never re-sends under 20% loss")
		}
	})
	t.Run("delivered twice", func(t *testing.T) {
		res := runToy(t, "quiet", 1, 8, toy.Bugs{DeliverTwice: true}, noRemovals)
		if !hasViolation(res, "delivered-twice") {
			t.Fatalf("no delivered-twice violation: %+v", res.Violations)
		}
	})
	t.Run("fork stays without fetch", func(t *testing.T) {
		res := runToy(t, "split-brain", 1, 12, toy.Bugs{NoFetch: true}, func(c *sim.Config) {
			noRemovals(c)
			c.Workload.CommitsPerSec = 2 // both halves commit during the cut
		})
		if res.ForksRemaining == 0 || !hasViolation(res, "fork-after-settle") {
			t.Fatalf("forks %d, violations %+v", res.ForksRemaining, res.Violations)
		}
	})
	t.Run("removed member keeps reading", func(t *testing.T) {
		res := runToy(t, "quiet", 1, 8, toy.Bugs{IgnoreRemoval: true}, func(c *sim.Config) {
			c.Workload.RemoveWeight, c.Workload.AddWeight, c.Workload.UpdateWeight = 1, 0, 1
		})
		if !hasViolation(res, "removed-member-holds-later-epoch") {
			t.Fatalf("no removed-member violation: %+v", res.Violations)
		}
	})
	t.Run("removal lost to a race", func(t *testing.T) {
		// The toy's longest-chain rule drops removals committed on a losing
		// branch; with removals racing in a storm the measure sees it.
		total := 0
		for seed := sim.Seed(1); seed <= 3; seed++ {
			res := runToy(t, "commit-storm", seed, 12, toy.Bugs{}, nil)
			total += res.ReadmittedRemoved
		}
		if total == 0 {
			t.Fatal("readmitted_removed = 0 for a rule known to lose removals")
		}
	})
}

func hasViolation(r *sim.Result, kind string) bool {
	for _, v := range r.Violations {
		if v.Kind == kind {
			return true
		}
	}
	return false
}

// Same seed and config: byte-identical JSON and plot. Another seed: a
// different run.
func TestDeterministic(t *testing.T) {
	enc := func(seed sim.Seed) ([]byte, []byte) {
		res := runToy(t, "flapping", seed, 10, toy.Bugs{}, nil)
		j, err := res.JSON()
		if err != nil {
			t.Fatal(err)
		}
		return j, res.PlotSVG()
	}
	a, pa := enc(7)
	b, pb := enc(7)
	c, _ := enc(8)
	if !bytes.Equal(a, b) || !bytes.Equal(pa, pb) {
		t.Fatal("same seed gave different output")
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same JSON")
	}
	for _, key := range []string{`"forks_remaining": `, `"lost_messages": `, `"readmitted_removed": `, `"invariant_violations": `, `"converge_ms_p50": `, `"converge_ms_p99": `} {
		if !strings.Contains(string(a), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

// A run gives byte for byte the same result whatever the number of
// workers running members' work at once, for every scenario, including
// the member defects that the checkers must catch (their effects depend
// on the order events ran in). Under -race this is also the test that
// members' work shares nothing.
func TestRunIndependentOfWorkers(t *testing.T) {
	run := func(scenario string, seed sim.Seed, bugs toy.Bugs, workers int) []byte {
		cfg, err := sim.ScenarioConfig(scenario)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Seed, cfg.Members = seed, 12
		r, err := sim.NewRunner(cfg, &toy.Population{Seed: seed, Bugs: bugs})
		if err != nil {
			t.Fatal(err)
		}
		r.SetWorkers(workers)
		res, err := r.Run()
		if err != nil {
			t.Fatal(err)
		}
		j, err := res.JSON()
		if err != nil {
			t.Fatal(err)
		}
		return append(j, res.PlotSVG()...)
	}
	for _, sc := range sim.Scenarios() {
		for _, bugs := range []toy.Bugs{{}, {DeliverTwice: true}} {
			one, four := run(sc, 3, bugs, 1), run(sc, 3, bugs, 4)
			if !bytes.Equal(one, four) {
				t.Errorf("%s %+v: 1 worker and 4 workers gave different results", sc, bugs)
			}
		}
	}
}

// A sweep gives the same results whatever the number of workers.
func TestSweepIndependentOfWorkers(t *testing.T) {
	g := sim.Grid{Scenarios: []string{"split-brain", "lossy"}, Members: []int{6, 10}, PartitionMs: []sim.Time{3000}, Loss: []float64{-1}, SeedFrom: 1, SeedTo: 2}
	jobs, err := g.Jobs()
	if err != nil {
		t.Fatal(err)
	}
	newPop := func(c sim.Config) (sim.Population, error) { return &toy.Population{Seed: c.Seed}, nil }
	csv := func(workers int) string {
		res, errs := sim.RunJobs(jobs, newPop, workers, nil)
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		var b bytes.Buffer
		if err := sim.WriteCSV(&b, res); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	one, two := csv(1), csv(3)
	if one != two {
		t.Fatalf("1 worker:\n%s\n3 workers:\n%s", one, two)
	}
	if n := strings.Count(one, "\n"); n != len(jobs)+1 {
		t.Fatalf("%d lines for %d jobs", n, len(jobs))
	}
}
