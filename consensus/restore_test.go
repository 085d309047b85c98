package consensus_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
)

// TestRestore: a member persists, is restarted from Persist, re-sends its
// unsettled messages (delivered once), and carries on with the group.
func TestRestore(t *testing.T) {
	n, err := consensustest.NewNetwork(consensustest.Options{Members: 3, Seed: 5, Configure: func(_ int, cfg *consensus.Config) {
		cfg.SkipPersist = false
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	if err := n.Members[1].Core.Commit(); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	m0 := n.Members[0]
	if _, err := m0.Core.Send([]byte("before the restart")); err != nil {
		t.Fatal(err)
	}
	rd := m0.Core.Ready()
	if rd.Persist == nil || rd.Persist.HeadState == nil || len(rd.Persist.Outbox) != 1 || len(rd.Persist.Retained) < 2 {
		t.Fatalf("persist: %+v", rd.Persist)
	}
	persisted := rd.Persist
	for _, env := range rd.Messages {
		n.Broadcast(0, env)
	}
	m0.Core.Advance(rd)
	n.Deliver(consensustest.Any)

	cfg := consensus.Config{SigningKey: m0.Key, Rand: m0.Rand}
	if _, err := consensus.Restore(cfg, &consensus.Persist{HeadState: persisted.HeadState}); !errors.Is(err, consensus.ErrConfig) {
		t.Fatalf("restore with a wrong head id: %v", err)
	}
	restored, err := consensus.Restore(cfg, persisted)
	if err != nil {
		t.Fatal(err)
	}
	if restored.HeadID() != m0.Core.HeadID() {
		t.Fatal("restored on another head")
	}
	m0.Core = restored
	n.Collect() // the re-sent message
	n.Deliver(consensustest.Any)
	for _, m := range n.Members[1:] {
		if len(m.Delivered) != 1 {
			t.Fatalf("%s delivered %d messages, want 1", m.Name, len(m.Delivered))
		}
	}
	// The group carries on: a commit and a message after the restart.
	if err := n.Members[2].Core.Commit(); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	if _, err := restored.Send([]byte("after")); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	for _, m := range n.Members {
		if m.Core.HeadID() != restored.HeadID() {
			t.Fatalf("%s on %v, restored member on %v", m.Name, m.Core.HeadID(), restored.HeadID())
		}
	}
	if len(n.Members[1].Delivered) != 2 {
		t.Fatalf("m1 delivered %d", len(n.Members[1].Delivered))
	}
}

// TestSendWithNonce: the same nonce and data give the same MessageID, and
// a receiver delivers it once however often it is sent.
func TestSendWithNonce(t *testing.T) {
	n := newNet(t, 2, nil)
	m0 := n.Members[0].Core
	nonce := [16]byte{1, 2, 3}
	a, err := m0.SendWithNonce(nonce, []byte("again"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := m0.SendWithNonce(nonce, []byte("again"))
	if err != nil || a != b {
		t.Fatalf("ids %v %v (%v)", a, b, err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	if len(n.Members[1].Delivered) != 1 {
		t.Fatalf("delivered %d times", len(n.Members[1].Delivered))
	}
}

// TestCommitHookRefs: the hook sees the proposals a commit includes by
// reference, and what it returns is committed by value.
func TestCommitHookRefs(t *testing.T) {
	var seen int
	n := newNet(t, 3, func(i int, cfg *consensus.Config) {
		cfg.CommitHookRefs = func(head *mls.Group, byValue, byRef []*wire.Proposal) []*wire.Proposal {
			seen = len(byRef)
			return append(byValue, mls.NewRemove(1))
		}
	})
	if err := n.Members[2].Core.Propose(mls.NewRemove(2)); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	m0 := n.Members[0].Core
	if err := m0.Commit(); err != nil {
		t.Fatal(err)
	}
	if seen != 1 {
		t.Fatalf("hook saw %d proposals by reference, want 1", seen)
	}
	var removed []uint32
	for _, e := range m0.Ready().Events {
		if e.Kind == consensus.EventEpochMerged {
			removed = e.Removed
		}
	}
	if len(removed) != 2 {
		t.Fatalf("commit removed %v, want the proposal by reference and the hook's", removed)
	}
}
