package ratchettree

import (
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

type (
	// LeafIndex and NodeIndex are the index types of mls/treemath.
	LeafIndex = treemath.LeafIndex
	NodeIndex = treemath.NodeIndex
)

// MaxLeaves is the largest leaf count a Tree holds: leaf indices are uint32
// and node indices 2L must fit in a uint32 too.
const MaxLeaves = 1 << 31

const (
	chunkBits = 7
	chunkSize = 1 << chunkBits
	chunkMask = chunkSize - 1
)

// slot is one node position of the tree with the caches kept for it.
type slot struct {
	node     *wire.Node // nil for a blank node
	hash     []byte     // tree hash of the subtree; nil when not computed
	nonBlank uint32     // non-blank nodes in the subtree, this one included
	members  uint32     // non-blank leaves in the subtree
	// nodeOwn is the owner token of the tree that made node's
	// unmerged_leaves backing array, which that tree alone may therefore
	// append to (in a new node value); nil for nodes from outside. Clone
	// replaces the owner tokens, so clones never append to shared arrays.
	nodeOwn *owner
}

// owner marks the chunks a Tree may write in place.
type owner struct{ _ byte }

type chunk struct {
	own   *owner
	slots [chunkSize]slot
}

// Tree is the public ratchet tree of one epoch. See the package
// documentation for its representation and sharing rules.
type Tree struct {
	suite  *suite.Suite
	n      uint32 // leaf count: 0 or a power of two
	chunks []*chunk
	own    *owner
	// scratch is a reusable encoding buffer for hashing; never shared.
	scratch []byte
}

// New returns an empty tree (no leaves) for the cipher suite s.
func New(s *suite.Suite) *Tree {
	return &Tree{suite: s, own: new(owner)}
}

// NewWithLeaf returns a one-leaf tree holding leaf, as made by the creator
// of a group (RFC 9420 §11).
func NewWithLeaf(s *suite.Suite, leaf *wire.LeafNode) (*Tree, error) {
	t := New(s)
	if _, err := t.AddLeaf(leaf); err != nil {
		return nil, err
	}
	return t, nil
}

// FromWire builds a tree from the content of a ratchet_tree extension
// (RFC 9420 §12.4.3.3), padding it with blank nodes to the smallest full
// tree. It checks the structure only (node types at leaf and parent
// positions, unmerged leaf indices within the tree); Validate checks the
// rest. The tree takes ownership of rt's nodes: the caller must not modify
// them afterwards.
func FromWire(s *suite.Suite, rt wire.RatchetTree) (*Tree, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no cipher suite", ErrMalformedTree)
	}
	if len(rt) == 0 {
		return nil, fmt.Errorf("%w: empty tree", ErrMalformedTree)
	}
	if rt[len(rt)-1] == nil {
		return nil, fmt.Errorf("%w: last node is blank", ErrMalformedTree)
	}
	if uint64(len(rt)) > 2*MaxLeaves-1 {
		return nil, fmt.Errorf("%w: %d nodes", ErrMalformedTree, len(rt))
	}
	n := uint32(1)
	for uint64(2*n-1) < uint64(len(rt)) {
		n *= 2
	}
	t := New(s)
	t.resize(n)
	for i, nd := range rt {
		if nd == nil {
			continue
		}
		x := NodeIndex(i)
		if err := checkNode(x, nd, n); err != nil {
			return nil, err
		}
		sl := t.mut(x)
		sl.node = nd
		sl.nonBlank = 1
		if x.IsLeaf() {
			sl.members = 1
		}
	}
	t.recount()
	return t, nil
}

// checkNode verifies that nd may sit at position x of a tree of n leaves.
func checkNode(x NodeIndex, nd *wire.Node, n uint32) error {
	if x.IsLeaf() {
		if nd.NodeType != wire.NodeTypeLeaf || nd.LeafNode == nil {
			return fmt.Errorf("%w: node %d: leaf position holds %v", ErrMalformedTree, x, nd.NodeType)
		}
		return nil
	}
	if nd.NodeType != wire.NodeTypeParent || nd.ParentNode == nil {
		return fmt.Errorf("%w: node %d: parent position holds %v", ErrMalformedTree, x, nd.NodeType)
	}
	for _, l := range nd.ParentNode.UnmergedLeaves {
		if l >= n {
			return fmt.Errorf("%w: node %d: unmerged leaf %d outside a tree of %d leaves",
				ErrInvalidUnmergedLeaves, x, l, n)
		}
	}
	return nil
}

