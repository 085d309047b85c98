package secrettree

import "github.com/mlsnode/mlsnode/mls/suite"

// SenderDataKeyNonce derives the key and nonce that protect a
// PrivateMessage's SenderData (RFC 9420 §6.3.2) from the epoch's
// sender_data_secret and the message's ciphertext: the sample is the first
// KDF.Nh bytes of the ciphertext, or all of it when shorter.
func SenderDataKeyNonce(s *suite.Suite, senderDataSecret, ciphertext []byte) (key, nonce []byte, err error) {
	sample := ciphertext
	if len(sample) > s.HashSize() {
		sample = sample[:s.HashSize()]
	}
	key, err = s.ExpandWithLabel(senderDataSecret, "key", sample, s.AEADKeySize())
	if err != nil {
		return nil, nil, err
	}
	nonce, err = s.ExpandWithLabel(senderDataSecret, "nonce", sample, s.AEADNonceSize())
	if err != nil {
		return nil, nil, err
	}
	return key, nonce, nil
}
