package suite

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/ed448"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// Signature schemes of RFC 9420 §5.1.2, §17.1: Ed25519 (crypto/ed25519),
// Ed448 (circl), ECDSA over P-256/P-384/P-521 with SHA-256/384/512
// (crypto/ecdsa). Formats: EdDSA private keys are RFC 8032 seeds, public
// keys RFC 8032 encodings and signatures R||S; ECDSA private keys are
// big-endian scalars of the curve's byte length, public keys uncompressed
// points, signatures DER (RFC 8446 §4.2.3).

// signContent encodes SignContent{"MLS 1.0 "+label, content} (§5.1.2).
func signContent(label string, content []byte) ([]byte, error) {
	w := codec.NewWriter(make([]byte, 0, len(labelPrefix)+len(label)+len(content)+8))
	w.String(labelPrefix + label)
	w.Opaque(content)
	return w.Bytes()
}

// signatureSeedSize is the number of bytes GenerateSignatureKey reads per
// attempt: the EdDSA seed size or the ECDSA scalar size.
func (s *Suite) signatureSeedSize() int {
	switch s.sig {
	case sigEd25519:
		return ed25519.SeedSize
	case sigEd448:
		return ed448.SeedSize
	default:
		return (s.curve.Params().N.BitLen() + 7) / 8
	}
}

// GenerateSignatureKey makes a signature key pair from bytes read from rand:
// an EdDSA seed, or an ECDSA scalar drawn by rejection sampling, because Go
// 1.26's ecdsa.GenerateKey ignores the reader it is given.
func (s *Suite) GenerateSignatureKey(rand io.Reader) (priv, pub []byte, err error) {
	buf := make([]byte, s.signatureSeedSize())
	for attempt := 0; attempt < 128; attempt++ {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
		}
		if s.sig == sigECDSA && s.curve.Params().N.BitLen()%8 != 0 {
			// P-521: keep only the 521 low bits so half of all draws fit.
			buf[0] &= byte(1<<(s.curve.Params().N.BitLen()%8) - 1)
		}
		pub, err := s.SignaturePublicKey(buf)
		if err == nil {
			return append([]byte{}, buf...), pub, nil
		}
	}
	return nil, nil, fmt.Errorf("mls/suite: no valid signature key after 128 draws")
}

// SignaturePublicKey returns the public key of a private signature key.
func (s *Suite) SignaturePublicKey(priv []byte) ([]byte, error) {
	switch s.sig {
	case sigEd25519:
		if len(priv) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: Ed25519 seed of %d bytes", ErrInvalidKey, len(priv))
		}
		return ed25519.NewKeyFromSeed(priv).Public().(ed25519.PublicKey), nil
	case sigEd448:
		if len(priv) != ed448.SeedSize {
			return nil, fmt.Errorf("%w: Ed448 seed of %d bytes", ErrInvalidKey, len(priv))
		}
		return ed448.NewKeyFromSeed(priv).Public().(ed448.PublicKey), nil
	default:
		k, err := s.parseECDSAKey(priv)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		return k.PublicKey.Bytes()
	}
}

// SigningKey is a private signature key parsed once, so that a member that
// signs every message does not expand its key (a scalar multiplication)
// each time.
type SigningKey struct {
	suite   *Suite
	ed25519 ed25519.PrivateKey
	ed448   ed448.PrivateKey
	ecdsa   *ecdsa.PrivateKey
}

// NewSigningKey parses a private signature key.
func (s *Suite) NewSigningKey(priv []byte) (*SigningKey, error) {
	k := &SigningKey{suite: s}
	switch s.sig {
	case sigEd25519:
		if len(priv) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: Ed25519 seed of %d bytes", ErrInvalidKey, len(priv))
		}
		k.ed25519 = ed25519.NewKeyFromSeed(priv)
	case sigEd448:
		if len(priv) != ed448.SeedSize {
			return nil, fmt.Errorf("%w: Ed448 seed of %d bytes", ErrInvalidKey, len(priv))
		}
		k.ed448 = ed448.NewKeyFromSeed(priv)
	default:
		ek, err := s.parseECDSAKey(priv)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		k.ecdsa = ek
	}
	return k, nil
}