// recount recomputes every counter bottom-up, level by level, from the
// node contents. The leaf counters must already be set.
func (t *Tree) recount() {
	w := uint64(treemath.NodeWidth(t.n))
	for lvl := uint(1); uint64(1)<<lvl <= uint64(t.n); lvl++ {
		step := uint64(1) << (lvl + 1)
		for x := uint64(1)<<lvl - 1; x < w; x += step {
			p := NodeIndex(x)
			l, _ := treemath.Left(p)
			r, _ := treemath.Right(p)
			ls, rs := t.get(l), t.get(r)
			nb, m := ls.nonBlank+rs.nonBlank, ls.members+rs.members
			sl := t.get(p)
			if sl.node != nil {
				nb++
			}
			if sl.nonBlank != nb || sl.members != m {
				sl = t.mut(p)
				sl.nonBlank, sl.members = nb, m
			}
		}
	}
}

// ToWire returns the tree as the content of a ratchet_tree extension: the
// nodes in array order with trailing blank nodes removed. The nodes are
// shared with the tree and must not be modified.
func (t *Tree) ToWire() wire.RatchetTree {
	w := t.width()
	for w > 0 && t.get(NodeIndex(w-1)).node == nil {
		w--
	}
	rt := make(wire.RatchetTree, w)
	for i := range rt {
		rt[i] = t.get(NodeIndex(i)).node
	}
	return rt
}

// Clone returns an independent copy of t. It copies only the chunk table;
// the node slots are shared copy-on-write between t and the clone.
func (t *Tree) Clone() *Tree {
	c := &Tree{suite: t.suite, n: t.n, chunks: slices.Clone(t.chunks), own: new(owner)}
	t.own = new(owner) // t no longer owns its chunks exclusively either
	return c
}

// Suite is the cipher suite the tree hashes with.
func (t *Tree) Suite() *suite.Suite { return t.suite }

// LeafCount is the number of leaf positions, blank ones included: 0 or a
// power of two.
func (t *Tree) LeafCount() uint32 { return t.n }

// Width is the number of node positions, 2*LeafCount()-1.
func (t *Tree) Width() uint32 { return treemath.NodeWidth(t.n) }

// Root is the root node index; ok is false for an empty tree.
func (t *Tree) Root() (NodeIndex, bool) {
	if t.n == 0 {
		return 0, false
	}
	return treemath.Root(t.n), true
}

// MemberCount is the number of non-blank leaves.
func (t *Tree) MemberCount() uint32 {
	r, ok := t.Root()
	if !ok {
		return 0
	}
	return t.get(r).members
}

// Members lists the non-blank leaves in increasing order. Blank subtrees
// are skipped without being scanned.
func (t *Tree) Members() []LeafIndex {
	out := make([]LeafIndex, 0, t.MemberCount())
	t.eachMember(func(l LeafIndex) { out = append(out, l) })
	return out
}

// eachMember calls fn for every non-blank leaf in increasing order.
func (t *Tree) eachMember(fn func(LeafIndex)) {
	r, ok := t.Root()
	if !ok {
		return
	}
	stack := []NodeIndex{r}
	for len(stack) > 0 {
		x := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if t.get(x).members == 0 {
			continue
		}
		if x.IsLeaf() {
			l, _ := x.Leaf()
			fn(l)
			continue
		}
		lc, _ := treemath.Left(x)
		rc, _ := treemath.Right(x)
		stack = append(stack, rc, lc)
	}
}

// InTree reports whether x is a node position of the tree.
func (t *Tree) InTree(x NodeIndex) bool { return uint64(x) < uint64(t.width()) }

// Node returns the node at x, or nil when x is blank or outside the tree.
// The node is shared and must not be modified.
func (t *Tree) Node(x NodeIndex) *wire.Node {
	if !t.InTree(x) {
		return nil
	}
	return t.get(x).node
}

// IsBlank reports whether x is blank (or outside the tree).
func (t *Tree) IsBlank(x NodeIndex) bool { return t.Node(x) == nil }

// Leaf returns the LeafNode at leaf i, or nil when it is blank or outside
// the tree.
func (t *Tree) Leaf(i LeafIndex) *wire.LeafNode {
	if uint64(i) >= uint64(t.n) {
		return nil
	}
	if nd := t.get(i.Node()).node; nd != nil {
		return nd.LeafNode
	}
	return nil
}

