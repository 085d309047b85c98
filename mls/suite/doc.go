// Package suite implements the seven MLS cipher suites of RFC 9420 (§5.1,
// §17.1). It owns every cryptographic primitive the MLS engine uses:
//
//   - the hash and MAC (HMAC) of §5.1, used for transcript hashes and for
//     membership and confirmation tags;
//   - the KDF: Extract, Expand, ExpandWithLabel, DeriveSecret and
//     DeriveTreeSecret (§8, §9);
//   - the AEAD (Seal, Open) used by the secret tree and framing;
//   - HPKE base mode (RFC 9180) as EncryptWithLabel/DecryptWithLabel
//     (§5.1.3), the exporter used by external init (§8.3), and
//     DeriveKeyPair (RFC 9180 §7.1.3) for node and external keys;
//   - the signature scheme as SignWithLabel/VerifyWithLabel (§5.1.2);
//   - the hash-based references of §5.2 (RefHash, MakeKeyPackageRef,
//     MakeProposalRef).
//
// Suites come from Lookup; a *Suite is an immutable shared value, safe for
// concurrent use.
//
// # Keys
//
// Keys travel as bytes in the formats of the RFC 9420 test vectors: HPKE
// keys as RFC 9180 SerializePrivateKey/SerializePublicKey output (X25519
// and X448 private keys that this package derives are clamped, as §7.1.2
// of RFC 9180 asks); ECDSA private keys as big-endian scalars of the
// curve's byte length, public keys as uncompressed points, signatures in
// DER; EdDSA private keys as their RFC 8032 seeds.
//
// # Randomness
//
// Nothing here reads global randomness. Every function that needs random
// bytes takes an io.Reader, and its output is a function of the bytes it
// reads, so that a test or simulation replays from a seed:
//
//   - GenerateKeyPair reads KEMSeedSize (Nsk) bytes and calls
//     DeriveKeyPair; EncryptWithLabel and HPKEExport read Nsk bytes for
//     the ephemeral key (circl's HPKE sender derives it from them).
//   - GenerateSignatureKey reads an EdDSA seed, or draws an ECDSA scalar by
//     rejection sampling and builds the key with ecdsa.ParseRawPrivateKey.
//   - Signing takes no randomness: EdDSA is deterministic, and ECDSA signs
//     per RFC 6979 (ecdsa.PrivateKey.Sign with a nil reader).
//
// This matters because since Go 1.26, crypto/ecdsa (GenerateKey, SignASN1,
// Sign with a non-nil reader) and crypto/ecdh (GenerateKey) ignore the
// io.Reader they are given and use the system's secure source unless
// GODEBUG=cryptocustomrand=1 is set; ed25519.GenerateKey still reads its
// reader. This package calls none of the ignoring functions.
//
// DeriveKeyPair is written here (RFC 9180 §7.1.3 with LabeledExtract and
// LabeledExpand) for all five KEMs, because circl's panics unless ikm is
// exactly Nsk bytes, and MLS derives from Nh-byte secrets, which differ
// from Nsk for X448 and P-521 (suites 4, 5, 6).
//
// # Errors
//
// Bad keys, signatures and ciphertexts return errors wrapping
// ErrInvalidKey, ErrInvalidSignature or ErrDecrypt; unknown suites wrap
// ErrUnsupportedSuite. Sizes are checked before any key reaches circl, and
// nothing here panics on input.
package suite
