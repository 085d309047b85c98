package ratchettree

import (
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

var benchSizes = []int{1000, 10000, 50000}

// benchTree builds a tree of m members (leaves 0..m-1) with fake keys and
// every parent node that has a member below it set, as in a group where
// everyone has committed once.
func benchTree(b *testing.B, m int) *Tree {
	b.Helper()
	k := newKeys(uint64(m))
	n := uint32(1)
	for n < uint32(m) {
		n *= 2
	}
	rt := make(wire.RatchetTree, 2*n-1)
	for i := range rt {
		x := NodeIndex(i)
		lvl := treemath.Level(x)
		first := uint32(i) >> 1 >> lvl << lvl // leftmost leaf below x
		if first >= uint32(m) {
			continue
		}
		if x.IsLeaf() {
			rt[i] = &wire.Node{NodeType: wire.NodeTypeLeaf, LeafNode: fakeLeaf(k, wire.LeafNodeSourceUpdate)}
		} else {
			rt[i] = &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: &wire.ParentNode{EncryptionKey: k.key(), ParentHash: k.key()}}
		}
	}
	for rt[len(rt)-1] == nil {
		rt = rt[:len(rt)-1]
	}
	tr, err := FromWire(mustSuite(b), rt)
	if err != nil {
		b.Fatal(err)
	}
	if int(tr.MemberCount()) != m {
		b.Fatalf("%d members, want %d", tr.MemberCount(), m)
	}
	return tr
}

// dropHashes empties the hash cache, as in a freshly received tree.
func (t *Tree) dropHashes() {
	for x := uint32(0); x < t.width(); x++ {
		if t.get(NodeIndex(x)).hash != nil {
			t.mut(NodeIndex(x)).hash = nil
		}
	}
}

func BenchmarkTreeHashFresh(b *testing.B) {
	for _, m := range benchSizes {
		b.Run(fmt.Sprint(m), func(b *testing.B) {
			tr := benchTree(b, m)
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				tr.dropHashes()
				b.StartTimer()
				if _, err := tr.TreeHash(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTreeHashAfterLeafChange(b *testing.B) {
	for _, m := range benchSizes {
		b.Run(fmt.Sprint(m), func(b *testing.B) {
			tr := benchTree(b, m)
			if _, err := tr.TreeHash(); err != nil {
				b.Fatal(err)
			}
			k := newKeys(99)
			pool := make([]*wire.LeafNode, 1024)
			for i := range pool {
				pool[i] = fakeLeaf(k, wire.LeafNodeSourceUpdate)
			}
			i := 0
			for b.Loop() {
				l := LeafIndex((i * 7919) % m)
				if err := tr.SetLeaf(l, pool[i%len(pool)]); err != nil {
					b.Fatal(err)
				}
				if _, err := tr.TreeHash(); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkCloneAndUpdate stages a candidate commit: clone the epoch's tree,
// apply an Update (leaf replaced, direct path blanked) and hash.
func BenchmarkCloneAndUpdate(b *testing.B) {
	for _, m := range benchSizes {
		b.Run(fmt.Sprint(m), func(b *testing.B) {
			tr := benchTree(b, m)
			if _, err := tr.TreeHash(); err != nil {
				b.Fatal(err)
			}
			k := newKeys(98)
			pool := make([]*wire.LeafNode, 1024)
			for i := range pool {
				pool[i] = fakeLeaf(k, wire.LeafNodeSourceUpdate)
			}
			i := 0
			for b.Loop() {
				c := tr.Clone()
				if err := c.UpdateLeaf(LeafIndex((i*7919)%m), pool[i%len(pool)]); err != nil {
					b.Fatal(err)
				}
				if _, err := c.TreeHash(); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