// Parent returns the ParentNode at x, or nil when x is blank, a leaf or
// outside the tree.
func (t *Tree) Parent(x NodeIndex) *wire.ParentNode {
	if x.IsLeaf() {
		return nil
	}
	if nd := t.Node(x); nd != nil {
		return nd.ParentNode
	}
	return nil
}

// EncryptionKey returns the HPKE public key of the node at x, or nil.
func (t *Tree) EncryptionKey(x NodeIndex) []byte {
	nd := t.Node(x)
	switch {
	case nd == nil:
		return nil
	case nd.LeafNode != nil:
		return nd.LeafNode.EncryptionKey
	case nd.ParentNode != nil:
		return nd.ParentNode.EncryptionKey
	}
	return nil
}

// FindLeaf returns the first leaf for which match returns true.
func (t *Tree) FindLeaf(match func(LeafIndex, *wire.LeafNode) bool) (LeafIndex, bool) {
	var found LeafIndex
	ok := false
	t.eachMember(func(l LeafIndex) {
		if !ok && match(l, t.Leaf(l)) {
			found, ok = l, true
		}
	})
	return found, ok
}

// --- storage ---

func (t *Tree) width() uint32 { return treemath.NodeWidth(t.n) }

// get returns the slot at x for reading. x must be inside the tree.
func (t *Tree) get(x NodeIndex) *slot {
	return &t.chunks[x>>chunkBits].slots[x&chunkMask]
}

// mut returns the slot at x for writing, copying its chunk first when the
// chunk is shared with a clone.
func (t *Tree) mut(x NodeIndex) *slot {
	c := t.chunks[x>>chunkBits]
	if c.own != t.own {
		cp := *c
		cp.own = t.own
		c = &cp
		t.chunks[x>>chunkBits] = c
	}
	return &c.slots[x&chunkMask]
}

// resize changes the leaf count to n (a power of two or 0), keeping the
// nodes of the common prefix. New positions are blank with no cached hash.
func (t *Tree) resize(n uint32) {
	oldW, newW := t.width(), treemath.NodeWidth(n)
	if newW > oldW {
		// Clear the stale tail of the last chunk in use.
		if oldW&chunkMask != 0 {
			end := min((oldW|chunkMask)+1, newW)
			for x := oldW; x < end; x++ {
				*t.mut(NodeIndex(x)) = slot{}
			}
		}
		need := int((uint64(newW) + chunkMask) >> chunkBits)
		for len(t.chunks) < need {
			t.chunks = append(t.chunks, &chunk{own: t.own})
		}
	} else {
		need := int((uint64(newW) + chunkMask) >> chunkBits)
		clear(t.chunks[need:])
		t.chunks = t.chunks[:need]
	}
	t.n = n
}

// setNode stores nd (nil for blank) at x and updates the counters and hash
// caches of x and its ancestors. The caller has checked x and nd. nd is
// marked as shared (not changeable in place).
func (t *Tree) setNode(x NodeIndex, nd *wire.Node) {
	t.storeNode(x, nd, nil)
}

// setOwnNode is setNode for a node whose unmerged_leaves backing array t
// has just made: t may later append to it beyond the node's length.
func (t *Tree) setOwnNode(x NodeIndex, nd *wire.Node) {
	t.storeNode(x, nd, t.own)
}

// ownsNode reports whether t may append to the unmerged_leaves backing
// array of the node at x.
func (t *Tree) ownsNode(x NodeIndex) bool {
	sl := t.get(x)
	return sl.node != nil && sl.nodeOwn == t.own
}

func (t *Tree) storeNode(x NodeIndex, nd *wire.Node, own *owner) {
	sl := t.mut(x)
	sl.nodeOwn = own
	var dNB, dM int64
	if (sl.node == nil) != (nd == nil) {
		dNB = 1
		if nd == nil {
			dNB = -1
		}
		if x.IsLeaf() {
			dM = dNB
		}
	}
	sl.node = nd
	sl.hash = nil
	sl.nonBlank = uint32(int64(sl.nonBlank) + dNB)
	sl.members = uint32(int64(sl.members) + dM)
	for p, ok := treemath.Parent(x, t.n); ok; p, ok = treemath.Parent(p, t.n) {
		ps := t.mut(p)
		ps.hash = nil
		ps.nonBlank = uint32(int64(ps.nonBlank) + dNB)
		ps.members = uint32(int64(ps.members) + dM)
	}
}
