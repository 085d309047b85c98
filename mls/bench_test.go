package mls

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// benchGroup builds a group of n members with suite 1: the creator adds
// n-1 KeyPackages in one commit and one of them joins from the Welcome.
func benchGroup(b *testing.B, n int) (creator, joiner *member) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'b', byte(n), byte(n >> 8)})
	creator = newMemberTB(b, cs, rng, "creator")
	g, err := CreateGroup(rng, cs, CreateConfig{KeyPackage: creator.kp, SigningKey: creator.key})
	if err != nil {
		b.Fatal(err)
	}
	creator.g = g
	var adds []*wire.Proposal
	for i := 1; i < n; i++ {
		m := newMemberTB(b, cs, rng, fmt.Sprint(i))
		if i == n/2 {
			joiner = m
		}
		adds = append(adds, addProposal(m))
	}
	res, err := g.Commit(rng, CommitOptions{Proposals: adds, ForcePath: true, PublicMessage: true})
	if err != nil {
		b.Fatal(err)
	}
	if err := g.Merge(res.Staged); err != nil {
		b.Fatal(err)
	}
	if joiner.g, err = JoinFromWelcome(cs, res.Welcome, JoinConfig{KeyPackage: joiner.kp, SigningKey: joiner.key}); err != nil {
		b.Fatal(err)
	}
	return creator, joiner
}

// BenchmarkGroup measures group operations per size with suite 1 and
// PublicMessage commits. So far it covers the worst case that issue 4
// names: the first commit with a path right after add_all, when every
// parent node off the creator's path is still blank, so the path is
// encrypted to (and the commit carries a ciphertext for) almost every
// member. Steady-state figures need a synthesised full tree (next step).
func BenchmarkGroup(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000, 50000} {
		if testing.Short() && n > 1000 {
			continue
		}
		creator, joiner := benchGroup(b, n)
		rng := rand.NewChaCha8([32]byte{'c'})
		res, err := creator.g.Commit(rng, CommitOptions{ForcePath: true, PublicMessage: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("commit_create_after_add_all/members=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := creator.g.Commit(rng, CommitOptions{ForcePath: true, PublicMessage: true}); err != nil {
					b.Fatal(err)
				}
				creator.g.ownCommits = nil // keep memory flat across iterations
			}
		})
		b.Run(fmt.Sprintf("commit_process_after_add_all/members=%d", n), func(b *testing.B) {
			for b.Loop() {
				if _, err := joiner.g.ProcessHandshake(res.Commit); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
