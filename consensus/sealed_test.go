package consensus_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// TestSealedHandshakes: a sealed commit shows nothing of its content on
// the topic, opens only under its own header and epoch, is kept and
// served sealed, and leaves the Welcome readable by the joiner.
func TestSealedHandshakes(t *testing.T) {
	n := newNet(t, 3, func(_ int, cfg *consensus.Config) { cfg.SealHandshakes = true })
	m1 := n.Members[1].Core
	signKey := m1.Head().Tree().Leaf(m1.Head().OwnLeaf()).SignatureKey
	clear := rawCommit(t, n, 1) // the same kind of commit, in the clear
	if !bytes.Contains(clear.Body, signKey) {
		t.Fatal("test premise: a clear commit carries the committer's leaf")
	}
	if err := m1.Commit(mls.NewRemove(2)); err != nil {
		t.Fatal(err)
	}
	rd := m1.Ready()
	m1.Advance(rd)
	var sealed consensus.Envelope
	for _, env := range rd.Messages {
		if env.Kind == consensus.KindSealed {
			sealed = env
		}
	}
	if sealed.Kind != consensus.KindSealed {
		t.Fatalf("no sealed envelope among %d messages", len(rd.Messages))
	}
	if bytes.Contains(sealed.Body, signKey) {
		t.Fatal("the sealed commit shows the committer's leaf")
	}

	// Under another header it does not open.
	moved := sealed
	moved.Epoch++
	m0 := n.Members[0].Core
	before := snapshot(m0)
	if err := m0.Step(moved); err == nil {
		t.Fatal("a sealed commit opened under another epoch number")
	}
	tampered := sealed
	tampered.Body = append([]byte{}, sealed.Body...)
	tampered.Body[len(tampered.Body)/2] ^= 1
	if err := m0.Step(tampered); !errors.Is(err, consensus.ErrInvalidMessage) && !errors.Is(err, consensus.ErrMalformed) {
		t.Fatalf("tampered sealed commit: %v", err)
	}
	if snapshot(m0) != before {
		t.Fatal("refused sealed envelopes changed the state")
	}

	// A member of another group (same names, another seed) cannot open it.
	other, err := consensustest.NewNetwork(consensustest.Options{Members: 3, Seed: 43})
	if err != nil {
		t.Fatal(err)
	}
	foreign := sealed
	foreign.EpochID = other.Members[0].Core.HeadID()
	if err := other.Members[0].Core.Step(foreign); err == nil {
		t.Fatal("a member of another group opened the sealed commit")
	}

	if err := m0.Step(sealed); err != nil {
		t.Fatal(err)
	}
	if m0.HeadID() != m1.HeadID() {
		t.Fatal("the sealed commit was not applied")
	}
	envs, ok := m0.CommitsAfter(m0.Chain(2)[1].ID, 0)
	if !ok || len(envs) != 1 || envs[0].Kind != consensus.KindSealed || !bytes.Equal(envs[0].Body, sealed.Body) {
		t.Fatal("the commit is not served as it was received")
	}
	if consensus.WelcomeOf(&sealed) != nil {
		t.Fatal("a commit without adds has a Welcome")
	}
}

// TestWelcomeOfSealedCommit: the Welcome of a sealed commit stays outside
// the ciphertext, where the joiner can read it.
func TestWelcomeOfSealedCommit(t *testing.T) {
	n := newNet(t, 2, func(_ int, cfg *consensus.Config) { cfg.SealHandshakes = true })
	cs := n.Suite
	kp := newcomerKeyPackage(t, cs)
	m0 := n.Members[0].Core
	if err := m0.Commit(mls.NewAdd(kp.KeyPackage)); err != nil {
		t.Fatal(err)
	}
	rd := m0.Ready()
	m0.Advance(rd)
	for _, e := range rd.Messages {
		if e.Kind != consensus.KindSealed {
			continue
		}
		w := consensus.WelcomeOf(&e)
		if w == nil {
			t.Fatal("no Welcome outside the sealed commit")
		}
		b, _ := codec.Marshal(w)
		if len(b) == 0 {
			t.Fatal("empty Welcome")
		}
		return
	}
	t.Fatal("no sealed commit")
}
