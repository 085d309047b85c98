package secrettree

import (
	"slices"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

// MarshalState writes the tree's exact state: the unconsumed node secrets,
// every started ratchet with its next generation, current secret and
// retained keys, and the window. Restoring it resumes where the tree left
// off, so no key is ever derived twice for sending and no consumed key
// comes back. Entries are written in sorted order, so equal states encode
// to equal bytes.
func (t *Tree) MarshalState(w *codec.Writer) {
	w.Uint32(t.leaves)
	w.Uint32(t.window.MaxForward)
	w.Uint32(uint32(t.window.MaxRetained))
	nodes := make([]treemath.NodeIndex, 0, len(t.nodes))
	for x := range t.nodes {
		nodes = append(nodes, x)
	}
	slices.Sort(nodes)
	w.Vector(func(w *codec.Writer) {
		for _, x := range nodes {
			w.Uint32(uint32(x))
			w.Opaque(t.nodes[x])
		}
	})
	ids := make([]ratchetID, 0, len(t.ratchets))
	for id := range t.ratchets {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b ratchetID) int {
		if a.leaf != b.leaf {
			return int(int64(a.leaf) - int64(b.leaf))
		}
		return int(a.kind) - int(b.kind)
	})
	w.Vector(func(w *codec.Writer) {
		for _, id := range ids {
			r := t.ratchets[id]
			w.Uint32(uint32(id.leaf))
			w.Uint8(uint8(id.kind))
			w.Uint32(r.next)
			w.Opaque(r.secret)
			gens := make([]uint32, 0, len(r.past))
			for g := range r.past {
				gens = append(gens, g)
			}
			slices.Sort(gens)
			w.Vector(func(w *codec.Writer) {
				for _, g := range gens {
					kn := r.past[g]
					w.Uint32(g)
					w.Opaque(kn.Key)
					w.Opaque(kn.Nonce)
				}
			})
		}
	})
}

// UnmarshalState reads a state written by MarshalState.
func UnmarshalState(s *suite.Suite, r *codec.Reader) *Tree {
	t := &Tree{suite: s, nodes: map[treemath.NodeIndex][]byte{}, ratchets: map[ratchetID]*ratchet{}}
	var retained uint32
	r.Uint32("SecretTree.leaves", &t.leaves)
	r.Uint32("SecretTree.max_forward", &t.window.MaxForward)
	r.Uint32("SecretTree.max_retained", &retained)
	t.window.MaxRetained = int(retained)
	if r.OK() && !treemath.IsPowerOfTwo(t.leaves) {
		r.Invalid("SecretTree.leaves", "%d is not a power of two", t.leaves)
	}
	r.Each("SecretTree.nodes", func(r *codec.Reader) {
		var x uint32
		var secret []byte
		r.Uint32("SecretTree.node", &x)
		r.Opaque("SecretTree.node_secret", &secret)
		if r.OK() && x >= treemath.NodeWidth(t.leaves) {
			r.Invalid("SecretTree.node", "node %d outside a tree of %d leaves", x, t.leaves)
		}
		t.nodes[treemath.NodeIndex(x)] = secret
	})
	r.Each("SecretTree.ratchets", func(r *codec.Reader) {
		var leaf uint32
		var kind uint8
		rt := &ratchet{past: map[uint32]KeyNonce{}}
		r.Uint32("SecretTree.ratchet.leaf", &leaf)
		r.Uint8("SecretTree.ratchet.kind", &kind)
		r.Uint32("SecretTree.ratchet.next", &rt.next)
		r.Opaque("SecretTree.ratchet.secret", &rt.secret)
		r.Each("SecretTree.ratchet.retained", func(r *codec.Reader) {
			var kn KeyNonce
			r.Uint32("SecretTree.retained.generation", &kn.Generation)
			r.Opaque("SecretTree.retained.key", &kn.Key)
			r.Opaque("SecretTree.retained.nonce", &kn.Nonce)
			rt.past[kn.Generation] = kn
			rt.order = append(rt.order, kn.Generation)
		})
		if r.OK() && (kind > uint8(Application) || leaf >= t.leaves) {
			r.Invalid("SecretTree.ratchet", "leaf %d kind %d", leaf, kind)
		}
		t.ratchets[ratchetID{treemath.LeafIndex(leaf), ContentKind(kind)}] = rt
	})
	if !r.OK() {
		return nil
	}
	return t
}
