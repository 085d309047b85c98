package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"regexp"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func newIdentity(t testing.TB) (crypto.PrivKey, peer.ID, []byte) {
	t.Helper()
	priv, pub, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := pub.Raw()
	return priv, id, raw
}

func TestCredentialBinding(t *testing.T) {
	priv, id, pub := newIdentity(t)
	cs, err := checkSuite(DefaultSuite)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := signingKeyOf(cs, priv)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sk.PublicKey(), pub) {
		t.Fatal("the MLS signature key is not the libp2p identity key")
	}
	cred := credentialOf(id)
	got, err := PeerOfCredential(&cred, pub)
	if err != nil || got != id {
		t.Fatalf("own credential: %v %v", got, err)
	}

	_, other, otherPub := newIdentity(t)
	secpPriv, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	secpID, _ := peer.IDFromPrivateKey(secpPriv)
	cases := []struct {
		name string
		cred wire.Credential
		key  []byte
	}{
		{"someone else's key", cred, otherPub},
		{"claims another peer", credentialOf(other), pub},
		{"not a peer id", wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("alice")}, pub},
		{"empty identity", wire.Credential{CredentialType: wire.CredentialTypeBasic}, pub},
		{"x509", wire.Credential{CredentialType: wire.CredentialTypeX509}, pub},
		{"secp256k1 peer", credentialOf(secpID), pub},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := PeerOfCredential(&c.cred, c.key); !errors.Is(err, ErrBadCredential) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if err := (CredentialValidator{}).Validate(&c.cred, c.key); !errors.Is(err, ErrBadCredential) {
				t.Fatalf("validator: %v", err)
			}
		})
	}
	if _, err := PeerOfCredential(nil, pub); !errors.Is(err, ErrBadCredential) {
		t.Fatal("nil credential accepted")
	}
}

func TestUnsupportedSuites(t *testing.T) {
	for id := 1; id <= 7; id++ {
		_, err := checkSuite(suite.ID(id))
		want := id == 1 || id == 3
		if (err == nil) != want {
			t.Errorf("suite %d: err %v", id, err)
		}
		if err != nil && !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("suite %d: %v is not ErrUnsupportedSuite", id, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	_, _, a := newIdentity(t)
	_, _, b := newIdentity(t)
	fa := Fingerprint(a)
	if !regexp.MustCompile(`^[0-9a-f]{4}( [0-9a-f]{4}){4}$`).MatchString(fa) {
		t.Fatalf("fingerprint %q", fa)
	}
	if fa != Fingerprint(a) || fa == Fingerprint(b) {
		t.Fatal("fingerprint is not a function of the key")
	}
}

func FuzzPeerOfCredential(f *testing.F) {
	_, id, pub := newIdentity(f)
	f.Add([]byte(id), pub)
	f.Add([]byte{0, 36, 8, 1, 18, 32}, pub)
	f.Add([]byte{}, []byte{})
	f.Fuzz(func(t *testing.T, identity, key []byte) {
		cred := wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: identity}
		p, err := PeerOfCredential(&cred, key)
		if err != nil {
			if !errors.Is(err, ErrBadCredential) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		// Accepted: the peer id must embed exactly this key.
		pk, err := p.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := pk.Raw()
		if !bytes.Equal(raw, key) {
			t.Fatal("accepted a key the peer id does not embed")
		}
	})
}
