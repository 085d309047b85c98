package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/store"
)

// Restoring the ordering state after a restart.
//
// The states of the head and of every retained epoch the member was in are
// store.Epoch records (they hold secrets). What consensus.Restore also
// needs to rebuild the epoch tree as it was — each retained epoch's
// commit envelope and the core's bookkeeping (Meta: rank inputs, open
// races, proposals, who built on it), and the core's tick — is public and
// is kept in one group record, treeKey, written in the same transaction as
// the epochs. fork's own state (beacon sequence, head chain, the sent log
// with who joined after each message) is forkStateKey. With both, a node
// restarted during a commit race still switches to a better rival of an
// epoch before the restart, and re-sends what it sent in a losing one.
// Without them (a store written by an older node, or a damaged record) the
// node starts from the head alone, as before.

const (
	treeKey      = "node/epoch-tree"
	forkStateKey = "node/fork-state"
)

// maxTreeRecord bounds the epochs a decoded tree record may list.
const maxTreeRecord = 1 << 12

// treeRecord is what treeKey holds:
//
//	struct {
//	    uint8 version = 1;
//	    uint64 tick;
//	    TreeEpoch epochs<V>;
//	} TreeRecord;
//	struct {
//	    uint64 number; opaque id[32]; opaque parent[32];
//	    opaque commit<V>; opaque meta<V>;
//	    bool has_state;  // its state is the store.Epoch record of id
//	} TreeEpoch;
type treeRecord struct {
	Tick   uint64
	Epochs []treeEpoch
}

type treeEpoch struct {
	Ref      consensus.EpochRef
	Parent   consensus.EpochID
	Commit   []byte
	Meta     []byte
	HasState bool
}

const treeRecordVersion = 1

func (t *treeRecord) MarshalMLS(w *codec.Writer) {
	w.Uint8(treeRecordVersion)
	w.Uint64(t.Tick)
	w.Vector(func(w *codec.Writer) {
		for _, e := range t.Epochs {
			w.Uint64(e.Ref.Epoch)
			w.Raw(e.Ref.ID[:])
			w.Raw(e.Parent[:])
			w.Opaque(e.Commit)
			w.Opaque(e.Meta)
			w.Bool(e.HasState)
		}
	})
}

func (t *treeRecord) UnmarshalMLS(r *codec.Reader) {
	var version uint8
	if r.Uint8("TreeRecord.version", &version) && version != treeRecordVersion {
		r.Invalid("TreeRecord.version", "version %d, want %d", version, treeRecordVersion)
	}
	r.Uint64("TreeRecord.tick", &t.Tick)
	r.Vector("TreeRecord.epochs", func(r *codec.Reader) {
		for !r.Empty() && r.OK() {
			if len(t.Epochs) >= maxTreeRecord {
				r.Invalid("TreeRecord.epochs", "more than %d epochs", maxTreeRecord)
				return
			}
			var e treeEpoch
			var id, parent []byte
			r.Uint64("TreeEpoch.number", &e.Ref.Epoch)
			r.Raw("TreeEpoch.id", len(e.Ref.ID), &id)
			r.Raw("TreeEpoch.parent", len(e.Parent), &parent)
			r.Opaque("TreeEpoch.commit", &e.Commit)
			r.Opaque("TreeEpoch.meta", &e.Meta)
			r.Bool("TreeEpoch.has_state", &e.HasState)
			if !r.OK() {
				return
			}
			// The root's commit is absent: nil, as consensus expects,
			// not an empty envelope.
			if len(e.Commit) == 0 {
				e.Commit = nil
			}
			if len(e.Meta) == 0 {
				e.Meta = nil
			}
			copy(e.Ref.ID[:], id)
			copy(e.Parent[:], parent)
			t.Epochs = append(t.Epochs, e)
		}
	})
}

// treeRecordOf is the public part of p, for treeKey.
func treeRecordOf(p *consensus.Persist) ([]byte, error) {
	rec := treeRecord{Tick: p.Tick}
	for _, r := range p.Retained {
		rec.Epochs = append(rec.Epochs, treeEpoch{
			Ref: r.Ref, Parent: r.Parent, Commit: r.Commit, Meta: r.Meta,
			HasState: len(r.State) > 0 || r.Ref.ID == p.HeadID,
		})
	}
	return codec.Marshal(&rec)
}

// errNoTree: the store has no tree record for the group (written by an
// older node); the caller restores the head alone.
var errNoTree = errors.New("node: no stored epoch tree")

// storedPersist rebuilds the consensus.Persist and fork.State last written
// for group sg whose head is head.
func storedPersist(ctx context.Context, sg *store.Group, head store.Epoch) (*consensus.Persist, *fork.State, error) {
	raw, err := sg.GroupKey(ctx, treeKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNoTree
	}
	if err != nil {
		return nil, nil, err
	}
	var rec treeRecord
	if err := codec.Unmarshal(raw, &rec); err != nil {
		return nil, nil, fmt.Errorf("node: stored epoch tree: %w", err)
	}
	p := &consensus.Persist{HeadID: consensus.EpochID(head.ID), HeadState: head.State, Tick: rec.Tick}
	headListed := false
	for _, e := range rec.Epochs {
		r := consensus.RetainedEpoch{Ref: e.Ref, Parent: e.Parent, Commit: e.Commit, Meta: e.Meta}
		switch {
		case e.Ref.ID == p.HeadID:
			r.State = head.State
			headListed = true
		case e.HasState:
			ep, err := sg.Epoch(ctx, toStoreID(e.Ref.ID))
			if err != nil {
				return nil, nil, fmt.Errorf("node: stored epoch tree names epoch %x: %w", e.Ref.ID[:4], err)
			}
			r.State = ep.State
		}
		p.Retained = append(p.Retained, r)
	}
	if !headListed {
		// The head moved without the tree record (cannot happen when
		// both are written in one transaction): do not trust it.
		return nil, nil, fmt.Errorf("node: stored epoch tree does not contain the head")
	}
	if p.Outbox, err = storedOutbox(ctx, sg); err != nil {
		return nil, nil, err
	}
	var st *fork.State
	if fs, err := sg.GroupKey(ctx, forkStateKey); err == nil {
		st = new(fork.State)
		if err := codec.Unmarshal(fs, st); err != nil {
			return nil, nil, fmt.Errorf("node: stored fork state: %w", err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, nil, err
	}
	return p, st, nil
}

// storedOutbox reads the outbox written with the last Persist (none if
// nothing was ever sent).
func storedOutbox(ctx context.Context, sg *store.Group) ([]consensus.OutboxEntry, error) {
	raw, err := sg.GroupKey(ctx, outboxKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var outbox []consensus.OutboxEntry
	if err := json.Unmarshal(raw, &outbox); err != nil {
		return nil, fmt.Errorf("node: stored outbox: %w", err)
	}
	return outbox, nil
}
