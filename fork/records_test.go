package fork

import (
	"testing"

	"github.com/mlsnode/mlsnode/consensus"

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

// TestAuthorInTellsRivalBranchesApart: two commits race on one parent
// (epoch 43) and each adds a member, x on one and y on the other; both
// land at the same free leaf, so in epoch number 44 two keys sat at that
// leaf. A member that merged both (it held the losing one for a moment,
// then switched) must still name x as the author of a relayed content
// sealed in x's epoch after both states are released: by epoch number
// alone the leaf is ambiguous and the content was refused, though it was
// the only way left to deliver it (simulator commit-storm seed 64: 1
// lost). The epoch's own roster decides; when it cannot (both candidates
// members of the epoch), nothing is trusted.
func TestAuthorInTellsRivalBranchesApart(t *testing.T) {
	x, y := recordsLeaf("member-x", 1), recordsLeaf("member-y", 2)
	lost, won := EpochRef{Epoch: 44, ID: EpochID{0x9e}}, EpochRef{Epoch: 44, ID: EpochID{0x85}}
	m := &Member{core: &consensus.Core{}} // holds no epoch: every state released
	noteReleased := func(ref EpochRef, tree *ratchettree.Tree) {
		m.keys.note(tree, ref.Epoch)
		m.rosterOf(ref.ID, tree)
	}
	treeX, treeY := recordsTree(t, x), recordsTree(t, y)
	noteReleased(lost, treeX)
	noteReleased(won, treeY)
	noteReleased(EpochRef{Epoch: 45, ID: EpochID{0x40}}, treeY)

	if _, ok := m.keys.lookup(1, 44); ok {
		t.Fatal("setup: leaf 1 in epoch 44 must be ambiguous by number")
	}
	for _, c := range []struct {
		ref  EpochRef
		want string
	}{{lost, "member-x"}, {won, "member-y"}} {
		k, ok := m.authorIn(1, c.ref)
		if !ok {
			t.Fatalf("epoch %x: no author found at leaf 1", c.ref.ID[:1])
		}
		if string(k.identity) != c.want {
			t.Fatalf("epoch %x: leaf 1 is %s, want %s", c.ref.ID[:1], k.identity, c.want)
		}
	}
	if k, ok := m.authorIn(1, EpochRef{Epoch: 44, ID: EpochID{0x77}}); ok {
		t.Fatalf("an epoch never recorded here names %s", k.identity)
	}
	// A third branch of number 44 where both x and y are members (y at
	// leaf 1, x further on): the roster cannot tell which one sat at leaf
	// 1, so none is named.
	both := recordsTree(t, y)
	if _, err := both.AddLeaf(x); err != nil {
		t.Fatal(err)
	}
	third := EpochRef{Epoch: 44, ID: EpochID{0x33}}
	noteReleased(third, both)
	if k, ok := m.authorIn(1, third); ok {
		t.Fatalf("two members of the epoch qualify, yet %s is named", k.identity)
	}
	// Unambiguous leaves are unchanged: leaf 0 holds the anchor everywhere.
	if k, ok := m.authorIn(0, lost); !ok || string(k.identity) != "anchor" {
		t.Fatal("the anchor at leaf 0 is not found")
	}
}
