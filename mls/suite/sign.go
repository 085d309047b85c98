package suite

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"fmt"
	"io"

	"github.com/cloudflare/circl/sign/ed448"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// signContent encodes SignContent{"MLS 1.0 "+label, content} (§5.1.2).
func signContent(label string, content []byte) ([]byte, error) {
	w := codec.NewWriter(make([]byte, 0, len(labelPrefix)+len(label)+len(content)+8))
	w.String(labelPrefix + label)
	w.Opaque(content)
	return w.Bytes()
}

// SignatureSeedSize is the number of bytes GenerateSignatureKey reads per
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
		k, err := ecdsa.ParseRawPrivateKey(s.curve, priv)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		return k.PublicKey.Bytes()
	}
}

// SignWithLabel signs SignContent{"MLS 1.0 "+label, content} (§5.1.2).
// Every scheme signs deterministically (ECDSA per RFC 6979).
func (s *Suite) SignWithLabel(priv []byte, label string, content []byte) ([]byte, error) {
	msg, err := signContent(label, content)
	if err != nil {
		return nil, err
	}
	switch s.sig {
	case sigEd25519:
		if len(priv) != ed25519.SeedSize {
			return nil, fmt.Errorf("%w: Ed25519 seed of %d bytes", ErrInvalidKey, len(priv))
		}
		return ed25519.Sign(ed25519.NewKeyFromSeed(priv), msg), nil
	case sigEd448:
		if len(priv) != ed448.SeedSize {
			return nil, fmt.Errorf("%w: Ed448 seed of %d bytes", ErrInvalidKey, len(priv))
		}
		return ed448.Sign(ed448.NewKeyFromSeed(priv), msg, ""), nil
	default:
		k, err := ecdsa.ParseRawPrivateKey(s.curve, priv)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		// A nil reader selects RFC 6979 deterministic signing.
		return k.Sign(nil, s.digest(msg), s.sigHash)
	}
}

func (s *Suite) digest(msg []byte) []byte {
	h := s.sigHash.New()
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
