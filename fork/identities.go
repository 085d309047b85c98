package fork

import (
	"bytes"
	"slices"
	"weak"

	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Identities of leaves and rosters, memoised. IdentityOf encodes and hashes
// a credential; beacons, nacks and the survivor rule ask for the identity
// of a leaf or the roster of a tree for nearly every envelope, which at a
// thousand members was a quarter of all the work (encoding credentials
// and sorting rosters, again and again, for the same few trees). Both
// memos rest on one fact of the MLS engine: a ratchet tree, once an
// epoch's, is never changed in place (every change is made on a clone,
// and a LeafNode is replaced, never edited), so a leaf node's identity
// and a tree's roster never go stale. The memos are bounded and change
// nothing but time. They hold their keys weakly (package weak), so a tree
// or a leaf node that only a memo still names is collected: at 300
// members, strong keys kept every BranchInfo's decoded tree alive and
// tripled the peak memory.

// Bounds of the memos: leaf identities (cleared when full: three trees of
// the head's size, the head's, a rival's and one more, plus slack) and
// rosters of the most recently asked trees.
const (
	leafIdentitySlack = 256
	rosterMemoTrees   = 4
)

type identityMemo struct {
	leaves  map[weak.Pointer[wire.LeafNode]]Identity
	rosters []rosterMemo // most recent last
}

type rosterMemo struct {
	tree   weak.Pointer[ratchettree.Tree]
	sorted []Identity
	// leaves[i] is the first leaf (in tree order) whose identity is
	// sorted[i]: findIdentity's answer, found by binary search instead
	// of a scan of every leaf (at 1,000 members, five per cent of a
	// run's CPU went to such scans, one per join request served).
	leaves []treemath.LeafIndex
	// slot[l] is the index in sorted of leaf l's identity, -1 for a blank
	// leaf: identityAt's answer without a leaf memo lookup.
	slot []int32
}

// leafIdentity is IdentityOf the credential of leaf node ln.
func (m *Member) leafIdentity(ln *wire.LeafNode) Identity {
	key := weak.Make(ln)
	if id, ok := m.ids.leaves[key]; ok {
		return id
	}
	id := IdentityOf(&ln.Credential)
	limit := leafIdentitySlack
	if head := m.core.Head(); head != nil {
		limit += 3 * int(head.Tree().LeafCount())
	}
	if m.ids.leaves == nil || len(m.ids.leaves) >= limit {
		m.ids.leaves = map[weak.Pointer[wire.LeafNode]]Identity{}
	}
	m.ids.leaves[key] = id
	return id
}

// roster is Roster(tree), shared: callers must not modify it.
func (m *Member) roster(tree *ratchettree.Tree) []Identity {
	return m.rosterMemo(tree).sorted
}

// rosterMemo returns the memo entry of tree, making it if needed.
func (m *Member) rosterMemo(tree *ratchettree.Tree) *rosterMemo {
	if memo := m.memoOf(tree); memo != nil {
		return memo
	}
	return m.makeRosterMemo(tree)
}

// makeRosterMemo makes tree's memo entry (the caller found none).
func (m *Member) makeRosterMemo(tree *ratchettree.Tree) *rosterMemo {
	key := weak.Make(tree)
	type leafID struct {
		id   Identity
		leaf treemath.LeafIndex
	}
	var all []leafID
	for _, l := range tree.Members() {
		all = append(all, leafID{m.leafIdentity(tree.Leaf(l)), l})
	}
	byLeaf := slices.Clone(all) // in leaf order, for slot
	// By identity, then leaf: compacting keeps each identity's first leaf.
	slices.SortFunc(all, func(a, b leafID) int {
		if c := bytes.Compare(a.id[:], b.id[:]); c != 0 {
			return c
		}
		return int(a.leaf) - int(b.leaf)
	})
	all = slices.CompactFunc(all, func(a, b leafID) bool { return a.id == b.id })
	memo := rosterMemo{tree: key, sorted: make([]Identity, len(all)), leaves: make([]treemath.LeafIndex, len(all)),
		slot: make([]int32, tree.LeafCount())}
	for i, e := range all {
		memo.sorted[i], memo.leaves[i] = e.id, e.leaf
	}
	for i := range memo.slot {
		memo.slot[i] = -1
	}
	for _, e := range byLeaf {
		i, _ := slices.BinarySearchFunc(memo.sorted, e.id, compareIdentity)
		memo.slot[e.leaf] = int32(i)
	}
	if len(m.ids.rosters) >= rosterMemoTrees {
		m.ids.rosters = slices.Delete(m.ids.rosters, 0, 1)
	}
	m.ids.rosters = append(m.ids.rosters, memo)
	return &m.ids.rosters[len(m.ids.rosters)-1]
}

// findIdentity finds the first leaf (in tree order) of identity id in
// tree.
func (m *Member) findIdentity(tree *ratchettree.Tree, id Identity) (treemath.LeafIndex, bool) {
	memo := m.rosterMemo(tree)
	i, found := slices.BinarySearchFunc(memo.sorted, id, compareIdentity)
	if !found {
		return 0, false
	}
	return memo.leaves[i], true
}

// identityAt is the identity of tree's leaf i, if that leaf is not blank:
// leafIdentity(leafAt(tree, i)) from the tree's roster memo, for the
// beacon path, which asks it of every beacon.
//
// Only the head's tree gets a memo made for it here: beacons name many
// epochs' trees, and making one for each (a sort of every identity) would
// cost more than the lookups it saves.
func (m *Member) identityAt(tree *ratchettree.Tree, i uint32) (Identity, bool) {
	memo := m.memoOf(tree)
	if memo == nil {
		if head := m.core.Head(); head == nil || head.Tree() != tree {
			leaf := leafAt(tree, i)
			if leaf == nil {
				return Identity{}, false
			}
			return m.leafIdentity(leaf), true
		}
		memo = m.makeRosterMemo(tree)
	}
	if i >= uint32(len(memo.slot)) || memo.slot[i] < 0 {
		return Identity{}, false
	}
	return memo.sorted[memo.slot[i]], true
}

// memoOf is tree's roster memo if there is one.
func (m *Member) memoOf(tree *ratchettree.Tree) *rosterMemo {
	key := weak.Make(tree)
	for i := len(m.ids.rosters) - 1; i >= 0; i-- {
		if m.ids.rosters[i].tree == key {
			return &m.ids.rosters[i]
		}
	}
	return nil
}

func compareIdentity(a, b Identity) int { return bytes.Compare(a[:], b[:]) }
