package store

import (
	"bytes"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// newRecord returns an empty record of a kind, for the decoders' fuzz
// target.
func newRecord(k Kind) record {
	switch k {
	case KindSchema:
		return &schemaRecord{}
	case KindCrypto:
		return &cryptoRecord{}
	case KindShred:
		return &shredRecord{}
	case KindIdentity:
		return &Identity{}
	case KindKeyPackage:
		return &KeyPackage{}
	case KindPSK:
		return &PSK{}
	case KindGroupIndex:
		return &groupIndex{}
	case KindHead:
		return &head{}
	case KindSequence:
		return &sequences{}
	case KindEpoch:
		return &Epoch{}
	case KindEpochKey, KindGroupKey:
		return &secret{}
	case KindRival:
		return &Rival{}
	case KindOutbox:
		return &OutboxEntry{}
	case KindReceived:
		return &Received{}
	case KindCommitSeen:
		return &CommitSeen{}
	case KindReceivedID:
		return &receivedID{}
	case KindGroupMeta, KindNodeMeta:
		return &meta{}
	}
	return nil
}

func fuzzSeeds() map[Kind]record {
	return map[Kind]record{
		KindSchema:     &schemaRecord{Version: 1},
		KindCrypto:     &cryptoRecord{Salt: make([]byte, 16), Time: 1, MemoryKiB: 64, Threads: 1, Check: make([]byte, 32)},
		KindShred:      &shredRecord{Prefixes: []string{"/g/00/e/11", "/n/kp/22"}},
		KindIdentity:   &Identity{Suite: 1, Credential: []byte("c"), SignaturePublic: []byte("p"), SignaturePrivate: []byte("s")},
		KindKeyPackage: &KeyPackage{Ref: []byte("r"), Encoded: []byte("e"), InitPrivate: []byte("i"), LastResort: true},
		KindPSK:        &PSK{ID: []byte("id"), Secret: []byte("s")},
		KindGroupIndex: &groupIndex{Group: []byte("g")},
		KindHead:       &head{ID: eid("f", 1), Number: 7},
		KindSequence:   &sequences{NextOutbox: 3, NextReceived: 9},
		KindEpoch:      &Epoch{ID: eid("f", 1), Number: 1, Parent: eid("f", 0), State: []byte("state")},
		KindEpochKey:   &secret{Value: []byte("k")},
		KindRival:      &Rival{Parent: eid("f", 0), ID: eid("f", 2), Commit: []byte("c")},
		KindOutbox:     &OutboxEntry{ID: 4, Epoch: eid("f", 1), Plaintext: []byte("p"), Message: []byte("m")},
		KindReceived:   &Received{Seq: 5, ID: []byte("id"), Epoch: eid("f", 1), EpochNumber: 1, Sender: 2, SenderIdentity: []byte("peer"), Data: []byte("d"), LosingBranch: true},
		KindReceivedID: &receivedID{Seq: 5},
		KindGroupMeta:  &meta{Value: []byte("v")},
		KindCommitSeen: &CommitSeen{Parent: eid("f", 0), ID: eid("f", 1), Number: 1, Commit: []byte("c")},
	}
}

// FuzzRecord feeds arbitrary bytes to every record decoder, plain and
// through the value frame. Decoding must not panic, and whatever decodes
// must re-encode to the same bytes (decoding is canonical).
func FuzzRecord(f *testing.F) {
	for k, r := range fuzzSeeds() {
		b, err := encodeRecord(r)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(k), b)
		f.Add(byte(k), plainFrame(ds.NewKey("/k"), k, b))
	}
	f.Fuzz(func(t *testing.T, k byte, data []byte) {
		rec := newRecord(Kind(k))
		if rec == nil {
			return
		}
		if err := decodeRecord(data, rec); err == nil {
			again, err := encodeRecord(rec)
			if err != nil {
				t.Fatalf("decoded %s record does not encode: %v", Kind(k), err)
			}
			if !bytes.Equal(again, data) {
				t.Fatalf("%s record: decode then encode changed the bytes", Kind(k))
			}
		}
		fr := &framer{}
		if body, err := fr.open(ds.NewKey("/k"), Kind(k), data); err == nil {
			_ = decodeRecord(body, newRecord(Kind(k)))
		}
	})
}

// FuzzSealedFrame opens arbitrary bytes as sealed values: never a panic,
// and nothing opens that was not sealed under the key.
func FuzzSealedFrame(f *testing.F) {
	fr, err := newSealedFramer([]byte("pw"), testCryptoRecord(f))
	if err != nil {
		f.Fatal(err)
	}
	// A sealed value with a fixed nonce, so that every fuzzing process
	// (each runs this function) has the same one.
	nonce := make([]byte, 24)
	good := append([]byte{frameSealed}, nonce...)
	good = fr.aead.Seal(good, nonce, []byte{byte(KindHead), 'b', 'o', 'd', 'y'}, associatedData(ds.NewKey("/k")))
	if _, err := fr.open(ds.NewKey("/k"), KindHead, good); err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte{frameSealed})
	f.Fuzz(func(t *testing.T, data []byte) {
		body, err := fr.open(ds.NewKey("/k"), KindHead, data)
		if err == nil && !bytes.Equal(data, good) {
			// Only a value produced by seal may open.
			t.Fatalf("forged value opened: %x", body)
		}
	})
}

// FuzzKeyLayout classifies arbitrary keys without panicking.
func FuzzKeyLayout(f *testing.F) {
	for _, k := range []ds.Key{keySchema, keyHead([]byte("g")), keyEpochKey([]byte("g"), eid("x", 1), "n"), keyOutbox([]byte("g"), 3)} {
		f.Add(k.String())
	}
	f.Fuzz(func(t *testing.T, s string) {
		kindOfKey(ds.NewKey("/" + s))
	})
}

func testCryptoRecord(t testing.TB) *cryptoRecord {
	c := &cryptoRecord{Salt: make([]byte, 16), Time: fastKDF.Time, MemoryKiB: fastKDF.MemoryKiB, Threads: fastKDF.Threads}
	_, check, err := deriveKeys([]byte("pw"), c)
	if err != nil {
		t.Fatal(err)
	}
	c.Check = check
	return c
}
