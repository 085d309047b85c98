package consensus_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
)

// TestRandomRacesConverge is a small randomised simulation: members commit
// and send at random over links with random delays (0-3 ticks), some
// copies are dropped and recovered by anti-entropy (Unsettled), all well
// inside the window. At the end every member must be on the same head,
// and every application message must have been delivered exactly once to
// every other member. Each seed replays exactly.
func TestRandomRacesConverge(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		for _, apply := range []consensus.ApplyPolicy{consensus.ApplySwitch{}, consensus.WaitDecide{Wait: 3}} {
			for _, sealed := range []bool{false, true} {
				name := fmt.Sprintf("seed=%d/%s/sealed=%v", seed, apply.Name(), sealed)
				t.Run(name, func(t *testing.T) { randomRun(t, seed, apply, sealed) })
			}
		}
	}
}

// antiEntropy stands for package fork's catch-up, reduced to its effect:
// every member re-broadcasts the commits of its retained head chain and
// its unsettled messages (Unsettled) to everyone. Gossip alone loses what
// it drops; the ordering layer relies on this being run more often than
// the window.
func antiEntropy(n *consensustest.Network) {
	for i, m := range n.Members {
		chain := m.Core.Chain(0)
		envs, _ := m.Core.CommitsAfter(chain[len(chain)-1].ID, 0)
		for _, env := range append(envs, m.Core.Unsettled()...) {
			n.Broadcast(i, env)
		}
	}
}

func randomRun(t *testing.T, seed uint64, apply consensus.ApplyPolicy, sealed bool) {
	const members, steps = 5, 120
	n, err := consensustest.NewNetwork(consensustest.Options{Members: members, Seed: seed, Configure: func(_ int, cfg *consensus.Config) {
		cfg.Apply, cfg.WindowTicks, cfg.SealHandshakes = apply, 40, sealed
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	rng := rand.New(rand.NewPCG(seed, 99))
	sent := map[consensus.MessageID]int{} // message -> sender
	for step := 0; step < steps; step++ {
		for a := 0; a < members; a++ {
			for b := 0; b < members; b++ {
				n.SetDelay(a, b, uint64(rng.IntN(4)))
			}
		}
		switch r := rng.IntN(10); {
		case r < 3:
			// A member that already committed on its head is refused
			// (ErrAlreadyCommitted): that is part of the workload.
			_ = n.Members[rng.IntN(members)].Core.Commit()
		case r < 7:
			i := rng.IntN(members)
			id, err := n.Members[i].Core.Send([]byte(fmt.Sprintf("m%d step %d", i, step)))
			if err != nil {
				t.Fatalf("step %d: send: %v", step, err)
			}
			sent[id] = i
		case r < 8:
			// Lose a random in-flight copy of a handshake message (the
			// catch-up below recovers those; recovering lost
			// application messages is not this layer's job).
			if len(n.Queue) > 0 {
				k := rng.IntN(len(n.Queue))
				if kind := n.Queue[k].Env.Kind; kind != consensus.KindApplication {
					n.Queue = append(n.Queue[:k], n.Queue[k+1:]...)
				}
			}
		}
		n.Collect()
		n.Tick()
		n.Deliver(consensustest.Any)
		if step%8 == 7 {
			antiEntropy(n)
		}
	}
	// Quiesce: anti-entropy, then let everything arrive.
	for round := 0; round < 3; round++ {
		antiEntropy(n)
		for k := 0; k < 6; k++ {
			n.Tick()
			n.Deliver(consensustest.Any)
		}
	}
	head := n.Members[0].Core.HeadID()
	for _, m := range n.Members {
		if m.Core.HeadID() != head {
			t.Fatalf("%s on %v, m0 on %v", m.Name, m.Core.HeadID(), head)
		}
	}
	for _, m := range n.Members {
		got := map[consensus.MessageID]int{}
		for _, d := range m.Delivered {
			got[d.ID]++
		}
		for id, from := range sent {
			if consensustest.Name(from) == m.Name {
				continue
			}
			if got[id] != 1 {
				t.Fatalf("%s delivered message %v from m%d %d times", m.Name, id, from, got[id])
			}
		}
	}
	t.Logf("%d messages, head epoch %d", len(sent), n.Members[0].Core.HeadRef().Epoch)
}
