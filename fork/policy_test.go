package fork

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// twoMembers builds a group of a and b with the engine alone (this
// package's tests cannot import forktest, which imports fork).
func twoMembers(t *testing.T) (*mls.Group, *rand.ChaCha8) {
	t.Helper()
	cs, _ := suite.Lookup(suite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	rng := rand.NewChaCha8([32]byte{1})
	member := func(name string) (*suite.SigningKey, *mls.KeyPackageBundle) {
		priv, _, err := cs.GenerateSignatureKey(rng)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := cs.NewSigningKey(priv)
		kp, err := mls.NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)},
			key, mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotAfter: 1 << 40}})
		if err != nil {
			t.Fatal(err)
		}
		return key, kp
	}
	akey, akp := member("a")
	_, bkp := member("b")
	g, err := mls.CreateGroup(rng, cs, mls.CreateConfig{KeyPackage: akp, SigningKey: akey})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Commit(rng, mls.CommitOptions{Proposals: []*wire.Proposal{mls.NewAdd(bkp.KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Merge(res.Staged); err != nil {
		t.Fatal(err)
	}
	return g, rng
}

// TestRemovalPolicy: a commit that removes a member must record it in the
// removed set; with the commit hook it does and passes.
func TestRemovalPolicy(t *testing.T) {
	g, rng := twoMembers(t)
	policy := removalPolicy{inner: consensus.AllowAll{}}
	remove := []*wire.Proposal{mls.NewRemove(1)}

	bare, err := g.Commit(rng, mls.CommitOptions{Proposals: remove})
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.Check(&consensus.ProposedCommit{Parent: g, Staged: bare.Staged}); !errors.Is(err, ErrRemovedMember) {
		t.Fatalf("unrecorded removal: %v, want ErrRemovedMember", err)
	}

	hooked, err := g.Commit(rng, mls.CommitOptions{Proposals: recordRemovalsHook(g, remove, nil)})
	if err != nil {
		t.Fatal(err)
	}
	if err := policy.Check(&consensus.ProposedCommit{Parent: g, Staged: hooked.Staged}); err != nil {
		t.Fatalf("recorded removal refused: %v", err)
	}
	set, err := RemovedSetOf(hooked.Staged.GroupContext().Extensions)
	if err != nil || len(set.IDs) != 1 {
		t.Fatalf("removed set after the commit: %v (%v)", set.IDs, err)
	}
}
