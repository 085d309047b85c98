package consensus_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
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

// TestRestoreKeepsTheTree: a member restarted inside the window keeps its
// epoch tree: the same epochs and ranks, and it still switches when a
// better rival of an epoch before the restart arrives. Sealed or not.
func TestRestoreKeepsTheTree(t *testing.T) {
	for _, sealed := range []bool{false, true} {
		n, err := consensustest.NewNetwork(consensustest.Options{Members: 4, Seed: 6, Configure: func(_ int, cfg *consensus.Config) {
			cfg.SkipPersist, cfg.SealHandshakes = false, sealed
		}})
		if err != nil {
			t.Fatal(err)
		}
		n.Collect()
		// Seed 6: leaf 1 ranks before leaf 2 on epoch 1 (late_rival.txt).
		if err := n.Members[2].Core.Commit(); err != nil {
			t.Fatal(err)
		}
		if err := n.Members[1].Core.Commit(); err != nil {
			t.Fatal(err)
		}
		n.Collect()
		n.Deliver(consensustest.Filter{From: 2, To: 0})
		m0 := n.Members[0]
		if _, err := m0.Core.Send([]byte("in the worse epoch")); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			m0.Core.Tick()
		}
		rd := m0.Core.Ready()
		before := m0.Core.Epochs()
		restored, err := consensus.Restore(consensus.Config{SigningKey: m0.Key, Rand: m0.Rand}, rd.Persist)
		if err != nil {
			t.Fatal(err)
		}
		if got := restored.Epochs(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Fatalf("sealed=%v: tree changed across the restart:\n%v\n%v", sealed, before, got)
		}
		if restored.Now() != m0.Core.Now() || len(restored.Outbox()) != 1 {
			t.Fatalf("tick %d (want %d), outbox %d", restored.Now(), m0.Core.Now(), len(restored.Outbox()))
		}
		m0.Core = restored
		rrd := restored.Ready()
		restored.Advance(rrd)
		n.Deliver(consensustest.Filter{From: 1, To: 0})
		if restored.HeadID() != n.Members[1].Core.HeadID() {
			t.Fatalf("sealed=%v: the restored member did not switch to the better rival", sealed)
		}
		if !strings.Contains(n.Out.String(), "m0: resend ") {
			t.Fatalf("sealed=%v: the message of the losing epoch was not re-sent", sealed)
		}
	}
}

// TestRestoreOwnUnmergedCommit: under wait-decide a member's own commit
// waits unmerged; after a restart its staged state is gone and the engine
// will not re-stage a commit in the member's own name, so the restored
// Core keeps it for ranking but never tries to move onto it.
func TestRestoreOwnUnmergedCommit(t *testing.T) {
	n, err := consensustest.NewNetwork(consensustest.Options{Members: 2, Seed: 8, Configure: func(_ int, cfg *consensus.Config) {
		cfg.SkipPersist, cfg.Apply = false, consensus.WaitDecide{Wait: 2}
	}})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	m0 := n.Members[0]
	if err := m0.Core.Commit(); err != nil {
		t.Fatal(err)
	}
	rd := m0.Core.Ready()
	restored, err := consensus.Restore(consensus.Config{SigningKey: m0.Key, Rand: m0.Rand, Apply: consensus.WaitDecide{Wait: 2}}, rd.Persist)
	if err != nil {
		t.Fatal(err)
	}
	if len(restored.Epochs()) != 2 {
		t.Fatalf("restored %d epochs, want the root and the own candidate", len(restored.Epochs()))
	}
	restored.Advance(restored.Ready())
	for i := 0; i < 4; i++ {
		restored.Tick()
	}
	if restored.HeadRef().Epoch != 1 {
		t.Fatalf("moved onto an unreachable commit: head %v", restored.HeadRef())
	}
	for _, e := range restored.Ready().Events {
		if e.Kind == consensus.EventCommitRejected {
			t.Fatalf("tried to move: %s", e.Reason)
		}
	}
}
