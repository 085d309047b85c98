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

// ID is a CipherSuite code point (RFC 9420 §5.1, §17.1).
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

// Sentinel errors. Every error of this package wraps one of them (or is a
// plain error for a bad length argument or a failing io.Reader), so callers
// test with errors.Is.
var (
	// ErrUnsupportedSuite: a code point other than 1..7.
	ErrUnsupportedSuite = errors.New("mls/suite: unsupported cipher suite")
	// ErrDecrypt: an AEAD or HPKE open failed (wrong key, tampered or
	// truncated ciphertext or kem_output, wrong label or context).
	ErrDecrypt = errors.New("mls/suite: decryption failed")
	// ErrInvalidSignature: a signature did not verify.
	ErrInvalidSignature = errors.New("mls/suite: invalid signature")
	// ErrInvalidKey: key bytes of the wrong size or not a valid key of the
	// suite's algorithm (also a nonce of the wrong size).
	ErrInvalidKey = errors.New("mls/suite: invalid key")
)

var names = [...]string{
	1: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
	2: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
	3: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
	4: "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
	5: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
	6: "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
	7: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
}

// String is the RFC 9420 §17.1 name, or CipherSuite(0x....) for others.
func (id ID) String() string {
	if id >= 1 && int(id) < len(names) {
		return names[id]
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
	id      ID
	hash    crypto.Hash // hash of the suite, of its KDF and of ECDSA
	newHash func() hash.Hash
	aead    aeadKind
	nk      int // AEAD.Nk
	kem     *dhkem
	hpke    hpke.Suite
	hpkeKEM hpke.KEM
	hpkeID  []byte // RFC 9180 suite_id: "HPKE" || kem_id || kdf_id || aead_id
	sig     sigScheme
	curve   elliptic.Curve // ECDSA only
	memo    *VerifyMemo    // nil but in a copy made by WithVerifyMemo
}

// params is one row of the RFC 9420 §17.1 table.
type params struct {
	hash  crypto.Hash
	nh    func() hash.Hash
	aead  aeadKind
	nk    int
	kem   hpke.KEM
	kdf   hpke.KDF
	haead hpke.AEAD
	sig   sigScheme
	curve elliptic.Curve
}

var table = map[ID]params{
	1: {crypto.SHA256, sha256.New, aeadAESGCM, 16, hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM, sigEd25519, nil},
	2: {crypto.SHA256, sha256.New, aeadAESGCM, 16, hpke.KEM_P256_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES128GCM, sigECDSA, elliptic.P256()},
	3: {crypto.SHA256, sha256.New, aeadChaCha20Poly1305, 32, hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_ChaCha20Poly1305, sigEd25519, nil},
	4: {crypto.SHA512, sha512.New, aeadAESGCM, 32, hpke.KEM_X448_HKDF_SHA512, hpke.KDF_HKDF_SHA512, hpke.AEAD_AES256GCM, sigEd448, nil},
	5: {crypto.SHA512, sha512.New, aeadAESGCM, 32, hpke.KEM_P521_HKDF_SHA512, hpke.KDF_HKDF_SHA512, hpke.AEAD_AES256GCM, sigECDSA, elliptic.P521()},
	6: {crypto.SHA512, sha512.New, aeadChaCha20Poly1305, 32, hpke.KEM_X448_HKDF_SHA512, hpke.KDF_HKDF_SHA512, hpke.AEAD_ChaCha20Poly1305, sigEd448, nil},
	7: {crypto.SHA384, sha512.New384, aeadAESGCM, 32, hpke.KEM_P384_HKDF_SHA384, hpke.KDF_HKDF_SHA384, hpke.AEAD_AES256GCM, sigECDSA, elliptic.P384()},
}

var suites = func() map[ID]*Suite {
	m := make(map[ID]*Suite, len(table))
	for id, p := range table {
		m[id] = &Suite{
			id: id, hash: p.hash, newHash: p.nh, aead: p.aead, nk: p.nk,
			kem: dhkems[p.kem], hpke: hpke.NewSuite(p.kem, p.kdf, p.haead), hpkeKEM: p.kem,
			hpkeID: []byte{'H', 'P', 'K', 'E', byte(p.kem >> 8), byte(p.kem), byte(p.kdf >> 8), byte(p.kdf), byte(p.haead >> 8), byte(p.haead)},
			sig:    p.sig, curve: p.curve,
		}
	}
	return m
}()

// Lookup returns the suite with code point id, or ErrUnsupportedSuite.
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

// MAC is HMAC with the suite's hash (RFC 2104), the MAC of RFC 9420 §5.1,
// used for membership tags (§6.2) and confirmation tags (§8.1).
func (s *Suite) MAC(key, data []byte) []byte {
	m := hmac.New(s.newHash, key)
	m.Write(data)
	return m.Sum(nil)
}

// VerifyMAC reports in constant time whether tag is MAC(key, data).
func (s *Suite) VerifyMAC(key, data, tag []byte) bool {
	return hmac.Equal(s.MAC(key, data), tag)
}
