package node

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

func TestHistoryCodec(t *testing.T) {
	req, err := codec.Marshal(&historyRequest{GroupID: []byte{1, 2, 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !isHistoryRequest(req) {
		t.Fatal("request not recognised")
	}
	var back historyRequest
	if err := codec.Unmarshal(req, &back); err != nil || !bytes.Equal(back.GroupID, []byte{1, 2, 3}) {
		t.Fatalf("%v %x", err, back.GroupID)
	}
	for _, bad := range [][]byte{
		{historyRequestTag},                   // truncated
		{historyRequestTag, 0},                // empty group id
		{1, 1, 7},                             // an Envelope's version byte
		append(append([]byte{}, req...), 0),   // trailing data
		{historyRequestTag, 0x80, 0x00, 0x01}, // non-minimal varint
	} {
		var h historyRequest
		if err := codec.Unmarshal(bad, &h); err == nil {
			t.Errorf("accepted %x", bad)
		}
	}
	resp, err := codec.Marshal(&historyResponse{Envelopes: [][]byte{{1}, {2, 3}}})
	if err != nil {
		t.Fatal(err)
	}
	var hr historyResponse
	if err := codec.Unmarshal(resp, &hr); err != nil || len(hr.Envelopes) != 2 {
		t.Fatalf("%v %v", err, hr.Envelopes)
	}
	for i := 0; i < len(resp); i++ {
		var h historyResponse
		if err := codec.Unmarshal(resp[:i], &h); err == nil && i < len(resp) {
			if i != 0 {
				t.Errorf("truncated response of %d bytes parsed", i)
			}
		}
	}
}

func FuzzHistoryRequest(f *testing.F) {
	seed, _ := codec.Marshal(&historyRequest{GroupID: []byte("group")})
	f.Add(seed)
	f.Add([]byte{historyRequestTag})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h historyRequest
		if err := codec.Unmarshal(b, &h); err != nil {
			return
		}
		again, err := codec.Marshal(&h)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x -> %x (%v)", b, again, err)
		}
	})
}

func FuzzHistoryResponse(f *testing.F) {
	seed, _ := codec.Marshal(&historyResponse{Envelopes: [][]byte{{1, 2}, {}}})
	f.Add(seed)
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var h historyResponse
		if err := codec.Unmarshal(b, &h); err != nil {
			return
		}
		again, err := codec.Marshal(&h)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x -> %x (%v)", b, again, err)
		}
	})
}

func FuzzAppFrame(f *testing.F) {
	seed, _ := codec.Marshal(&appFrame{SentAt: 1, Data: []byte("hi")})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a appFrame
		if err := codec.Unmarshal(b, &a); err != nil {
			return
		}
		again, err := codec.Marshal(&a)
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("not canonical: %x -> %x (%v)", b, again, err)
		}
	})
}
