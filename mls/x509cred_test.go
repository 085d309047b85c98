package mls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mlsnode/mlsnode/mls/wire"
)

// certAuthority is a throwaway CA for the validator's tests; keys come from
// fixed seeds so the tests do not depend on global randomness.
type certAuthority struct {
	cert *x509.Certificate
	key  crypto.Signer
}

var (
	testNotBefore = time.Unix(1_700_000_000, 0)
	testNotAfter  = testNotBefore.Add(365 * 24 * time.Hour)
	testNow       = uint64(testNotBefore.Add(24 * time.Hour).Unix())
)

func seededKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	s[0] = seed
	return ed25519.NewKeyFromSeed(s)
}

// issue makes a certificate for pub signed by parent.
func issue(t *testing.T, serial int64, subject string, isCA bool, pub crypto.PublicKey, parent *certAuthority, eku ...x509.ExtKeyUsage) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: subject},
		NotBefore:             testNotBefore,
		NotAfter:              testNotAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           eku,
	}
	der, err := x509.CreateCertificate(rand.NewChaCha8([32]byte{byte(serial), 1}), tmpl, parent.cert, pub, parent.key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newRootCA(t *testing.T, seed byte) *certAuthority {
	key := seededKey(seed)
	// Self-signed: the template is its own parent.
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(int64(seed)),
		Subject:               pkix.Name{CommonName: "root"},
		NotBefore:             testNotBefore,
		NotAfter:              testNotAfter,
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.NewChaCha8([32]byte{seed, 2}), tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &certAuthority{cert: cert, key: key}
}

func x509Credential(certs ...*x509.Certificate) *wire.Credential {
	c := &wire.Credential{CredentialType: wire.CredentialTypeX509}
	for _, cert := range certs {
		c.Certificates = append(c.Certificates, wire.Certificate{CertData: cert.Raw})
	}
	return c
}

type acceptBasic struct{}

func (acceptBasic) Validate(*wire.Credential, []byte) error { return nil }

func TestX509Validator(t *testing.T) {
	root := newRootCA(t, 1)
	interKey := seededKey(2)
	inter := &certAuthority{cert: issue(t, 10, "intermediate", true, interKey.Public(), root), key: interKey}
	leafKey := seededKey(3)
	leafPub := []byte(leafKey.Public().(ed25519.PublicKey))
	leaf := issue(t, 11, "alice", false, leafKey.Public(), inter)

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.NewChaCha8([32]byte{7}))
	if err != nil {
		t.Fatal(err)
	}
	ecLeaf := issue(t, 12, "bob", false, &ecKey.PublicKey, inter)
	ecdhPub, err := ecKey.PublicKey.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	ecPub := ecdhPub.Bytes() // uncompressed point, as MLS carries ECDSA keys (§5.1.1)

	clientOnly := issue(t, 13, "carol", false, &ecKey.PublicKey, inter, x509.ExtKeyUsageClientAuth)

	otherRoot := newRootCA(t, 9)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	v := &X509Validator{Roots: roots, Now: testNow}

	if err := v.Validate(x509Credential(leaf, inter.cert), leafPub); err != nil {
		t.Fatalf("valid Ed25519 chain refused: %v", err)
	}
	if err := v.Validate(x509Credential(ecLeaf, inter.cert), ecPub); err != nil {
		t.Fatalf("valid P-256 chain refused: %v", err)
	}

	foreign := x509.NewCertPool()
	foreign.AddCert(otherRoot.cert)
	garbage := &wire.Credential{CredentialType: wire.CredentialTypeX509, Certificates: []wire.Certificate{{CertData: []byte("not a certificate")}}}
	for _, tc := range []struct {
		name string
		v    *X509Validator
		cred *wire.Credential
		key  []byte
	}{
		{"signature key differs from the certificate", v, x509Credential(leaf, inter.cert), ecPub},
		{"intermediate missing", v, x509Credential(leaf), leafPub},
		{"untrusted root", &X509Validator{Roots: foreign, Now: testNow}, x509Credential(leaf, inter.cert), leafPub},
		{"expired", &X509Validator{Roots: roots, Now: uint64(testNotAfter.Add(time.Hour).Unix())}, x509Credential(leaf, inter.cert), leafPub},
		{"no time given", &X509Validator{Roots: roots}, x509Credential(leaf, inter.cert), leafPub},
		{"no roots", &X509Validator{Now: testNow}, x509Credential(leaf, inter.cert), leafPub},
		{"empty chain", v, x509Credential(), leafPub},
		{"garbage certificate", v, garbage, leafPub},
		{"basic credential without a basic validator", v, &wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("alice")}, leafPub},
		{"wrong key usage", &X509Validator{Roots: roots, Now: testNow, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}, x509Credential(clientOnly, inter.cert), ecPub},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.v.Validate(tc.cred, tc.key)
			if !errors.Is(err, ErrInvalidCredential) {
				t.Fatalf("got %v, want ErrInvalidCredential", err)
			}
		})
	}

	withBasic := &X509Validator{Roots: roots, Now: testNow, Basic: acceptBasic{}}
	if err := withBasic.Validate(&wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("alice")}, leafPub); err != nil {
		t.Fatalf("basic credential not passed to the basic validator: %v", err)
	}
}
