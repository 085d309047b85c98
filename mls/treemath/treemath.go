package treemath

import "math/bits"

// LeafIndex numbers the leaves of a tree from the left, starting at 0.
type LeafIndex uint32

// NodeIndex numbers all nodes of the tree's array representation.
type NodeIndex uint32

// Node is the node index of leaf i (2i).
func (i LeafIndex) Node() NodeIndex { return NodeIndex(2 * uint64(i)) }

// IsLeaf reports whether x is a leaf (even index).
func (x NodeIndex) IsLeaf() bool { return x&1 == 0 }

// Leaf returns the leaf index of node x; ok is false for parent nodes.
func (x NodeIndex) Leaf() (LeafIndex, bool) {
	if !x.IsLeaf() {
		return 0, false
	}
	return LeafIndex(x >> 1), true
}

// Level is the height of x above the leaves: the number of trailing one
// bits of its index (RFC 9420 Appendix C, level).
func Level(x NodeIndex) uint {
	return uint(bits.TrailingZeros32(^uint32(x)))
}

// NodeWidth is the number of nodes of a tree with n leaves: 2n-1, and 0
// for an empty tree.
func NodeWidth(n uint32) uint32 {
	if n == 0 {
		return 0
	}
	return 2*(n-1) + 1
}

// IsPowerOfTwo reports whether n leaves form a complete RFC 9420 tree.
func IsPowerOfTwo(n uint32) bool { return n != 0 && n&(n-1) == 0 }

// Root is the root of a tree with n leaves (n > 0).
func Root(n uint32) NodeIndex {
	w := NodeWidth(n)
	if w == 0 {
		return 0
	}
	return NodeIndex(uint32(1)<<(bits.Len32(w)-1) - 1)
}

// Left is the left child of x; ok is false when x is a leaf.
func Left(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ NodeIndex(1)<<(k-1), true
}

// Right is the right child of x; ok is false when x is a leaf.
func Right(x NodeIndex) (NodeIndex, bool) {
	k := Level(x)
	if k == 0 {
		return 0, false
	}
	return x ^ NodeIndex(3)<<(k-1), true
}

// Parent is the parent of x in a tree of n leaves; ok is false for the root
// and for nodes outside the tree.
func Parent(x NodeIndex, n uint32) (NodeIndex, bool) {
	if x == Root(n) || uint32(x) >= NodeWidth(n) {
		return 0, false
	}
	k := Level(x)
	b := (x >> (k + 1)) & 1
	return (x | NodeIndex(1)<<k) ^ (b << (k + 1)), true
}

// Sibling is the other child of x's parent; ok is false for the root.
func Sibling(x NodeIndex, n uint32) (NodeIndex, bool) {
	p, ok := Parent(x, n)
	if !ok {
		return 0, false
	}
	if x < p {
		return Right(p)
	}
	return Left(p)
}

// DirectPath lists the ancestors of x from its parent up to the root; it
// is empty for the root (RFC 9420 §4.1.2).
func DirectPath(x NodeIndex, n uint32) []NodeIndex {
	var d []NodeIndex
	for {
		p, ok := Parent(x, n)
		if !ok {
			return d
		}
		d = append(d, p)
		x = p
	}
}

// Copath lists the siblings of x and of each node of its direct path except
// the root, in the same order as DirectPath.
func Copath(x NodeIndex, n uint32) []NodeIndex {
	var c []NodeIndex
	for {
		s, ok := Sibling(x, n)
		if !ok {
			return c
		}
		c = append(c, s)
		x, _ = Parent(x, n)
	}
}

// CommonAncestor is the lowest node that has both x and y in its subtree.
func CommonAncestor(x, y NodeIndex) NodeIndex {
	// Nodes are in-order positions: the common ancestor keeps the shared
	// high bits of x and y, then a one bit, then ones below it.
	lx, ly := Level(x)+1, Level(y)+1
	if lx <= ly && x>>ly == y>>ly {
		return y
	}
	if ly <= lx && x>>lx == y>>lx {
		return x
	}
	xn, yn := x, y
	k := uint(0)
	for xn != yn {
		xn >>= 1
		yn >>= 1
		k++
	}
	return (xn << k) + (NodeIndex(1)<<(k-1) - 1)
}

// IsInSubtree reports whether x lies in the subtree rooted at root.
func IsInSubtree(root, x NodeIndex) bool {
	// The subtree of a node at level k spans the 2^(k+1)-1 indices centred
	// on it.
	span := NodeIndex(1)<<Level(root) - 1
	return x+span >= root && x <= root+span
}
