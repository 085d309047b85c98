package suite

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// AEADKeySize is AEAD.Nk.
func (s *Suite) AEADKeySize() int { return s.keySize }

// AEADNonceSize is AEAD.Nn (12 for every MLS suite).
func (s *Suite) AEADNonceSize() int { return 12 }

// AEADOverhead is the tag length added by Seal.
func (s *Suite) AEADOverhead() int { return 16 }

func (s *Suite) newAEAD(key []byte) (cipher.AEAD, error) {
	if len(key) != s.keySize {
		return nil, fmt.Errorf("%w: AEAD key of %d bytes, want %d", ErrInvalidKey, len(key), s.keySize)
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

// Seal encrypts and authenticates plaintext.
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

// Open authenticates and decrypts ciphertext; failure is ErrDecrypt.
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
