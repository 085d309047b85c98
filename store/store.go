package store

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// SchemaVersion is the layout this binary reads and writes. A store
// written with a higher version is refused with a *SchemaError; bump it
// (and add a migration) whenever a key or record encoding changes.
const SchemaVersion = 1

// Purger is implemented by backends that can remove deleted values from
// their files on request. After a transaction deletes or overwrites
// secrets, the store asks the backend to purge those key prefixes. The
// leveldb backend of OpenDir compacts the ranges; a backend without it
// keeps whatever its Delete leaves behind.
type Purger interface {
	Purge(ctx context.Context, prefixes []ds.Key) error
}

// ErrPurgeIncomplete: a transaction committed, but purging the deleted
// values from the backend's files failed. The purge stays recorded and is
// retried by Store.Purge and by the next Open.
var ErrPurgeIncomplete = errors.New("store: committed, but deleted values are not purged yet")

// Option configures Open.
type Option func(*options)

type options struct {
	passphrase []byte
	kdf        KDFParams
	deferPurge bool
}

// WithDeferredPurge makes transactions record what to purge without
// purging it; Store.Purge (called by the application, say once a second)
// and the next Open do the work. Transactions get several times faster,
// and deleted values stay in the backend's files until the next Purge.
func WithDeferredPurge() Option {
	return func(o *options) { o.deferPurge = true }
}

// WithPassphrase encrypts every stored value (all but the schema and KDF
// records, which opening needs) under a key derived from the passphrase. A new store records the choice; an existing store must be
// opened with the passphrase it was created with.
func WithPassphrase(passphrase []byte) Option {
	return func(o *options) { o.passphrase = append([]byte(nil), passphrase...) }
}

// WithKDFParams sets the Argon2id cost for a store created with a
// passphrase (default DefaultKDFParams). An existing store uses the
// parameters recorded in it.
func WithKDFParams(p KDFParams) Option {
	return func(o *options) { o.kdf = p }
}

// Store is the durable state of one node. It is safe for concurrent use;
// transactions on one group are applied one at a time.
type Store struct {
	ds     ds.Batching
	purger Purger
	f      *framer
	closed atomic.Bool

	mu     sync.Mutex
	groups map[string]*groupLock

	deferPurge bool

	purgeMu sync.Mutex // one purge at a time; guards purged
	purged  []ds.Key   // markers of finished purges, not yet deleted
}

// Open opens or creates a store on any Batching datastore. If d also
// implements Purger, deleted secrets are purged from its files; purges
// that a crash interrupted (or that were deferred) are finished before
// Open returns. On success the Store owns d and closes it on Close; on
// error d is left open.
func Open(ctx context.Context, d ds.Batching, opts ...Option) (*Store, error) {
	o := options{kdf: DefaultKDFParams}
	for _, opt := range opts {
		opt(&o)
	}
	defer clear(o.passphrase)
	s := &Store{ds: d, f: &framer{}, groups: map[string]*groupLock{}, deferPurge: o.deferPurge}
	if p, ok := d.(Purger); ok {
		s.purger = p
	}
	var schema schemaRecord
	err := s.get(ctx, nil, keySchema, KindSchema, &schema)
	switch {
	case errors.Is(err, ErrNotFound):
		if err := s.create(ctx, &o); err != nil {
			return nil, err
		}
		return s, nil
	case err != nil:
		return nil, err
	}
	if schema.Version != SchemaVersion {
		return nil, &SchemaError{Found: schema.Version, Supported: SchemaVersion}
	}
	var c cryptoRecord
	err = s.get(ctx, nil, keyCrypto, KindCrypto, &c)
	switch {
	case errors.Is(err, ErrNotFound):
		if o.passphrase != nil {
			return nil, ErrNotEncrypted
		}
	case err != nil:
		return nil, err
	case o.passphrase == nil:
		return nil, ErrPassphraseRequired
	default:
		if s.f, err = newSealedFramer(o.passphrase, &c); err != nil {
			return nil, err
		}
	}
	if err := s.finishPurges(ctx); err != nil {
		return nil, err
	}
	if err := s.newWrites().commit(ctx); err != nil { // deletes the markers
		return nil, err
	}
	return s, nil
}

// OpenMemory returns a store kept in memory (go-datastore's MapDatastore
// behind a mutex), for tests and the simulator.
func OpenMemory(opts ...Option) (*Store, error) {
	return Open(context.Background(), dssync.MutexWrap(ds.NewMapDatastore()), opts...)
}

