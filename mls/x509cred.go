package mls

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"time"

	"github.com/mlsnode/mlsnode/mls/wire"
)

// ErrInvalidCredential is wrapped by every refusal of a CredentialValidator
// in this package; the message says which rule failed.
var ErrInvalidCredential = errors.New("mls: invalid credential")

// X509Validator is a CredentialValidator for X.509 credentials (RFC 9420
// §5.3, §5.3.1): the chain (end-entity certificate first, as §5.3 orders
// it) must verify to one of Roots at the time Now, and the end-entity
// certificate's subject public key must be exactly the leaf's signature
// key, which is what binds the credential to the key that signs.
//
// The engine reads no clock, so Now is required: a zero Now is refused
// rather than letting crypto/x509 fall back to the wall clock.
//
// crypto/x509 verifies RSA, ECDSA and Ed25519 signatures on certificates;
// a chain signed with Ed448 (suites 4 and 6 use Ed448 leaf keys) does not
// verify with it. The key comparison itself works for every suite, since
// it compares the raw subjectPublicKey bits, which for every MLS
// signature scheme are the same bytes MLS carries (raw EdDSA keys, or
// uncompressed EC points).
type X509Validator struct {
	// Roots are the trust anchors.
	Roots *x509.CertPool
	// Now is the validation time in seconds since the Unix epoch.
	Now uint64
	// KeyUsages the end-entity certificate must allow; nil allows any.
	KeyUsages []x509.ExtKeyUsage
	// Basic, if set, validates basic credentials; nil refuses them.
	Basic CredentialValidator
}

// Validate implements CredentialValidator.
func (v *X509Validator) Validate(cred *wire.Credential, signatureKey []byte) error {
	switch cred.CredentialType {
	case wire.CredentialTypeBasic:
		if v.Basic == nil {
			return fmt.Errorf("%w: basic credentials are not accepted", ErrInvalidCredential)
		}
		return v.Basic.Validate(cred, signatureKey)
	case wire.CredentialTypeX509:
	default:
		return fmt.Errorf("%w: credential type %v", ErrInvalidCredential, cred.CredentialType)
	}
	if v.Now == 0 {
		return fmt.Errorf("%w: no validation time given", ErrInvalidCredential)
	}
	if v.Roots == nil {
		return fmt.Errorf("%w: no trust anchors configured", ErrInvalidCredential)
	}
	if len(cred.Certificates) == 0 {
		return fmt.Errorf("%w: empty certificate chain", ErrInvalidCredential)
	}
	chain := make([]*x509.Certificate, len(cred.Certificates))
	for i := range cred.Certificates {
		c, err := x509.ParseCertificate(cred.Certificates[i].CertData)
		if err != nil {
			return fmt.Errorf("%w: certificate %d: %v", ErrInvalidCredential, i, err)
		}
		chain[i] = c
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	usages := v.KeyUsages
	if usages == nil {
		usages = []x509.ExtKeyUsage{x509.ExtKeyUsageAny}
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         v.Roots,
		Intermediates: intermediates,
		CurrentTime:   time.Unix(int64(v.Now), 0),
		KeyUsages:     usages,
	}); err != nil {
		return fmt.Errorf("%w: chain: %v", ErrInvalidCredential, err)
	}
	key, err := subjectPublicKeyBits(chain[0].RawSubjectPublicKeyInfo)
	if err != nil {
		return fmt.Errorf("%w: end-entity key: %v", ErrInvalidCredential, err)
	}
	if !bytes.Equal(key, signatureKey) {
		return fmt.Errorf("%w: the certificate's key is not the leaf's signature key", ErrInvalidCredential)
	}
	return nil
}

// subjectPublicKeyBits returns the subjectPublicKey BIT STRING of a
// SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), which for Ed25519 and Ed448
// (RFC 8410) is the raw key and for ECDSA the uncompressed point: the
// forms MLS uses for signature keys.
func subjectPublicKeyBits(spki []byte) ([]byte, error) {
	var info struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	rest, err := asn1.Unmarshal(spki, &info)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after SubjectPublicKeyInfo")
	}
	if info.PublicKey.BitLength%8 != 0 {
		return nil, errors.New("public key is not a whole number of bytes")
	}
	return info.PublicKey.Bytes, nil
}
