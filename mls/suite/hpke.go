package suite

import (
	"fmt"
	"io"

	"github.com/cloudflare/circl/kem"

	"github.com/mlsnode/mlsnode/mls/codec"
)

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
	if _, err := s.kem.publicKey(priv); err != nil { // checks length and range
		return nil, err
	}
	sk, err := s.hpkeKEM.Scheme().UnmarshalBinaryPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return sk, nil
}

// encryptContext encodes EncryptContext{"MLS 1.0 "+label, context} (§5.1.3).
func encryptContext(label string, context []byte) ([]byte, error) {
	w := codec.NewWriter(nil)
	w.String(labelPrefix + label)
	w.Opaque(context)
	return w.Bytes()
}

// EncryptWithLabel is SealBase(pub, EncryptContext, "", plaintext) (§5.1.3).
// The ephemeral key is derived from bytes read from rand.
func (s *Suite) EncryptWithLabel(rand io.Reader, pub []byte, label string, context, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, nil, err
	}
	return s.sealBase(rand, pub, info, nil, plaintext)
}

// DecryptWithLabel is OpenBase(kemOutput, priv, EncryptContext, "", ciphertext).
func (s *Suite) DecryptWithLabel(priv []byte, label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, err
	}
	return s.openBase(priv, kemOutput, info, nil, ciphertext)
}

func (s *Suite) sealBase(rand io.Reader, pub, info, aad, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	pk, err := s.unmarshalPublic(pub)
	if err != nil {
		return nil, nil, err
	}
	sender, err := s.hpke.NewSender(pk, info)
	if err != nil {
		return nil, nil, err
	}
	enc, sealer, err := sender.Setup(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: HPKE setup: %w", err)
	}
	ct, err := sealer.Seal(plaintext, aad)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (s *Suite) receiver(priv, kemOutput, info []byte) (interface {
	Open(ct, aad []byte) ([]byte, error)
	Export(exporterContext []byte, length uint) []byte
}, error) {
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
		return nil, fmt.Errorf("%w: %v", ErrDecrypt, err)
	}
	return opener, nil
}

func (s *Suite) openBase(priv, kemOutput, info, aad, ciphertext []byte) ([]byte, error) {
	opener, err := s.receiver(priv, kemOutput, info)
	if err != nil {
		return nil, err
	}
	pt, err := opener.Open(ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}

// HPKEExport runs SetupBaseS(pub, info) and exports length bytes under
// exporterContext; MLS uses it for external init (§8.3).
func (s *Suite) HPKEExport(rand io.Reader, pub, info, exporterContext []byte, length int) (kemOutput, secret []byte, err error) {
	pk, err := s.unmarshalPublic(pub)
	if err != nil {
		return nil, nil, err
	}
	sender, err := s.hpke.NewSender(pk, info)
	if err != nil {
		return nil, nil, err
	}
	enc, sealer, err := sender.Setup(rand)
	if err != nil {
		return nil, nil, fmt.Errorf("mls/suite: HPKE setup: %w", err)
	}
	return enc, sealer.Export(exporterContext, uint(length)), nil
}

// HPKEExportReceive runs SetupBaseR(kemOutput, priv, info) and exports.
func (s *Suite) HPKEExportReceive(priv, kemOutput, info, exporterContext []byte, length int) ([]byte, error) {
	opener, err := s.receiver(priv, kemOutput, info)
	if err != nil {
		return nil, err
	}
	return opener.Export(exporterContext, uint(length)), nil
}
