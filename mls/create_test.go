package mls

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
)

func createGroup(t *testing.T, id suite.ID, seed byte) *Group {
	t.Helper()
	cs, err := suite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{seed})
	m := newMember(t, cs, rng, "creator")
	g, err := CreateGroup(rng, cs, CreateConfig{KeyPackage: m.kp, SigningKey: m.key})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestCreateGroup(t *testing.T) {
	for _, id := range suite.All() {
		g := createGroup(t, id, 1)
		if g.Epoch() != 0 || g.Tree().MemberCount() != 1 || len(g.GroupID()) != g.Suite().HashSize() {
			t.Fatalf("%v: epoch %d, %d members, group id of %d bytes", id, g.Epoch(), g.Tree().MemberCount(), len(g.GroupID()))
		}
		if len(g.Context().ConfirmedTranscriptHash) != 0 {
			t.Fatalf("%v: epoch 0 must have an empty confirmed transcript hash", id)
		}
		// The interim transcript hash is Hash(MAC(confirmation_key, "")) as
		// an opaque<V> after the empty confirmed hash (§11, §8.2).
		tag := g.epoch.ConfirmationTag(g.Suite(), nil)
		w := codec.NewWriter(nil)
		w.Opaque(tag)
		in, _ := w.Bytes()
		if !bytes.Equal(g.InterimTranscriptHash(), g.Suite().Hash(in)) {
			t.Fatalf("%v: interim transcript hash", id)
		}
		if _, err := g.SealApplication(rand.NewChaCha8([32]byte{}), []byte("hello"), nil, 0); err != nil {
			t.Fatalf("%v: send: %v", id, err)
		}
		if _, err := g.Export("test", []byte("ctx"), 32); err != nil {
			t.Fatalf("%v: export: %v", id, err)
		}
	}
	// Same seed, same group; another seed, another group.
	a, b, c := createGroup(t, 1, 5), createGroup(t, 1, 5), createGroup(t, 1, 6)
	if !bytes.Equal(a.EpochAuthenticator(), b.EpochAuthenticator()) || !bytes.Equal(a.GroupID(), b.GroupID()) {
		t.Fatal("equal seeds gave different groups")
	}
	if bytes.Equal(a.EpochAuthenticator(), c.EpochAuthenticator()) {
		t.Fatal("different seeds gave the same epoch")
	}
}
