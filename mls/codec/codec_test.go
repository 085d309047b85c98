package codec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
)

// TestDeserializationVectors checks the varint headers of
// deserialization.json both ways.
func TestDeserializationVectors(t *testing.T) {
	var cases []struct {
		Header testvectors.Hex `json:"vlbytes_header"`
		Length uint32          `json:"length"`
	}
	testvectors.Load(t, "deserialization.json", &cases)
	for _, c := range cases {
		v, n, err := ParseVarint(c.Header)
		if err != nil || v != c.Length || n != len(c.Header) {
			t.Errorf("ParseVarint(%x) = %d, %d, %v; want %d", []byte(c.Header), v, n, err, c.Length)
		}
		enc, err := AppendVarint(nil, c.Length)
		if err != nil || !bytes.Equal(enc, c.Header) {
			t.Errorf("AppendVarint(%d) = %x, %v; want %x", c.Length, enc, err, []byte(c.Header))
		}
	}
	testvectors.Report(t, "deserialization.json", len(cases))
}

func TestVarintBounds(t *testing.T) {
	for _, v := range []uint32{0, 63, 64, 16383, 16384, MaxVarint} {
		enc, err := AppendVarint(nil, v)
		if err != nil {
			t.Fatalf("AppendVarint(%d): %v", v, err)
		}
		got, n, err := ParseVarint(enc)
		if err != nil || got != v || n != len(enc) {
			t.Errorf("round trip %d: got %d, %d, %v", v, got, n, err)
		}
	}
	if _, err := AppendVarint(nil, MaxVarint+1); !errors.Is(err, ErrVarintTooLarge) {
		t.Errorf("AppendVarint(2^30) err = %v", err)
	}
	bad := map[string]struct {
		in   []byte
		want error
	}{
		"empty":              {nil, ErrTruncated},
		"2-byte truncated":   {[]byte{0x40}, ErrTruncated},
		"4-byte truncated":   {[]byte{0x80, 0, 0}, ErrTruncated},
		"8-byte prefix":      {[]byte{0xc0, 0, 0, 0, 0, 0, 0, 1}, ErrVarintTooLarge},
		"non-minimal 2-byte": {[]byte{0x40, 0x3f}, ErrNonMinimalVarint},
		"non-minimal 4-byte": {[]byte{0x80, 0, 0x3f, 0xff}, ErrNonMinimalVarint},
		"zero in 2 bytes":    {[]byte{0x40, 0x00}, ErrNonMinimalVarint},
	}
	for name, c := range bad {
		if _, _, err := ParseVarint(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
}

type sample struct {
	A     uint16
	Name  []byte
	Items [][]byte
	Opt   *uint32
}

func (s *sample) MarshalMLS(w *Writer) {
	w.Uint16(s.A)
	w.Opaque(s.Name)
	w.Vector(func(w *Writer) {
		for _, it := range s.Items {
			w.Opaque(it)
		}
	})
	w.Optional(s.Opt != nil, func(w *Writer) { w.Uint32(*s.Opt) })
}

func (s *sample) UnmarshalMLS(r *Reader) {
	r.Uint16("sample.a", &s.A)
	r.Opaque("sample.name", &s.Name)
	r.Each("sample.items", func(r *Reader) {
		var it []byte
		if r.Opaque("sample.items[]", &it) {
			s.Items = append(s.Items, it)
		}
	})
	r.Optional("sample.opt", func(r *Reader) {
		s.Opt = new(uint32)
		r.Uint32("sample.opt", s.Opt)
	})
}

func TestRoundTripAndErrors(t *testing.T) {
	seven := uint32(7)
	in := &sample{A: 0x1234, Name: bytes.Repeat([]byte{1}, 100), Items: [][]byte{{1}, {}, {2, 3}}, Opt: &seven}
	enc, err := Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out sample
	if err := Unmarshal(enc, &out); err != nil {
		t.Fatal(err)
	}
	re, _ := Marshal(&out)
	if !bytes.Equal(enc, re) {
		t.Fatalf("re-encode differs: %x vs %x", enc, re)
	}
	// Every strict prefix must fail with ErrTruncated and never panic.
	for i := 0; i < len(enc); i++ {
		var s sample
		err := Unmarshal(enc[:i], &s)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("prefix %d: err = %v, want truncated", i, err)
		}
		var de *DecodeError
		if !errors.As(err, &de) || de.Field == "" {
			t.Fatalf("prefix %d: error %v does not name a field", i, err)
		}
	}
	var s sample
	if err := Unmarshal(append(enc, 0), &s); !errors.Is(err, ErrTrailingData) {
		t.Fatalf("trailing byte: err = %v", err)
	}
	// Optional flag 2 is invalid.
	bad := append([]byte{}, enc...)
	bad[len(bad)-5] = 2
	if err := Unmarshal(bad, &s); !errors.Is(err, ErrInvalidValue) {
		t.Fatalf("optional flag 2: err = %v", err)
	}
}

func TestVectorPrefixShrinks(t *testing.T) {
	for _, n := range []int{0, 63, 64, 16383, 16384} {
		var w Writer
		w.Vector(func(w *Writer) { w.Raw(make([]byte, n)) })
		b, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != n+VarintSize(n) {
			t.Fatalf("n=%d: encoded %d bytes", n, len(b))
		}
		v, _, err := ParseVarint(b)
		if err != nil || int(v) != n {
			t.Fatalf("n=%d: prefix %d %v", n, v, err)
		}
	}
}
