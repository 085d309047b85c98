package ratchettree

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ParentHash returns the parent hash of the non-blank parent node p with
// copath child copathChild (RFC 9420 §7.9): the hash of ParentHashInput
// with p's encryption key, p's parent_hash field and the original sibling
// tree hash of copathChild, computed with p's unmerged leaves blanked and
// removed from all unmerged_leaves lists.
func (t *Tree) ParentHash(p, copathChild NodeIndex) ([]byte, error) {
	pn := t.Parent(p)
	if pn == nil {
		return nil, fmt.Errorf("%w: node %d is not a non-blank parent node", ErrNodeIndex, p)
	}
	l, _ := treemath.Left(p)
	r, _ := treemath.Right(p)
	if copathChild != l && copathChild != r {
		return nil, fmt.Errorf("%w: node %d is not a child of node %d", ErrNodeIndex, copathChild, p)
	}
	return t.parentHashOf(p, pn, copathChild)
}

func (t *Tree) parentHashOf(p NodeIndex, pn *wire.ParentNode, s NodeIndex) ([]byte, error) {
	osth, err := t.originalTreeHash(s, sortedLeaves(pn.UnmergedLeaves))
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", p, err)
	}
	w := codec.NewWriter(t.scratch[:0])
	w.Opaque(pn.EncryptionKey)
	w.Opaque(pn.ParentHash)
	w.Opaque(osth)
	return t.finish(w)
}

// nodeParentHash returns the parent_hash field of the node at x and
// whether it has one (non-blank parent, or leaf with source commit).
func (t *Tree) nodeParentHash(x NodeIndex) ([]byte, bool) {
	nd := t.Node(x)
	switch {
	case nd == nil:
		return nil, false
	case nd.ParentNode != nil:
		return nd.ParentNode.ParentHash, true
	case nd.LeafNode != nil && nd.LeafNode.LeafNodeSource == wire.LeafNodeSourceCommit:
		return nd.LeafNode.ParentHash, true
	}
	return nil, false
}

// VerifyParentHashes checks that every non-blank parent node is
// parent-hash valid (RFC 9420 §7.9.2), top down: each non-blank parent P
// must have exactly one descendant D whose parent_hash is valid with
// respect to P. D lies in the resolution of a child C of P, the rest of
// that resolution must be exactly P's unmerged leaves below C, and D's
// parent_hash must equal the parent hash of P with copath child the other
// child of P. Since every such D that is a parent node is itself checked,
// each non-blank parent node is covered by exactly one chain from a leaf.
func (t *Tree) VerifyParentHashes() error {
	var err error
	t.eachNonBlankParent(func(p NodeIndex, pn *wire.ParentNode) bool {
		err = t.verifyParentHash(p, pn)
		return err == nil
	})
	return err
}

func (t *Tree) verifyParentHash(p NodeIndex, pn *wire.ParentNode) error {
	l, _ := treemath.Left(p)
	r, _ := treemath.Right(p)
	valid := 0
	for _, c := range [2]NodeIndex{l, r} {
		s := l
		if c == l {
			s = r
		}
		d, ok := t.parentHashCandidate(pn, c)
		if !ok {
			continue
		}
		dh, ok := t.nodeParentHash(d)
		if !ok {
			continue
		}
		ph, err := t.parentHashOf(p, pn, s)
		if err != nil {
			return err
		}
		if bytes.Equal(dh, ph) {
			valid++
		}
	}
	switch valid {
	case 0:
		return fmt.Errorf("%w: node %d is not parent-hash valid", ErrInvalidParentHash, p)
	case 1:
		return nil
	default:
		return fmt.Errorf("%w: node %d is covered by %d parent-hash chains", ErrInvalidParentHash, p, valid)
	}
}

