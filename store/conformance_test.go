package store

import (
	"os"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	dstest "github.com/ipfs/go-datastore/test"
	leveldbds "github.com/ipfs/go-ds-leveldb"
)

// TestBackendConformance runs go-datastore's conformance suite against the
// backends the store configures: leveldb on disk with the store's options,
// and the in-memory MapDatastore behind a mutex. The leveldb run disables
// fsync (opt.Options.NoSync): the suite checks semantics with thousands of
// single-key writes, which take two minutes synced on the CI disk; the
// synced, atomic batch path is what TestCrashRecovery checks.
//
// The suite's query combinations (SubtestCombinations, 864 queries) run
// with 20 elements, the count go-datastore itself uses under the race
// detector; MLSNODE_LONG=1 runs the default 100.
func TestBackendConformance(t *testing.T) {
	t.Parallel()
	if os.Getenv("MLSNODE_LONG") == "" {
		// No other test of this package uses dstest, so setting its
		// global is safe while other tests run in parallel.
		old := dstest.ElemCount
		dstest.ElemCount = 20
		defer func() { dstest.ElemCount = old }()
	}
	t.Run("leveldb", func(t *testing.T) {
		o := leveldbds.Options(*levelDBOptions())
		o.NoSync = true
		d, err := leveldbds.NewDatastore(t.TempDir(), &o)
		must(t, err)
		defer d.Close()
		dstest.SubtestAll(t, d)
		l := &levelDB{d}
		dstest.RunBatchTest(t, l)
		dstest.RunBatchDeleteTest(t, l)
		dstest.RunBatchPutAndDeleteTest(t, l)
	})
	t.Run("memory", func(t *testing.T) {
		d := dssync.MutexWrap(ds.NewMapDatastore())
		dstest.SubtestAll(t, d)
		dstest.RunBatchTest(t, d)
		dstest.RunBatchDeleteTest(t, d)
		dstest.RunBatchPutAndDeleteTest(t, d)
	})
}
