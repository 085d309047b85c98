package store

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
)

// Transaction collects the changes of one step of a group and applies
// them atomically with Commit: either all of them are in the store
// afterwards, or (on an error, or a crash before Commit returns) none.
//
// A typical epoch transition after merging a commit:
//
//	tx := st.Group(gid).Begin()
//	tx.PutEpoch(store.Epoch{ID: next, Number: n + 1, Parent: cur, State: state})
//	tx.SetHead(next)
//	tx.DropEpoch(oldest)        // its window closed: state, keys and rivals go
//	tx.AckOutbox(finalID)       // final in an epoch that can no longer lose
//	tx.PutCommitSeen(store.CommitSeen{Parent: cur, ID: next, Number: n + 1})
//	err := tx.Commit(ctx)
//
// Misuse found while building (an empty name, a nil state) is reported by
// Commit, which then writes nothing. A Transaction is not safe for
// concurrent use; different transactions are.
type Transaction struct {
	g *Group
	w *writes

	head      *EpochID
	epochs    map[EpochID]uint64 // put in this transaction, with their numbers
	drops     map[EpochID]bool
	dropOrder []EpochID
	needEpoch []EpochID // epochs that writes are filed under
	overwrite []overwriteCheck
	outbox    map[uint64]OutboxEntry // added in this transaction
	moves     []outboxMove
	kpUsed    [][]byte
	recvDrops []uint64
	allocated bool

	err  error
	done bool
}

type outboxMove struct {
	id      uint64
	epoch   EpochID
	message []byte
}

// overwriteCheck is a secret-bearing key written by the transaction; if it
// already held a value, the old value is purged after commit.
type overwriteCheck struct {
	key  ds.Key
	kind Kind
}

// Begin starts a transaction on the group.
func (g *Group) Begin() *Transaction {
	tx := &Transaction{
		g: g, w: g.s.newWrites(),
		epochs: map[EpochID]uint64{}, drops: map[EpochID]bool{},
		outbox: map[uint64]OutboxEntry{},
	}
	if err := g.check(); err != nil {
		tx.err = err
	}
	return tx
}

func (tx *Transaction) fail(format string, args ...any) {
	if tx.err == nil {
		tx.err = fmt.Errorf("%w: "+format, append([]any{ErrInvalidArgument}, args...)...)
	}
}

// PutEpoch stores the state of an epoch: a new head, or a retained epoch
// whose state changed. Overwriting an epoch purges its old state.
func (tx *Transaction) PutEpoch(e Epoch) {
	if e.State == nil {
		tx.fail("epoch %x has no state", e.ID[:8])
		return
	}
	e.State = clone(e.State)
	tx.epochs[e.ID] = e.Number
	key := keyEpoch(tx.g.id, e.ID)
	tx.w.put(tx.g.id, key, KindEpoch, &e)
	tx.overwrite = append(tx.overwrite, overwriteCheck{key, KindEpoch})
}

// SetHead makes a stored epoch (or one put in this transaction) the head.
func (tx *Transaction) SetHead(id EpochID) { tx.head = &id }

// DropEpoch deletes an epoch with everything filed under it: its state,
// its epoch keys and the rivals staged on it. The head cannot be dropped.
// Dropping an epoch that is not stored does nothing.
func (tx *Transaction) DropEpoch(id EpochID) {
	if !tx.drops[id] {
		tx.drops[id] = true
		tx.dropOrder = append(tx.dropOrder, id)
	}
}

// PutEpochKey stores a secret bound to an epoch; it is deleted with the
// epoch.
func (tx *Transaction) PutEpochKey(epoch EpochID, name string, value []byte) {
	if name == "" || value == nil {
		tx.fail("epoch key needs a name and a value")
		return
	}
	key := keyEpochKey(tx.g.id, epoch, name)
	tx.w.put(tx.g.id, key, KindEpochKey, &secret{Value: clone(value)})
	tx.needEpoch = append(tx.needEpoch, epoch)
	tx.overwrite = append(tx.overwrite, overwriteCheck{key, KindEpochKey})
}

