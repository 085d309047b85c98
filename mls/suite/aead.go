package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// The AEAD of each suite (RFC 9420 §5.1, §17.1; RFC 9180 §7.3): AES-GCM
// from crypto/cipher, ChaCha20-Poly1305 from golang.org/x/crypto.

// AEADKeySize is AEAD.Nk.
func (s *Suite) AEADKeySize() int { return s.nk }

// AEADNonceSize is AEAD.Nn (12 for every MLS suite).
func (s *Suite) AEADNonceSize() int { return 12 }

// AEADOverhead is the tag length added by Seal.
func (s *Suite) AEADOverhead() int { return 16 }

func (s *Suite) newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != s.nk {
		return nil, fmt.Errorf("%w: AEAD key of %d bytes, want %d", ErrInvalidKey, len(key), s.nk)
	}
	if s.aead == aeadChaCha20Poly1305 {
		return chacha20poly1305.New(key)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// Seal encrypts and authenticates plaintext with additional data aad. A key
// or nonce of the wrong size is ErrInvalidKey.
func (s *Suite) Seal(key, nonce, aad, plaintext []byte) ([]byte, error) {
	a, err := s.newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, fmt.Errorf("%w: nonce of %d bytes", ErrInvalidKey, len(nonce))
	}
	return a.Seal(nil, nonce, plaintext, aad), nil
}

// Open authenticates and decrypts ciphertext; an authentication failure is
// ErrDecrypt, a key or nonce of the wrong size ErrInvalidKey.
func (s *Suite) Open(key, nonce, aad, ciphertext []byte) ([]byte, error) {
	a, err := s.newAEAD(key)
	if err != nil {
		return nil, err
	}
	if len(nonce) != a.NonceSize() {
		return nil, fmt.Errorf("%w: nonce of %d bytes", ErrInvalidKey, len(nonce))
	}
	pt, err := a.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, ErrDecrypt
	}
	return pt, nil
}
