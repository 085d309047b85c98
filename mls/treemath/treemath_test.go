package treemath

import (
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
)

type optIndex *uint32

func TestTreeMathVectors(t *testing.T) {
	var cases []struct {
		NLeaves uint32    `json:"n_leaves"`
		NNodes  uint32    `json:"n_nodes"`
		Root    uint32    `json:"root"`
		Left    []*uint32 `json:"left"`
		Right   []*uint32 `json:"right"`
		Parent  []*uint32 `json:"parent"`
		Sibling []*uint32 `json:"sibling"`
	}
	testvectors.Load(t, "tree-math.json", &cases)
	check := func(n uint32, what string, x int, got NodeIndex, ok bool, want *uint32) {
		t.Helper()
		if want == nil {
			if ok {
				t.Errorf("n=%d %s(%d) = %d, want none", n, what, x, got)
			}
			return
		}
		if !ok || uint32(got) != *want {
			t.Errorf("n=%d %s(%d) = %d,%v want %d", n, what, x, got, ok, *want)
		}
	}
	for _, c := range cases {
		if NodeWidth(c.NLeaves) != c.NNodes {
			t.Errorf("NodeWidth(%d) = %d, want %d", c.NLeaves, NodeWidth(c.NLeaves), c.NNodes)
		}
		if uint32(Root(c.NLeaves)) != c.Root {
			t.Errorf("Root(%d) = %d, want %d", c.NLeaves, Root(c.NLeaves), c.Root)
		}
		for i := 0; i < int(c.NNodes); i++ {
			x := NodeIndex(i)
			l, ok := Left(x)
			check(c.NLeaves, "left", i, l, ok, c.Left[i])
			r, ok := Right(x)
			check(c.NLeaves, "right", i, r, ok, c.Right[i])
			p, ok := Parent(x, c.NLeaves)
			check(c.NLeaves, "parent", i, p, ok, c.Parent[i])
			s, ok := Sibling(x, c.NLeaves)
			check(c.NLeaves, "sibling", i, s, ok, c.Sibling[i])
		}
	}
	testvectors.Report(t, "tree-math.json", len(cases))
}

// TestPathsAndAncestors checks DirectPath, Copath and CommonAncestor
// against definitions by brute force on every tree up to 64 leaves.
func TestPathsAndAncestors(t *testing.T) {
	for n := uint32(1); n <= 64; n *= 2 {
		w := NodeWidth(n)
		for i := uint32(0); i < w; i++ {
			x := NodeIndex(i)
			dp := DirectPath(x, n)
			cp := Copath(x, n)
			if len(dp) != len(cp) {
				t.Fatalf("n=%d x=%d: direct path %v copath %v", n, x, dp, cp)
			}
			if x != Root(n) && dp[len(dp)-1] != Root(n) {
				t.Fatalf("n=%d x=%d: direct path %v does not end at root", n, x, dp)
			}
			for k := range dp {
				child := x
				if k > 0 {
					child = dp[k-1]
				}
				if s, _ := Sibling(child, n); s != cp[k] {
					t.Fatalf("n=%d x=%d: copath[%d] = %d, want %d", n, x, k, cp[k], s)
				}
				if !IsInSubtree(dp[k], x) {
					t.Fatalf("n=%d: %d not under its ancestor %d", n, x, dp[k])
				}
			}
			for j := uint32(0); j < w; j++ {
				y := NodeIndex(j)
				got := CommonAncestor(x, y)
				// Brute force: the lowest ancestor-or-self of x containing y.
				want := x
				for !IsInSubtree(want, y) {
					want, _ = Parent(want, n)
				}
				if got != want {
					t.Fatalf("n=%d CommonAncestor(%d,%d) = %d, want %d", n, x, y, got, want)
				}
			}
		}
	}
}

func TestLeafNodeConversion(t *testing.T) {
	for i := LeafIndex(0); i < 100; i++ {
		l, ok := i.Node().Leaf()
		if !ok || l != i {
			t.Fatalf("leaf %d round trip: %d %v", i, l, ok)
		}
	}
	if _, ok := NodeIndex(3).Leaf(); ok {
		t.Fatal("parent node converted to a leaf")
	}
	if _, ok := Parent(NodeIndex(99), 4); ok {
		t.Fatal("parent of a node outside the tree")
	}
}
