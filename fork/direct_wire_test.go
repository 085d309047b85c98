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

func sampleResendPlaintext(proof bool) *resendPlaintext {
	p := &resendPlaintext{Nonce: [16]byte{1, 2, 3}, Data: []byte("framed data")}
	if proof {
		p.Proof = &sealedProof{Sealed: EpochRef{Epoch: 3, ID: sampleID(4)}, Sender: 5,
			Context: bytes.Repeat([]byte{7}, 90), Signature: bytes.Repeat([]byte{8}, 64)}
	}
	return p
}

// TestResendPlaintextWire: the plaintext round-trips with and without the
// sealed proof, and an oversized proof is refused both ways.
func TestResendPlaintextWire(t *testing.T) {
	for _, proof := range []bool{false, true} {
		enc, err := codec.Marshal(sampleResendPlaintext(proof))
		if err != nil {
			t.Fatal(err)
		}
		var p resendPlaintext
		if err := codec.Unmarshal(enc, &p); err != nil {
			t.Fatal(err)
		}
		if (p.Proof != nil) != proof {
			t.Fatalf("proof present %v after decoding, want %v", p.Proof != nil, proof)
		}
		if re, _ := codec.Marshal(&p); !bytes.Equal(re, enc) {
			t.Fatal("ResendPlaintext does not re-encode to itself")
		}
	}
	big := sampleResendPlaintext(true)
	big.Proof.Signature = make([]byte, MaxSignatureSize+1)
	if _, err := codec.Marshal(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized proof signature encoded: %v", err)
	}
	w := codec.NewWriter(nil)
	w.Raw(make([]byte, 16))
	w.Opaque([]byte("d"))
	w.Optional(true, func(w *codec.Writer) {
		w.Uint64(3)
		w.Raw(make([]byte, 32))
		w.Uint32(5)
		w.Opaque(make([]byte, MaxRelayedContext+1))
	})
	raw, _ := w.Bytes()
	var p resendPlaintext
	if err := codec.Unmarshal(raw, &p); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized proof context decoded: %v", err)
	}
}

// FuzzResendPlaintext: the decrypted part is parsed after HPKE and the
// signature check only, but an author that is a member can put anything
// in it.
func FuzzResendPlaintext(f *testing.F) {
	seed(f, sampleResendPlaintext(false))
	seed(f, sampleResendPlaintext(true))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() wireValue { return new(resendPlaintext) })
	})
}
