package fork

import (
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
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
//	    uint64 send_seq;          // number of the next application message
//	    EpochRef history<V>;      // head chain, oldest first
//	    SentMessage sent<V>;      // own messages, oldest first
//	} State;
//	struct {
//	    opaque id[16]; opaque epoch_id[32]; opaque nonce[16]; opaque data<V>;
//	    bool never_resend;
//	    opaque added_after<V>;    // 32-byte identities added since
//	} SentMessage;
//
// When a batch re-add is under way (docs/ordering.md, "Rejoining"), two
// more fields follow; a state without them ends after sent (the format
// of states written before batch re-adds), and one with both empty is
// refused as not canonical:
//
//	    optional<PendingJoin> join;     // our outstanding join request
//	    HeldRequest requests<V>;        // join requests held as a survivor
//	struct {
//	    KeyPackage key_package; opaque init_priv<V>; opaque encryption_priv<V>;
//	    optional<EpochRef> fork_point; uint64 member_since; EpochRef from;
//	} PendingJoin;
//	struct { opaque envelope<V>; opaque added_in[32]; } HeldRequest;
type State struct {
	BeaconSeq   uint64
	MemberSince uint64
	SendSeq     uint64
	History     []EpochRef
	Sent        []SentMessage
	// Join is this member's outstanding join request: its KeyPackage
	// and private keys, so that the Welcome of a batch made while it was
	// down still opens. Nil if none.
	Join *PendingJoin
	// Requests are the join requests this member holds as a survivor,
	// verified again on restart.
	Requests []HeldRequest
}

// PendingJoin is a persisted outstanding join request.
type PendingJoin struct {
	KeyPackage        wire.KeyPackage
	InitPrivate       []byte
	EncryptionPrivate []byte
	ForkPoint         *EpochRef
	MemberSince       uint64
	From              EpochRef
}

// HeldRequest is a persisted join request (the KindJoinRequest envelope)
// and the epoch of the batch that added it, if one did (zero if not).
type HeldRequest struct {
	Envelope []byte
	AddedIn  EpochID
}

// maxStateRequests bounds the held requests a decoded State may hold.
const maxStateRequests = 4096

// SentMessage is a message of the sent log: the id, the epoch it was last
// sealed in, the nonce and data to re-seal it, and who joined after it was
// sent (a re-send must not open it to them).
type SentMessage struct {
	consensus.OutboxEntry // ID, EpochID, Nonce and Data only
	NeverResend           bool
	AddedAfter            []Identity
}

func (s *State) MarshalMLS(w *codec.Writer) {
	w.Uint64(s.BeaconSeq)
	w.Uint64(s.MemberSince)
	w.Uint64(s.SendSeq)
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
			w.Bool(e.NeverResend)
			w.Vector(func(w *codec.Writer) {
				for _, id := range e.AddedAfter {
					w.Raw(id[:])
				}
			})
		}
	})
	if s.Join == nil && len(s.Requests) == 0 {
		return
	}
	w.Optional(s.Join != nil, func(w *codec.Writer) {
		j := s.Join
		w.Write(&j.KeyPackage)
		w.Opaque(j.InitPrivate)
		w.Opaque(j.EncryptionPrivate)
		w.Optional(j.ForkPoint != nil, func(w *codec.Writer) { writeRef(w, j.ForkPoint) })
		w.Uint64(j.MemberSince)
		writeRef(w, &j.From)
	})
	w.Vector(func(w *codec.Writer) {
		for _, h := range s.Requests {
			w.Opaque(h.Envelope)
			w.Raw(h.AddedIn[:])
		}
	})
}

