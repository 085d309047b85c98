package suite

import (
	"fmt"
	"io"
)

// LabelEncryptor is EncryptWithLabel for many recipients under one label
// and context. HPKE hashes its info (here EncryptContext, which holds the
// context) in every key schedule (RFC 9180 §5.1: info_hash); a Welcome
// encrypts every new member's GroupSecrets with the whole encrypted
// GroupInfo as context, so hashing it once per member makes adding N
// members O(N²). The encryptor hashes it once. Its output is exactly
// EncryptWithLabel's for the same randomness.
type LabelEncryptor struct {
	s *Suite
	// keyScheduleContext is mode_base || psk_id_hash || info_hash.
	keyScheduleContext []byte
}

// NewLabelEncryptor prepares EncryptWithLabel(·, label, context, ·).
func (s *Suite) NewLabelEncryptor(label string, context []byte) (*LabelEncryptor, error) {
	info, err := encryptContext(label, context)
	if err != nil {
		return nil, err
	}
	ksc := []byte{0x00} // mode_base
	ksc = append(ksc, s.hpkeLabeledExtract(nil, "psk_id_hash", nil)...)
	ksc = append(ksc, s.hpkeLabeledExtract(nil, "info_hash", info)...)
	return &LabelEncryptor{s: s, keyScheduleContext: ksc}, nil
}

// Encrypt seals plaintext to pub: SetupBaseS with an ephemeral key derived
// from bytes read from rand, then one AEAD seal at sequence number 0.
func (e *LabelEncryptor) Encrypt(rand io.Reader, pub, plaintext []byte) (kemOutput, ciphertext []byte, err error) {
	s := e.s
	pk, err := s.unmarshalPublic(pub)
	if err != nil {
		return nil, nil, err
	}
	seed := make([]byte, s.hpkeKEM.Scheme().EncapsulationSeedSize())
	defer clear(seed)
	if _, err := io.ReadFull(rand, seed); err != nil {
		return nil, nil, fmt.Errorf("mls/suite: reading randomness: %w", err)
	}
	enc, shared, err := s.hpkeKEM.Scheme().EncapsulateDeterministically(pk, seed)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: HPKE encap: %v", ErrInvalidKey, err)
	}
	defer clear(shared)
	secret := s.hpkeLabeledExtract(shared, "secret", nil)
	defer clear(secret)
	key, err := s.hpkeLabeledExpand(secret, "key", e.keyScheduleContext, s.nk)
	if err != nil {
		return nil, nil, err
	}
	defer clear(key)
	nonce, err := s.hpkeLabeledExpand(secret, "base_nonce", e.keyScheduleContext, s.AEADNonceSize())
	if err != nil {
		return nil, nil, err
	}
	ct, err := s.Seal(key, nonce, nil, plaintext)
	if err != nil {
		return nil, nil, err
	}
	return enc, ct, nil
}

func (s *Suite) hpkeLabeledExtract(salt []byte, label string, ikm []byte) []byte {
	return labeledExtract(s.newHash, s.hpkeID, salt, label, ikm)
}

func (s *Suite) hpkeLabeledExpand(prk []byte, label string, info []byte, length int) ([]byte, error) {
	return labeledExpand(s.newHash, s.hpkeID, prk, label, info, length)
}
