package fork

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

func sampleDirect() *DirectResend {
	return &DirectResend{GroupID: []byte("group"), Epoch: 7, EpochID: sampleID(3), Sender: 1, Recipient: 2,
		KEMOutput: bytes.Repeat([]byte{4}, 32), Ciphertext: bytes.Repeat([]byte{5}, 80), Signature: bytes.Repeat([]byte{6}, 64)}
}

func TestDirectResendWire(t *testing.T) {
	enc, err := codec.Marshal(sampleDirect())
	if err != nil {
		t.Fatal(err)
	}
	var d DirectResend
	if err := codec.Unmarshal(enc, &d); err != nil {
		t.Fatal(err)
	}
	if re, _ := codec.Marshal(&d); !bytes.Equal(re, enc) {
		t.Fatal("DirectResend does not re-encode to itself")
	}
	big := sampleDirect()
	big.KEMOutput = make([]byte, MaxKEMOutputSize+1)
	if _, err := codec.Marshal(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized kem_output encoded: %v", err)
	}
	// An oversized field on the wire is refused before allocation.
	w := codec.NewWriter(nil)
	w.Opaque([]byte("group"))
	w.Uint64(7)
	w.Raw(make([]byte, 32))
	w.Uint32(1)
	w.Uint32(2)
	w.Opaque(make([]byte, MaxKEMOutputSize+1))
	raw, _ := w.Bytes()
	if err := codec.Unmarshal(raw, &d); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized kem_output decoded: %v", err)
	}
}

func FuzzDirectResend(f *testing.F) {
	seed(f, sampleDirect())
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, func() wireValue { return new(DirectResend) }) })
}