// Suite is the suite the key was made for.
func (k *SigningKey) Suite() *Suite { return k.suite }

// PublicKey is the signature public key of k, in the format of
// SignaturePublicKey.
func (k *SigningKey) PublicKey() []byte {
	switch {
	case k.ed25519 != nil:
		return append([]byte{}, k.ed25519.Public().(ed25519.PublicKey)...)
	case k.ed448 != nil:
		return append([]byte{}, k.ed448.Public().(ed448.PublicKey)...)
	default:
		pub, _ := k.ecdsa.PublicKey.Bytes() // a parsed key always encodes
		return pub
	}
}

// SignWithLabel signs SignContent{"MLS 1.0 "+label, content} (§5.1.2).
// Every scheme signs deterministically (ECDSA per RFC 6979).
func (k *SigningKey) SignWithLabel(label string, content []byte) ([]byte, error) {
	msg, err := signContent(label, content)
	if err != nil {
		return nil, err
	}
	switch {
	case k.ed25519 != nil:
		return ed25519.Sign(k.ed25519, msg), nil
	case k.ed448 != nil:
		return ed448.Sign(k.ed448, msg, ""), nil
	default:
		// A nil reader selects RFC 6979 deterministic signing.
		return k.ecdsa.Sign(nil, k.suite.digest(msg), k.suite.hash)
	}
}

// SignWithLabel parses priv and signs; see SigningKey for repeated use.
func (s *Suite) SignWithLabel(priv []byte, label string, content []byte) ([]byte, error) {
	k, err := s.NewSigningKey(priv)
	if err != nil {
		return nil, err
	}
	return k.SignWithLabel(label, content)
}

func (s *Suite) digest(msg []byte) []byte {
	h := s.hash.New()
	h.Write(msg)
	return h.Sum(nil)
}

// VerifyWithLabel checks a signature over SignContent; failure is
// ErrInvalidSignature (or ErrInvalidKey for a malformed public key).
func (s *Suite) VerifyWithLabel(pub []byte, label string, content, signature []byte) error {
	msg, err := signContent(label, content)
	if err != nil {
		return err
	}
	if s.memo != nil {
		return s.memo.verify(s, pub, msg, signature)
	}
	return s.verify(pub, msg, signature)
}

// verify checks signature over the encoded SignContent msg.
func (s *Suite) verify(pub, msg, signature []byte) error {
	ok := false
	switch s.sig {
	case sigEd25519:
		if len(pub) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrInvalidKey, len(pub))
		}
		ok = ed25519.Verify(ed25519.PublicKey(pub), msg, signature)
	case sigEd448:
		if len(pub) != ed448.PublicKeySize {
			return fmt.Errorf("%w: Ed448 public key of %d bytes", ErrInvalidKey, len(pub))
		}
		ok = ed448.Verify(ed448.PublicKey(pub), msg, signature, "")
	default:
		k, err := ecdsa.ParseUncompressedPublicKey(s.curve, pub)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		ok = ecdsa.VerifyASN1(k, s.digest(msg), signature)
	}
	if !ok {
		return ErrInvalidSignature
	}
	return nil
}

// parseECDSAKey parses a big-endian ECDSA scalar. Scalars shorter than the
// curve's size are accepted and left-padded: some encoders (the RFC 9420
// P-521 vectors among them) drop leading zero bytes of the integer.
func (s *Suite) parseECDSAKey(priv []byte) (*ecdsa.PrivateKey, error) {
	size := (s.curve.Params().N.BitLen() + 7) / 8
	if len(priv) > 0 && len(priv) < size {
		padded := make([]byte, size)
		copy(padded[size-len(priv):], priv)
		defer clear(padded)
		priv = padded
	}
	return ecdsa.ParseRawPrivateKey(s.curve, priv)
}
