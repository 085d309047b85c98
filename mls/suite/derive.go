package suite

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/cloudflare/circl/hpke"
)

// dhkem holds what RFC 9180's DHKEM needs to derive key pairs (§4.1,
// §7.1.3). It is written here rather than taken from circl because circl's
// DeriveKeyPair insists on ikm of exactly Nsk bytes and panics otherwise,
// while MLS derives node keys from KDF.Nh-byte secrets (64 bytes for X448
// and P-521, whose Nsk are 56 and 66).
type dhkem struct {
	id      uint16
	newHash func() hash.Hash
	nsk     int
	npk     int
	curve   ecdh.Curve // nil for X448
	bitmask byte       // NIST curves: mask for the first candidate byte
}

var dhkems = map[hpke.KEM]*dhkem{
	hpke.KEM_P256_HKDF_SHA256:   {id: 0x0010, newHash: sha256.New, nsk: 32, npk: 65, curve: ecdh.P256(), bitmask: 0xff},
	hpke.KEM_P384_HKDF_SHA384:   {id: 0x0011, newHash: sha512.New384, nsk: 48, npk: 97, curve: ecdh.P384(), bitmask: 0xff},
	hpke.KEM_P521_HKDF_SHA512:   {id: 0x0012, newHash: sha512.New, nsk: 66, npk: 133, curve: ecdh.P521(), bitmask: 0x01},
	hpke.KEM_X25519_HKDF_SHA256: {id: 0x0020, newHash: sha256.New, nsk: 32, npk: 32, curve: ecdh.X25519()},
	hpke.KEM_X448_HKDF_SHA512:   {id: 0x0021, newHash: sha512.New, nsk: 56, npk: 56},
}

func (k *dhkem) suiteID() []byte { return []byte{'K', 'E', 'M', byte(k.id >> 8), byte(k.id)} }

// labeledExtract is RFC 9180's LabeledExtract(salt, label, ikm).
func (k *dhkem) labeledExtract(salt []byte, label string, ikm []byte) []byte {
	in := append(append(append([]byte("HPKE-v1"), k.suiteID()...), label...), ikm...)
	prk, err := hkdf.Extract(k.newHash, in, salt)
	if err != nil {
		panic("mls/suite: HKDF-Extract: " + err.Error())
	}
	return prk
}

// labeledExpand is RFC 9180's LabeledExpand(prk, label, info, L).
func (k *dhkem) labeledExpand(prk []byte, label string, info []byte, length int) ([]byte, error) {
	in := append([]byte{byte(length >> 8), byte(length)}, "HPKE-v1"...)
	in = append(append(append(in, k.suiteID()...), label...), info...)
	return hkdf.Expand(k.newHash, prk, string(in), length)
}

// deriveKeyPair is DeriveKeyPair(ikm) of RFC 9180 §7.1.3.
func (k *dhkem) deriveKeyPair(ikm []byte) (priv, pub []byte, err error) {
	prk := k.labeledExtract(nil, "dkp_prk", ikm)
	defer clear(prk)
	if k.bitmask == 0 { // X25519, X448
		sk, err := k.labeledExpand(prk, "sk", nil, k.nsk)
		if err != nil {
			return nil, nil, err
		}
		// RFC 9180 §7.1.2: SerializePrivateKey clamps X25519/X448 keys.
		// The DH result is the same either way; clamping makes the bytes
		// match other implementations' serialized keys.
		if k.nsk == 32 {
			sk[0] &= 248
			sk[31] = sk[31]&127 | 64
		} else {
			sk[0] &= 252
			sk[55] |= 128
		}
		pub, err := k.publicKey(sk)
		return sk, pub, err
	}
	for counter := 0; counter < 256; counter++ {
		sk, err := k.labeledExpand(prk, "candidate", []byte{byte(counter)}, k.nsk)
		if err != nil {
			return nil, nil, err
		}
		sk[0] &= k.bitmask
		// ecdh rejects zero and values not below the group order, which
		// is exactly the rejection rule of §7.1.3.
		if key, err := k.curve.NewPrivateKey(sk); err == nil {
			return sk, key.PublicKey().Bytes(), nil
		}
	}
	return nil, nil, fmt.Errorf("mls/suite: DeriveKeyPair found no valid scalar")
}

// publicKey computes the serialized public key of a serialized private key.
func (k *dhkem) publicKey(priv []byte) ([]byte, error) {
	if len(priv) != k.nsk {
		return nil, fmt.Errorf("%w: HPKE private key of %d bytes, want %d", ErrInvalidKey, len(priv), k.nsk)
	}
	if k.curve == nil {
		var sk, pk x448.Key
		copy(sk[:], priv)
		x448.KeyGen(&pk, &sk)
		return pk[:], nil
	}
	key, err := k.curve.NewPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return key.PublicKey().Bytes(), nil
}

// HPKEPrivateKeySize is the KEM's Nsk.
func (s *Suite) HPKEPrivateKeySize() int { return s.kem.nsk }

// HPKEPublicKeySize is the KEM's Npk.
func (s *Suite) HPKEPublicKeySize() int { return s.kem.npk }

// DeriveKeyPair derives an HPKE key pair from ikm of any length (RFC 9180
// §7.1.3); MLS calls it with KDF.Nh-byte node and external secrets.
func (s *Suite) DeriveKeyPair(ikm []byte) (priv, pub []byte, err error) {
	return s.kem.deriveKeyPair(ikm)
}

// GenerateKeyPair reads Nsk bytes from rand and derives a key pair from
// them, so the result is a function of the bytes read.
func (s *Suite) GenerateKeyPair(rand io.Reader) (priv, pub []byte, err error) {
	ikm := make([]byte, s.kem.nsk)
	defer clear(ikm)
	if _, err := io.ReadFull(rand, ikm); err != nil {
		return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
	}
	return s.DeriveKeyPair(ikm)
}

// PublicKey returns the HPKE public key of a serialized private key.
func (s *Suite) PublicKey(priv []byte) ([]byte, error) { return s.kem.publicKey(priv) }