func (s *State) UnmarshalMLS(r *codec.Reader) {
	*s = State{}
	r.Uint64("State.beacon_seq", &s.BeaconSeq)
	r.Uint64("State.member_since", &s.MemberSince)
	r.Uint64("State.send_seq", &s.SendSeq)
	readList(r, "State.history", MaxHistory, func(r *codec.Reader) {
		var e EpochRef
		readRef(r, "State.history", &e)
		if r.OK() {
			s.History = append(s.History, e)
		}
	})
	readList(r, "State.sent", maxStateSent, func(r *codec.Reader) {
		var e SentMessage
		var id, nonce []byte
		r.Raw("SentMessage.id", len(e.ID), &id)
		readID(r, "SentMessage.epoch_id", &e.EpochID)
		r.Raw("SentMessage.nonce", len(e.Nonce), &nonce)
		r.Opaque("SentMessage.data", &e.Data)
		r.Bool("SentMessage.never_resend", &e.NeverResend)
		readList(r, "SentMessage.added_after", maxAddedAfter, func(r *codec.Reader) {
			var raw []byte
			if r.Raw("SentMessage.added_after", len(Identity{}), &raw) {
				e.AddedAfter = append(e.AddedAfter, Identity(raw))
			}
		})
		if r.OK() {
			copy(e.ID[:], id)
			copy(e.Nonce[:], nonce)
			s.Sent = append(s.Sent, e)
		}
	})
	if !r.OK() || r.Remaining() == 0 {
		return
	}
	r.Optional("State.join", func(r *codec.Reader) {
		j := new(PendingJoin)
		r.Read(&j.KeyPackage)
		r.Opaque("PendingJoin.init_priv", &j.InitPrivate)
		r.Opaque("PendingJoin.encryption_priv", &j.EncryptionPrivate)
		r.Optional("PendingJoin.fork_point", func(r *codec.Reader) {
			j.ForkPoint = new(EpochRef)
			readRef(r, "PendingJoin.fork_point", j.ForkPoint)
		})
		r.Uint64("PendingJoin.member_since", &j.MemberSince)
		readRef(r, "PendingJoin.from", &j.From)
		if r.OK() {
			s.Join = j
		}
	})
	readList(r, "State.requests", maxStateRequests, func(r *codec.Reader) {
		var h HeldRequest
		r.Opaque("HeldRequest.envelope", &h.Envelope)
		readID(r, "HeldRequest.added_in", &h.AddedIn)
		if r.OK() {
			s.Requests = append(s.Requests, h)
		}
	})
	if r.OK() && s.Join == nil && len(s.Requests) == 0 {
		r.Invalid("State.join", "empty batch fields are left out, not written")
	}
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
	var sent []SentMessage // nil when empty, as decoding gives
	for _, e := range m.sent {
		sent = append(sent, SentMessage{
			OutboxEntry: consensus.OutboxEntry{ID: e.ID, EpochID: e.EpochID, Nonce: e.Nonce, Data: e.Data},
			NeverResend: m.neverResend[e.ID], AddedAfter: slices.Clone(m.addedAfter[e.ID])})
	}
	st := &State{BeaconSeq: m.seqLimit, MemberSince: m.memberSince, SendSeq: m.sendSeq, History: slices.Clone(m.history), Sent: sent}
	if pj := m.pj; pj != nil && !pj.joined {
		st.Join = &PendingJoin{KeyPackage: *pj.bundle.KeyPackage, InitPrivate: slices.Clone(pj.bundle.InitPrivate),
			EncryptionPrivate: slices.Clone(pj.bundle.EncryptionPrivate), ForkPoint: pj.note.ForkPoint,
			MemberSince: pj.note.MemberSince, From: pj.from}
	}
	if len(m.joinReqs) > 0 {
		st.Requests = make([]HeldRequest, 0, len(m.joinReqs))
	}
	for i := range m.joinReqs {
		r := &m.joinReqs[i]
		if r.envBytes == nil {
			enc, err := r.env.MarshalBinary()
			if err != nil {
				continue
			}
			r.envBytes = enc
		}
		st.Requests = append(st.Requests, HeldRequest{Envelope: r.envBytes, AddedIn: r.addedIn})
	}
	return st
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
	m.sendSeq = max(m.sendSeq, st.SendSeq)
	for _, e := range st.Sent {
		m.logSent(e.OutboxEntry)
		var f appFrame
		if codec.Unmarshal(e.Data, &f) == nil {
			m.sentBySeq[f.Seq] = e.ID
			m.sendSeq = max(m.sendSeq, f.Seq+1)
		}
		if e.NeverResend {
			m.neverResend[e.ID] = true
		} else if len(e.AddedAfter) > 0 {
			m.addedAfter[e.ID] = slices.Clone(e.AddedAfter)
		}
	}
	if len(st.History) > 0 {
		m.memberSince = st.MemberSince
	}
	if j := st.Join; j != nil {
		kp := j.KeyPackage
		if enc, err := codec.Marshal(&kp); err == nil {
			m.pj = &pendingJoin{bundle: &mls.KeyPackageBundle{KeyPackage: &kp, InitPrivate: slices.Clone(j.InitPrivate),
				EncryptionPrivate: slices.Clone(j.EncryptionPrivate)}, ref: m.suite.MakeKeyPackageRef(enc),
				note: healNote{ForkPoint: j.ForkPoint, MemberSince: j.MemberSince}, from: j.From, at: m.tick}
		}
	}
	for _, h := range st.Requests {
		// Verified again against the restored head; requests of members
		// of a losing branch only (not in our tree) are lost with the
		// rival we no longer know, and those members ask again.
		env, err := consensus.UnmarshalEnvelope(h.Envelope)
		if err != nil || env.Kind != consensus.KindJoinRequest {
			continue
		}
		if req, err := m.verifyJoinRequest(env); err == nil && m.collectJoinRequest(req) == nil {
			if i, ok := m.findJoinRequest(req.id); ok {
				m.joinReqs[i].addedIn = h.AddedIn
			}
		}
	}
}
