package consensus

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func sampleEnvelope() *Envelope {
	e := &Envelope{Kind: KindCommit, GroupID: []byte("group"), Epoch: 7, Body: []byte{1, 2, 3}}
	for i := range e.EpochID {
		e.EpochID[i] = byte(i)
	}
	return e
}

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, k := range []EnvelopeKind{KindCommit, KindProposal, KindApplication, KindEvidence, KindBeacon, KindFetchRequest, KindFetchResponse} {
		e := sampleEnvelope()
		e.Kind = k
		b, err := e.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		got, err := UnmarshalEnvelope(b)
		if err != nil {
			t.Fatalf("%v: %v", k, err)
		}
		again, _ := got.MarshalBinary()
		if !bytes.Equal(again, b) || got.Kind != k || got.Epoch != 7 || got.EpochID != e.EpochID {
			t.Fatalf("%v: round trip changed the envelope", k)
		}
	}
}

// TestEnvelopeRejects: truncations, trailing bytes, unknown versions and
// kinds, and oversized fields never parse.
func TestEnvelopeRejects(t *testing.T) {
	b, _ := sampleEnvelope().MarshalBinary()
	for n := 0; n < len(b); n++ {
		if _, err := UnmarshalEnvelope(b[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := UnmarshalEnvelope(append(append([]byte{}, b...), 0)); !errors.Is(err, ErrMalformed) {
		t.Fatal("trailing byte accepted")
	}
	bad := append([]byte{}, b...)
	bad[0] = 2
	if _, err := UnmarshalEnvelope(bad); !errors.Is(err, ErrUnknownKind) {
		t.Fatalf("version 2: %v", err)
	}
	bad[0], bad[1] = 1, 99
	if _, err := UnmarshalEnvelope(bad); !errors.Is(err, ErrUnknownKind) || !errors.Is(err, ErrMalformed) {
		t.Fatalf("kind 99: %v", err)
	}
	big := sampleEnvelope()
	big.GroupID = make([]byte, MaxGroupIDSize+1)
	if _, err := big.MarshalBinary(); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("encoding an oversized group id: %v", err)
	}
	// A decoder meeting an oversized group id refuses it.
	w := codec.NewWriter(nil)
	w.Uint8(EnvelopeVersion)
	w.Uint8(uint8(KindCommit))
	w.Opaque(make([]byte, MaxGroupIDSize+1))
	w.Uint64(1)
	w.Raw(make([]byte, 32))
	w.Opaque(nil)
	raw, _ := w.Bytes()
	if _, err := UnmarshalEnvelope(raw); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("decoding an oversized group id: %v", err)
	}
}

func TestEpochIDSeparatesInputs(t *testing.T) {
	a := NewEpochID([]byte("g"), 1, []byte("auth"))
	for _, b := range []EpochID{
		NewEpochID([]byte("h"), 1, []byte("auth")),
		NewEpochID([]byte("g"), 2, []byte("auth")),
		NewEpochID([]byte("g"), 1, []byte("autH")),
		// length prefix: group "g\x00..." vs epoch bytes cannot collide
		NewEpochID([]byte("g\x00"), 1, []byte("auth")),
	} {
		if a == b {
			t.Fatal("distinct inputs give the same epoch id")
		}
	}
	if a != NewEpochID([]byte("g"), 1, []byte("auth")) {
		t.Fatal("epoch id is not a function of its inputs")
	}
}

// fuzzCanonical checks that whatever decodes re-encodes to the same bytes.
func fuzzCanonical[T any, P interface {
	*T
	codec.Marshaler
	codec.Unmarshaler
}](t *testing.T, data []byte) {
	v := P(new(T))
	if err := codec.Unmarshal(data, v); err != nil {
		return
	}
	again, err := codec.Marshal(v)
	if err != nil {
		t.Fatalf("decoded value does not encode: %v", err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("not canonical:\n in %x\nout %x", data, again)
	}
}

func FuzzEnvelope(f *testing.F) {
	b, _ := sampleEnvelope().MarshalBinary()
	f.Add(b)
	f.Add([]byte{1, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := UnmarshalEnvelope(data)
		if err != nil {
			return
		}
		again, err := e.MarshalBinary()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("not canonical: %v", err)
		}
	})
}

func FuzzCommitBody(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1, 0})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCanonical[CommitBody](t, data) })
}

func FuzzEvidence(f *testing.F) {
	f.Add([]byte{0, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCanonical[Evidence](t, data) })
}

func FuzzApplicationPayload(f *testing.F) {
	f.Add(make([]byte, 17))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCanonical[ApplicationPayload](t, data) })
}

func FuzzAdmins(f *testing.F) {
	f.Add([]byte{4, 3, 'a', 'b', 'c'})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCanonical[Admins](t, data) })
}

func FuzzSealed(f *testing.F) {
	f.Add([]byte{1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3, 0})
	f.Fuzz(func(t *testing.T, data []byte) { fuzzCanonical[Sealed](t, data) })
}

// FuzzNodeMeta: the bookkeeping Restore reads back from storage never
// panics, and what it accepts survives a second round trip unchanged.
func FuzzNodeMeta(f *testing.F) {
	n := &node{committer: 3, signer: "key", added: []uint32{4}, removed: []uint32{1}, removedIDs: [][]byte{[]byte("id")},
		equivocators: map[string]bool{"k": true}, builders: map[string]bool{"a": true, "b": true},
		proposalRefs: [][]byte{[]byte("ref")}, byRef: []*wire.Proposal{{Type: wire.ProposalTypeRemove, Remove: &wire.Remove{Removed: 1}}}}
	b, err := codec.Marshal(&nodeMeta{n: n, age: 5})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		var m nodeMeta
		if codec.Unmarshal(data, &m) != nil {
			return
		}
		once, err := codec.Marshal(&m)
		if err != nil {
			t.Fatalf("accepted meta does not encode: %v", err)
		}
		var again nodeMeta
		if err := codec.Unmarshal(once, &again); err != nil {
			t.Fatalf("re-encoded meta does not decode: %v", err)
		}
		twice, _ := codec.Marshal(&again)
		if !bytes.Equal(once, twice) {
			t.Fatal("meta round trip is not stable")
		}
	})
}