// create writes the schema (and crypto) records of a new store, after
// checking that the datastore is empty.
func (s *Store) create(ctx context.Context, o *options) error {
	res, err := s.ds.Query(ctx, dsq.Query{KeysOnly: true, Limit: 1})
	if err != nil {
		return fmt.Errorf("store: checking the datastore is empty: %w", err)
	}
	entries, err := res.Rest()
	if err != nil {
		return fmt.Errorf("store: checking the datastore is empty: %w", err)
	}
	if len(entries) > 0 {
		return ErrNotAStore
	}
	w := s.newWrites()
	w.put(nil, keySchema, KindSchema, &schemaRecord{Version: SchemaVersion})
	if o.passphrase != nil {
		c := &cryptoRecord{Salt: make([]byte, 16), Time: o.kdf.Time, MemoryKiB: o.kdf.MemoryKiB, Threads: o.kdf.Threads}
		if _, err := io.ReadFull(rand.Reader, c.Salt); err != nil {
			return fmt.Errorf("store: drawing a salt: %w", err)
		}
		recordKey, check, err := deriveKeys(o.passphrase, c)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidArgument, err)
		}
		clear(recordKey)
		c.Check = check
		w.put(nil, keyCrypto, KindCrypto, c)
		// The schema and crypto records are always plain frames, so the
		// framer can change before the batch is written.
		if s.f, err = newSealedFramer(o.passphrase, c); err != nil {
			return err
		}
	}
	return w.commit(ctx)
}

// Close closes the underlying datastore.
func (s *Store) Close() error {
	if s.closed.Load() {
		return nil
	}
	err := s.newWrites().commit(context.Background()) // deletes finished purge markers
	s.closed.Store(true)
	return errors.Join(err, s.ds.Close())
}

// Datastore returns the underlying datastore (for tools and tests).
func (s *Store) Datastore() ds.Batching { return s.ds }

// get reads one record. A missing record is ErrNotFound (wrapped); a
// damaged one a *RecordError.
func (s *Store) get(ctx context.Context, gid []byte, key ds.Key, kind Kind, rec record) error {
	if s.closed.Load() {
		return ErrClosed
	}
	val, err := s.ds.Get(ctx, key)
	if errors.Is(err, ds.ErrNotFound) {
		return fmt.Errorf("store: %s %s: %w", kind, key, ErrNotFound)
	}
	if err != nil {
		return s.backendError(gid, kind, key, err)
	}
	return s.decodeValue(gid, kind, key, val, rec)
}

func (s *Store) decodeValue(gid []byte, kind Kind, key ds.Key, val []byte, rec record) error {
	body, err := s.f.open(key, kind, val)
	if err == nil {
		err = decodeRecord(body, rec)
	}
	if err != nil {
		return &RecordError{Group: gid, Kind: kind, Key: key.String(), Err: err}
	}
	return nil
}

// backendError turns a backend failure while reading key into an error:
// damage the backend detected (a leveldb block checksum, a missing table)
// becomes a *RecordError naming the record being read.
func (s *Store) backendError(gid []byte, kind Kind, key ds.Key, err error) error {
	if isBackendCorruption(err) {
		return &RecordError{Group: gid, Kind: kind, Key: key.String(), Err: err}
	}
	return fmt.Errorf("store: reading %s %s: %w", kind, key, err)
}

func (s *Store) has(ctx context.Context, gid []byte, kind Kind, key ds.Key) (bool, error) {
	ok, err := s.ds.Has(ctx, key)
	if err != nil {
		return false, s.backendError(gid, kind, key, err)
	}
	return ok, nil
}

// each calls fn with every key (and, unless keysOnly, value) under prefix,
// in key order. kind names what is listed in errors.
func (s *Store) each(ctx context.Context, gid []byte, prefix ds.Key, kind Kind, keysOnly bool, fn func(key ds.Key, val []byte) error) error {
	return s.eachFrom(ctx, gid, prefix, ds.Key{}, 0, kind, keysOnly, fn)
}

