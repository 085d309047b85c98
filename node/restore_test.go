package node

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
)

func TestTreeRecordRoundTrip(t *testing.T) {
	p := &consensus.Persist{
		HeadID: consensus.EpochID{2},
		Tick:   77,
		Retained: []consensus.RetainedEpoch{
			{Ref: consensus.EpochRef{Epoch: 4, ID: consensus.EpochID{1}}, Meta: []byte("m1"), State: []byte("s")},
			{Ref: consensus.EpochRef{Epoch: 5, ID: consensus.EpochID{2}}, Parent: consensus.EpochID{1}, Commit: []byte("c2"), Meta: []byte("m2")},
			{Ref: consensus.EpochRef{Epoch: 5, ID: consensus.EpochID{3}}, Parent: consensus.EpochID{1}, Commit: []byte("c3"), Meta: []byte("m3")},
		},
	}
	enc, err := treeRecordOf(p)
	if err != nil {
		t.Fatal(err)
	}
	var rec treeRecord
	if err := codec.Unmarshal(enc, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Tick != 77 || len(rec.Epochs) != 3 {
		t.Fatalf("decoded %+v", rec)
	}
	// The root's commit comes back nil; the head is marked as having a
	// state (it is the head record); a rival this member never was in
	// has none.
	if rec.Epochs[0].Commit != nil || !rec.Epochs[0].HasState || !rec.Epochs[1].HasState || rec.Epochs[2].HasState {
		t.Fatalf("decoded %+v", rec.Epochs)
	}
	if string(rec.Epochs[2].Commit) != "c3" || rec.Epochs[2].Parent != (consensus.EpochID{1}) || rec.Epochs[2].Ref.Epoch != 5 {
		t.Fatalf("decoded %+v", rec.Epochs[2])
	}
	bad := append([]byte{9}, enc[1:]...)
	if err := codec.Unmarshal(bad, &rec); err == nil {
		t.Fatal("accepted an unknown record version")
	}
}

func FuzzTreeRecord(f *testing.F) {
	enc, _ := treeRecordOf(&consensus.Persist{Tick: 3, Retained: []consensus.RetainedEpoch{
		{Ref: consensus.EpochRef{Epoch: 1}, Commit: []byte{1}, Meta: []byte{2}},
	}})
	f.Add(enc)
	f.Add([]byte{1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec treeRecord
		if codec.Unmarshal(data, &rec) != nil {
			return
		}
		again, err := codec.Marshal(&rec)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("not canonical: %x -> %x", data, again)
		}
	})
}
