package fork_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/fork/forktest"
)

// TestRemovalsNeverLostOverSeeds replays the scripts of "Removals are
// never lost to a fork" (docs/ordering.md) with other seeds: whatever the
// rank order and the randomness, the member a removal made on the losing
// side targets is not in the group at the end, nobody else is removed,
// and no message is lost. 4 seeds per script; MLSNODE_LONG=1 runs 50.
func TestRemovalsNeverLostOverSeeds(t *testing.T) {
	seeds := 4
	if os.Getenv("MLSNODE_LONG") != "" {
		seeds = 50
	}
	seedRe := regexp.MustCompile(`seed=\d+`)
	for _, c := range []struct{ script, converged string }{
		{"orphaned_descendant.txt", "a,b,c"}, // d removed by b, e by d (inherited)
		{"carry_over.txt", "a,b,c"},          // e removed by a, d by e (carried over)
		{"carry_over_late.txt", "a,b,c"},     // the same, d's removal made after the survivors' fetch
		{"carry_over_no_verdict.txt", "a,b,c,d"},
	} {
		script, err := os.ReadFile(filepath.Join("testdata", c.script))
		if err != nil {
			t.Fatal(err)
		}
		for seed := 100; seed < 100+seeds; seed++ {
			s := seedRe.ReplaceAllString(string(script), "seed="+strconv.Itoa(seed))
			out, err := forktest.Run(s)
			if err != nil {
				t.Fatalf("%s seed %d: %v", c.script, seed, err)
			}
			last := out[strings.LastIndex(out, "check\n----\n"):]
			if !strings.Contains(last, "\nconverged: "+c.converged+"\n") || !strings.Contains(last, "lost: none") {
				t.Errorf("%s seed %d: want converged: %s, no loss; ends with:\n%s", c.script, seed, c.converged, last)
			}
		}
	}
}
