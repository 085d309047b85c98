package suite

import (
	"crypto/hkdf"
	"crypto/hmac"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// labelPrefix is prepended to every MLS label (RFC 9420 §5.1.2, §5.1.3, §8).
const labelPrefix = "MLS 1.0 "

// Extract is HKDF-Extract(salt, ikm) (RFC 5869 §2.2), the KDF.Extract of
// RFC 9420 §8. It is HMAC keyed with the salt; an empty salt is the same
// HMAC key as Nh zero bytes.
func (s *Suite) Extract(salt, ikm []byte) []byte {
	return s.MAC(salt, ikm)
}

// Expand is HKDF-Expand(prk, info, length) (RFC 5869 §2.3). length must be
// between 0 and 255*Nh.
func (s *Suite) Expand(prk, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*s.HashSize() {
		return nil, fmt.Errorf("mls/suite: HKDF-Expand length %d out of range [0, %d]", length, 255*s.HashSize())
	}
	if length <= s.HashSize() {
		// One output block: T(1) = HMAC(prk, info || 0x01). Every MLS
		// derivation is at most Nh bytes, and computing the block directly
		// skips the generic HKDF machinery on the message hot path.
		m := hmac.New(s.newHash, prk)
		m.Write(info)
		m.Write([]byte{1})
		return m.Sum(make([]byte, 0, s.HashSize()))[:length], nil
	}
	return hkdf.Expand(s.newHash, prk, string(info), length)
}

// ExpandWithLabel is KDF.Expand(secret, KDFLabel, length) (RFC 9420 §8)
// where
//
//	struct {
//	    uint16 length;
//	    opaque label<V>;   // "MLS 1.0 " + label
//	    opaque context<V>;
//	} KDFLabel;
func (s *Suite) ExpandWithLabel(secret []byte, label string, context []byte, length int) ([]byte, error) {
	if length < 0 || length > 0xffff {
		return nil, fmt.Errorf("mls/suite: ExpandWithLabel length %d out of range", length)
	}
	w := codec.NewWriter(make([]byte, 0, 2+len(labelPrefix)+len(label)+len(context)+8))
	w.Uint16(uint16(length))
	w.String(labelPrefix + label)
	w.Opaque(context)
	info, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	return s.Expand(secret, info, length)
}

// DeriveSecret is ExpandWithLabel(secret, label, "", Nh) (RFC 9420 §8).
func (s *Suite) DeriveSecret(secret []byte, label string) ([]byte, error) {
	return s.ExpandWithLabel(secret, label, nil, s.HashSize())
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, generation, length)
// with the generation encoded as a uint32 (RFC 9420 §9).
func (s *Suite) DeriveTreeSecret(secret []byte, label string, generation uint32, length int) ([]byte, error) {
	g := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return s.ExpandWithLabel(secret, label, g[:], length)
}

// RefHash is Hash(RefHashInput) (RFC 9420 §5.2) with
//
//	struct {
//	    opaque label<V>;
//	    opaque value<V>;
//	} RefHashInput;
//
// The label is used as given. The input is hashed as it is encoded, without
// a copy. A label or value of 2^30 bytes or more has no MLS encoding (the
// codec rejects such a field on decode); RefHash returns nil for it rather
// than panic.
func (s *Suite) RefHash(label string, value []byte) []byte {
	lh, err1 := codec.AppendVarint(make([]byte, 0, 4), uint32(min(len(label), codec.MaxVarint+1)))
	vh, err2 := codec.AppendVarint(make([]byte, 0, 4), uint32(min(len(value), codec.MaxVarint+1)))
	if err1 != nil || err2 != nil {
		return nil
	}
	h := s.newHash()
	h.Write(lh)
	io.WriteString(h, label)
	h.Write(vh)
	h.Write(value)
	return h.Sum(nil)
}

// Labels of the hash-based identifiers (RFC 9420 §5.2).
const (
	KeyPackageRefLabel = "MLS 1.0 KeyPackage Reference"
	ProposalRefLabel   = "MLS 1.0 Proposal Reference"
)

// MakeKeyPackageRef is RefHash("MLS 1.0 KeyPackage Reference", keyPackage)
// where keyPackage is the encoded KeyPackage (RFC 9420 §5.2). The caller
// must use the suite named in the KeyPackage.
func (s *Suite) MakeKeyPackageRef(keyPackage []byte) []byte {
	return s.RefHash(KeyPackageRefLabel, keyPackage)
}

// MakeProposalRef is RefHash("MLS 1.0 Proposal Reference",
// authenticatedContent) where authenticatedContent is the encoded
// AuthenticatedContent carrying the Proposal (RFC 9420 §5.2).
func (s *Suite) MakeProposalRef(authenticatedContent []byte) []byte {
	return s.RefHash(ProposalRefLabel, authenticatedContent)
}
