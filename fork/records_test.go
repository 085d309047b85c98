package fork

import (
	"testing"

	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// recordsLeaf is a leaf node with only what the key book reads.
func recordsLeaf(name string, key byte) *wire.LeafNode {
	return &wire.LeafNode{
		EncryptionKey:  []byte{key, 0xee},
		SignatureKey:   []byte{key, 0x51},
		Credential:     wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)},
		LeafNodeSource: wire.LeafNodeSourceUpdate,
	}
}

// recordsTree is a two-leaf tree: a fixed member at leaf 0 and at leaf 1.
func recordsTree(t *testing.T, at1 *wire.LeafNode) *ratchettree.Tree {
	t.Helper()
	s, err := suite.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := ratchettree.NewWithLeaf(s, recordsLeaf("anchor", 9))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.AddLeaf(at1); err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestKeyBookLeafReusedAfterAGap: member A sits at leaf 1 in epochs 1-5,
// is removed, member B is added at leaf 1 for epochs 6-9, then A is
// re-added at leaf 1 from epoch 11 on. B's epochs must name B alone: a
// span for A widened from 1 to 14 covered them and made the lookup
// ambiguous, so a relayed content of B's, sealed in epoch 8, was refused
// by every member that needed it (simulator flapping seed 65: 5 lost).
func TestKeyBookLeafReusedAfterAGap(t *testing.T) {
	a, b := recordsLeaf("member-a", 1), recordsLeaf("member-b", 2)
	var book keyBook
	for e := uint64(1); e <= 5; e++ {
		book.note(recordsTree(t, a), e)
	}
	for e := uint64(6); e <= 9; e++ {
		book.note(recordsTree(t, b), e)
	}
	for e := uint64(11); e <= 14; e++ {
		book.note(recordsTree(t, a), e)
	}
	for e, want := range map[uint64]string{3: "member-a", 8: "member-b", 12: "member-a"} {
		k, ok := book.lookup(1, e)
		if !ok {
			t.Fatalf("epoch %d: no member found at leaf 1", e)
		}
		if string(k.identity) != want {
			t.Fatalf("epoch %d: leaf 1 is %s, want %s", e, k.identity, want)
		}
	}
	if _, ok := book.lookup(1, 10); ok {
		t.Fatal("epoch 10, never merged here, names a member at leaf 1")
	}
	// Two keys truly at one leaf in one epoch number (two branches)
	// still name none.
	book.note(recordsTree(t, a), 8)
	if _, ok := book.lookup(1, 8); ok {
		t.Fatal("an ambiguous leaf names a member")
	}
}
