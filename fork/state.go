package fork

import (
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// seqReserve is how many beacon sequence numbers one persisted State
// covers, so that not every beacon needs a write.
const seqReserve = 64

// maxStateSent bounds the sent log a decoded State may hold.
const maxStateSent = 1 << 16

// State is fork's own durable state, to persist atomically with
// consensus.Persist whenever a Ready carries it, and to hand back in
// Config.State after a restart. It holds application data: store it
// encrypted like the MLS state.
//
//	struct {
//	    uint64 beacon_seq;        // above every sequence number used
//	    uint64 member_since;      // epoch number membership began at
//	    EpochRef history<V>;      // head chain, oldest first
//	    SentMessage sent<V>;      // own messages, oldest first
//	    AddedMember added<V>;     // { opaque identity[32]; uint64 epoch; }
//	} State;
//	struct {
//	    opaque id[16]; opaque epoch_id[32]; opaque nonce[16]; opaque data<V>;
//	} SentMessage;
type State struct {
	BeaconSeq   uint64
	MemberSince uint64
	History     []EpochRef
	Sent        []consensus.OutboxEntry // ID, EpochID, Nonce and Data only
	Added       []AddedMember
}

// AddedMember is a member added by an Add on the chain, and the epoch it
// joined in (messages of earlier epochs are not re-sent while it is in).
type AddedMember struct {
	ID    Identity
	Epoch uint64
}

func (s *State) MarshalMLS(w *codec.Writer) {
	w.Uint64(s.BeaconSeq)
	w.Uint64(s.MemberSince)
	w.Vector(func(w *codec.Writer) {
		for i := range s.History {
			writeRef(w, &s.History[i])
		}
	})
	w.Vector(func(w *codec.Writer) {
		for _, e := range s.Sent {
			w.Raw(e.ID[:])
			w.Raw(e.EpochID[:])
			w.Raw(e.Nonce[:])
			w.Opaque(e.Data)
		}
	})
	w.Vector(func(w *codec.Writer) {
		for _, a := range s.Added {
			w.Raw(a.ID[:])
			w.Uint64(a.Epoch)
		}
	})
}

func (s *State) UnmarshalMLS(r *codec.Reader) {
	*s = State{}
	r.Uint64("State.beacon_seq", &s.BeaconSeq)
	r.Uint64("State.member_since", &s.MemberSince)
	readList(r, "State.history", MaxHistory, func(r *codec.Reader) {
		var e EpochRef
		readRef(r, "State.history", &e)
		if r.OK() {
			s.History = append(s.History, e)
		}
	})
	readList(r, "State.sent", maxStateSent, func(r *codec.Reader) {
		var e consensus.OutboxEntry
		var id, nonce []byte
		r.Raw("SentMessage.id", len(e.ID), &id)
		readID(r, "SentMessage.epoch_id", &e.EpochID)
		r.Raw("SentMessage.nonce", len(e.Nonce), &nonce)
		r.Opaque("SentMessage.data", &e.Data)
		if r.OK() {
			copy(e.ID[:], id)
			copy(e.Nonce[:], nonce)
			s.Sent = append(s.Sent, e)
		}
	})
	readList(r, "State.added", MaxHistory, func(r *codec.Reader) {
		var a AddedMember
		var id []byte
		r.Raw("AddedMember.identity", len(a.ID), &id)
		r.Uint64("AddedMember.epoch", &a.Epoch)
		if r.OK() {
			copy(a.ID[:], id)
			s.Added = append(s.Added, a)
		}
	})
}

// MarshalBinary encodes the state.
func (s *State) MarshalBinary() ([]byte, error) { return codec.Marshal(s) }

// UnmarshalState decodes a State written by MarshalBinary.
func UnmarshalState(b []byte) (*State, error) {
	s := new(State)
	if err := codec.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("fork: state: %w", err)
	}
	return s, nil
}

// stateChanged schedules a State in the next Ready.
func (m *Member) stateChanged() { m.stateDirty = true }

// currentState is the State to persist now.
func (m *Member) currentState() *State {
	var sent []consensus.OutboxEntry
	for _, e := range m.sent {
		sent = append(sent, consensus.OutboxEntry{ID: e.ID, EpochID: e.EpochID, Nonce: e.Nonce, Data: e.Data})
	}
	var added []AddedMember // nil when empty, as decoding gives
	for _, a := range m.added {
		added = append(added, AddedMember{ID: a.id, Epoch: a.epoch})
	}
	return &State{BeaconSeq: m.seqLimit, MemberSince: m.memberSince, History: slices.Clone(m.history), Sent: sent, Added: added}
}

// restore takes back a persisted State.
func (m *Member) restore(st *State) {
	m.seq = max(m.seq, st.BeaconSeq)
	m.seqLimit = m.seq
	// The remembered chain is kept if it reaches the core's head (the
	// head may be older than the chain's end if the store lagged: then
	// the chain is cut there).
	head := m.core.HeadID()
	for i := len(st.History) - 1; i >= 0; i-- {
		if st.History[i].ID == head {
			m.history = slices.Clone(st.History[:i+1])
			if over := len(m.history) - m.cfg.History; over > 0 {
				m.history = m.history[over:]
			}
			break
		}
	}
	for _, e := range st.Sent {
		m.logSent(e)
	}
	if len(st.History) > 0 {
		m.memberSince = st.MemberSince
	}
	m.added = m.added[:0]
	for _, a := range st.Added {
		m.added = append(m.added, addedMember{id: a.ID, epoch: a.Epoch})
	}
}