// parentHashCandidate returns the only node D of the resolution of c that
// can carry a parent hash valid for pn: the resolution of c must be D
// plus exactly pn's unmerged leaves below c.
func (t *Tree) parentHashCandidate(pn *wire.ParentNode, c NodeIndex) (NodeIndex, bool) {
	// pn's unmerged leaves below c, as sorted distinct node indices.
	lo, hi := leafRange(c)
	var unmerged []NodeIndex
	for _, l := range subRange(sortedLeaves(pn.UnmergedLeaves), lo, hi) {
		if x := l.Node(); len(unmerged) == 0 || unmerged[len(unmerged)-1] != x {
			unmerged = append(unmerged, x)
		}
	}
	var res []NodeIndex
	over := t.resolution(c, len(unmerged)+1, func(y NodeIndex) bool {
		res = append(res, y)
		return true
	})
	if over || len(res) != len(unmerged)+1 {
		return 0, false
	}
	slices.Sort(res)
	var d NodeIndex
	others := 0
	for i, y := range res {
		if i > 0 && res[i-1] == y {
			return 0, false // a resolution listing a node twice
		}
		if _, in := slices.BinarySearch(unmerged, y); in {
			continue
		}
		d = y
		others++
	}
	if others != 1 {
		return 0, false
	}
	return d, true
}

// sortedLeaves returns the leaf indices of an unmerged_leaves list as a
// sorted copy.
func sortedLeaves(us []uint32) []LeafIndex {
	out := make([]LeafIndex, len(us))
	for i, u := range us {
		out[i] = LeafIndex(u)
	}
	slices.Sort(out)
	return out
}

// leafRange is the first and last leaf of the subtree under x.
func leafRange(x NodeIndex) (lo, hi LeafIndex) {
	half := uint32(1)<<treemath.Level(x) - 1
	return LeafIndex((uint32(x) - half) / 2), LeafIndex((uint32(x) + half) / 2)
}

// subRange returns the part of the sorted ls within [lo, hi].
func subRange(ls []LeafIndex, lo, hi LeafIndex) []LeafIndex {
	i, _ := slices.BinarySearch(ls, lo)
	j, _ := slices.BinarySearch(ls, hi+1)
	return ls[i:j]
}

// eachNonBlankParent calls fn for every non-blank parent node, skipping
// blank subtrees, until fn returns false.
func (t *Tree) eachNonBlankParent(fn func(NodeIndex, *wire.ParentNode) bool) {
	r, ok := t.Root()
	if !ok {
		return
	}
	stack := []NodeIndex{r}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sl := t.get(x)
		if sl.nonBlank == 0 || x.IsLeaf() {
			continue
		}
		if sl.node != nil && sl.node.ParentNode != nil {
			if !fn(x, sl.node.ParentNode) {
				return
			}
		}
		lc, _ := treemath.Left(x)
		rc, _ := treemath.Right(x)
		stack = append(stack, rc, lc)
	}
}

// SetPathParentHashes sets the parent_hash fields along the filtered
// direct path of leaf, from the root down (RFC 9420 §7.9): the topmost
// node gets an empty parent_hash, each lower node the parent hash of the
// node above it with that node's copath child. It returns the parent hash
// the leaf's LeafNode must carry (empty when the filtered direct path is
// empty). Every node of the filtered direct path must be non-blank, as
// after merging an UpdatePath.
func (t *Tree) SetPathParentHashes(leaf LeafIndex) ([]byte, error) {
	steps, err := t.FilteredPath(leaf)
	if err != nil {
		return nil, err
	}
	ph := []byte{}
	for i := len(steps) - 1; i >= 0; i-- {
		p := steps[i].Node
		pn := t.Parent(p)
		if pn == nil {
			return nil, fmt.Errorf("%w: node %d of the filtered direct path of leaf %d is blank", ErrNodeIndex, p, leaf)
		}
		if !bytes.Equal(pn.ParentHash, ph) || pn.ParentHash == nil {
			np := *pn
			np.ParentHash = ph
			np.UnmergedLeaves = slices.Clone(pn.UnmergedLeaves)
			pn = &np
			t.setOwnNode(p, &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: pn})
		}
		if ph, err = t.parentHashOf(p, pn, steps[i].Copath); err != nil {
			return nil, err
		}
	}
	return ph, nil
}
