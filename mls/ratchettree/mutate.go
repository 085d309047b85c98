package ratchettree

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// AddLeaf places leaf at the leftmost blank leaf, extending the tree when
// none is blank (RFC 9420 §7.7, §12.1.1), and adds the new leaf index to
// the unmerged_leaves of every non-blank parent node above it. It returns
// the leaf index. The tree takes ownership of leaf.
func (t *Tree) AddLeaf(leaf *wire.LeafNode) (LeafIndex, error) {
	if err := checkLeaf(leaf); err != nil {
		return 0, err
	}
	if t.MemberCount() == t.n {
		if err := t.extend(); err != nil {
			return 0, err
		}
	}
	l := t.leftmostBlankLeaf()
	t.setNode(l.Node(), leafNode(leaf))
	for p, ok := treemath.Parent(l.Node(), t.n); ok; p, ok = treemath.Parent(p, t.n) {
		pn := t.Parent(p)
		if pn == nil {
			continue
		}
		np := *pn
		if t.ownsNode(p) {
			// Amortized O(1): the list's backing array is this tree's
			// alone, and holders of the old node see only its old length.
			np.UnmergedLeaves = append(pn.UnmergedLeaves, uint32(l))
		} else {
			np.UnmergedLeaves = append(make([]uint32, 0, 2*len(pn.UnmergedLeaves)+1), pn.UnmergedLeaves...)
			np.UnmergedLeaves = append(np.UnmergedLeaves, uint32(l))
		}
		t.setOwnNode(p, &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: &np})
	}
	return l, nil
}

// leftmostBlankLeaf descends from the root towards the leftmost subtree
// with a free leaf, using the member counters: O(log n). The tree must
// have a blank leaf.
func (t *Tree) leftmostBlankLeaf() LeafIndex {
	x := treemath.Root(t.n)
	for !x.IsLeaf() {
		lc, _ := treemath.Left(x)
		rc, _ := treemath.Right(x)
		if t.get(lc).members < uint32(1)<<treemath.Level(lc) {
			x = lc
		} else {
			x = rc
		}
	}
	l, _ := x.Leaf()
	return l
}

// extend doubles the leaf count, the old tree becoming the left subtree of
// a new blank root (RFC 9420 §7.7). Cached hashes of the old nodes stay
// valid: no tree hash input depends on the tree size.
func (t *Tree) extend() error {
	if t.n == 0 {
		t.resize(1)
		return nil
	}
	if uint64(t.n)*2 > MaxLeaves {
		return fmt.Errorf("%w: %d leaves", ErrTreeFull, t.n)
	}
	old := *t.get(treemath.Root(t.n))
	t.resize(2 * t.n)
	root := t.mut(treemath.Root(t.n))
	root.nonBlank, root.members = old.nonBlank, old.members
	return nil
}

// UpdateLeaf replaces the LeafNode of member i and blanks its direct path
// (RFC 9420 §12.1.2). The tree takes ownership of leaf.
func (t *Tree) UpdateLeaf(i LeafIndex, leaf *wire.LeafNode) error {
	if err := t.checkMember(i); err != nil {
		return err
	}
	if err := checkLeaf(leaf); err != nil {
		return err
	}
	t.setNode(i.Node(), leafNode(leaf))
	return t.BlankPath(i)
}

// RemoveLeaf blanks member i and its direct path, then truncates the tree
// while the right subtree of the root holds no member (RFC 9420 §7.7,
// §12.1.3).
func (t *Tree) RemoveLeaf(i LeafIndex) error {
	if err := t.checkMember(i); err != nil {
		return err
	}
	t.setNode(i.Node(), nil)
	if err := t.BlankPath(i); err != nil {
		return err
	}
	t.Truncate()
	return nil
}

// Truncate halves the tree while it has more than one leaf and the right
// subtree of the root holds no non-blank leaf (RFC 9420 §7.7). Each step is
// O(1) in node work: the left subtree and its cached hashes are kept.
func (t *Tree) Truncate() {
	for t.n > 1 {
		rc, _ := treemath.Right(treemath.Root(t.n))
		if t.get(rc).members != 0 {
			return
		}
		t.resize(t.n / 2)
	}
}

// BlankPath blanks every node of the direct path of leaf i (the leaf
// itself is kept).
func (t *Tree) BlankPath(i LeafIndex) error {
	if uint64(i) >= uint64(t.n) {
		return fmt.Errorf("%w: leaf %d in a tree of %d leaves", ErrLeafIndex, i, t.n)
	}
	for p, ok := treemath.Parent(i.Node(), t.n); ok; p, ok = treemath.Parent(p, t.n) {
		if t.get(p).node != nil {
			t.setNode(p, nil)
		}
	}
	return nil
}

// SetLeaf stores leaf at leaf i without touching any other node, for
// merging the committer's new LeafNode of an UpdatePath. A nil leaf blanks
// the leaf. The tree takes ownership of leaf.
func (t *Tree) SetLeaf(i LeafIndex, leaf *wire.LeafNode) error {
	if uint64(i) >= uint64(t.n) {
		return fmt.Errorf("%w: leaf %d in a tree of %d leaves", ErrLeafIndex, i, t.n)
	}
	if leaf == nil {
		t.setNode(i.Node(), nil)
		return nil
	}
	if err := checkLeaf(leaf); err != nil {
		return err
	}
	t.setNode(i.Node(), leafNode(leaf))
	return nil
}

// SetParent stores p at the parent position x without touching any other
// node, for merging the nodes of an UpdatePath. A nil p blanks x. The tree
// takes ownership of p.
func (t *Tree) SetParent(x NodeIndex, p *wire.ParentNode) error {
	if !t.InTree(x) || x.IsLeaf() {
		return fmt.Errorf("%w: node %d is not a parent position of a tree of %d leaves", ErrNodeIndex, x, t.n)
	}
	if p == nil {
		t.setNode(x, nil)
		return nil
	}
	nd := &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: p}
	if err := checkNode(x, nd, t.n); err != nil {
		return err
	}
	if _, err := codec.Marshal(p); err != nil {
		return fmt.Errorf("%w: node %d: %w", ErrEncode, x, err)
	}
	t.setNode(x, nd)
	return nil
}

func (t *Tree) checkMember(i LeafIndex) error {
	if t.Leaf(i) == nil {
		return fmt.Errorf("%w: leaf %d is blank or outside a tree of %d leaves", ErrLeafIndex, i, t.n)
	}
	return nil
}

// checkLeaf makes sure leaf can be encoded, so that hashing it cannot fail.
func checkLeaf(leaf *wire.LeafNode) error {
	if leaf == nil {
		return fmt.Errorf("%w: nil leaf node", ErrInvalidLeafNode)
	}
	if _, err := codec.Marshal(leaf); err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	return nil
}

func leafNode(leaf *wire.LeafNode) *wire.Node {
	return &wire.Node{NodeType: wire.NodeTypeLeaf, LeafNode: leaf}
}
