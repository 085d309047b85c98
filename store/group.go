package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
)

// Group is the part of the store that belongs to one MLS group. It is a
// cheap handle; reads see whole transactions, never part of one.
type Group struct {
	s    *Store
	id   []byte
	lock *groupLock
}

// Group returns the handle of the group with this MLS group id. Nothing
// is written until a transaction commits. An empty id is refused by every
// method with ErrInvalidArgument.
func (s *Store) Group(id []byte) *Group {
	id = append([]byte(nil), id...)
	return &Group{s: s, id: id, lock: s.lockFor(id)}
}

// ID returns the group id.
func (g *Group) ID() []byte { return append([]byte(nil), g.id...) }

func (g *Group) check() error {
	if len(g.id) == 0 {
		return fmt.Errorf("%w: empty group id", ErrInvalidArgument)
	}
	return nil
}

// HeadID returns the id and number of the head epoch, without reading its
// state. A group with no head yet returns ErrNotFound.
func (g *Group) HeadID(ctx context.Context) (EpochID, uint64, error) {
	if err := g.check(); err != nil {
		return EpochID{}, 0, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var h head
	err := g.s.get(ctx, g.id, keyHead(g.id), KindHead, &h)
	return h.ID, h.Number, err
}

// Head returns the head epoch with its state.
func (g *Group) Head(ctx context.Context) (Epoch, error) {
	if err := g.check(); err != nil {
		return Epoch{}, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var h head
	if err := g.s.get(ctx, g.id, keyHead(g.id), KindHead, &h); err != nil {
		return Epoch{}, err
	}
	var e Epoch
	err := g.s.get(ctx, g.id, keyEpoch(g.id, h.ID), KindEpoch, &e)
	if errors.Is(err, ErrNotFound) {
		// A head names a stored epoch by construction (Commit checks
		// it); a missing one means the store was damaged.
		return Epoch{}, &RecordError{Group: g.id, Kind: KindEpoch, Key: keyEpoch(g.id, h.ID).String(), Err: fmt.Errorf("the head names epoch %x, which is missing", h.ID[:8])}
	}
	return e, err
}

// Epoch returns a stored epoch (the head or a retained one) by id.
func (g *Group) Epoch(ctx context.Context, id EpochID) (Epoch, error) {
	if err := g.check(); err != nil {
		return Epoch{}, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var e Epoch
	err := g.s.get(ctx, g.id, keyEpoch(g.id, id), KindEpoch, &e)
	return e, err
}

// EpochIDs lists the stored epochs (head and retained), in key order.
func (g *Group) EpochIDs(ctx context.Context) ([]EpochID, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var out []EpochID
	err := g.s.each(ctx, g.id, groupPrefix(g.id).ChildString("e"), KindEpoch, true, func(key ds.Key, _ []byte) error {
		if _, kind, _ := kindOfKey(key); kind == KindEpoch {
			id, err := epochIDFromHex(key.Parent().Name())
			if err != nil {
				return &RecordError{Group: g.id, Kind: KindEpoch, Key: key.String(), Err: err}
			}
			out = append(out, id)
		}
		return nil
	})
	return out, err
}

// EpochKey returns a secret stored under an epoch by Transaction.PutEpochKey.
func (g *Group) EpochKey(ctx context.Context, epoch EpochID, name string) ([]byte, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var v secret
	err := g.s.get(ctx, g.id, keyEpochKey(g.id, epoch, name), KindEpochKey, &v)
	return v.Value, err
}

// GroupKey returns a secret stored for the group's lifetime (for example
// its signature key) by Transaction.PutGroupKey.
func (g *Group) GroupKey(ctx context.Context, name string) ([]byte, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var v secret
	err := g.s.get(ctx, g.id, keyGroupKey(g.id, name), KindGroupKey, &v)
	return v.Value, err
}

// Rivals returns the staged rivals on parent, in key order.
func (g *Group) Rivals(ctx context.Context, parent EpochID) ([]Rival, error) {
	var out []Rival
	err := eachRecord(g, ctx, epochPrefix(g.id, parent).ChildString("r"), KindRival, func(r *Rival) { out = append(out, *r) })
	return out, err
}

// Outbox returns the pending outgoing messages, oldest first.
func (g *Group) Outbox(ctx context.Context) ([]OutboxEntry, error) {
	var out []OutboxEntry
	err := eachRecord(g, ctx, groupPrefix(g.id).ChildString("o"), KindOutbox, func(o *OutboxEntry) { out = append(out, *o) })
	return out, err
}

// Received returns the received application messages, oldest first.
func (g *Group) Received(ctx context.Context) ([]Received, error) {
	var out []Received
	err := eachRecord(g, ctx, groupPrefix(g.id).ChildString("m"), KindReceived, func(m *Received) { out = append(out, *m) })
	return out, err
}

// ReceivedFrom returns up to limit received messages with Seq >= from,
// oldest first (limit <= 0: no limit), for reading a long history in pages.
func (g *Group) ReceivedFrom(ctx context.Context, from uint64, limit int) ([]Received, error) {
	var out []Received
	err := eachRecordFrom(g, ctx, groupPrefix(g.id).ChildString("m"), keyReceived(g.id, from), limit, KindReceived, func(m *Received) { out = append(out, *m) })
	return out, err
}

// HasReceived reports whether a message with this id is among the
// received messages.
func (g *Group) HasReceived(ctx context.Context, id []byte) (bool, error) {
	_, err := g.ReceivedByID(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ReceivedByID returns the received message with this id.
func (g *Group) ReceivedByID(ctx context.Context, id []byte) (Received, error) {
	if err := g.check(); err != nil {
		return Received{}, err
	}
	if len(id) == 0 {
		return Received{}, fmt.Errorf("%w: empty message id", ErrInvalidArgument)
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var idx receivedID
	if err := g.s.get(ctx, g.id, keyReceivedID(g.id, id), KindReceivedID, &idx); err != nil {
		return Received{}, err
	}
	var m Received
	err := g.s.get(ctx, g.id, keyReceived(g.id, idx.Seq), KindReceived, &m)
	if errors.Is(err, ErrNotFound) {
		return Received{}, &RecordError{Group: g.id, Kind: KindReceivedID, Key: keyReceivedID(g.id, id).String(), Err: fmt.Errorf("names message %d, which is missing", idx.Seq)}
	}
	return m, err
}

// GroupMeta returns a value stored by Transaction.PutGroupMeta.
func (g *Group) GroupMeta(ctx context.Context, name string) ([]byte, error) {
	if err := g.check(); err != nil {
		return nil, err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	var m meta
	err := g.s.get(ctx, g.id, keyGroupMeta(g.id, name), KindGroupMeta, &m)
	return m.Value, err
}

// CommitsSeen returns the recorded edges of the epoch tree, in key order.
func (g *Group) CommitsSeen(ctx context.Context) ([]CommitSeen, error) {
	var out []CommitSeen
	err := eachRecord(g, ctx, groupPrefix(g.id).ChildString("c"), KindCommitSeen, func(c *CommitSeen) { out = append(out, *c) })
	return out, err
}

// eachRecord decodes every record of one kind under prefix. A damaged
// record stops the listing with a *RecordError naming it.
func eachRecord[T any, P interface {
	*T
	record
}](g *Group, ctx context.Context, prefix ds.Key, kind Kind, fn func(P)) error {
	return eachRecordFrom(g, ctx, prefix, ds.Key{}, 0, kind, fn)
}

// eachRecordFrom is eachRecord starting at key from (the zero Key: the
// start of prefix), stopping after limit records (0: no limit).
func eachRecordFrom[T any, P interface {
	*T
	record
}](g *Group, ctx context.Context, prefix, from ds.Key, limit int, kind Kind, fn func(P)) error {
	if err := g.check(); err != nil {
		return err
	}
	g.lock.rw.RLock()
	defer g.lock.rw.RUnlock()
	return g.s.eachFrom(ctx, g.id, prefix, from, limit, kind, false, func(key ds.Key, val []byte) error {
		var v T
		if err := g.s.decodeValue(g.id, kind, key, val, P(&v)); err != nil {
			return err
		}
		fn(&v)
		return nil
	})
}

func epochIDFromHex(s string) (EpochID, error) {
	var id EpochID
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(id) {
		return id, fmt.Errorf("epoch id %q is not %d bytes of hex", s, len(id))
	}
	copy(id[:], b)
	return id, nil
}
