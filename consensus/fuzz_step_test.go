package consensus_test

import (
	"errors"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
)

// FuzzStep feeds arbitrary bodies under a valid header (this group, the
// head epoch) to a Core: it must never panic, and whatever it refuses
// must leave its state unchanged. Seeds are real envelopes of every kind.
func FuzzStep(f *testing.F) {
	n := newNet(f, 3, nil)
	seedCommit := rawCommit(f, n, 1)
	f.Add(uint8(consensus.KindCommit), seedCommit.Body)
	if err := n.Members[2].Core.Propose(consensusRemove(1)); err != nil {
		f.Fatal(err)
	}
	if _, err := n.Members[2].Core.Send([]byte("seed")); err != nil {
		f.Fatal(err)
	}
	rd := n.Members[2].Core.Ready()
	n.Members[2].Core.Advance(rd)
	for _, env := range rd.Messages {
		f.Add(uint8(env.Kind), env.Body)
	}
	a, b := rawCommit(f, n, 1), rawCommit(f, n, 1)
	ev := withBody(f, a, &consensus.Evidence{First: commitOf(f, a).Commit, Second: commitOf(f, b).Commit})
	f.Add(uint8(consensus.KindEvidence), ev.Body)

	m0 := n.Members[0].Core
	head := m0.HeadRef()
	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		env := consensus.Envelope{Kind: consensus.EnvelopeKind(kind), GroupID: []byte("group"), Epoch: head.Epoch, EpochID: head.ID, Body: body}
		before := snapshot(m0)
		err := m0.Step(env)
		held := errors.Is(err, consensus.ErrUnknownEpoch) || errors.Is(err, consensus.ErrPendingProposal)
		if err != nil && !held && snapshot(m0) != before {
			t.Fatalf("refused envelope (%v) changed the state", err)
		}
		m0.Advance(m0.Ready())
	})
}

func consensusRemove(leaf uint32) *wire.Proposal { return mls.NewRemove(leaf) }
