package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TestWelcomeExternalTree: with CommitOptions.ExternalTree the Welcome's
// GroupInfo has no ratchet_tree extension (§12.4.3.3), so a joiner
// without the tree is refused and one given StagedCommit.Tree joins the
// same epoch as the committer.
func TestWelcomeExternalTree(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'x', 't'})
	alice, bob := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob")
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
		t.Fatal(err)
	}
	res, err := alice.g.Commit(rng, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}, ExternalTree: true})
	if err != nil {
		t.Fatal(err)
	}
	opened, err := OpenWelcome(cs, res.Welcome, bob.kp.KeyPackage, bob.kp.InitPrivate, nil)
	if err != nil {
		t.Fatal(err)
	}
	if opened.GroupInfo.Extensions.Find(wire.ExtensionTypeRatchetTree) != nil {
		t.Fatal("Welcome carries the ratchet tree although ExternalTree was set")
	}
	if _, err := JoinFromWelcome(cs, res.Welcome, JoinConfig{KeyPackage: bob.kp, SigningKey: bob.key}); !errors.Is(err, ErrInvalidWelcome) {
		t.Fatalf("join without any tree: %v, want ErrInvalidWelcome", err)
	}
	if err := alice.g.Merge(res.Staged); err != nil {
		t.Fatal(err)
	}
	bob.g, err = JoinFromWelcome(cs, res.Welcome, JoinConfig{KeyPackage: bob.kp, SigningKey: bob.key, RatchetTree: res.Staged.Tree().ToWire()})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(alice.g.EpochAuthenticator(), bob.g.EpochAuthenticator()) {
		t.Fatal("joiner with the out-of-band tree disagrees with the committer")
	}
}
