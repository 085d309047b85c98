package fork

import (
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

// MarshalJoinNote encodes a join request's authenticated data, for tests
// that build requests by hand.
func MarshalJoinNote(onto EpochRef, forkPoint *EpochRef, memberSince uint64) []byte {
	b, err := codec.Marshal(&joinNote{Onto: onto, Heal: healNote{ForkPoint: forkPoint, MemberSince: memberSince}})
	if err != nil {
		panic(err)
	}
	return b
}

// HeadBeaconer exposes the choice of who beacons on a head change.
func HeadBeaconer(id EpochID, self Identity, n, k int) bool { return headBeaconer(id, self, n, k) }

// FindIdentity exposes the memoised identity lookup.
func FindIdentity(m *Member, tree *ratchettree.Tree, id Identity) (treemath.LeafIndex, bool) {
	return m.findIdentity(tree, id)
}

// IdentityAt exposes the memoised identity of a leaf.
func IdentityAt(m *Member, tree *ratchettree.Tree, leaf uint32) (Identity, bool) {
	return m.identityAt(tree, leaf)
}
