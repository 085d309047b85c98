package fork_test

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// The memoised lookup answers what a scan of the tree's leaves answers:
// every member's leaf, the first leaf of an identity held twice, and no
// leaf for an identity not in the tree.
func TestFindIdentityMatchesScan(t *testing.T) {
	n, err := forktest.New(forktest.Options{Seed: 5}, "a", "b", "c", "d", "e")
	if err != nil {
		t.Fatal(err)
	}
	m := n.Node("a").Member
	head := m.Core().Head()
	if head == nil {
		t.Fatal("a has no head")
	}
	tree := head.Tree().Clone()
	// A second leaf for c's identity (a re-add whose old leaf is not yet
	// removed): the lookup must name c's first leaf, as a scan does.
	cLeaf, ok := tree.FindLeaf(func(_ treemath.LeafIndex, ln *wire.LeafNode) bool {
		return bytes.Equal(ln.Credential.Identity, []byte("c"))
	})
	if !ok {
		t.Fatal("no leaf for c")
	}
	dup := *tree.Leaf(cLeaf)
	dup.EncryptionKey = bytes.Repeat([]byte{7}, len(dup.EncryptionKey))
	dupLeaf, err := tree.AddLeaf(&dup)
	if err != nil {
		t.Fatal(err)
	}
	if dupLeaf <= cLeaf {
		t.Fatalf("duplicate at leaf %d, before c's %d", dupLeaf, cLeaf)
	}
	members := tree.Members()
	if len(members) != 6 {
		t.Fatalf("%d members, want 6", len(members))
	}
	for _, l := range members {
		id := fork.IdentityOf(&tree.Leaf(l).Credential)
		want, _ := tree.FindLeaf(func(_ treemath.LeafIndex, ln *wire.LeafNode) bool {
			return fork.IdentityOf(&ln.Credential) == id
		})
		got, ok := fork.FindIdentity(m, tree, id)
		if !ok || got != want {
			t.Fatalf("identity of leaf %d: lookup gives %d (found %v), scan gives %d", l, got, ok, want)
		}
	}
	// A tree with a memo, the head's (memo made on demand), and one with none.
	for _, tr := range []*ratchettree.Tree{tree, head.Tree(), tree.Clone()} {
		for l := uint32(0); l < tr.LeafCount(); l++ {
			got, ok := fork.IdentityAt(m, tr, l)
			leaf := tr.Leaf(treemath.LeafIndex(l))
			if ok != (leaf != nil) || (leaf != nil && got != fork.IdentityOf(&leaf.Credential)) {
				t.Fatalf("identity at leaf %d: %x (found %v), leaf %v", l, got[:4], ok, leaf != nil)
			}
		}
	}
	if _, ok := fork.IdentityAt(m, tree, tree.LeafCount()); ok {
		t.Fatal("identity found past the tree's end")
	}
	if got, _ := fork.FindIdentity(m, tree, fork.IdentityOf(&dup.Credential)); got != cLeaf {
		t.Fatalf("identity held twice: leaf %d, want the first, %d", got, cLeaf)
	}
	stranger := wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("z")}
	if l, ok := fork.FindIdentity(m, tree, fork.IdentityOf(&stranger)); ok {
		t.Fatalf("unknown identity found at leaf %d", l)
	}
	// The head's own tree (memoised separately) still answers for it.
	if _, ok := fork.FindIdentity(m, head.Tree(), fork.IdentityOf(&dup.Credential)); !ok {
		t.Fatal("c not found in the head's tree")
	}
}
