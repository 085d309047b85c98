package store

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	leveldbds "github.com/ipfs/go-ds-leveldb"
	"github.com/syndtr/goleveldb/leveldb"
	lerrors "github.com/syndtr/goleveldb/leveldb/errors"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/util"
)

// ErrDamagedFiles: the leveldb files of a store are damaged (a checksum
// mismatch, a missing or truncated table, a damaged manifest). The store
// is not opened; RepairDir can try to salvage it, at the risk of losing
// the damaged records.
var ErrDamagedFiles = errors.New("store: database files are damaged")

// levelDB is the default on-disk backend: go-ds-leveldb, plus purging by
// range compaction.
type levelDB struct {
	*leveldbds.Datastore
}

// levelDBOptions: no compression, because most values are secrets or
// ciphertext and do not compress, and so that a deleted secret can be
// looked for byte for byte in the files (the crash test does). A damaged
// manifest is an error rather than silently rebuilt.
func levelDBOptions() *opt.Options {
	return &opt.Options{
		Compression: opt.NoCompression,
		Strict:      opt.DefaultStrict | opt.StrictManifest,
	}
}

// OpenDir opens or creates a store in directory dir on leveldb (the
// default on-disk backend). Every batch is written with sync.
func OpenDir(ctx context.Context, dir string, opts ...Option) (*Store, error) {
	// go-ds-leveldb repairs a damaged database silently on open
	// (leveldb.RecoverFile), which can drop records. Open it here first
	// so that damage is reported instead; a clean database then opens
	// there without repair.
	db, err := leveldb.OpenFile(dir, levelDBOptions())
	if err != nil {
		if lerrors.IsCorrupted(err) {
			return nil, fmt.Errorf("%w: %s: %v", ErrDamagedFiles, dir, err)
		}
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	if err := db.Close(); err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	o := leveldbds.Options(*levelDBOptions())
	d, err := leveldbds.NewDatastore(dir, &o)
	if err != nil {
		return nil, fmt.Errorf("store: opening %s: %w", dir, err)
	}
	s, err := Open(ctx, &levelDB{d}, opts...)
	if err != nil {
		d.Close()
		return nil, err
	}
	return s, nil
}

// RepairDir runs leveldb's recovery on a damaged store directory: it
// rebuilds the manifest from the tables that still read. Records in
// damaged tables or journal blocks are lost; the store reports any
// remaining damage per record when read.
func RepairDir(dir string) error {
	db, err := leveldb.RecoverFile(dir, levelDBOptions())
	if err != nil {
		return fmt.Errorf("store: repairing %s: %w", dir, err)
	}
	return db.Close()
}

// Purge compacts the key ranges of prefixes. Compaction first flushes the
// memtable (whose journal file holds the deleted values) to a table and
// removes the journal, then rewrites every table overlapping the range,
// dropping deleted and overwritten values; the old files are removed.
func (l *levelDB) Purge(ctx context.Context, prefixes []ds.Key) error {
	for _, p := range prefixes {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := l.DB.CompactRange(*util.BytesPrefix(p.Bytes())); err != nil {
			return err
		}
	}
	return nil
}

// isBackendCorruption reports damage detected by the backend.
func isBackendCorruption(err error) bool {
	return lerrors.IsCorrupted(err)
}

var _ Purger = (*levelDB)(nil)
var _ ds.Batching = (*levelDB)(nil)
