package main

import (
	"context"
	"io"
	"testing"
	"time"
)

// TestGossipSim runs two scenarios of `mlsnode sim --network gossip` on
// real gossipsub over libp2p's in-memory network and checks the measures:
// nothing lost, no fork after the settle time, a converged group.
func TestGossipSim(t *testing.T) {
	for _, sc := range []string{"partition", "commit-storm"} {
		t.Run(sc, func(t *testing.T) {
			res, err := gossipRun(context.Background(), gossipConfig{Scenario: sc, Members: 4, Seed: 7,
				Partition: 3 * time.Second, Settle: time.Second, Rate: 2, TimeScale: 1})
			if err != nil {
				t.Fatal(err)
			}
			if res.Sent == 0 || res.Lost != 0 || res.ForksAfter != 0 || res.ConvergeSecs < 0 || res.Commits == 0 {
				t.Fatalf("%+v", res)
			}
			if res.Delivered != res.Sent*3 {
				t.Fatalf("deliveries %d for %d messages to 3 others", res.Delivered, res.Sent)
			}
		})
	}
}

func TestGossipSimFlag(t *testing.T) {
	for _, args := range [][]string{{"--network", "gossip", "partition"}, {"partition", "-network=gossip"}} {
		ok, rest := isGossipNetwork(args)
		if !ok || len(rest) != 1 || rest[0] != "partition" {
			t.Fatalf("%v -> %v %v", args, ok, rest)
		}
	}
	if ok, _ := isGossipNetwork([]string{"--network", "sim", "partition"}); ok {
		t.Fatal("--network sim taken for gossip")
	}
	if code := runGossipSim(context.Background(), []string{"nonsense"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("unknown scenario: exit %d", code)
	}
}
