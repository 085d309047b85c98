package suite

import (
	"bytes"
	"fmt"
	"io"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// HPKE base mode (RFC 9180 §5.1.1, §6.1) is circl's. This file turns the
// serialized keys of the MLS API into circl keys after checking their
// sizes (circl panics on some wrong sizes), feeds circl's sender exactly
// the bytes it reads from the caller's reader, and maps failures to the
// package's sentinels.

func (s *Suite) unmarshalPublic(pub []byte) (kem.PublicKey, error) {
	if len(pub) != s.kem.npk {
		return nil, fmt.Errorf("%w: HPKE public key of %d bytes, want %d", ErrInvalidKey, len(pub), s.kem.npk)
	}
	pk, err := s.hpkeKEM.Scheme().UnmarshalBinaryPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return pk, nil
}

func (s *Suite) unmarshalPrivate(priv []byte) (kem.PrivateKey, error) {
	priv = s.kem.normalizePrivate(priv)
	if len(priv) != s.kem.nsk {
		return nil, fmt.Errorf("%w: HPKE private key of %d bytes, want %d", ErrInvalidKey, len(priv), s.kem.nsk)
	}
	// circl checks the scalar range of NIST keys (via crypto/ecdh).
	sk, err := s.hpkeKEM.Scheme().UnmarshalBinaryPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return sk, nil
}

// encryptContext encodes EncryptContext{"MLS 1.0 "+label, context}
// (RFC 9420 §5.1.3).
func encryptContext(label string, context []byte) ([]byte, error) {
	w := codec.NewWriter(make([]byte, 0, len(labelPrefix)+len(label)+len(context)+8))
	w.String(labelPrefix + label)
	w.Opaque(context)
	return w.Bytes()
}

// EncryptWithLabel is SealBase(pub, EncryptContext, "", plaintext)
// (RFC 9420 §5.1.3). The ephemeral key is derived from KEMSeedSize bytes
// read from rand (RFC 9180 §4.1 Encap with DeriveKeyPair).
func (s *Suite) EncryptWithLabel(rand io.Reader, pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, nil, err
	}
	return s.sealBase(rand, pub, info, nil, plaintext)
}

// DecryptWithLabel is OpenBase(kemOutput, priv, EncryptContext, "",
// ciphertext) (RFC 9420 §5.1.3). Any failure to open is ErrDecrypt; a
// malformed private key is ErrInvalidKey.
func (s *Suite) DecryptWithLabel(priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, err
	}
	return s.openBase(priv, kemOutput, info, nil, ciphertext)
}

// setupS is SetupBaseS(pkR, info) (RFC 9180 §5.1.1) with the ephemeral
// key derived from bytes read from rand.
func (s *Suite) setupS(rand io.Reader, pub, info []byte) (enc []byte, ctx hpke.Sealer, err error) {
	pk, err := s.unmarshalPublic(pub)
	if err != nil {
		return nil, nil, err
	}
	sender, err := s.hpke.NewSender(pk, info)
	if err != nil {
		return nil, nil, err
	}
	// Read the seed here so that a failing reader and a bad key are told
	// apart, and so that circl never sees the caller's reader.
	seed := make([]byte, s.hpkeKEM.Scheme().EncapsulationSeedSize())
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
	}
	enc, ctx, err = sender.Setup(bytes.NewReader(seed))
	if err != nil {
		// Encap fails only when the DH output is zero: a low-order
		// X25519/X448 public key.
		return nil, nil, fmt.Errorf("%w: HPKE encap: %v", ErrInvalidKey, err)
	}
	return enc, ctx, nil
}

// setupR is SetupBaseR(enc, skR, info) (RFC 9180 §5.1.1).
func (s *Suite) setupR(priv, kemOutput, info []byte) (hpke.Opener, error) {
	sk, err := s.unmarshalPrivate(priv)
	if err != nil {
		return nil, err
	}
	if len(kemOutput) != s.kem.npk {
		return nil, fmt.Errorf("%w: kem_output of %d bytes, want %d", ErrDecrypt, len(kemOutput), s.kem.npk)
	}
	r, err := s.hpke.NewReceiver(sk, info)
	if err != nil {
		return nil, err
	}
	opener, err := r.Setup(kemOutput)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE decap: %v", ErrDecrypt, err)
	}
	return opener, nil
}

func (s *Suite) sealBase(rand io.Reader, pub, info, aad, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	enc, sealer, err := s.setupS(rand, pub, info)
	if err != nil {
		return nil, nil, err
	}
	ct, err := sealer.Seal(plaintext, aad)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (s *Suite) openBase(priv, kemOutput, info, aad, ciphertext []byte) ([]byte, error) {
	opener, err := s.setupR(priv, kemOutput, info)
	if err != nil {
		return nil, err
	}
	pt, err := opener.Open(ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

func (s *Suite) checkExportLength(length int) error {
	if length < 0 || length > 255*s.HashSize() {
		return fmt.Errorf("mls/suite: HPKE export length %d out of range [0, %d]", length, 255*s.HashSize())
	}
	return nil
}

// HPKEExport runs SetupBaseS(pub, info) and Export(exporterContext, length)
// (RFC 9180 §5.1.1, §5.3); RFC 9420 §8.3 uses it for external init with
// info "" and exporter context "MLS 1.0 external init secret". length must
// be at most 255*Nh.
func (s *Suite) HPKEExport(rand io.Reader, pub, info, exporterContext []byte, length int) (kemOutput, secret []byte, err error) {
	if err := s.checkExportLength(length); err != nil {
		return nil, nil, err
	}
	enc, sealer, err := s.setupS(rand, pub, info)
	if err != nil {
		return nil, nil, err
	}
	return enc, sealer.Export(exporterContext, uint(length)), nil
}

// HPKEExportReceive runs SetupBaseR(kemOutput, priv, info) and
// Export(exporterContext, length), the receiving side of HPKEExport.
func (s *Suite) HPKEExportReceive(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	if err := s.checkExportLength(length); err != nil {
		return nil, err
	}
	opener, err := s.setupR(priv, kemOutput, info)
	if err != nil {
		return nil, err
	}
	return opener.Export(exporterContext, uint(length)), nil
}
