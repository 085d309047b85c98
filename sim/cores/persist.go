package cores

import (
	"context"
	"fmt"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/store"
)

// persister writes a member's consensus.Persist to its own in-memory
// store.Store in one transaction per Ready, as a node does before it sends
// anything: the head state, every retained epoch with its commit, the
// epochs released since the last write dropped, and the outbox.
type persister struct {
	st     *store.Store
	gid    []byte
	epochs map[consensus.EpochID]bool // epochs with state in the store
	seen   map[consensus.EpochID]bool // commit-seen edges in the store
	outbox map[consensus.MessageID]uint64
	head   consensus.EpochID // the head in the store; never dropped until replaced
	// Writes and Bytes count what went to the store.
	Writes, Bytes uint64
}

func newPersister(gid []byte) (*persister, error) {
	st, err := store.OpenMemory()
	if err != nil {
		return nil, err
	}
	return &persister{st: st, gid: gid, epochs: map[consensus.EpochID]bool{}, seen: map[consensus.EpochID]bool{},
		outbox: map[consensus.MessageID]uint64{}}, nil
}

func (p *persister) write(ps *consensus.Persist) error {
	tx := p.st.Group(p.gid).Begin()
	keep := map[consensus.EpochID]bool{}
	for _, r := range ps.Retained {
		keep[r.Ref.ID] = true
		if r.State != nil && r.Ref.ID != ps.HeadID && !p.epochs[r.Ref.ID] {
			tx.PutEpoch(store.Epoch{ID: store.EpochID(r.Ref.ID), Number: r.Ref.Epoch, Parent: store.EpochID(r.Parent), State: r.State})
			p.epochs[r.Ref.ID] = true
			p.Bytes += uint64(len(r.State))
		}
		if !p.seen[r.Ref.ID] {
			tx.PutCommitSeen(store.CommitSeen{Parent: store.EpochID(r.Parent), ID: store.EpochID(r.Ref.ID), Number: r.Ref.Epoch, Commit: r.Commit})
			p.seen[r.Ref.ID] = true
			p.Bytes += uint64(len(r.Commit))
		}
	}
	if ps.HeadState != nil {
		var number uint64
		var parent consensus.EpochID
		for _, r := range ps.Retained {
			if r.Ref.ID == ps.HeadID {
				number, parent = r.Ref.Epoch, r.Parent
			}
		}
		// The head's state changes with every message key consumed, so
		// it is written every time.
		tx.PutEpoch(store.Epoch{ID: store.EpochID(ps.HeadID), Number: number, Parent: store.EpochID(parent), State: ps.HeadState})
		p.epochs[ps.HeadID] = true
		tx.SetHead(store.EpochID(ps.HeadID))
		p.head = ps.HeadID
		p.Bytes += uint64(len(ps.HeadState))
	}
	for id := range p.epochs {
		// A removed member's core has no head state: its last stored
		// head stays, as the store requires.
		if !keep[id] && id != ps.HeadID && id != p.head {
			tx.DropEpoch(store.EpochID(id))
			delete(p.epochs, id)
		}
	}
	for id := range p.seen {
		if !keep[id] {
			tx.DropCommitSeen(store.EpochID(id))
			delete(p.seen, id)
		}
	}
	inOutbox := map[consensus.MessageID]bool{}
	for _, o := range ps.Outbox {
		inOutbox[o.ID] = true
		if _, ok := p.outbox[o.ID]; !ok {
			msg, err := o.Sealed.MarshalBinary()
			if err != nil {
				tx.Discard()
				return err
			}
			p.outbox[o.ID] = tx.AddOutbox(store.EpochID(o.EpochID), o.Data, msg)
		}
	}
	for id, n := range p.outbox {
		if !inOutbox[id] {
			tx.AckOutbox(n)
			delete(p.outbox, id)
		}
	}
	if err := tx.Commit(context.Background()); err != nil {
		return fmt.Errorf("sim/cores: store: %w", err)
	}
	p.Writes++
	return nil
}
