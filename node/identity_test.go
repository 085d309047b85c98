package node

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"regexp"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/mls/codec"
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
	for _, sid := range suite.All() {
		t.Run(fmt.Sprint("suite ", sid), func(t *testing.T) { testCredentialBinding(t, sid) })
	}
}

func testCredentialBinding(t *testing.T, sid suite.ID) {
	priv, id, idPub := newIdentity(t)
	cs, err := checkSuite(sid)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := signingKeyOf(cs, priv)
	if err != nil {
		t.Fatal(err)
	}
	pub := sk.PublicKey()
	if signsWithIdentityKey(cs) != bytes.Equal(pub, idPub) {
		t.Fatalf("MLS key equals identity key: %v, want %v", bytes.Equal(pub, idPub), signsWithIdentityKey(cs))
	}
	again, err := signingKeyOf(cs, priv)
	if err != nil || !bytes.Equal(again.PublicKey(), pub) {
		t.Fatal("the MLS signature key is not a function of the identity")
	}
	cred, err := credentialFor(cs, priv, id, sk)
	if err != nil {
		t.Fatal(err)
	}
	got, err := PeerOfCredential(&cred, pub)
	if err != nil || got != id {
		t.Fatalf("own credential: %v %v", got, err)
	}
	if err := (CredentialValidator{}).Validate(&cred, pub); err != nil {
		t.Fatalf("validator refuses own credential: %v", err)
	}

	otherPriv, other, _ := newIdentity(t)
	otherSK, err := signingKeyOf(cs, otherPriv)
	if err != nil {
		t.Fatal(err)
	}
	otherCred, err := credentialFor(cs, otherPriv, other, otherSK)
	if err != nil {
		t.Fatal(err)
	}
	// A binding of someone else's key, under our peer id: signed by the
	// other identity, so it does not verify under ours.
	stolen, err := credentialFor(cs, otherPriv, id, sk)
	if err != nil {
		t.Fatal(err)
	}
	flipped := cred
	flipped.Identity = append([]byte(nil), cred.Identity...)
	flipped.Identity[len(flipped.Identity)-1] ^= 1
	trailing := cred
	trailing.Identity = append(append([]byte(nil), cred.Identity...), 0)
	secpPriv, _, _ := crypto.GenerateSecp256k1Key(rand.Reader)
	secpID, _ := peer.IDFromPrivateKey(secpPriv)
	cases := []struct {
		name string
		cred wire.Credential
		key  []byte
	}{
		{"someone else's key", cred, otherSK.PublicKey()},
		{"claims another peer", otherCred, pub},
		{"not a peer id", wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("alice")}, pub},
		{"empty identity", wire.Credential{CredentialType: wire.CredentialTypeBasic}, pub},
		{"x509", wire.Credential{CredentialType: wire.CredentialTypeX509}, pub},
		{"secp256k1 peer", credentialOf(secpID), pub},
		{"bound form, no body", wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(bindingPrefix)}, pub},
	}
	if !signsWithIdentityKey(cs) {
		cases = append(cases,
			struct {
				name string
				cred wire.Credential
				key  []byte
			}{"damaged binding", flipped, pub},
			struct {
				name string
				cred wire.Credential
				key  []byte
			}{"binding signed by another identity", stolen, pub},
			struct {
				name string
				cred wire.Credential
				key  []byte
			}{"trailing bytes", trailing, pub},
			struct {
				name string
				cred wire.Credential
				key  []byte
			}{"plain form with a derived key", credentialOf(id), pub},
		)
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

func TestSuites(t *testing.T) {
	for id := 0; id <= 9; id++ {
		_, err := checkSuite(suite.ID(id))
		want := id >= 1 && id <= 7
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
	priv, id, pub := newIdentity(f)
	f.Add([]byte(id), pub)
	f.Add([]byte{0, 36, 8, 1, 18, 32}, pub)
	f.Add([]byte{}, []byte{})
	cs, _ := checkSuite(2)
	sk, err := signingKeyOf(cs, priv)
	if err != nil {
		f.Fatal(err)
	}
	bound, err := credentialFor(cs, priv, id, sk)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(bound.Identity, sk.PublicKey())
	f.Add(bound.Identity, pub)
	f.Fuzz(func(t *testing.T, identity, key []byte) {
		cred := wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: identity}
		p, err := PeerOfCredential(&cred, key)
		if err != nil {
			if !errors.Is(err, ErrBadCredential) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		pk, err := p.ExtractPublicKey()
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(identity, []byte(bindingPrefix)) {
			// Accepted in the bound form: the peer's key signed this
			// signature key.
			var idBytes, binding []byte
			r := codec.NewReader(identity[len(bindingPrefix):])
			r.Opaque("peer_id", &idBytes)
			r.Opaque("binding", &binding)
			if r.Finish("bound") != nil || string(idBytes) != string(p) {
				t.Fatal("accepted a bound identity that does not parse to its peer")
			}
			if ok, err := pk.Verify(bindingMessage(key), binding); err != nil || !ok {
				t.Fatal("accepted a binding the peer did not sign")
			}
			return
		}
		// Accepted in the plain form: the peer id embeds exactly this key.
		raw, _ := pk.Raw()
		if !bytes.Equal(raw, key) {
			t.Fatal("accepted a key the peer id does not embed")
		}
	})
}
