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

// TestScriptsOverSeeds replays the healing scripts with other seeds (the
// golden files pin one seed each) and checks the invariants their final
// "check" states: every member that is still in the group agrees on one
// head, no message is lost, and no member read a message sent before it
// joined. Few seeds by default; MLSNODE_LONG=1 runs
// 50 per script.
func TestScriptsOverSeeds(t *testing.T) {
	seeds := 4
	if os.Getenv("MLSNODE_LONG") != "" {
		seeds = 50
	}
	seedRe := regexp.MustCompile(`seed=\d+`)
	for _, name := range []string{"long_partition.txt", "three_way.txt", "far_behind.txt", "removed_rejoin.txt", "smoke.txt",
		"batch_readd.txt", "batch_removed.txt", "batch_committer_offline.txt"} {
		script, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		for seed := 100; seed < 100+seeds; seed++ {
			s := seedRe.ReplaceAllString(string(script), "seed="+strconv.Itoa(seed))
			out, err := forktest.Run(s)
			if err != nil {
				t.Fatalf("%s seed %d: %v", name, seed, err)
			}
			last := out[strings.LastIndex(out, "check\n----\n"):]
			if !strings.Contains(last, "converged:") || !strings.Contains(last, "lost: none") ||
				!strings.Contains(last, "read by a member who joined after it was sent: none") {
				t.Errorf("%s seed %d ends with:\n%s", name, seed, last)
			}
		}
	}
}
