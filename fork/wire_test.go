package fork

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func sampleID(b byte) EpochID {
	var id EpochID
	for i := range id {
		id[i] = b + byte(i)
	}
	return id
}

func sampleBeacon() *Beacon {
	return &Beacon{GroupID: []byte("group"), Epoch: 7, EpochID: sampleID(1), Sender: 3, Seq: 42, Sent: 5, OpensFrom: 5,
		Nacks: []Nack{{Author: Identity(sampleID(7)), Seq: 3}}, Signature: bytes.Repeat([]byte{9}, 64)}
}

func sampleRequest() *FetchRequest {
	return &FetchRequest{GroupID: []byte("group"), RequestID: 5, Want: EpochRef{Epoch: 9, ID: sampleID(2)},
		Have: []EpochRef{{Epoch: 7, ID: sampleID(3)}, {Epoch: 6, ID: sampleID(4)}}}
}

func sampleResponse() *FetchResponse {
	return &FetchResponse{GroupID: []byte("group"), RequestID: 5, Base: EpochRef{Epoch: 6, ID: sampleID(4)},
		Commits: [][]byte{{1, 2, 3}, {4}}, More: true,
		Branch: &BranchInfo{
			GroupInfo: wire.GroupInfo{GroupContext: wire.GroupContext{Version: wire.ProtocolVersionMLS10, CipherSuite: 1,
				GroupID: []byte("group"), Epoch: 9, TreeHash: []byte{1}, ConfirmedTranscriptHash: []byte{2}},
				ConfirmationTag: []byte{3}, Signer: 1, Signature: []byte{4}},
			History:      []EpochRef{{Epoch: 9, ID: sampleID(2)}},
			Attestations: []Beacon{*sampleBeacon()},
		}}
}

type wireValue interface {
	codec.Marshaler
	codec.Unmarshaler
}

func TestWireRoundTrip(t *testing.T) {
	cases := []struct {
		name  string
		v     wireValue
		fresh func() wireValue
	}{
		{"Beacon", sampleBeacon(), func() wireValue { return new(Beacon) }},
		{"FetchRequest", sampleRequest(), func() wireValue { return new(FetchRequest) }},
		{"FetchRequest/empty", &FetchRequest{GroupID: []byte{1}}, func() wireValue { return new(FetchRequest) }},
		{"FetchResponse", sampleResponse(), func() wireValue { return new(FetchResponse) }},
		{"FetchResponse/nobranch", &FetchResponse{GroupID: []byte{1}, Commits: [][]byte{{}}}, func() wireValue { return new(FetchResponse) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc, err := codec.Marshal(c.v)
			if err != nil {
				t.Fatal(err)
			}
			got := c.fresh()
			if err := codec.Unmarshal(enc, got); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.v) {
				t.Fatalf("round trip differs:\n got %+v\nwant %+v", got, c.v)
			}
			// Every strict prefix is refused as truncated, never parsed.
			for n := 0; n < len(enc); n++ {
				if err := codec.Unmarshal(enc[:n], c.fresh()); !errors.Is(err, codec.ErrTruncated) {
					t.Fatalf("prefix of %d/%d bytes: %v, want ErrTruncated", n, len(enc), err)
				}
			}
			if err := codec.Unmarshal(append(enc, 0), c.fresh()); !errors.Is(err, codec.ErrTrailingData) {
				t.Fatalf("trailing byte: %v", err)
			}
		})
	}
}

func TestWireLimits(t *testing.T) {
	big := sampleRequest()
	big.Have = make([]EpochRef, MaxHave+1)
	if _, err := codec.Marshal(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encoding %d have entries: %v, want ErrTooLarge", len(big.Have), err)
	}
	// Build the oversized encoding by hand: the decoder must refuse it.
	w := codec.NewWriter(nil)
	w.Opaque([]byte("g"))
	w.Uint64(1)
	writeRef(w, &EpochRef{})
	w.Vector(func(w *codec.Writer) {
		for range MaxHave + 1 {
			writeRef(w, &EpochRef{})
		}
	})
	enc, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.Unmarshal(enc, new(FetchRequest)); !errors.Is(err, ErrTooLarge) || !errors.Is(err, codec.ErrInvalidValue) {
		t.Fatalf("decoding %d have entries: %v, want ErrTooLarge", MaxHave+1, err)
	}
	b := sampleBeacon()
	b.GroupID = make([]byte, MaxGroupIDSize+1)
	enc, err = codec.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.Unmarshal(enc, new(Beacon)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized group id: %v, want ErrTooLarge", err)
	}
}

// fuzzRoundTrip: any input either fails with a *codec.DecodeError naming a
// field, or decodes to a value that re-encodes to exactly the input.
func fuzzRoundTrip(t *testing.T, data []byte, fresh func() wireValue) {
	v := fresh()
	if err := codec.Unmarshal(data, v); err != nil {
		var de *codec.DecodeError
		if !errors.As(err, &de) || de.Field == "" {
			t.Fatalf("decode error %v is not a DecodeError naming a field", err)
		}
		return
	}
	enc, err := codec.Marshal(v)
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(enc, data) {
		t.Fatalf("re-encoding differs\n got %x\nwant %x", enc, data)
	}
}

func seed(f *testing.F, v codec.Marshaler) {
	enc, err := codec.Marshal(v)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc)
}

func FuzzBeacon(f *testing.F) {
	seed(f, sampleBeacon())
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, func() wireValue { return new(Beacon) }) })
}

func FuzzFetchRequest(f *testing.F) {
	seed(f, sampleRequest())
	f.Fuzz(func(t *testing.T, data []byte) { fuzzRoundTrip(t, data, func() wireValue { return new(FetchRequest) }) })
}

func FuzzFetchResponse(f *testing.F) {
	seed(f, sampleResponse())
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRoundTrip(t, data, func() wireValue { return new(FetchResponse) })
	})
}
