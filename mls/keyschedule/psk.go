package keyschedule

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
)

// PSK is one pre-shared key injected into an epoch: its encoded
// PreSharedKeyID (mls/wire) and the key itself (an external PSK, or the
// resumption_psk of the referenced epoch).
type PSK struct {
	ID     []byte
	Secret []byte
}

// PSKSecret chains the PSKs in order into psk_secret (§8.4):
//
//	psk_extracted_[i] = KDF.Extract(0, psk_[i])
//	psk_input_[i]     = ExpandWithLabel(psk_extracted_[i], "derived psk", PSKLabel, KDF.Nh)
//	psk_secret_[i+1]  = KDF.Extract(psk_input_[i], psk_secret_[i])
//
// with psk_secret_[0] the zero vector. No PSKs give the zero vector.
func PSKSecret(s *suite.Suite, psks []PSK) ([]byte, error) {
	if len(psks) > 0xffff {
		return nil, fmt.Errorf("mls/keyschedule: %d PSKs exceed the uint16 count", len(psks))
	}
	secret := Zero(s)
	for i, p := range psks {
		// PSKLabel { PreSharedKeyID id; uint16 index; uint16 count; }
		w := codec.NewWriter(make([]byte, 0, len(p.ID)+4))
		w.Raw(p.ID)
		w.Uint16(uint16(i))
		w.Uint16(uint16(len(psks)))
		label, err := w.Bytes()
		if err != nil {
			return nil, err
		}
		extracted := s.Extract(Zero(s), p.Secret)
		input, err := s.ExpandWithLabel(extracted, "derived psk", label, s.HashSize())
		clear(extracted)
		if err != nil {
			return nil, err
		}
		next := s.Extract(input, secret)
		clear(input)
		clear(secret)
		secret = next
	}
	return secret, nil
}
