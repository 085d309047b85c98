package fork

import (
	"bytes"
	"crypto/sha256"
	"slices"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Identity names a member across branches and epochs: the SHA-256 of its
// encoded credential under a label of ours. Leaf indexes differ between
// branches and signature keys can change with an Update; the credential is
// what the application's CredentialValidator binds to a person or device.
type Identity [32]byte

const identityLabel = "mlsnode identity"

// IdentityOf returns the identity of a credential.
func IdentityOf(c *wire.Credential) Identity {
	enc, err := codec.Marshal(c)
	if err != nil {
		// A credential that does not encode cannot be in a tree that
		// decoded; hash the type alone so the result is still defined.
		enc = []byte{byte(c.CredentialType >> 8), byte(c.CredentialType)}
	}
	h := sha256.New()
	h.Write([]byte(identityLabel))
	h.Write(enc)
	var id Identity
	h.Sum(id[:0])
	return id
}

// Roster returns the identities of the members of tree, sorted.
func Roster(tree *ratchettree.Tree) []Identity {
	var out []Identity
	for _, l := range tree.Members() {
		out = append(out, IdentityOf(&tree.Leaf(l).Credential))
	}
	slices.SortFunc(out, func(a, b Identity) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(out)
}

// BranchView is what the survivor rule sees of one branch: its head, the
// identities in its head's roster, and the identities whose latest verified
// beacon names an epoch of this branch (its recently active members).
type BranchView struct {
	Head    EpochRef
	Members []Identity
	Active  []Identity
}

// Verdict is the outcome of the survivor rule between two branches.
type Verdict int

const (
	// NoVerdict: the branches share no active member that both rosters
	// list. They are not two halves of one group (or one is a former
	// member's fabrication), and neither is healed into the other.
	NoVerdict Verdict = iota
	// FirstSurvives and SecondSurvives name the surviving branch.
	FirstSurvives
	SecondSurvives
)

func (v Verdict) String() string {
	switch v {
	case FirstSurvives:
		return "first"
	case SecondSurvives:
		return "second"
	}
	return "none"
}

// Survivor is the survivor rule for a fork older than the retention window
// (docs/ordering.md, "Fork detection and healing"). Only the common members
// count: identities listed in both heads' rosters. A member removed on
// either branch, and a member added on one branch only, gets no vote, so
// neither a removed member nor a crowd of members one side invented can
// tip the choice.
//
//  1. The branch with more common members active on it survives.
//  2. On a tie, the branch whose active common members include the
//     smallest identity survives (a rank that no committer can grind: it
//     depends on credentials only, not on commit bytes or epoch ids).
//  3. With no active common member on either branch, there is no verdict.
//
// The rule is symmetric: Survivor(a, b) and Survivor(b, a) name the same
// branch, which is what lets both sides decide without talking.
func Survivor(a, b BranchView) Verdict {
	common := intersect(a.Members, b.Members)
	wa := intersect(a.Active, common)
	wb := intersect(b.Active, common)
	// A member active on both (a stale beacon on one side) counts on
	// neither: its latest beacon should have settled it, and counting it
	// twice would let it vote twice.
	both := intersect(wa, wb)
	wa = subtract(wa, both)
	wb = subtract(wb, both)
	switch {
	case len(wa) == 0 && len(wb) == 0:
		return NoVerdict
	case len(wa) > len(wb):
		return FirstSurvives
	case len(wb) > len(wa):
		return SecondSurvives
	}
	// Equal non-zero weights: the sets are disjoint and sorted, so their
	// smallest elements differ.
	if bytes.Compare(wa[0][:], wb[0][:]) < 0 {
		return FirstSurvives
	}
	return SecondSurvives
}

// intersect returns the sorted, de-duplicated identities in both lists.
func intersect(a, b []Identity) []Identity {
	set := make(map[Identity]bool, len(b))
	for _, id := range b {
		set[id] = true
	}
	var out []Identity
	for _, id := range a {
		if set[id] {
			out = append(out, id)
		}
	}
	return sortUnique(out)
}

func subtract(a, b []Identity) []Identity {
	var out []Identity
	for _, id := range a {
		if !slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

func sortUnique(ids []Identity) []Identity {
	slices.SortFunc(ids, func(a, b Identity) int { return bytes.Compare(a[:], b[:]) })
	return slices.Compact(ids)
}
