package ratchettree

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// keySource hands out distinct fake 32-byte keys.
type keySource struct {
	rng *rand.Rand
	n   uint64
}

func newKeys(seed uint64) *keySource { return &keySource{rng: rand.New(rand.NewPCG(seed, 1))} }

func (k *keySource) key() []byte {
	b := make([]byte, 32)
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], k.rng.Uint64())
	}
	k.n++
	binary.LittleEndian.PutUint64(b, k.n) // distinct whatever the RNG does
	return b
}

func fakeLeaf(k *keySource, src wire.LeafNodeSource) *wire.LeafNode {
	ln := &wire.LeafNode{
		EncryptionKey: k.key(),
		SignatureKey:  k.key(),
		Credential:    wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: k.key()[:8]},
		Capabilities: wire.Capabilities{
			Versions:     []wire.ProtocolVersion{wire.ProtocolVersionMLS10},
			CipherSuites: []wire.CipherSuite{1},
			Credentials:  []wire.CredentialType{wire.CredentialTypeBasic},
		},
		LeafNodeSource: src,
		Signature:      k.key(),
	}
	switch src {
	case wire.LeafNodeSourceKeyPackage:
		ln.Lifetime = &wire.Lifetime{NotBefore: 0, NotAfter: 1 << 62}
	case wire.LeafNodeSourceCommit:
		ln.ParentHash = []byte{}
	}
	return ln
}

func mustSuite(t testing.TB) *suite.Suite {
	s, err := suite.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// syntheticWire builds a full ratchet tree of n leaves (a power of two)
// with fake keys and every parent node set; its hashes are meaningful, its
// parent hashes and signatures are not.
func syntheticWire(n uint32, k *keySource) wire.RatchetTree {
	rt := make(wire.RatchetTree, 2*n-1)
	for i := range rt {
		if i%2 == 0 {
			rt[i] = &wire.Node{NodeType: wire.NodeTypeLeaf, LeafNode: fakeLeaf(k, wire.LeafNodeSourceUpdate)}
		} else {
			rt[i] = &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: &wire.ParentNode{EncryptionKey: k.key(), ParentHash: k.key()}}
		}
	}
	return rt
}

