package mls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TestExternalJoinInjectsPSK: an external commit may carry PreSharedKey
// proposals (§12.2). A member holding the PSK reaches the joiner's epoch;
// one without it cannot process the commit.
func TestExternalJoinInjectsPSK(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'e', 'p'})
	id, secret := []byte("shared-psk"), bytes.Repeat([]byte{7}, 32)
	holds := mapPSKs{hex.EncodeToString(id): secret}
	alice, carol, bob := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "carol"), newMember(t, cs, rng, "bob")
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key, PSKs: holds}); err != nil {
		t.Fatal(err)
	}
	commitAndDeliver(t, rng, cs, alice, nil, []*member{carol}, CommitOptions{Proposals: []*wire.Proposal{addProposal(carol)}})
	gi, err := alice.g.GroupInfo()
	if err != nil {
		t.Fatal(err)
	}
	psk := wire.PreSharedKeyID{PSKType: wire.PSKTypeExternal, PSKID: id, PSKNonce: bytes.Repeat([]byte{1}, cs.HashSize())}
	bobG, commit, err := JoinExternal(rng, cs, ExternalJoinConfig{GroupInfo: gi, KeyPackage: bob.kp, SigningKey: bob.key,
		PSKs: holds, InjectPSKs: []wire.PreSharedKeyID{psk}})
	if err != nil {
		t.Fatal(err)
	}
	msg := wireTrip(t, commit)
	if _, err := carol.g.ProcessHandshake(msg); !errors.Is(err, ErrUnknownPSK) {
		t.Fatalf("member without the PSK: %v, want ErrUnknownPSK", err)
	}
	p, err := alice.g.ProcessHandshake(msg)
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.g.Merge(p.Commit); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(alice.g.EpochAuthenticator(), bobG.EpochAuthenticator()) {
		t.Fatal("member and external joiner disagree after a PSK-injecting external commit")
	}
}
