package consensus_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
)

var benchSizes = []int{2, 16, 64}

// nextCommit has member i commit on its head and returns the envelope,
// keeping the other members' queues empty.
func nextCommit(b *testing.B, n *consensustest.Network, i int) consensus.Envelope {
	if err := n.Members[i].Core.Commit(); err != nil {
		b.Fatal(err)
	}
	rd := n.Members[i].Core.Ready()
	n.Members[i].Core.Advance(rd)
	for _, env := range rd.Messages {
		if env.Kind == consensus.KindCommit {
			return env
		}
	}
	b.Fatal("no commit")
	return consensus.Envelope{}
}

// BenchmarkStepCommit: a member receives a commit on its head and applies
// it (stage, policy, rank, save the parent's state, merge).
func BenchmarkStepCommit(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			n := newNet(b, size, nil)
			m0, m1 := n.Members[0].Core, n.Members[1].Core
			for b.Loop() {
				b.StopTimer()
				env := nextCommit(b, n, 1)
				b.StartTimer()
				if err := m0.Step(env); err != nil {
					b.Fatal(err)
				}
				m0.Advance(m0.Ready())
				if m0.HeadID() != m1.HeadID() {
					b.Fatal("did not apply")
				}
			}
		})
	}
}

// BenchmarkSwitch: a member that applied the worse of two rivals receives
// the better one and switches (restore the parent, merge the rival).
func BenchmarkSwitch(b *testing.B) {
	for _, size := range []int{3, 16, 64} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			n := newNet(b, size, func(_ int, cfg *consensus.Config) { cfg.WindowTicks = 1 })
			m0 := n.Members[0].Core
			rule := m0.RankRule()
			for b.Loop() {
				b.StopTimer()
				// Two rivals on m0's head from m1 and m2 (both on the
				// same head as m0), then everyone moves to the best.
				a, c := nextCommit(b, n, 1), nextCommit(b, n, 2)
				ka := rule.Key(&consensus.Candidate{Parent: a.EpochID, Committer: 1})
				kc := rule.Key(&consensus.Candidate{Parent: c.EpochID, Committer: 2})
				worse, better := a, c
				if bytes.Compare(ka, kc) > 0 {
					worse, better = c, a
				}
				if err := m0.Step(worse); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := m0.Step(better); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				m0.Advance(m0.Ready())
				for i, m := range n.Members[1:3] {
					for _, env := range []consensus.Envelope{a, c} {
						_ = m.Core.Step(env) // its own comes back as a duplicate
					}
					m.Core.Advance(m.Core.Ready())
					if m.Core.HeadID() != m0.HeadID() {
						b.Fatalf("m%d did not converge", i+1)
					}
				}
				// Close the race so the tree stays small.
				for _, m := range n.Members[:3] {
					m.Core.Tick()
					m.Core.Advance(m.Core.Ready())
				}
				b.StartTimer()
			}
		})
	}
}

// BenchmarkSendReceive: one application message sealed by a member and
// opened and delivered by another.
func BenchmarkSendReceive(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			n := newNet(b, size, nil)
			m0, m1 := n.Members[0].Core, n.Members[1].Core
			payload := make([]byte, 256)
			for b.Loop() {
				if _, err := m1.Send(payload); err != nil {
					b.Fatal(err)
				}
				rd := m1.Ready()
				m1.Advance(rd)
				if err := m0.Step(rd.Messages[0]); err != nil {
					b.Fatal(err)
				}
				m0.Advance(m0.Ready())
			}
		})
	}
}
