package ratchettree

import (
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TreeHash returns the tree hash of the root (RFC 9420 §7.8). Cached node
// hashes are reused: after k leaves changed, only their O(k log n)
// ancestors are rehashed.
func (t *Tree) TreeHash() ([]byte, error) {
	r, ok := t.Root()
	if !ok {
		return nil, fmt.Errorf("%w: empty tree has no tree hash", ErrNodeIndex)
	}
	return t.NodeHash(r)
}

// NodeHash returns the tree hash of the subtree under x (RFC 9420 §7.8).
// The result is shared with the cache and must not be modified.
func (t *Tree) NodeHash(x NodeIndex) ([]byte, error) {
	if !t.InTree(x) {
		return nil, fmt.Errorf("%w: node %d outside a tree of %d leaves", ErrNodeIndex, x, t.n)
	}
	return t.hashOf(x)
}

// hashOf computes and caches the tree hash of x. It recurses only into
// children whose hash is not cached, over at most 32 levels.
func (t *Tree) hashOf(x NodeIndex) ([]byte, error) {
	sl := t.get(x)
	if sl.hash != nil {
		return sl.hash, nil
	}
	var h []byte
	var err error
	if x.IsLeaf() {
		l, _ := x.Leaf()
		var ln *wire.LeafNode
		if sl.node != nil {
			ln = sl.node.LeafNode
		}
		h, err = t.leafHash(l, ln)
	} else {
		lc, _ := treemath.Left(x)
		rc, _ := treemath.Right(x)
		var lh, rh []byte
		if lh, err = t.hashOf(lc); err != nil {
			return nil, err
		}
		if rh, err = t.hashOf(rc); err != nil {
			return nil, err
		}
		var p *wire.ParentNode
		if sl.node != nil {
			p = sl.node.ParentNode
		}
		h, err = t.parentHash(p, lh, rh)
	}
	if err != nil {
		return nil, fmt.Errorf("node %d: %w", x, err)
	}
	t.mut(x).hash = h
	return h, nil
}

// leafHash hashes TreeHashInput{leaf, LeafNodeHashInput{i, ln}}.
func (t *Tree) leafHash(i LeafIndex, ln *wire.LeafNode) ([]byte, error) {
	w := codec.NewWriter(t.scratch[:0])
	w.Uint8(uint8(wire.NodeTypeLeaf))
	w.Uint32(uint32(i))
	w.Optional(ln != nil, func(w *codec.Writer) { w.Write(ln) })
	return t.finish(w)
}

// parentHash hashes TreeHashInput{parent, ParentNodeHashInput{p, l, r}}.
func (t *Tree) parentHash(p *wire.ParentNode, left, right []byte) ([]byte, error) {
	w := codec.NewWriter(t.scratch[:0])
	w.Uint8(uint8(wire.NodeTypeParent))
	w.Optional(p != nil, func(w *codec.Writer) { w.Write(p) })
	w.Opaque(left)
	w.Opaque(right)
	return t.finish(w)
}

// finish hashes the encoding in w, keeping its buffer for the next one.
func (t *Tree) finish(w *codec.Writer) ([]byte, error) {
	b, err := w.Bytes()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEncode, err)
	}
	h := t.suite.Hash(b)
	if cap(b) <= 1<<16 {
		t.scratch = b[:0]
	}
	return h, nil
}

// originalTreeHash is the tree hash of x in the tree modified as §7.9
// asks for the original sibling tree hash: every leaf of excl (sorted) is
// blanked and removed from the unmerged_leaves of all parent nodes.
// Subtrees that hold no leaf of excl use the cached hashes, so the cost is
// O(|excl| log n) nodes beyond the cache.
func (t *Tree) originalTreeHash(x NodeIndex, excl []LeafIndex) ([]byte, error) {
	lo, hi := leafRange(x)
	inside := subRange(excl, lo, hi)
	if len(inside) == 0 {
		return t.hashOf(x)
	}
	sl := t.get(x)
	if x.IsLeaf() {
		l, _ := x.Leaf()
		return t.leafHash(l, nil) // x is one of the excluded leaves
	}
	lc, _ := treemath.Left(x)
	rc, _ := treemath.Right(x)
	lh, err := t.originalTreeHash(lc, inside)
	if err != nil {
		return nil, err
	}
	rh, err := t.originalTreeHash(rc, inside)
	if err != nil {
		return nil, err
	}
	var p *wire.ParentNode
	if sl.node != nil && sl.node.ParentNode != nil {
		orig := sl.node.ParentNode
		p = &wire.ParentNode{EncryptionKey: orig.EncryptionKey, ParentHash: orig.ParentHash}
		for _, u := range orig.UnmergedLeaves {
			if _, drop := slices.BinarySearch(inside, LeafIndex(u)); !drop {
				p.UnmergedLeaves = append(p.UnmergedLeaves, u)
			}
		}
	}
	return t.parentHash(p, lh, rh)
}