// eachFrom is each starting at key from (zero Key: all of prefix) and
// stopping after limit entries (0: all).
func (s *Store) eachFrom(ctx context.Context, gid []byte, prefix, from ds.Key, limit int, kind Kind, keysOnly bool, fn func(key ds.Key, val []byte) error) error {
	if s.closed.Load() {
		return ErrClosed
	}
	q := dsq.Query{Prefix: prefix.String(), KeysOnly: keysOnly, Orders: []dsq.Order{dsq.OrderByKey{}}, Limit: max(limit, 0)}
	if from.String() != "" {
		q.Filters = []dsq.Filter{dsq.FilterKeyCompare{Op: dsq.GreaterThanOrEqual, Key: from.String()}}
	}
	res, err := s.ds.Query(ctx, q)
	if err != nil {
		return s.backendError(gid, kind, prefix, err)
	}
	defer res.Close()
	for r := range res.Next() {
		if r.Error != nil {
			return s.backendError(gid, kind, prefix, r.Error)
		}
		if err := fn(ds.NewKey(r.Key), r.Value); err != nil {
			return err
		}
	}
	return nil
}

// groupLock serialises transactions on one group and guards its id
// counters.
type groupLock struct {
	rw     sync.RWMutex
	seqMu  sync.Mutex
	loaded bool
	next   sequences
}

func (s *Store) lockFor(gid []byte) *groupLock {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.groups[string(gid)]
	if l == nil {
		l = &groupLock{}
		s.groups[string(gid)] = l
	}
	return l
}

// Purge purges every deletion recorded and not yet purged: those deferred
// by WithDeferredPurge, and any that failed. Without WithDeferredPurge
// transactions purge as they commit and there is nothing to do.
func (s *Store) Purge(ctx context.Context) error {
	if s.closed.Load() {
		return ErrClosed
	}
	if err := s.finishPurges(ctx); err != nil {
		return err
	}
	return s.newWrites().commit(ctx) // deletes the markers
}

// finishPurges completes purges that transactions recorded but did not
// finish (deferred, or the process died between the batch and the purge).
func (s *Store) finishPurges(ctx context.Context) error {
	var markers []ds.Key
	var prefixes []ds.Key
	err := s.each(ctx, nil, keyShred, KindShred, false, func(key ds.Key, val []byte) error {
		var m shredRecord
		if err := s.decodeValue(nil, KindShred, key, val, &m); err != nil {
			return err
		}
		markers = append(markers, key)
		for _, p := range m.Prefixes {
			prefixes = append(prefixes, ds.NewKey(p))
		}
		return nil
	})
	if err != nil || len(markers) == 0 {
		return err
	}
	return s.purge(ctx, markers, prefixes)
}

// purge asks the backend to purge prefixes. The markers that recorded
// them are deleted with the next batch (or by Close), which saves a synced
// write per transaction; if the process dies first, Open purges those
// prefixes again, which is harmless.
func (s *Store) purge(ctx context.Context, markers, prefixes []ds.Key) error {
	if s.purger == nil {
		return nil
	}
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	if err := s.purger.Purge(ctx, prefixes); err != nil {
		return fmt.Errorf("%w: %v", ErrPurgeIncomplete, err)
	}
	s.purged = append(s.purged, markers...)
	return nil
}

// takePurged returns the markers of finished purges, for the next batch
// to delete.
func (s *Store) takePurged() []ds.Key {
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	m := s.purged
	s.purged = nil
	return m
}

// returnPurged puts back markers whose deleting batch failed.
func (s *Store) returnPurged(m []ds.Key) {
	s.purgeMu.Lock()
	defer s.purgeMu.Unlock()
	s.purged = append(s.purged, m...)
}

// Groups lists the ids of the groups in the store that have a head (the
// index is written by the first transaction that sets one).
func (s *Store) Groups(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	err := s.each(ctx, nil, keyGroupIdx, KindGroupIndex, false, func(key ds.Key, val []byte) error {
		var g groupIndex
		if err := s.decodeValue(nil, KindGroupIndex, key, val, &g); err != nil {
			return err
		}
		out = append(out, g.Group)
		return nil
	})
	return out, err
}

// DeleteGroup removes every record of a group (after leaving it) in one
// batch and purges them.
func (s *Store) DeleteGroup(ctx context.Context, gid []byte) error {
	if len(gid) == 0 {
		return fmt.Errorf("%w: empty group id", ErrInvalidArgument)
	}
	l := s.lockFor(gid)
	l.rw.Lock()
	defer l.rw.Unlock()
	w := s.newWrites()
	err := s.each(ctx, gid, groupPrefix(gid), KindHead, true, func(key ds.Key, _ []byte) error {
		w.del(key)
		return nil
	})
	if err != nil {
		return err
	}
	w.del(keyIndex(gid))
	w.purgePrefix(groupPrefix(gid))
	l.seqMu.Lock()
	l.loaded = false
	l.seqMu.Unlock()
	return w.commit(ctx)
}