// DeleteEpochKey deletes one epoch key before its epoch is dropped.
func (tx *Transaction) DeleteEpochKey(epoch EpochID, name string) {
	tx.w.del(keyEpochKey(tx.g.id, epoch, name))
}

// PutGroupKey stores a secret for the group's lifetime (a per-group
// signature key, for example).
func (tx *Transaction) PutGroupKey(name string, value []byte) {
	if name == "" || value == nil {
		tx.fail("group key needs a name and a value")
		return
	}
	key := keyGroupKey(tx.g.id, name)
	tx.w.put(tx.g.id, key, KindGroupKey, &secret{Value: clone(value)})
	tx.overwrite = append(tx.overwrite, overwriteCheck{key, KindGroupKey})
}

// DeleteGroupKey deletes a group key.
func (tx *Transaction) DeleteGroupKey(name string) { tx.w.del(keyGroupKey(tx.g.id, name)) }

// PutRival stores a rival commit staged on r.Parent, which must be stored.
func (tx *Transaction) PutRival(r Rival) {
	r.Commit = clone(r.Commit)
	tx.w.put(tx.g.id, keyRival(tx.g.id, r.Parent, r.ID), KindRival, &r)
	tx.needEpoch = append(tx.needEpoch, r.Parent)
}

// DropRival deletes a rival once it is decided.
func (tx *Transaction) DropRival(parent, id EpochID) { tx.w.del(keyRival(tx.g.id, parent, id)) }

// AddOutbox adds a message sent in epoch to the outbox and returns its id,
// which is unique in the group for the store's lifetime.
func (tx *Transaction) AddOutbox(epoch EpochID, plaintext, message []byte) uint64 {
	id, ok := tx.alloc(func(s *sequences) *uint64 { return &s.NextOutbox })
	if !ok {
		return 0
	}
	e := OutboxEntry{ID: id, Epoch: epoch, Plaintext: clone(plaintext), Message: clone(message)}
	tx.outbox[id] = e
	tx.w.put(tx.g.id, keyOutbox(tx.g.id, id), KindOutbox, &e)
	return id
}

// MoveOutbox records that outbox entry id was re-encrypted as message in
// epoch (its epoch lost). The entry must exist.
func (tx *Transaction) MoveOutbox(id uint64, epoch EpochID, message []byte) {
	tx.moves = append(tx.moves, outboxMove{id: id, epoch: epoch, message: clone(message)})
}

// AckOutbox deletes an outbox entry: the ordering layer says it is final.
// Acknowledging an id that is not there does nothing.
func (tx *Transaction) AckOutbox(id uint64) {
	delete(tx.outbox, id)
	tx.w.del(keyOutbox(tx.g.id, id))
}

// PutReceived records a received application message and returns its
// sequence number (m.Seq is ignored).
func (tx *Transaction) PutReceived(m Received) uint64 {
	seq, ok := tx.alloc(func(s *sequences) *uint64 { return &s.NextReceived })
	if !ok {
		return 0
	}
	m.Seq = seq
	m.ID, m.SenderIdentity, m.Data = clone(m.ID), clone(m.SenderIdentity), clone(m.Data)
	tx.w.put(tx.g.id, keyReceived(tx.g.id, seq), KindReceived, &m)
	if len(m.ID) > 0 {
		tx.w.put(tx.g.id, keyReceivedID(tx.g.id, m.ID), KindReceivedID, &receivedID{Seq: seq})
	}
	return seq
}

// DropReceived deletes a received message (the application has it), and
// its id from the index that Group.HasReceived reads.
func (tx *Transaction) DropReceived(seq uint64) {
	tx.w.del(keyReceived(tx.g.id, seq))
	tx.recvDrops = append(tx.recvDrops, seq)
}

// PutGroupMeta stores a small value of the application's for the group
// (a membership log, invitation details). It is not treated as a secret:
// overwriting it does not purge the old value (deleting it does).
func (tx *Transaction) PutGroupMeta(name string, value []byte) {
	if name == "" || value == nil {
		tx.fail("group meta needs a name and a value")
		return
	}
	tx.w.put(tx.g.id, keyGroupMeta(tx.g.id, name), KindGroupMeta, &meta{Value: clone(value)})
}