// freshHash hashes t's content in a new tree without any cache.
func freshHash(t testing.TB, tr *Tree) []byte {
	t.Helper()
	f, err := FromWire(tr.Suite(), tr.ToWire())
	if err != nil {
		t.Fatal(err)
	}
	h, err := f.TreeHash()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// commit simulates merging an UpdatePath from leaf l: blank the direct
// path, give every node of the filtered direct path a fresh key, set the
// parent hashes and the committer's new leaf.
func commit(t testing.TB, tr *Tree, l LeafIndex, k *keySource) {
	t.Helper()
	if err := tr.BlankPath(l); err != nil {
		t.Fatal(err)
	}
	fdp, err := tr.FilteredDirectPath(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range fdp {
		if err := tr.SetParent(p, &wire.ParentNode{EncryptionKey: k.key()}); err != nil {
			t.Fatal(err)
		}
	}
	ph, err := tr.SetPathParentHashes(l)
	if err != nil {
		t.Fatal(err)
	}
	ln := fakeLeaf(k, wire.LeafNodeSourceCommit)
	ln.ParentHash = ph
	if err := tr.SetLeaf(l, ln); err != nil {
		t.Fatal(err)
	}
}

func randomMember(rng *rand.Rand, tr *Tree) LeafIndex {
	m := tr.Members()
	return m[rng.IntN(len(m))]
}

// TestRandomOperations applies random adds, updates, removes and commits
// and checks after each step: the cached tree hash equals a fresh one, the
// tree is parent-hash valid and its unmerged leaves consistent, the
// counters agree with the content, and a clone taken before the step is
// unchanged.
func TestRandomOperations(t *testing.T) {
	s := mustSuite(t)
	rng := rand.New(rand.NewPCG(7, 7))
	k := newKeys(1)
	tr, err := NewWithLeaf(s, fakeLeaf(k, wire.LeafNodeSourceKeyPackage))
	if err != nil {
		t.Fatal(err)
	}
	for step := 0; step < 600; step++ {
		snap := tr.Clone()
		snapHash := freshHash(t, snap)
		switch op := rng.IntN(10); {
		case op < 4 || tr.MemberCount() < 3:
			l, err := tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage))
			if err != nil {
				t.Fatal(err)
			}
			if tr.Leaf(l) == nil {
				t.Fatalf("step %d: added leaf %d is blank", step, l)
			}
		case op < 6:
			if err := tr.RemoveLeaf(randomMember(rng, tr)); err != nil {
				t.Fatal(err)
			}
		case op < 7:
			if err := tr.UpdateLeaf(randomMember(rng, tr), fakeLeaf(k, wire.LeafNodeSourceUpdate)); err != nil {
				t.Fatal(err)
			}
		default:
			commit(t, tr, randomMember(rng, tr), k)
		}
		h, err := tr.TreeHash()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h, freshHash(t, tr)) {
			t.Fatalf("step %d: cached tree hash differs from a fresh one", step)
		}
		if err := tr.VerifyParentHashes(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if err := tr.VerifyUnmergedLeaves(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if err := tr.verifyUniqueKeys(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		checkCounters(t, tr)
		checkResolutions(t, tr)
		if got, _ := snap.TreeHash(); !bytes.Equal(got, snapHash) {
			t.Fatalf("step %d: clone changed", step)
		}
		if tr.n > 1 {
			rc, _ := treemath.Right(treemath.Root(tr.n))
			if tr.get(rc).members == 0 {
				t.Fatalf("step %d: tree not truncated", step)
			}
		}
	}
	t.Logf("final tree: %d leaves, %d members", tr.LeafCount(), tr.MemberCount())
}

func checkCounters(t *testing.T, tr *Tree) {
	t.Helper()
	f, err := FromWire(tr.Suite(), tr.ToWire())
	if err != nil {
		t.Fatal(err)
	}
	if f.n != tr.n {
		// ToWire trims; FromWire pads to the smallest full tree, which
		// may be smaller when the right part holds only blank leaves and
		// nodes. Compare the common part through the members.
		if len(f.Members()) != len(tr.Members()) {
			t.Fatalf("members differ after round trip")
		}
		return
	}
	for x := uint32(0); x < tr.width(); x++ {
		a, b := tr.get(NodeIndex(x)), f.get(NodeIndex(x))
		if a.nonBlank != b.nonBlank || a.members != b.members {
			t.Fatalf("node %d: counters %d/%d, want %d/%d", x, a.nonBlank, a.members, b.nonBlank, b.members)
		}
	}
}

// checkResolutions compares Resolution with a direct recursive definition.
func checkResolutions(t *testing.T, tr *Tree) {
	t.Helper()
	var ref func(x NodeIndex) []NodeIndex
	ref = func(x NodeIndex) []NodeIndex {
		if nd := tr.Node(x); nd != nil {
			out := []NodeIndex{x}
			if nd.ParentNode != nil {
				for _, u := range nd.ParentNode.UnmergedLeaves {
					out = append(out, LeafIndex(u).Node())
				}
			}
			return out
		}
		if x.IsLeaf() {
			return nil
		}
		l, _ := treemath.Left(x)
		r, _ := treemath.Right(x)
		return append(ref(l), ref(r)...)
	}
	for x := uint32(0); x < tr.width(); x++ {
		got, want := tr.Resolution(NodeIndex(x)), ref(NodeIndex(x))
		if len(got) != len(want) {
			t.Fatalf("node %d: resolution %v, want %v", x, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("node %d: resolution %v, want %v", x, got, want)
			}
		}
		if tr.ResolutionEmpty(NodeIndex(x)) != (len(want) == 0) {
			t.Fatalf("node %d: ResolutionEmpty wrong", x)
		}
	}
}

func TestAddRemoveShape(t *testing.T) {
	s := mustSuite(t)
	k := newKeys(2)
	tr := New(s)
	for i := 0; i < 5; i++ {
		l, err := tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage))
		if err != nil || l != LeafIndex(i) {
			t.Fatalf("add %d: leaf %d, %v", i, l, err)
		}
	}
	if tr.LeafCount() != 8 {
		t.Fatalf("leaf count %d, want 8", tr.LeafCount())
	}
	if err := tr.RemoveLeaf(1); err != nil {
		t.Fatal(err)
	}
	if l, _ := tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)); l != 1 {
		t.Fatalf("re-add took leaf %d, want 1", l)
	}
	if err := tr.RemoveLeaf(4); err != nil {
		t.Fatal(err)
	}
	if tr.LeafCount() != 4 {
		t.Fatalf("after removing leaf 4: %d leaves, want 4", tr.LeafCount())
	}
	if err := tr.RemoveLeaf(4); err == nil {
		t.Fatal("removing a leaf outside the tree succeeded")
	}
	if err := tr.RemoveLeaf(3); err != nil {
		t.Fatal(err)
	}
	if err := tr.RemoveLeaf(2); err != nil {
		t.Fatal(err)
	}
	if tr.LeafCount() != 2 || len(tr.ToWire()) != 3 {
		t.Fatalf("after removes: %d leaves, wire %d nodes", tr.LeafCount(), len(tr.ToWire()))
	}
	if err := tr.RemoveLeaf(3); err == nil {
		t.Fatal("removing a blank leaf succeeded")
	}
}

