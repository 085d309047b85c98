package testvectors

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// EnvDir names the environment variable that overrides the vector folder.
const EnvDir = "MLS_TEST_VECTORS"

// Dir returns the vector folder, or fails/skips t when it is missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvDir)
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatalf("testvectors: %v", err)
		}
		dir = filepath.Join(root, "..", "shared", "testdata", "mls-vectors")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		msg := fmt.Sprintf("\n*** MLS TEST VECTORS NOT FOUND at %s ***\n"+
			"*** set %s to the folder of mlswg/mls-implementations test-vectors ***", dir, EnvDir)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + "\n*** under CI a missing vector folder is a failure ***")
		}
		t.Skip(msg + "\n*** SKIPPING vector test (outside CI) ***")
	}
	return dir
}

// Load decodes the vector file name (e.g. "tree-math.json") into v.
func Load(t testing.TB, name string, v any) {
	t.Helper()
	path := filepath.Join(Dir(t), name)
	data, err := os.ReadFile(path)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("testvectors: %v", err)
		}
		t.Skipf("\n*** MLS TEST VECTOR FILE MISSING: %v; SKIPPING ***", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("testvectors: decoding %s: %v", name, err)
	}
}

// Glob returns the vector files matching pattern (e.g. "passive-client-*.json").
func Glob(t testing.TB, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(Dir(t), pattern))
	if err != nil {
		t.Fatalf("testvectors: %v", err)
	}
	return files
}

// Report logs, and prints on the test's output, how many cases of a file
// ran, so that `go test -v` and CI logs show the count.
func Report(t testing.TB, file string, cases int) {
	t.Helper()
	if cases == 0 {
		t.Fatalf("testvectors: %s: no cases ran", file)
	}
	t.Logf("%s: %d cases run", file, cases)
	fmt.Printf("mls-vectors: %s: %d cases run\n", file, cases)
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Hex is a byte string written as lowercase hex in the vectors. JSON null
// decodes to nil.
type Hex []byte

func (h *Hex) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*h = nil
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return err
	}
	*h = v
	return nil
}

func (h Hex) String() string { return hex.EncodeToString(h) }
