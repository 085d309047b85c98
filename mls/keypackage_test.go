package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

const now = 1_800_000_000

func newBundle(t *testing.T, id suite.ID, seed byte, opts KeyPackageOptions) (*suite.Suite, *KeyPackageBundle) {
	t.Helper()
	cs, err := suite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.NewChaCha8([32]byte{seed})
	priv, _, err := cs.GenerateSignatureKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	key, err := cs.NewSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Lifetime == (wire.Lifetime{}) {
		opts.Lifetime = wire.Lifetime{NotBefore: now - 3600, NotAfter: now + 86400}
	}
	b, err := NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("alice")}, key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return cs, b
}

func TestKeyPackageRoundTripAllSuites(t *testing.T) {
	for _, id := range suite.All() {
		cs, b := newBundle(t, id, 1, KeyPackageOptions{
			LeafExtensions: wire.Extensions{{ExtensionType: wire.ExtensionTypeApplicationID, ExtensionData: []byte("dev")}},
			Extensions:     wire.Extensions{{ExtensionType: 0x0a0a, ExtensionData: []byte("grease")}},
			LastResort:     true,
		})
		enc, err := codec.Marshal(wire.NewMLSMessage(b.KeyPackage))
		if err != nil {
			t.Fatal(err)
		}
		msg, err := wire.ParseMLSMessage(enc)
		if err != nil {
			t.Fatalf("%v: %v", id, err)
		}
		if err := ValidateKeyPackage(msg.KeyPackage, KeyPackageCheck{Suite: cs, Now: now, MaxLifetime: 7 * 86400}); err != nil {
			t.Fatalf("%v: fresh KeyPackage does not validate: %v", id, err)
		}
		if !IsLastResort(msg.KeyPackage) {
			t.Fatalf("%v: last_resort extension lost", id)
		}
		// The private keys belong to the published keys.
		if pub, err := cs.PublicKey(b.InitPrivate); err != nil || !bytes.Equal(pub, b.KeyPackage.InitKey) {
			t.Fatalf("%v: init key pair mismatch", id)
		}
		if pub, err := cs.PublicKey(b.EncryptionPrivate); err != nil || !bytes.Equal(pub, b.KeyPackage.LeafNode.EncryptionKey) {
			t.Fatalf("%v: leaf key pair mismatch", id)
		}
	}
}

func TestKeyPackageDeterministic(t *testing.T) {
	_, a := newBundle(t, 1, 9, KeyPackageOptions{})
	_, b := newBundle(t, 1, 9, KeyPackageOptions{})
	ea, _ := codec.Marshal(a.KeyPackage)
	eb, _ := codec.Marshal(b.KeyPackage)
	if !bytes.Equal(ea, eb) {
		t.Fatal("same seed gave different KeyPackages")
	}
}

type rejectAll struct{}

func (rejectAll) Validate(*wire.Credential, []byte) error { return errors.New("unknown identity") }

func TestKeyPackageRejections(t *testing.T) {
	cs, good := newBundle(t, 1, 2, KeyPackageOptions{})
	other, _ := suite.Lookup(3)
	check := KeyPackageCheck{Suite: cs, Now: now}
	mutate := func(f func(kp *wire.KeyPackage)) *wire.KeyPackage {
		enc, _ := codec.Marshal(good.KeyPackage)
		var kp wire.KeyPackage
		if err := codec.Unmarshal(enc, &kp); err != nil {
			t.Fatal(err)
		}
		f(&kp)
		return &kp
	}
	for _, tc := range []struct {
		name  string
		kp    *wire.KeyPackage
		check KeyPackageCheck
	}{
		{"expired", good.KeyPackage, KeyPackageCheck{Suite: cs, Now: now + 2*86400}},
		{"not yet valid", good.KeyPackage, KeyPackageCheck{Suite: cs, Now: now - 7200}},
		{"lifetime too long", good.KeyPackage, KeyPackageCheck{Suite: cs, Now: now, MaxLifetime: 3600}},
		{"other suite", good.KeyPackage, KeyPackageCheck{Suite: other, Now: now}},
		{"tampered signature", mutate(func(kp *wire.KeyPackage) { kp.Signature[3] ^= 1 }), check},
		{"tampered leaf", mutate(func(kp *wire.KeyPackage) { kp.LeafNode.Credential.Identity = []byte("mallory") }), check},
		{"init key equals leaf key", mutate(func(kp *wire.KeyPackage) { kp.InitKey = kp.LeafNode.EncryptionKey }), check},
		{"short init key", mutate(func(kp *wire.KeyPackage) { kp.InitKey = kp.InitKey[:5] }), check},
		{"unlisted extension", mutate(func(kp *wire.KeyPackage) {
			kp.Extensions = append(kp.Extensions, wire.Extension{ExtensionType: 0x7777})
		}), check},
		{"update source", mutate(func(kp *wire.KeyPackage) {
			kp.LeafNode.LeafNodeSource = wire.LeafNodeSourceUpdate
			kp.LeafNode.Lifetime = nil
		}), check},
		{"credential rejected", good.KeyPackage, KeyPackageCheck{Suite: cs, Now: now, Credentials: rejectAll{}}},
	} {
		if err := ValidateKeyPackage(tc.kp, tc.check); !errors.Is(err, ErrInvalidKeyPackage) {
			t.Errorf("%s: err = %v, want ErrInvalidKeyPackage", tc.name, err)
		}
	}
	if _, err := NewKeyPackage(rand.NewChaCha8([32]byte{}), cs, wire.Credential{CredentialType: wire.CredentialTypeBasic}, nil, KeyPackageOptions{}); err == nil {
		t.Error("NewKeyPackage accepted an empty lifetime")
	}
}
