package suite

import (
	"crypto/hkdf"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// labelPrefix is prepended to every MLS label (§5.1.2, §5.1.3, §8).
const labelPrefix = "MLS 1.0 "

// Extract is HKDF-Extract(salt, ikm).
func (s *Suite) Extract(salt, ikm []byte) []byte {
	prk, err := hkdf.Extract(s.newHash, ikm, salt)
	if err != nil {
		// hkdf.Extract fails only in FIPS-only mode for short keys, which
		// this program does not run in.
		panic("mls/suite: HKDF-Extract: " + err.Error())
	}
	return prk
}

// Expand is HKDF-Expand(prk, info, length).
func (s *Suite) Expand(prk, info []byte, length int) ([]byte, error) {
	if length < 0 || length > 255*s.HashSize() {
		return nil, fmt.Errorf("mls/suite: HKDF-Expand length %d out of range", length)
	}
	return hkdf.Expand(s.newHash, prk, string(info), length)
}

// ExpandWithLabel is KDF.Expand(secret, KDFLabel, length) with KDFLabel =
// {uint16 length; opaque label<V> = "MLS 1.0 "+label; opaque context<V>} (§8).
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

// DeriveSecret is ExpandWithLabel(secret, label, "", KDF.Nh) (§8).
func (s *Suite) DeriveSecret(secret []byte, label string) ([]byte, error) {
	return s.ExpandWithLabel(secret, label, nil, s.HashSize())
}

// DeriveTreeSecret is ExpandWithLabel(secret, label, generation, length)
// with the generation as a big-endian uint32 (§9.1).
func (s *Suite) DeriveTreeSecret(secret []byte, label string, generation uint32, length int) ([]byte, error) {
	g := [4]byte{byte(generation >> 24), byte(generation >> 16), byte(generation >> 8), byte(generation)}
	return s.ExpandWithLabel(secret, label, g[:], length)
}

// RefHash is Hash(RefHashInput{opaque label<V>; opaque value<V>}) (§5.2).
// The label is used as given.
func (s *Suite) RefHash(label string, value []byte) []byte {
	w := codec.NewWriter(make([]byte, 0, len(label)+len(value)+8))
	w.String(label)
	w.Opaque(value)
	in, err := w.Bytes()
	if err != nil {
		// Only values of 2^30 bytes or more fail to encode; no MLS object
		// that reaches here can be that large after decoding.
		panic("mls/suite: RefHash input too large")
	}
	return s.Hash(in)
}

// MakeKeyPackageRef is RefHash("MLS 1.0 KeyPackage Reference", encoded KeyPackage).
func (s *Suite) MakeKeyPackageRef(keyPackage []byte) []byte {
	return s.RefHash("MLS 1.0 KeyPackage Reference", keyPackage)
}

// MakeProposalRef is RefHash("MLS 1.0 Proposal Reference", encoded
// AuthenticatedContent).
func (s *Suite) MakeProposalRef(authenticatedContent []byte) []byte {
	return s.RefHash("MLS 1.0 Proposal Reference", authenticatedContent)
}
