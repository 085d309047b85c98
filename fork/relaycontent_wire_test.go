package fork

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

func sampleRelayed() *RelayedContent {
	return &RelayedContent{GroupID: []byte("group"), Sealed: EpochRef{Epoch: 3, ID: sampleID(1)},
		Head: EpochRef{Epoch: 7, ID: sampleID(2)}, Recipient: 2,
		KEMOutput: bytes.Repeat([]byte{4}, 32), Ciphertext: bytes.Repeat([]byte{5}, 120)}
}

func TestRelayedContentWire(t *testing.T) {
	enc, err := codec.Marshal(sampleRelayed())
	if err != nil {
		t.Fatal(err)
	}
	var d RelayedContent
	if err := codec.Unmarshal(enc, &d); err != nil {
		t.Fatal(err)
	}
	if re, _ := codec.Marshal(&d); !bytes.Equal(re, enc) {
		t.Fatal("RelayedContent does not re-encode to itself")
	}
	big := sampleRelayed()
	big.Ciphertext = make([]byte, MaxRelayedCiphertext+1)
	if _, err := codec.Marshal(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized ciphertext encoded: %v", err)
	}
	// An oversized field on the wire is refused before allocation.
	w := codec.NewWriter(nil)
	w.Opaque([]byte("group"))
	w.Uint64(3)
	w.Raw(make([]byte, 32))
	w.Uint64(7)
	w.Raw(make([]byte, 32))
	w.Uint32(2)
	w.Opaque(make([]byte, MaxKEMOutputSize+1))
	raw, _ := w.Bytes()
	if err := codec.Unmarshal(raw, &d); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized kem_output decoded: %v", err)
	}
}

func FuzzRelayedContent(f *testing.F) {
	seed(f, sampleRelayed())
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() wireValue { return new(RelayedContent) })
	})
}

// FuzzRelayedPlaintext: the decrypted part is parsed after HPKE only, but
// a relay that is a member can put anything in it.
func FuzzRelayedPlaintext(f *testing.F) {
	seed(f, &relayedPlaintext{Context: []byte{1, 2, 3}, Content: []byte{4, 5}})
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() wireValue { return new(relayedPlaintext) })
	})
}