// DeleteGroupMeta deletes a group meta value.
func (tx *Transaction) DeleteGroupMeta(name string) { tx.w.del(keyGroupMeta(tx.g.id, name)) }

// PutNodeMeta stores a node-level meta value in this transaction (see
// Store.PutNodeMeta), for example to forget a pending Welcome in the same
// batch as the join.
func (tx *Transaction) PutNodeMeta(name string, value []byte) {
	if name == "" || value == nil {
		tx.fail("node meta needs a name and a value")
		return
	}
	tx.w.put(nil, keyNodeMetaName(name), KindNodeMeta, &meta{Value: clone(value)})
}

// DeleteNodeMeta deletes a node-level meta value in this transaction.
func (tx *Transaction) DeleteNodeMeta(name string) { tx.w.del(keyNodeMetaName(name)) }

// PutCommitSeen records an edge of the epoch tree.
func (tx *Transaction) PutCommitSeen(c CommitSeen) {
	c.Commit = clone(c.Commit)
	tx.w.put(tx.g.id, keyCommitSeen(tx.g.id, c.ID), KindCommitSeen, &c)
}

// DropCommitSeen forgets an edge of the epoch tree.
func (tx *Transaction) DropCommitSeen(id EpochID) { tx.w.del(keyCommitSeen(tx.g.id, id)) }

// UseKeyPackage marks a node KeyPackage as used by this transaction (a
// join from a Welcome): its private keys are deleted in the same batch,
// unless it is a last-resort KeyPackage. It must exist.
func (tx *Transaction) UseKeyPackage(ref []byte) {
	if len(ref) == 0 {
		tx.fail("empty KeyPackage ref")
		return
	}
	tx.kpUsed = append(tx.kpUsed, clone(ref))
}

// Discard abandons the transaction.
func (tx *Transaction) Discard() { tx.done = true }

// alloc takes the next value of a per-group counter.
func (tx *Transaction) alloc(field func(*sequences) *uint64) (uint64, bool) {
	if tx.err != nil {
		return 0, false
	}
	l := tx.g.lock
	l.seqMu.Lock()
	defer l.seqMu.Unlock()
	if !l.loaded {
		var s sequences
		err := tx.g.s.get(context.Background(), tx.g.id, keySeq(tx.g.id), KindSequence, &s)
		if err != nil && !errors.Is(err, ErrNotFound) {
			tx.err = err
			return 0, false
		}
		l.next, l.loaded = s, true
	}
	p := field(&l.next)
	v := *p
	*p++
	tx.allocated = true
	return v, true
}

// Commit checks the transaction against the stored state and applies it
// in one batch. On any error nothing is written. If the batch committed
// but purging deleted values failed, the error matches ErrPurgeIncomplete
// and the changes are in the store.
func (tx *Transaction) Commit(ctx context.Context) error {
	if tx.done {
		return ErrTransactionDone
	}
	tx.done = true
	if tx.err != nil {
		return tx.err
	}
	purge, err := tx.apply(ctx)
	if err != nil {
		return err
	}
	// Purging (a compaction on leveldb) runs after the group is unlocked,
	// so that readers of the group do not wait for it.
	return purge()
}

