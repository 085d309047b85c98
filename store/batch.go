package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	ds "github.com/ipfs/go-datastore"
)

// writes collects the puts and deletes of one atomic step. The last write
// to a key wins. commit turns them into one datastore batch, with a purge
// marker if anything secret was deleted or overwritten, and then purges.
type writes struct {
	s      *Store
	order  []ds.Key
	ops    map[ds.Key]writeOp
	purges []ds.Key
}

type writeOp struct {
	gid  []byte
	kind Kind
	rec  record // nil: delete
}

func (s *Store) newWrites() *writes {
	return &writes{s: s, ops: map[ds.Key]writeOp{}}
}

func (w *writes) set(key ds.Key, op writeOp) {
	if _, ok := w.ops[key]; !ok {
		w.order = append(w.order, key)
	}
	w.ops[key] = op
}

func (w *writes) put(gid []byte, key ds.Key, kind Kind, rec record) {
	w.set(key, writeOp{gid: gid, kind: kind, rec: rec})
}

// del deletes key and purges its old value.
func (w *writes) del(key ds.Key) {
	w.set(key, writeOp{})
	w.purgePrefix(key)
}

func (w *writes) purgePrefix(p ds.Key) { w.purges = append(w.purges, p) }

func (w *writes) commit(ctx context.Context) error {
	purge, err := w.apply(ctx)
	if err != nil {
		return err
	}
	return purge()
}

// apply writes the batch and returns the purge to run afterwards, which
// callers run after releasing their locks.
func (w *writes) apply(ctx context.Context) (purge func() error, err error) {
	nothing := func() error { return nil }
	s := w.s
	if s.closed.Load() {
		return nil, ErrClosed
	}
	done := s.takePurged()
	if len(w.order) == 0 && len(done) == 0 {
		return nothing, nil
	}
	committed := false
	defer func() {
		if !committed {
			s.returnPurged(done) // still to delete
		}
	}()
	b, err := s.ds.Batch(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: starting a batch: %w", err)
	}
	for _, m := range done {
		if _, ok := w.ops[m]; !ok {
			if err := b.Delete(ctx, m); err != nil {
				return nil, fmt.Errorf("store: deleting %s: %w", m, err)
			}
		}
	}
	for _, key := range w.order {
		op := w.ops[key]
		if op.rec == nil {
			if err := b.Delete(ctx, key); err != nil {
				return nil, fmt.Errorf("store: deleting %s: %w", key, err)
			}
			continue
		}
		body, err := encodeRecord(op.rec)
		if err != nil {
			return nil, fmt.Errorf("%w: encoding %s record: %v", ErrInvalidArgument, op.kind, err)
		}
		val, err := s.f.seal(key, op.kind, body)
		if err != nil {
			return nil, err
		}
		if err := b.Put(ctx, key, val); err != nil {
			return nil, fmt.Errorf("store: writing %s: %w", key, err)
		}
	}
	var marker ds.Key
	purging := len(w.purges) > 0 && s.purger != nil
	if purging {
		// The marker commits with the deletions: if the process dies
		// before the purge below finishes, Open finishes it.
		var id [8]byte
		if _, err := rand.Read(id[:]); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		marker = keyShred.ChildString(hex.EncodeToString(id[:]))
		m := &shredRecord{}
		for _, p := range w.purges {
			m.Prefixes = append(m.Prefixes, p.String())
		}
		body, err := encodeRecord(m)
		if err != nil {
			return nil, fmt.Errorf("store: encoding purge marker: %w", err)
		}
		val, err := s.f.seal(marker, KindShred, body)
		if err != nil {
			return nil, err
		}
		if err := b.Put(ctx, marker, val); err != nil {
			return nil, fmt.Errorf("store: writing %s: %w", marker, err)
		}
	}
	if err := b.Commit(ctx); err != nil {
		return nil, fmt.Errorf("store: committing: %w", err)
	}
	committed = true
	if !purging || s.deferPurge {
		return nothing, nil
	}
	return func() error { return s.purge(ctx, []ds.Key{marker}, w.purges) }, nil
}
