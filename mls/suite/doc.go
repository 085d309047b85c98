// Package suite implements the seven MLS cipher suites of RFC 9420 (§5.1,
// §17.1): the hash and HMAC, the KDF with ExpandWithLabel, DeriveSecret and
// DeriveTreeSecret (§8), the AEAD, HPKE base mode (RFC 9180) with
// EncryptWithLabel/DecryptWithLabel (§5.1.3) and exporter, the signature
// scheme with SignWithLabel/VerifyWithLabel (§5.1.2), and the hash-based
// references of §5.2.
//
// # Keys
//
// Keys travel as bytes in the formats the RFC 9420 test vectors use: HPKE
// keys as RFC 9180 SerializePrivateKey/SerializePublicKey output, ECDSA
// private keys as big-endian scalars and public keys as uncompressed points,
// EdDSA private keys as their seeds.
//
// # Randomness
//
// Every function that needs randomness takes an io.Reader, and its output is
// a function of the bytes it reads, so that a test or simulation replays
// from a seed. Go 1.26 ignores the reader passed to crypto/ecdsa key
// generation and randomized signing; this package therefore never relies
// on it: key pairs are derived from bytes read from the caller's reader
// (DeriveKeyPair per RFC 9180 §7.1.3 for every KEM, written here because
// circl's panics for the seed lengths suites 4 to 6 use), ECDSA signatures
// are deterministic (RFC 6979), and EdDSA is deterministic by design.
//
// Bad keys, signatures and ciphertexts return errors wrapping ErrInvalidKey,
// ErrInvalidSignature or ErrDecrypt; nothing here panics on input.
package suite
