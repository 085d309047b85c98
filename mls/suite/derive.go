package suite

import (
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"

	"github.com/cloudflare/circl/dh/x448"
	"github.com/cloudflare/circl/hpke"
)

// dhkem holds what RFC 9180's DHKEM needs to derive key pairs (RFC 9180
// §4.1, §7.1.3). The derivation is written here rather than taken from
// circl because circl's DeriveKeyPair panics unless ikm has exactly Nsk
// bytes, while MLS derives node keys from Nh-byte secrets (RFC 9420 §7.4,
// §8), and Nh differs from Nsk for X448 (64 vs 56) and P-521 (64 vs 66).
// Go's crypto/hpke derives only for X25519 and the NIST curves; its
// results are a cross-check in the tests.
type dhkem struct {
	id      uint16 // RFC 9180 §7.1 KEM identifier
	newHash func() hash.Hash
	nsk     int
	npk     int
	curve   ecdh.Curve // nil for X448, which crypto/ecdh lacks
	bitmask byte       // NIST curves: mask of the first candidate byte
}

var dhkems = map[hpke.KEM]*dhkem{
	hpke.KEM_P256_HKDF_SHA256:   {id: 0x0010, newHash: sha256.New, nsk: 32, npk: 65, curve: ecdh.P256(), bitmask: 0xff},
	hpke.KEM_P384_HKDF_SHA384:   {id: 0x0011, newHash: sha512.New384, nsk: 48, npk: 97, curve: ecdh.P384(), bitmask: 0xff},
	hpke.KEM_P521_HKDF_SHA512:   {id: 0x0012, newHash: sha512.New, nsk: 66, npk: 133, curve: ecdh.P521(), bitmask: 0x01},
	hpke.KEM_X25519_HKDF_SHA256: {id: 0x0020, newHash: sha256.New, nsk: 32, npk: 32, curve: ecdh.X25519()},
	hpke.KEM_X448_HKDF_SHA512:   {id: 0x0021, newHash: sha512.New, nsk: 56, npk: 56},
}

func (k *dhkem) isX() bool { return k.bitmask == 0 }

// suiteID is "KEM" || I2OSP(kem_id, 2) (RFC 9180 §4.1).
func (k *dhkem) suiteID() []byte { return []byte{'K', 'E', 'M', byte(k.id >> 8), byte(k.id)} }

func (k *dhkem) labeledExtract(salt []byte, label string, ikm []byte) []byte {
	return labeledExtract(k.newHash, k.suiteID(), salt, label, ikm)
}

func (k *dhkem) labeledExpand(prk []byte, label string, info []byte, length int) ([]byte, error) {
	return labeledExpand(k.newHash, k.suiteID(), prk, label, info, length)
}

// labeledExtract is RFC 9180's LabeledExtract(salt, label, ikm) =
// Extract(salt, "HPKE-v1" || suite_id || label || ikm); the KEM and the
// HPKE key schedule use it with their own suite ids.
func labeledExtract(newHash func() hash.Hash, suiteID, salt []byte, label string, ikm []byte) []byte {
	m := hmac.New(newHash, salt)
	m.Write([]byte("HPKE-v1"))
	m.Write(suiteID)
	io.WriteString(m, label)
	m.Write(ikm)
	return m.Sum(nil)
}

// labeledExpand is RFC 9180's LabeledExpand(prk, label, info, L) =
// Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L).
func labeledExpand(newHash func() hash.Hash, suiteID, prk []byte, label string, info []byte, length int) ([]byte, error) {
	in := make([]byte, 0, 2+7+len(suiteID)+len(label)+len(info))
	in = append(in, byte(length>>8), byte(length))
	in = append(in, "HPKE-v1"...)
	in = append(in, suiteID...)
	in = append(in, label...)
	in = append(in, info...)
	return hkdf.Expand(newHash, prk, string(in), length)
}

