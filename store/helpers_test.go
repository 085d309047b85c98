package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
)

// fastKDF keeps Argon2id cheap in tests; the default cost is exercised by
// TestDefaultKDFParams.
var fastKDF = KDFParams{Time: 1, MemoryKiB: 64, Threads: 1}

func eid(s string, n int) EpochID { return sha256.Sum256(fmt.Appendf(nil, "%s/%d", s, n)) }

// backends returns a fresh store on each backend: in memory and leveldb on
// disk, with and without encryption.
func backends(t *testing.T) map[string]func(t *testing.T) *Store {
	return map[string]func(t *testing.T) *Store{
		"memory": func(t *testing.T) *Store {
			s, err := OpenMemory()
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"leveldb": func(t *testing.T) *Store {
			s, err := OpenDir(context.Background(), t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
		"leveldb-encrypted": func(t *testing.T) *Store {
			s, err := OpenDir(context.Background(), t.TempDir(), WithPassphrase([]byte("pw")), WithKDFParams(fastKDF))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
