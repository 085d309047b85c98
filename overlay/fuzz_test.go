package overlay

import (
	"bufio"
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// Every decoder of peer input: it never panics, fails only with
// ErrMalformed or ErrTooLarge, and what it accepts re-encodes to the same
// bytes (decoding is canonical).

func FuzzGossipFrame(f *testing.F) {
	good, _ := encodeGossipFrame([]byte("group"), []byte("payload"))
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{gossipFrameVersion, 0x01, 'g', 0x00})
	f.Add([]byte{2, 0x01, 'g', 0x01, 'p'})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := decodeGossipFrame(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := encodeGossipFrame(fr.Group, fr.Payload)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x -> %x (%v)", b, again, err)
		}
	})
}

func FuzzKPRequest(f *testing.F) {
	put, _ := codec.Marshal(&kpRequest{Op: kpOpPut, KeyPackages: [][]byte{[]byte("a"), []byte("bc")}})
	get, _ := codec.Marshal(&kpRequest{Op: kpOpGet, Owner: []byte("owner"), AllowLastResort: true})
	f.Add(put)
	f.Add(get)
	f.Add([]byte{kpOpGet, 0x00, 0x02})
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeKPRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := codec.Marshal(q)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x -> %x (%v)", b, again, err)
		}
	})
}

func FuzzMailRequest(f *testing.F) {
	for _, q := range []*mailRequest{
		{Op: mailOpDeliver, Welcome: []byte("w")},
		{Op: mailOpDeposit, Recipient: []byte("r"), Welcome: []byte("w")},
		{Op: mailOpCollect},
	} {
		b, _ := codec.Marshal(q)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := decodeMailRequest(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		again, err := codec.Marshal(q)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x -> %x (%v)", b, again, err)
		}
	})
}

// FuzzReadFrame: the stream framing. A frame is returned only if the input
// holds its whole body; the announced length is checked against the limit
// before any allocation; lengths must be minimal.
func FuzzReadFrame(f *testing.F) {
	var buf bytes.Buffer
	writeFrame(&buf, []byte("hello"))
	f.Add(buf.Bytes())
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{0x80, 0x80, 0x80, 0x80, 0x04})
	f.Add([]byte{0x81, 0x00, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		const max = 1024
		got, err := readFrame(bufio.NewReader(bytes.NewReader(b)), max)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrTooLarge", err)
			}
			return
		}
		if len(got) > max {
			t.Fatalf("frame of %d bytes over the limit", len(got))
		}
		var w bytes.Buffer
		writeFrame(&w, got)
		if !bytes.HasPrefix(b, w.Bytes()) {
			t.Fatalf("frame %x is not what the input %x starts with", w.Bytes(), b)
		}
	})
}

func FuzzDecodeStatus(f *testing.F) {
	f.Add([]byte{statusOK, 1, 2})
	f.Add([]byte{statusError, 'x', 0})
	f.Add([]byte{9})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, err := decodeStatus(b)
		var re *RemoteError
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.As(err, &re) {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.As(err, &re) {
			for _, c := range []byte(re.Message) {
				if c < 0x20 || c > 0x7e {
					t.Fatalf("unsanitised remote message %q", re.Message)
				}
			}
		}
	})
}