// TestCloneDivergence grows unmerged_leaves lists on a tree and on its
// clone in different ways, and checks that neither sees the other's
// changes, nor does an earlier ToWire result.
func TestCloneDivergence(t *testing.T) {
	s := mustSuite(t)
	k := newKeys(4)
	tr, _ := NewWithLeaf(s, fakeLeaf(k, wire.LeafNodeSourceKeyPackage))
	for i := 0; i < 4; i++ {
		tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage))
	}
	commit(t, tr, 0, k)                                    // root set, 5 members of 8
	tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)) // leaf 5 unmerged at root
	root, _ := tr.Root()
	snapshot := tr.ToWire()
	c := tr.Clone()
	tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)) // leaf 6 in tr only
	c.RemoveLeaf(3)                                        // root blanked in c only
	c2 := tr.Clone()
	tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)) // leaf 7 in tr
	c2.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)) // leaf 7 in c2
	for _, tt := range []*Tree{tr, c2} {
		if got := tt.Parent(root).UnmergedLeaves; !slices.Equal(got, []uint32{5, 6, 7}) {
			t.Errorf("root unmerged leaves %v, want [5 6 7]", got)
		}
	}
	if &tr.Parent(root).UnmergedLeaves[0] == &c2.Parent(root).UnmergedLeaves[0] {
		t.Error("a tree and its clone append to one backing array")
	}
	if c.Parent(root) != nil {
		t.Error("clone's root not blank")
	}
	if got := snapshot[root].ParentNode.UnmergedLeaves; !slices.Equal(got, []uint32{5}) {
		t.Errorf("earlier ToWire result changed: %v", got)
	}
	if tr.Leaf(7) == c2.Leaf(7) {
		t.Error("clones share an added leaf")
	}
	for _, tt := range []*Tree{tr, c, c2} {
		h, _ := tt.TreeHash()
		if !bytes.Equal(h, freshHash(t, tt)) {
			t.Error("cached hash differs from fresh")
		}
		if err := tt.VerifyParentHashes(); err != nil {
			t.Error(err)
		}
		if err := tt.VerifyUnmergedLeaves(); err != nil {
			t.Error(err)
		}
	}
}

// TestLargeUnmerged adds many members without any commit below a set root,
// so the root's unmerged_leaves list grows long; validation must stay
// fast (no quadratic scans).
func TestLargeUnmerged(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	s := mustSuite(t)
	k := newKeys(5)
	const m = 20000
	tr := New(s)
	for i := 0; i < m; i++ {
		if _, err := tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 2; i < m-1; i++ {
		if err := tr.RemoveLeaf(LeafIndex(i)); err != nil {
			t.Fatal(err)
		}
	}
	commit(t, tr, 0, k)   // sets the root: its copath holds leaf m-1
	commit(t, tr, m-1, k) // and a path on the right
	for i := 2; i < m-1; i++ {
		if l, err := tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage)); err != nil || l != LeafIndex(i) {
			t.Fatalf("add: %d, %v", l, err)
		}
	}
	root, _ := tr.Root()
	t.Logf("root unmerged leaves: %d", len(tr.UnmergedLeaves(root)))
	if len(tr.UnmergedLeaves(root)) != m-3 {
		t.Fatalf("root has %d unmerged leaves, want %d", len(tr.UnmergedLeaves(root)), m-3)
	}
	if err := tr.VerifyUnmergedLeaves(); err != nil {
		t.Fatal(err)
	}
	if err := tr.VerifyParentHashes(); err != nil {
		t.Fatal(err)
	}
	h, _ := tr.TreeHash()
	if !bytes.Equal(h, freshHash(t, tr)) {
		t.Fatal("cached hash differs from fresh")
	}
}
