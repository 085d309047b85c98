package fork_test

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlsnode/mlsnode/fork/forktest"
)

var update = flag.Bool("update", false, "rewrite the golden scripts in testdata/ with the actual output")

// TestInteraction replays every script in testdata/ twice: the output must
// equal the golden file and be byte-identical between the two runs.
func TestInteraction(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			script, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := forktest.Run(string(script))
			if err != nil {
				t.Fatal(err)
			}
			again, err := forktest.Run(string(script))
			if err != nil {
				t.Fatal(err)
			}
			if got != again {
				t.Fatalf("two runs of %s differ", file)
			}
			if *update {
				if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			if got != string(script) {
				t.Errorf("%s: output differs from the golden file (run with -update and review the diff):\n%s", file, got)
			}
		})
	}
}
