package overlay

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// mlsCheck is a KeyPackageCheck as the node would write it: the MLS
// checks of §10.1, and the credential must name the owner's peer id.
func mlsCheck(cs *suite.Suite) KeyPackageCheck {
	return func(owner peer.ID, kp *wire.KeyPackage, _ []byte) error {
		if err := mls.ValidateKeyPackage(kp, mls.KeyPackageCheck{Suite: cs, Now: 1000}); err != nil {
			return err
		}
		if string(kp.LeafNode.Credential.Identity) != owner.String() {
			return errors.New("credential does not name the owner")
		}
		return nil
	}
}

// The whole offline invite with real MLS: Bob places a KeyPackage and goes
// offline; Alice fetches it from a peer, adds Bob, and sends the Welcome,
// which a peer keeps; Bob comes back with the identity from his store,
// receives the Welcome on connecting, joins, and reads Alice's first
// message over the group's topic.
func TestOfflineInviteEndToEnd(t *testing.T) {
	cs, err := suite.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	check := mlsCheck(cs)
	rng := testRand()
	member := func(id peer.ID) (*mls.KeyPackageBundle, *suite.SigningKey) {
		priv, _, err := cs.GenerateSignatureKey(rng)
		if err != nil {
			t.Fatal(err)
		}
		key, err := cs.NewSigningKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		b, err := mls.NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(id.String())}, key,
			mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
		if err != nil {
			t.Fatal(err)
		}
		return b, key
	}

	// Bob's identity as the node keeps it: bytes in its store.
	bobKey, _ := GenerateIdentity(testRand())
	stored, err := MarshalIdentity(bobKey)
	if err != nil {
		t.Fatal(err)
	}
	bobID, _ := IdentityPeerID(bobKey)
	bobBundle, bobSig := member(bobID)
	bobKP, _ := codec.Marshal(wire.NewMLSMessage(bobBundle.KeyPackage))

	holder := newNode(t, "tcp", Config{KeyPackageCheck: check})
	bob := newNode(t, "tcp", Config{Identity: bobKey, KeyPackageCheck: check})
	connect(t, bob, holder)
	if res, err := bob.PublishKeyPackages(context.Background(), [][]byte{bobKP}); err != nil || res.Placed[holder.ID()] != 1 {
		t.Fatalf("publish: %+v, %v", res, err)
	}
	bob.Close()

	alice := newNode(t, "tcp", Config{KeyPackageCheck: check})
	connect(t, alice, holder)
	raw, err := alice.FetchKeyPackage(context.Background(), bobID)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := wire.ParseMLSMessage(raw)
	aliceBundle, aliceSig := member(alice.ID())
	ga, err := mls.CreateGroup(rng, cs, mls.CreateConfig{KeyPackage: aliceBundle, SigningKey: aliceSig})
	if err != nil {
		t.Fatal(err)
	}
	res, err := ga.Commit(rng, mls.CommitOptions{Proposals: []*wire.Proposal{mls.NewAdd(m.KeyPackage)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := ga.Merge(res.Staged); err != nil {
		t.Fatal(err)
	}
	welcome, _ := codec.Marshal(wire.NewMLSMessage(res.Welcome))
	sent, err := alice.SendWelcome(context.Background(), bobID, welcome)
	if err != nil || sent.Delivered || len(sent.DepositedAt) != 1 {
		t.Fatalf("send Welcome: %+v, %v", sent, err)
	}

	// Bob comes back.
	restored, err := UnmarshalIdentity(stored)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var gb *mls.Group
	joined := make(chan struct{})
	bob2 := newNode(t, "tcp", Config{Identity: restored, KeyPackageCheck: check, WelcomeHandler: func(_ peer.ID, w []byte) error {
		wm, err := wire.ParseMLSMessage(w)
		if err != nil {
			return err
		}
		g, err := mls.JoinFromWelcome(cs, wm.Welcome, mls.JoinConfig{KeyPackage: bobBundle, SigningKey: bobSig})
		if err != nil {
			return err
		}
		mu.Lock()
		gb = g
		mu.Unlock()
		close(joined)
		return nil
	}})
	if bob2.ID() != bobID {
		t.Fatal("restored identity has another peer id")
	}
	connect(t, bob2, holder)
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("Bob never got his Welcome")
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(gb.EpochAuthenticator(), ga.EpochAuthenticator()) || gb.Epoch() != ga.Epoch() {
		t.Fatal("Alice and Bob are in different epochs")
	}

	// First message over the group's topic, relayed by the holder.
	group := ga.GroupID()
	join(t, alice, group)
	join(t, holder, group)
	ib := join(t, bob2, group)
	waitMesh(t, holder, group, 2)
	sealed, err := ga.SealApplication(rng, []byte("welcome, Bob"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := codec.Marshal(sealed)
	if err := alice.Publish(context.Background(), group, payload); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "Bob receives Alice's message", func() bool { return ib.count() == 1 })
	got, err := wire.ParseMLSMessage(ib.msgs[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	rcv, err := gb.OpenMessage(got)
	if err != nil {
		t.Fatal(err)
	}
	if string(rcv.ApplicationData) != "welcome, Bob" {
		t.Fatalf("Bob read %q", rcv.ApplicationData)
	}
}
