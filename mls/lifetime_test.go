package mls

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TestCreatorLifetimePolicy: a group's creator checks the lifetimes of
// added KeyPackages at the time CreateConfig.Now gives, and SetNow moves
// that time. Before CreateConfig had a policy, a creator checked against
// time 0 and refused every KeyPackage with a real lifetime (found when
// interop clients made KeyPackages valid from "now").
func TestCreatorLifetimePolicy(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'l', 't'})
	withLifetime := func(name string) *KeyPackageBundle {
		priv, _, _ := cs.GenerateSignatureKey(rng)
		key, _ := cs.NewSigningKey(priv)
		kp, err := NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)}, key,
			KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 1_000, NotAfter: 2_000}})
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	alice := newMember(t, cs, rng, "alice")
	g, err := CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key, Now: 1_500})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Commit(rng, CommitOptions{Proposals: []*wire.Proposal{NewAdd(withLifetime("bob").KeyPackage)}})
	if err != nil {
		t.Fatalf("add of a KeyPackage valid now: %v", err)
	}
	if err := g.Merge(res.Staged); err != nil {
		t.Fatal(err)
	}
	g.SetNow(2_500)
	_, err = g.Commit(rng, CommitOptions{Proposals: []*wire.Proposal{NewAdd(withLifetime("carol").KeyPackage)}})
	if !errors.Is(err, ErrInvalidKeyPackage) {
		t.Fatalf("add of an expired KeyPackage: %v, want ErrInvalidKeyPackage", err)
	}
}
