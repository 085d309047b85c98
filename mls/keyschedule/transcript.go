package keyschedule

import (
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
)

// ConfirmedTranscriptHash is Hash(interim_transcript_hash_[n-1] ||
// ConfirmedTranscriptHashInput_[n]) (§8.2); input is the encoded
// ConfirmedTranscriptHashInput (wire_format, content, signature).
func ConfirmedTranscriptHash(s *suite.Suite, prevInterim, input []byte) []byte {
	buf := make([]byte, 0, len(prevInterim)+len(input))
	buf = append(buf, prevInterim...)
	buf = append(buf, input...)
	return s.Hash(buf)
}

// InterimTranscriptHash is Hash(confirmed_transcript_hash_[n] ||
// InterimTranscriptHashInput_[n]), the input being the confirmation tag
// as a MAC (opaque<V>).
func InterimTranscriptHash(s *suite.Suite, confirmed, confirmationTag []byte) ([]byte, error) {
	w := codec.NewWriter(make([]byte, 0, len(confirmed)+len(confirmationTag)+4))
	w.Raw(confirmed)
	w.Opaque(confirmationTag)
	buf, err := w.Bytes()
	if err != nil {
		return nil, err
	}
	return s.Hash(buf), nil
}