// deriveKeyPair is DeriveKeyPair(ikm) of RFC 9180 §7.1.3.
func (k *dhkem) deriveKeyPair(ikm []byte) (priv, pub []byte, err error) {
	prk := k.labeledExtract(nil, "dkp_prk", ikm)
	defer clear(prk)
	if k.isX() {
		// X25519, X448: sk = LabeledExpand(dkp_prk, "sk", "", Nsk).
		sk, err := k.labeledExpand(prk, "sk", nil, k.nsk)
		if err != nil {
			return nil, nil, err
		}
		// SerializePrivateKey clamps X25519/X448 keys (RFC 9180 §7.1.2).
		// The DH result is the same either way; clamped bytes match
		// Go's crypto/hpke. The RFC 9180 vectors list skEm unclamped.
		clampX(sk)
		pub, err := k.publicKey(sk)
		return sk, pub, err
	}
	// NIST curves: rejection sampling over counter 0..255, masking the
	// first byte (0xff for P-256/P-384, 0x01 for P-521) and rejecting
	// sk == 0 and sk >= order.
	for counter := 0; counter <= 255; counter++ {
		sk, err := k.labeledExpand(prk, "candidate", []byte{byte(counter)}, k.nsk)
		if err != nil {
			return nil, nil, err
		}
		sk[0] &= k.bitmask
		// ecdh.NewPrivateKey rejects zero and values not below the
		// order: exactly the rejection rule of RFC 9180 §7.1.3.
		if key, err := k.curve.NewPrivateKey(sk); err == nil {
			return sk, key.PublicKey().Bytes(), nil
		}
	}
	// Probability below 2^-32*256 for any curve; RFC 9180 calls it
	// DeriveKeyPairError.
	return nil, nil, fmt.Errorf("mls/suite: DeriveKeyPair: no valid scalar in 256 candidates")
}

// clampX clamps an X25519 or X448 scalar as RFC 7748 §5 decodes it.
func clampX(sk []byte) {
	if len(sk) == 32 {
		sk[0] &= 248
		sk[31] = sk[31]&127 | 64
	} else {
		sk[0] &= 252
		sk[55] |= 128
	}
}

// publicKey is the serialized public key of a serialized private key.
func (k *dhkem) publicKey(priv []byte) ([]byte, error) {
	priv = k.normalizePrivate(priv)
	if len(priv) != k.nsk {
		return nil, fmt.Errorf("%w: HPKE private key of %d bytes, want %d", ErrInvalidKey, len(priv), k.nsk)
	}
	if k.curve == nil { // X448
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

// normalizePrivate left-pads a NIST-curve private scalar shorter than Nsk:
// it is a big-endian integer, and some encoders (the RFC 9420 P-521
// passive-client vectors among them) drop its leading zero bytes. X25519
// and X448 keys are byte strings and must have exactly Nsk bytes.
func (k *dhkem) normalizePrivate(priv []byte) []byte {
	if k.curve == nil || k.bitmask == 0 || len(priv) == 0 || len(priv) >= k.nsk {
		return priv
	}
	padded := make([]byte, k.nsk)
	copy(padded[k.nsk-len(priv):], priv)
	return padded
}

// HPKEPrivateKeySize is the KEM's Nsk (RFC 9180 §7.1).
func (s *Suite) HPKEPrivateKeySize() int { return s.kem.nsk }

// HPKEPublicKeySize is the KEM's Npk (RFC 9180 §7.1), also the size of a
// kem_output (Nenc) for every DHKEM.
func (s *Suite) HPKEPublicKeySize() int { return s.kem.npk }

// KEMSeedSize is the number of bytes GenerateKeyPair reads from its reader:
// Nsk, the ikm length RFC 9180 §7.1.3 asks for. DeriveKeyPair accepts ikm
// of any length; MLS itself passes Nh-byte node and external secrets
// (RFC 9420 §7.4, §8), which for P-521 are shorter than Nsk.
func (s *Suite) KEMSeedSize() int { return s.kem.nsk }

// DeriveKeyPair derives an HPKE key pair from ikm of any length (RFC 9180
// §7.1.3), as RFC 9420 does for node keys (node_priv, node_pub =
// DeriveKeyPair(node_secret), §7.4) and the external key pair (§8).
// X25519/X448 private keys come out clamped (RFC 9180 §7.1.2).
func (s *Suite) DeriveKeyPair(ikm []byte) (priv, pub []byte, err error) {
	return s.kem.deriveKeyPair(ikm)
}

// GenerateKeyPair reads KEMSeedSize bytes from rand and derives a key pair
// from them, so the result is a function of the bytes read.
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
