package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// reload stores and restores a member's group, as a restart would.
func reload(t *testing.T, m *member) []byte {
	t.Helper()
	enc, err := m.g.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	g, err := LoadGroup(enc, LoadConfig{SigningKey: m.key})
	if err != nil {
		t.Fatalf("%s: loading its state: %v", m.name, err)
	}
	again, err := g.MarshalState()
	if err != nil || !bytes.Equal(again, enc) {
		t.Fatalf("%s: restored state re-encodes differently (%v)", m.name, err)
	}
	m.g = g
	return enc
}

// TestStateSurvivesRestarts: every member restarts between every step of
// a scenario (adds, a proposal by reference, an update, late messages) and
// the group carries on as if nothing happened.
func TestStateSurvivesRestarts(t *testing.T) {
	for _, id := range []suite.ID{1, 5} {
		cs, _ := suite.Lookup(id)
		rng := rand.NewChaCha8([32]byte{byte(id), 's', 't'})
		alice, bob, carol := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol")
		var err error
		if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
			t.Fatal(err)
		}
		reload(t, alice)
		commitAndDeliver(t, rng, cs, alice, nil, []*member{bob}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}})
		reload(t, alice)
		reload(t, bob)
		sendAndReceive(t, rng, alice, bob)

		// A message sent before bob's restart and a commit opens after both.
		late, _ := alice.g.SealApplication(rng, []byte("late"), nil, 0)
		update, _ := bob.g.NewUpdate(rng)
		um, uref, err := bob.g.Propose(rng, update, ProposeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		reload(t, bob) // the pending update key and the proposal survive
		if _, err := alice.g.ProcessHandshake(wireTrip(t, um)); err != nil {
			t.Fatal(err)
		}
		reload(t, alice) // the received proposal survives
		commitAndDeliver(t, rng, cs, alice, []*member{bob}, []*member{carol}, CommitOptions{References: [][]byte{uref}, Proposals: []*wire.Proposal{addProposal(carol)}})
		reload(t, bob)
		if got, err := bob.g.OpenMessage(wireTrip(t, late)); err != nil || string(got.ApplicationData) != "late" {
			t.Fatalf("late message after restart: %v", err)
		}
		for _, m := range []*member{alice, bob, carol} {
			reload(t, m)
		}
		sameEpoch(t, alice, bob, carol)
		commitAndDeliver(t, rng, cs, carol, []*member{alice, bob}, nil, CommitOptions{})
		sameEpoch(t, alice, bob, carol)
		sendAndReceive(t, rng, bob, alice, carol)

		// A replay after a restart is still refused: consumption persisted.
		m, _ := carol.g.SealApplication(rng, []byte("once"), nil, 0)
		msg := wireTrip(t, m)
		if _, err := alice.g.OpenMessage(msg); err != nil {
			t.Fatal(err)
		}
		reload(t, alice)
		if _, err := alice.g.OpenMessage(msg); err == nil {
			t.Fatal("replayed message opened after a restart")
		}

		// Damaged states fail cleanly.
		enc := reload(t, alice)
		for i := 0; i < len(enc); i += 1 + len(enc)/300 {
			if _, err := LoadGroup(enc[:i], LoadConfig{}); err == nil {
				t.Fatalf("truncated state (%d of %d bytes) loaded", i, len(enc))
			}
		}
		future := append([]byte{}, enc...)
		future[1] = 9
		if _, err := LoadGroup(future, LoadConfig{}); !errors.Is(err, ErrStateFormat) {
			t.Fatalf("future format: err = %v", err)
		}
		if _, err := LoadGroup(enc, LoadConfig{SigningKey: bob.key}); err == nil {
			t.Fatal("loaded with another member's signing key")
		}
	}
}

// FuzzLoadGroup: no input makes LoadGroup panic.
func FuzzLoadGroup(f *testing.F) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'f'})
	a := newMemberTB(f, cs, rng, "a")
	g, err := CreateGroup(rng, cs, CreateConfig{KeyPackage: a.kp, SigningKey: a.key})
	if err != nil {
		f.Fatal(err)
	}
	enc, _ := g.MarshalState()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		LoadGroup(data, LoadConfig{})
	})
}

// TestMergeRivalIntoRestoredParent: after one of two rival commits is
// merged (which wipes the parent's secrets), the other still merges into
// a copy of the parent restored from its stored state. This is how the
// ordering layer rolls back to the parent and switches to a better rival,
// for others' commits and for the member's own.
func TestMergeRivalIntoRestoredParent(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'r', 'v'})
	alice, bob, carol := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol")
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
		t.Fatal(err)
	}
	commitAndDeliver(t, rng, cs, alice, nil, []*member{bob, carol}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob), addProposal(carol)}})

	own, err := alice.g.Commit(rng, CommitOptions{ForcePath: true, PublicMessage: true})
	if err != nil {
		t.Fatal(err)
	}
	rival, err := bob.g.Commit(rng, CommitOptions{ForcePath: true, PublicMessage: true})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := alice.g.MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	p, err := alice.g.ProcessHandshake(wireTrip(t, rival.Commit))
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.g.Merge(p.Commit); err != nil {
		t.Fatal(err)
	}
	if err := bob.g.Merge(rival.Staged); err != nil {
		t.Fatal(err)
	}
	sameEpoch(t, alice, bob)

	// Roll back to the parent and take alice's own commit instead.
	restored, err := LoadGroup(parent, LoadConfig{SigningKey: alice.key})
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Merge(own.Staged); err != nil {
		t.Fatalf("own rival into the restored parent: %v", err)
	}
	// carol merges alice's commit the ordinary way and agrees.
	pc, err := carol.g.ProcessHandshake(wireTrip(t, own.Commit))
	if err != nil {
		t.Fatal(err)
	}
	if err := carol.g.Merge(pc.Commit); err != nil {
		t.Fatal(err)
	}
	alice.g = restored
	sameEpoch(t, alice, carol)
	// Merging the same rival into the already advanced group is refused.
	if err := alice.g.Merge(p.Commit); !errors.Is(err, ErrStaleCommit) {
		t.Fatalf("stale merge: %v, want ErrStaleCommit", err)
	}
}
