package mls

import (
	"fmt"
	"math/rand/v2"
	"runtime"
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
// PublicMessage commits (issue 4): in the steady state, on a synthesised
// full tree (commit_create, commit_process, add_one, remove_one,
// join_welcome, state), and in the worst case right after add_all, when
// the parent nodes are still blank and a path is encrypted to almost
// every member. Sizes above 1,000 are skipped under -short.
func BenchmarkGroup(b *testing.B) {
	for _, n := range []int{10, 100, 1000, 10000, 50000} {
		if testing.Short() && n > 1000 {
			continue
		}
		steadyState(b, n)
		addAll(b, n)
		worstCase(b, n)
	}
}

// steadyState benchmarks a group of n members in the steady state: a
// synthesised full tree (every parent node set, see synthesizeFullGroup).
func steadyState(b *testing.B, n int) {
	f := synthesizeFullGroup(b, n)
	cs := f.cs
	committer, processor := f.member(b, 0), f.member(b, n/2)
	rng := rand.NewChaCha8([32]byte{'s', 's'})
	newcomer := newMemberTB(b, cs, rng, "newcomer")
	commit := func(opts CommitOptions) *CommitResult {
		res, err := committer.Commit(rng, opts)
		if err != nil {
			b.Fatal(err)
		}
		committer.ownCommits = nil // keep memory flat across iterations
		return res
	}
	name := func(op string) string { return fmt.Sprintf("%s/members=%d", op, n) }
	b.Run(name("commit_create"), func(b *testing.B) {
		for b.Loop() {
			commit(CommitOptions{ForcePath: true, PublicMessage: true})
		}
	})
	res := commit(CommitOptions{ForcePath: true, PublicMessage: true})
	b.Run(name("commit_process"), func(b *testing.B) {
		for b.Loop() {
			if _, err := processor.ProcessHandshake(res.Commit); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(name("add_one"), func(b *testing.B) {
		for b.Loop() {
			commit(CommitOptions{Proposals: []*wire.Proposal{addProposal(newcomer)}, PublicMessage: true})
		}
	})
	b.Run(name("remove_one"), func(b *testing.B) {
		for b.Loop() {
			commit(CommitOptions{Proposals: []*wire.Proposal{NewRemove(uint32(n - 1))}, PublicMessage: true})
		}
	})
	welcome := commit(CommitOptions{Proposals: []*wire.Proposal{addProposal(newcomer)}, PublicMessage: true}).Welcome
	b.Run(name("join_welcome"), func(b *testing.B) {
		for b.Loop() {
			if _, err := JoinFromWelcome(cs, welcome, JoinConfig{KeyPackage: newcomer.kp, SigningKey: newcomer.key}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(name("state"), func(b *testing.B) {
		// The stored size and the live heap of one member's group state.
		var enc []byte
		for b.Loop() {
			var err error
			if enc, err = processor.MarshalState(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(enc))/(1<<20), "MiB_stored")
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g, err := LoadGroup(enc, LoadConfig{})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB_heap")
		runtime.KeepAlive(g)
	})
}

// worstCase benchmarks the first commit with a path right after add_all.
// The group is built lazily, inside the sub-benchmarks, so that filtering
// them out (-bench) also skips the expensive setup.
func worstCase(b *testing.B, n int) {
	var creator, joiner *member
	var res *CommitResult
	setup := func(b *testing.B) {
		if creator != nil {
			return
		}
		creator, joiner = benchGroup(b, n)
		var err error
		if res, err = creator.g.Commit(rand.NewChaCha8([32]byte{'c'}), CommitOptions{ForcePath: true, PublicMessage: true}); err != nil {
			b.Fatal(err)
		}
	}
	rng := rand.NewChaCha8([32]byte{'w'})
	b.Run(fmt.Sprintf("commit_create_after_add_all/members=%d", n), func(b *testing.B) {
		setup(b)
		for b.Loop() {
			if _, err := creator.g.Commit(rng, CommitOptions{ForcePath: true, PublicMessage: true}); err != nil {
				b.Fatal(err)
			}
			creator.g.ownCommits = nil // keep memory flat across iterations
		}
	})
	b.Run(fmt.Sprintf("commit_process_after_add_all/members=%d", n), func(b *testing.B) {
		setup(b)
		for b.Loop() {
			if _, err := joiner.g.ProcessHandshake(res.Commit); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// addAll benchmarks creating a group of n in one commit: the creator's
// commit adding n-1 KeyPackages (each validated) and the Welcome for them.
func addAll(b *testing.B, n int) {
	b.Run(fmt.Sprintf("add_all/members=%d", n), func(b *testing.B) {
		cs, _ := suite.Lookup(1)
		rng := rand.NewChaCha8([32]byte{'a', 'a'})
		creator := newMemberTB(b, cs, rng, "creator")
		adds := make([]*wire.Proposal, 0, n-1)
		for i := 1; i < n; i++ {
			adds = append(adds, addProposal(newMemberTB(b, cs, rng, fmt.Sprint(i))))
		}
		for b.Loop() {
			g, err := CreateGroup(rng, cs, CreateConfig{KeyPackage: creator.kp, SigningKey: creator.key})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := g.Commit(rng, CommitOptions{Proposals: adds, PublicMessage: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
