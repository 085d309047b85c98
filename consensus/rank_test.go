package consensus_test

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
)

func candidateOf(t *testing.T, env consensus.Envelope, committer uint32) *consensus.Candidate {
	body := commitOf(t, env)
	b, err := codec.Marshal(body.Commit)
	if err != nil {
		t.Fatal(err)
	}
	return &consensus.Candidate{Parent: env.EpochID, Committer: committer, Digest: sha256.Sum256(b)}
}

// TestGrinding: a committer that makes many commits on one epoch and
// publishes the best can raise its chances under commit-hash, but not
// under committer-order, whose key does not depend on the commit's bytes.
// Across 24 groups, m1 makes 8 commits and keeps the best; m2 makes one.
func TestGrinding(t *testing.T) {
	const groups, tries = 24, 8
	wins := map[string]int{}
	for s := 0; s < groups; s++ {
		n, err := newNetSeed(3, uint64(100+s))
		if err != nil {
			t.Fatal(err)
		}
		honest := candidateOf(t, rawCommit(t, n, 2), 2)
		var ground []*consensus.Candidate
		for k := 0; k < tries; k++ {
			ground = append(ground, candidateOf(t, rawCommit(t, n, 1), 1))
		}
		for _, rule := range []consensus.RankRule{consensus.CommitterOrder{}, consensus.CommitHash{}} {
			best := rule.Key(ground[0])
			distinct := map[string]bool{}
			for _, c := range ground {
				k := rule.Key(c)
				distinct[string(k)] = true
				if bytes.Compare(k, best) < 0 {
					best = k
				}
			}
			switch rule.(type) {
			case consensus.CommitterOrder:
				if len(distinct) != 1 {
					t.Fatalf("committer-order: %d different keys for one committer on one epoch", len(distinct))
				}
			case consensus.CommitHash:
				if len(distinct) != tries {
					t.Fatalf("commit-hash: %d different keys for %d commits", len(distinct), tries)
				}
			}
			if bytes.Compare(best, rule.Key(honest)) < 0 {
				wins[rule.Name()]++
			}
		}
	}
	t.Logf("grinding committer wins (best of %d vs one honest commit, %d groups): %v", tries, groups, wins)
	// Under committer-order the grinder wins only when its leaf comes
	// first in the epoch's order: about half the time. Under commit-hash
	// best-of-8 wins about 8/9 of the time.
	if wins["commit-hash"] <= wins["committer-order"] || wins["commit-hash"] < groups*3/4 {
		t.Fatalf("grinding did not pay under commit-hash as expected: %v", wins)
	}
	if wins["committer-order"] > groups*3/4 {
		t.Fatalf("committer-order favours the grinder: %v", wins)
	}
}

func TestRemovesRankFirst(t *testing.T) {
	var parent consensus.EpochID
	for _, rule := range []consensus.RankRule{consensus.CommitterOrder{}, consensus.CommitHash{}} {
		for leaf := uint32(0); leaf < 16; leaf++ {
			plain := &consensus.Candidate{Parent: parent, Committer: leaf}
			for other := uint32(0); other < 16; other++ {
				remove := &consensus.Candidate{Parent: parent, Committer: other, Removes: 1, Digest: [32]byte{0xff}}
				if bytes.Compare(rule.Key(remove), rule.Key(plain)) >= 0 {
					t.Fatalf("%s: a removal by %d does not beat a plain commit by %d", rule.Name(), other, leaf)
				}
			}
		}
	}
}

func TestRuleNames(t *testing.T) {
	for _, name := range consensus.RankNames() {
		r, err := consensus.RankByName(name)
		if err != nil || r.Name() != name {
			t.Fatalf("rank %q: %v", name, err)
		}
	}
	for _, name := range consensus.ApplyNames() {
		p, err := consensus.ApplyByName(name)
		if err != nil || p.Name() != name {
			t.Fatalf("apply %q: %v", name, err)
		}
	}
	if _, err := consensus.RankByName("lowest-timestamp"); err == nil {
		t.Fatal("unknown rank name accepted")
	}
	if _, err := consensus.ApplyByName("whatever"); err == nil {
		t.Fatal("unknown apply name accepted")
	}
}

// TestExternalResyncIsNotARemoval: an external commit's Remove (the
// joiner's own old leaf) does not give it the removal priority.
func TestExternalResyncIsNotARemoval(t *testing.T) {
	var parent consensus.EpochID
	for _, rule := range []consensus.RankRule{consensus.CommitterOrder{}, consensus.CommitHash{}} {
		resync := &consensus.Candidate{Parent: parent, Committer: 3, Removes: 1, External: true}
		removal := &consensus.Candidate{Parent: parent, Committer: 1, Removes: 1}
		plain := &consensus.Candidate{Parent: parent, Committer: 3}
		if bytes.Compare(rule.Key(removal), rule.Key(resync)) >= 0 {
			t.Fatalf("%s: an external resync ranks with removals", rule.Name())
		}
		if !bytes.Equal(rule.Key(resync), rule.Key(plain)) {
			t.Fatalf("%s: an external resync ranks differently from a plain commit by the same leaf", rule.Name())
		}
	}
}
