package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TestResumeWithOptions: a branch whose first commit forces a path gives
// the creator a leaf key other than its KeyPackage's, and one with an
// external tree sends a Welcome without it, which joins only with the
// tree given out of band.
func TestResumeWithOptions(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'r', 'o'})
	alice, bob := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob")
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
		t.Fatal(err)
	}
	commitAndDeliver(t, rng, cs, alice, nil, []*member{bob}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}})

	for _, opts := range []ResumeOptions{{}, {ForcePath: true}, {ExternalTree: true}, {ForcePath: true, ExternalTree: true}} {
		aliceKP, bobKP := keyPackageFor(t, cs, rng, alice), keyPackageFor(t, cs, rng, bob)
		sub, welcome, err := alice.g.ResumeWith(rng, wire.ResumptionPSKUsageBranch, CreateConfig{KeyPackage: aliceKP, SigningKey: alice.key},
			[]*wire.KeyPackage{bobKP.KeyPackage}, opts)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		sameKey := bytes.Equal(sub.Tree().Leaf(sub.OwnLeaf()).EncryptionKey, aliceKP.KeyPackage.LeafNode.EncryptionKey)
		if sameKey == opts.ForcePath {
			t.Fatalf("%+v: creator's leaf key unchanged = %v", opts, sameKey)
		}
		join := JoinConfig{KeyPackage: bobKP, SigningKey: bob.key, PSKs: bob.g.ResumptionPSKs()}
		if opts.ExternalTree {
			if _, err := JoinFromWelcome(cs, welcome, join); !errors.Is(err, ErrInvalidWelcome) {
				t.Fatalf("%+v: join without the tree: %v, want ErrInvalidWelcome", opts, err)
			}
			join.RatchetTree = sub.Tree().ToWire()
		}
		bobSub, err := JoinFromWelcome(cs, welcome, join)
		if err != nil {
			t.Fatalf("%+v: %v", opts, err)
		}
		if err := bobSub.CheckResumption(bob.g, wire.ResumptionPSKUsageBranch); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(sub.EpochAuthenticator(), bobSub.EpochAuthenticator()) {
			t.Fatalf("%+v: branch members disagree", opts)
		}
	}
}

// keyPackageFor makes a fresh KeyPackage for m's credential and key.
func keyPackageFor(t *testing.T, cs *suite.Suite, rng *rand.ChaCha8, m *member) *KeyPackageBundle {
	t.Helper()
	kp, err := NewKeyPackage(rng, cs, m.kp.KeyPackage.LeafNode.Credential, m.key, KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	return kp
}
