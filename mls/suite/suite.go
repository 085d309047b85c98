package suite

import (
	"crypto"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"

	"github.com/cloudflare/circl/hpke"
)

// ID is a CipherSuite code point (RFC 9420 §17.1).
type ID uint16

// The cipher suites of RFC 9420 §17.1.
const (
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        ID = 1
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256             ID = 2
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 ID = 3
	MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448            ID = 4
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521             ID = 5
	MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448     ID = 6
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384             ID = 7
)

var (
	ErrUnsupportedSuite = errors.New("mls/suite: unsupported cipher suite")
	ErrDecrypt          = errors.New("mls/suite: decryption failed")
	ErrInvalidSignature = errors.New("mls/suite: invalid signature")
	ErrInvalidKey       = errors.New("mls/suite: invalid key")
)

var names = map[ID]string{
	1: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
	2: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
	3: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
	4: "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
	5: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
	6: "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
	7: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
}

func (id ID) String() string {
	if n, ok := names[id]; ok {
		return n
	}
	return fmt.Sprintf("CipherSuite(0x%04x)", uint16(id))
}

// All lists the supported suites in code-point order.
func All() []ID { return []ID{1, 2, 3, 4, 5, 6, 7} }

type sigScheme uint8

const (
	sigEd25519 sigScheme = iota
	sigEd448
	sigECDSA
)

type aeadKind uint8

const (
	aeadAESGCM aeadKind = iota
	aeadChaCha20Poly1305
)

// Suite is one cipher suite. Values are immutable and shared; they are safe
// for concurrent use.
type Suite struct {
	id       ID
	hash     crypto.Hash
	newHash  func() hash.Hash
	aead     aeadKind
	keySize  int // AEAD.Nk
	hpke     hpke.Suite
	kem      *dhkem
	sig      sigScheme
	curve    elliptic.Curve // ECDSA only
	sigHash  crypto.Hash    // ECDSA only
	hpkeKEM  hpke.KEM
	hpkeKDF  hpke.KDF
	hpkeAEAD hpke.AEAD
}

var suites = func() map[ID]*Suite {
	mk := func(id ID, h crypto.Hash, nh func() hash.Hash, a aeadKind, nk int,
		kemID hpke.KEM, kdfID hpke.KDF, aeadID hpke.AEAD, sig sigScheme, curve elliptic.Curve) *Suite {
		return &Suite{id: id, hash: h, newHash: nh, aead: a, keySize: nk,
			hpke: hpke.NewSuite(kemID, kdfID, aeadID), kem: dhkems[kemID],
			sig: sig, curve: curve, sigHash: h,
			hpkeKEM: kemID, hpkeKDF: kdfID, hpkeAEAD: aeadID}
	}
	return map[ID]*Suite{
		1: mk(1, crypto.SHA256, sha256.New, aeadAESGCM, 16, hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM, sigEd25519, nil),
		2: mk(2, crypto.SHA256, sha256.New, aeadAESGCM, 16, hpke.KEM_P256_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM, sigECDSA, elliptic.P256()),
		3: mk(3, crypto.SHA256, sha256.New, aeadChaCha20Poly1305, 32, hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_ChaCha20Poly1305, sigEd25519, nil),
		4: mk(4, crypto.SHA512, sha512.New, aeadAESGCM, 32, hpke.KEM_X448_HKDF_SHA512, hpke.KDF_HKDF_SHA512, hpke.AEAD_AES256GCM, sigEd448, nil),
		5: mk(5, crypto.SHA512, sha512.New, aeadAESGCM, 32, hpke.KEM_P521_HKDF_SHA512, hpke.KDF_HKDF_SHA512, hpke.AEAD_AES256GCM, sigECDSA, elliptic.P521()),
		6: mk(6, crypto.SHA512, sha512.New, aeadChaCha20Poly1305, 32, hpke.KEM_X448_HKDF_SHA512, hpke.KDF_HKDF_SHA512, hpke.AEAD_ChaCha20Poly1305, sigEd448, nil),
		7: mk(7, crypto.SHA384, sha512.New384, aeadAESGCM, 32, hpke.KEM_P384_HKDF_SHA384, hpke.KDF_HKDF_SHA384, hpke.AEAD_AES256GCM, sigECDSA, elliptic.P384()),
	}
}()

// Lookup returns the suite with code point id.
func Lookup(id ID) (*Suite, error) {
	s, ok := suites[id]
	if !ok {
		return nil, fmt.Errorf("%w: %v", ErrUnsupportedSuite, id)
	}
	return s, nil
}

// ID is the suite's code point.
func (s *Suite) ID() ID { return s.id }

func (s *Suite) String() string { return s.id.String() }

// HashSize is Nh, the output size of the hash and of KDF.Extract.
func (s *Suite) HashSize() int { return s.hash.Size() }

// Hash hashes data with the suite's hash function.
func (s *Suite) Hash(data []byte) []byte {
	h := s.newHash()
	h.Write(data)
	return h.Sum(nil)
}

// MAC is HMAC with the suite's hash, used for membership and confirmation
// tags (§6.1, §6.2).
func (s *Suite) MAC(key, data []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

// VerifyMAC compares a MAC in constant time.
func (s *Suite) VerifyMAC(key, data, tag []byte) bool {
	return hmac.Equal(s.MAC(key, data), tag)
}
