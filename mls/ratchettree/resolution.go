package ratchettree

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/treemath"
)

// Resolution returns the resolution of x (RFC 9420 §4.1.2): x itself and
// its unmerged leaves when x is non-blank, nothing for a blank leaf, and
// the resolutions of both children, left first, for a blank parent. Blank
// subtrees are skipped in O(1) each.
func (t *Tree) Resolution(x NodeIndex) []NodeIndex {
	var out []NodeIndex
	t.resolution(x, -1, func(y NodeIndex) bool {
		out = append(out, y)
		return true
	})
	return out
}

// ResolutionEmpty reports whether the resolution of x is empty, that is,
// whether the subtree under x is all blank. It is O(1).
func (t *Tree) ResolutionEmpty(x NodeIndex) bool {
	return !t.InTree(x) || t.get(x).nonBlank == 0
}

// resolution calls fn for each node of the resolution of x in order until
// fn returns false or limit nodes have been visited (limit < 0: no limit).
// It reports whether it stopped early.
func (t *Tree) resolution(x NodeIndex, limit int, fn func(NodeIndex) bool) bool {
	if !t.InTree(x) {
		return false
	}
	count := 0
	emit := func(y NodeIndex) bool {
		if limit >= 0 && count >= limit {
			return false
		}
		count++
		return fn(y)
	}
	stack := []NodeIndex{x}
	for len(stack) > 0 {
		y := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		sl := t.get(y)
		if sl.nonBlank == 0 {
			continue
		}
		if sl.node != nil {
			if !emit(y) {
				return true
			}
			if p := sl.node.ParentNode; p != nil {
				for _, l := range p.UnmergedLeaves {
					if !emit(LeafIndex(l).Node()) {
						return true
					}
				}
			}
			continue
		}
		// A blank parent (a blank leaf has nonBlank == 0).
		l, _ := treemath.Left(y)
		r, _ := treemath.Right(y)
		stack = append(stack, r, l)
	}
	return false
}

// UnmergedLeaves returns the unmerged leaves of the parent node at x (nil
// for a blank node or a leaf). The slice is shared and must not be modified.
func (t *Tree) UnmergedLeaves(x NodeIndex) []LeafIndex {
	p := t.Parent(x)
	if p == nil || len(p.UnmergedLeaves) == 0 {
		return nil
	}
	out := make([]LeafIndex, len(p.UnmergedLeaves))
	for i, l := range p.UnmergedLeaves {
		out[i] = LeafIndex(l)
	}
	return out
}

// PathStep is one node of a filtered direct path with the child of that
// node on the copath.
type PathStep struct {
	Node   NodeIndex // the parent node on the direct path
	Copath NodeIndex // its child that is not on the path
}

// FilteredDirectPath returns the filtered direct path of leaf (RFC 9420
// §4.1.2): its direct path without the nodes whose copath child has an
// empty resolution, from the leaf's parent up to the root.
func (t *Tree) FilteredDirectPath(leaf LeafIndex) ([]NodeIndex, error) {
	steps, err := t.FilteredPath(leaf)
	if err != nil {
		return nil, err
	}
	out := make([]NodeIndex, len(steps))
	for i, s := range steps {
		out[i] = s.Node
	}
	return out, nil
}

// FilteredPath is FilteredDirectPath with the copath child of each node.
// It is O(log n).
func (t *Tree) FilteredPath(leaf LeafIndex) ([]PathStep, error) {
	if uint64(leaf) >= uint64(t.n) {
		return nil, fmt.Errorf("%w: leaf %d in a tree of %d leaves", ErrLeafIndex, leaf, t.n)
	}
	var out []PathStep
	x := leaf.Node()
	for p, ok := treemath.Parent(x, t.n); ok; p, ok = treemath.Parent(p, t.n) {
		s, _ := treemath.Sibling(x, t.n)
		if !t.ResolutionEmpty(s) {
			out = append(out, PathStep{Node: p, Copath: s})
		}
		x = p
	}
	return out, nil
}
