package consensus_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/consensus/consensustest"
)

var update = flag.Bool("update", false, "rewrite the golden files of the interaction tests")

// TestInteraction runs every script in testdata/*.txt twice, checks that
// both runs produce byte-identical transcripts (determinism), and compares
// the transcript with testdata/<name>.golden (go test -update rewrites
// them; review the diff).
func TestInteraction(t *testing.T) {
	scripts, err := filepath.Glob("testdata/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(scripts) == 0 {
		t.Fatal("no scripts in testdata")
	}
	for _, script := range scripts {
		name := strings.TrimSuffix(filepath.Base(script), ".txt")
		t.Run(name, func(t *testing.T) {
			first, err := consensustest.NewRunner().RunFile(script)
			if err != nil {
				t.Fatalf("%v\ntranscript so far:\n%s", err, first)
			}
			second, err := consensustest.NewRunner().RunFile(script)
			if err != nil {
				t.Fatal(err)
			}
			if first != second {
				t.Fatalf("two runs of %s differ:\n--- first\n%s\n--- second\n%s", script, first, second)
			}
			golden := strings.TrimSuffix(script, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(first), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if string(want) != first {
				t.Fatalf("transcript differs from %s (run with -update and review the diff):\n%s", golden, first)
			}
		})
	}
}
