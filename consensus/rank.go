package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"sort"
)

// Candidate is what a RankRule sees of one commit on a parent epoch.
type Candidate struct {
	// Parent is the epoch the commit is made on.
	Parent EpochID
	// Committer is the committer's leaf index in Parent (for an external
	// commit, the leaf it takes).
	Committer uint32
	// Removes is the number of Remove proposals the commit covers.
	Removes int
	// External is set for an external commit (a joiner's); its only
	// possible Remove is of the joiner's own old leaf (a resync).
	External bool
	// Digest is SHA-256 of the commit's MLSMessage encoding.
	Digest [32]byte
}

// RankRule orders rival commits on one parent epoch. Key must be a pure
// function of the candidate; a lower key ranks first. Ties between equal
// keys are broken by Digest by the Core, so the order is total.
type RankRule interface {
	Name() string
	Key(c *Candidate) []byte
}

// CommitterOrder is the default rule (docs/ordering.md, "Ranking"):
//  1. commits that remove members rank before commits that do not
//     (an external commit's removal of the joiner's old leaf does not
//     count);
//  2. then the lowest SHA-256("mlsnode rank" || parent id || committer),
//     a fresh order of members per epoch that does not depend on the
//     commit's bytes.
//
// Only facts every member of the parent epoch knows enter the key (a
// member who joined in the parent by Welcome does not know who committed
// it, so "who made the parent" cannot be part of it).
type CommitterOrder struct{}

func (CommitterOrder) Name() string { return "committer-order" }

func (CommitterOrder) Key(c *Candidate) []byte {
	return append([]byte{removeFlag(c)}, committerHash(c.Parent, c.Committer)...)
}

// committerHash is the per-epoch position of a member in the committer
// order.
func committerHash(parent EpochID, leaf uint32) []byte {
	h := sha256.New()
	h.Write([]byte("mlsnode rank"))
	h.Write(parent[:])
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], leaf)
	h.Write(b[:])
	return h.Sum(nil)
}

// CommitHash is the alternative for comparison: removals first, then the
// lowest hash of the commit's own bytes. A committer can grind it (re-sign
// or re-randomise its path until the hash is low), which is why it is not
// the default; the simulator measures what that costs.
type CommitHash struct{}

func (CommitHash) Name() string { return "commit-hash" }

func (CommitHash) Key(c *Candidate) []byte {
	return append([]byte{removeFlag(c)}, c.Digest[:]...)
}

// removeFlag is 0 for a commit that removes another member. An external
// commit's removal is the joiner's own old leaf: a resync, not a removal
// that must win, so a removed member cannot jump the queue by rejoining on
// the epoch of its own removal.
func removeFlag(c *Candidate) byte {
	if c.Removes > 0 && !c.External {
		return 0
	}
	return 1
}

var rankRules = map[string]func() RankRule{
	"committer-order": func() RankRule { return CommitterOrder{} },
	"commit-hash":     func() RankRule { return CommitHash{} },
}

// RankByName returns the rule with the given name (RankNames lists them).
func RankByName(name string) (RankRule, error) {
	if f, ok := rankRules[name]; ok {
		return f(), nil
	}
	return nil, fmt.Errorf("%w: rank %q", ErrUnknownRule, name)
}

// RankNames lists the names RankByName accepts, sorted.
func RankNames() []string { return sortedNames(rankRules) }

func sortedNames[V any](m map[string]V) []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