func (tx *Transaction) apply(ctx context.Context) (func() error, error) {
	g, s := tx.g, tx.g.s
	g.lock.rw.Lock()
	defer g.lock.rw.Unlock()

	// Epochs dropped: delete everything filed under them.
	for _, id := range tx.dropOrder {
		if _, ok := tx.epochs[id]; ok {
			return nil, fmt.Errorf("%w: epoch %x is both put and dropped", ErrInvalidArgument, id[:8])
		}
		err := s.each(ctx, g.id, epochPrefix(g.id, id), KindEpoch, true, func(key ds.Key, _ []byte) error {
			tx.w.set(key, writeOp{})
			return nil
		})
		if err != nil {
			return nil, err
		}
		tx.w.purgePrefix(epochPrefix(g.id, id))
	}
	for _, id := range tx.needEpoch {
		if err := tx.epochStored(ctx, id); err != nil {
			return nil, err
		}
	}

	// The head must name an epoch that exists afterwards.
	if tx.head != nil {
		id := *tx.head
		if err := tx.epochStored(ctx, id); err != nil {
			return nil, err
		}
		num, ok := tx.epochs[id]
		if !ok {
			var e Epoch
			if err := s.get(ctx, g.id, keyEpoch(g.id, id), KindEpoch, &e); err != nil {
				return nil, err
			}
			num = e.Number
		}
		tx.w.put(g.id, keyHead(g.id), KindHead, &head{ID: id, Number: num})
		tx.w.put(g.id, keyIndex(g.id), KindGroupIndex, &groupIndex{Group: g.id})
	} else if len(tx.drops) > 0 {
		var h head
		err := s.get(ctx, g.id, keyHead(g.id), KindHead, &h)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if err == nil && tx.drops[h.ID] {
			return nil, fmt.Errorf("%w: epoch %x is the head and cannot be dropped", ErrInvalidArgument, h.ID[:8])
		}
	}

	// Outbox moves keep the plaintext of the stored entry.
	for _, m := range tx.moves {
		e, ok := tx.outbox[m.id]
		if !ok {
			if op, deleted := tx.w.ops[keyOutbox(g.id, m.id)]; deleted && op.rec == nil {
				return nil, fmt.Errorf("%w: outbox entry %d is moved and acknowledged", ErrInvalidArgument, m.id)
			}
			if err := s.get(ctx, g.id, keyOutbox(g.id, m.id), KindOutbox, &e); err != nil {
				return nil, err
			}
		}
		e.Epoch, e.Message = m.epoch, m.message
		tx.outbox[m.id] = e
		tx.w.put(g.id, keyOutbox(g.id, m.id), KindOutbox, &e)
	}

	// Dropped received messages leave the id index too, unless the index
	// already points at a newer copy.
	for _, seq := range tx.recvDrops {
		var m Received
		err := s.get(ctx, g.id, keyReceived(g.id, seq), KindReceived, &m)
		if errors.Is(err, ErrNotFound) || (err == nil && len(m.ID) == 0) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var idx receivedID
		key := keyReceivedID(g.id, m.ID)
		if _, pending := tx.w.ops[key]; pending {
			continue // re-received in this transaction
		}
		if err := s.get(ctx, g.id, key, KindReceivedID, &idx); err == nil && idx.Seq == seq {
			tx.w.del(key)
		} else if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}

	for _, ref := range tx.kpUsed {
		var kp KeyPackage
		if err := s.get(ctx, nil, keyKeyPackage(ref), KindKeyPackage, &kp); err != nil {
			return nil, err
		}
		if !kp.LastResort {
			tx.w.del(keyKeyPackage(ref))
		}
	}

	// Secrets overwritten in place: purge their old values too.
	for _, o := range tx.overwrite {
		if op := tx.w.ops[o.key]; op.rec == nil {
			continue
		}
		if ok, err := s.has(ctx, g.id, o.kind, o.key); err != nil {
			return nil, err
		} else if ok {
			tx.w.purgePrefix(o.key)
		}
	}

	if tx.allocated {
		g.lock.seqMu.Lock()
		next := g.lock.next
		g.lock.seqMu.Unlock()
		tx.w.put(g.id, keySeq(g.id), KindSequence, &next)
	}
	return tx.w.apply(ctx)
}

// epochStored checks that id is stored or put in this transaction, and not
// dropped by it.
func (tx *Transaction) epochStored(ctx context.Context, id EpochID) error {
	if tx.drops[id] {
		return fmt.Errorf("%w: epoch %x is dropped by this transaction", ErrInvalidArgument, id[:8])
	}
	if _, ok := tx.epochs[id]; ok {
		return nil
	}
	ok, err := tx.g.s.has(ctx, tx.g.id, KindEpoch, keyEpoch(tx.g.id, id))
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: epoch %x is not stored", ErrInvalidArgument, id[:8])
	}
	return nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
