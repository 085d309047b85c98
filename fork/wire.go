package fork

import (
	"errors"
	"fmt"
	"github.com/mlsnode/mlsnode/consensus"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Wire limits. A decoder refuses anything larger with ErrTooLarge before it
// allocates for it, so a peer cannot make a member hold more than these
// bounds by sending one message.
const (
	// MaxGroupIDSize bounds a group id (RFC 9420 leaves it open; §11
	// suggests KDF.Nh random bytes, at most 64 in every suite).
	MaxGroupIDSize = 256
	// MaxSignatureSize bounds a beacon signature (a DER P-521 ECDSA
	// signature, the largest of the seven suites, is at most 139 bytes).
	MaxSignatureSize = 256
	// MaxHave bounds the epoch references a FetchRequest carries.
	MaxHave = 64
	// MaxFetchCommits bounds the commits in one FetchResponse.
	MaxFetchCommits = 64
	// MaxHistory bounds the epoch-id history a BranchInfo carries.
	MaxHistory = 1024
	// MaxAttestations bounds the beacons a BranchInfo carries.
	MaxAttestations = 1024
	// MaxFetchResponseSize bounds the encoding of a FetchResponse: a
	// responder stops adding commits before it is reached, and a
	// requester refuses a larger response unread.
	MaxFetchResponseSize = 4 << 20
)

// ErrTooLarge is wrapped by decode failures for values over a wire limit.
var ErrTooLarge = errors.New("fork: value over the wire limit")

// EpochID and EpochRef are the consensus layer's names for epochs.
type (
	EpochID  = consensus.EpochID
	EpochRef = consensus.EpochRef
)

// struct { uint64 epoch; opaque id[32]; } EpochRef;
func writeRef(w *codec.Writer, e *EpochRef) {
	w.Uint64(e.Epoch)
	w.Raw(e.ID[:])
}

func readRef(r *codec.Reader, field string, e *EpochRef) {
	r.Uint64(field+".epoch", &e.Epoch)
	readID(r, field+".id", &e.ID)
}

func readID(r *codec.Reader, field string, id *EpochID) {
	var raw []byte
	if r.Raw(field, len(id), &raw) {
		copy(id[:], raw)
	}
}

// Beacon is a member's signed statement "my head in group G is epoch N with
// id X" (see docs/ordering.md, "Fork detection and healing").
//
//	struct {
//	    opaque group_id<V>;
//	    uint64 epoch;
//	    opaque epoch_id[32];
//	    uint32 sender;        // leaf index in epoch epoch_id
//	    uint64 seq;           // strictly increasing per sender
//	    uint64 sent;          // application messages the sender has sent
//	    uint64 opens_from;    // lowest epoch of its head chain whose messages it still opens
//	    Nack nacks<V>;        // <= 16: messages the sender lacks
//	    opaque signature<V>;  // SignWithLabel(., "mlsnode beacon", BeaconTBS)
//	} Beacon;
//	struct { opaque author[32]; uint64 msg_seq; } Nack;
//
// BeaconTBS is the same struct without the signature.
type Beacon struct {
	GroupID []byte
	Epoch   uint64
	EpochID EpochID
	Sender  uint32
	Seq     uint64
	// Sent counts the application messages the sender has sent (their
	// sequence numbers are 0..Sent-1); Nacks name messages of others the
	// sender has not received (see docs/ordering.md).
	Sent uint64
	// OpensFrom is the lowest epoch number of the sender's head chain
	// whose application messages it can still open
	// (consensus.Core.OpensFrom): a relay sends the original copy of a
	// nacked message only when it can be opened (see relay.go).
	OpensFrom uint64
	Nacks     []Nack
	Signature []byte
}

// Nack names a missing message: its author's identity and sequence number.
type Nack struct {
	Author Identity
	Seq    uint64
}

// MaxNacks bounds the nacks of one beacon.
const MaxNacks = 16

// BeaconLabel is the SignWithLabel label of a beacon (RFC 9420 §5.1.2 adds
// the "MLS 1.0 " prefix); no MLS structure uses it, so a beacon signature
// cannot be replayed as any MLS signature or the other way round.
const BeaconLabel = "mlsnode beacon"

func (b *Beacon) marshalTBS(w *codec.Writer) {
	w.Opaque(b.GroupID)
	w.Uint64(b.Epoch)
	w.Raw(b.EpochID[:])
	w.Uint32(b.Sender)
	w.Uint64(b.Seq)
	w.Uint64(b.Sent)
	w.Uint64(b.OpensFrom)
	if len(b.Nacks) > MaxNacks {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	w.Vector(func(w *codec.Writer) {
		for _, n := range b.Nacks {
			w.Raw(n.Author[:])
			w.Uint64(n.Seq)
		}
	})
}

// TBS is the encoded BeaconTBS, the content the signature covers.
func (b *Beacon) TBS() ([]byte, error) {
	w := codec.NewWriter(nil)
	b.marshalTBS(w)
	return w.Bytes()
}

func (b *Beacon) MarshalMLS(w *codec.Writer) {
	b.marshalTBS(w)
	w.Opaque(b.Signature)
}

func (b *Beacon) UnmarshalMLS(r *codec.Reader) {
	*b = Beacon{}
	readBounded(r, "Beacon.group_id", MaxGroupIDSize, &b.GroupID)
	r.Uint64("Beacon.epoch", &b.Epoch)
	readID(r, "Beacon.epoch_id", &b.EpochID)
	r.Uint32("Beacon.sender", &b.Sender)
	r.Uint64("Beacon.seq", &b.Seq)
	r.Uint64("Beacon.sent", &b.Sent)
	r.Uint64("Beacon.opens_from", &b.OpensFrom)
	readList(r, "Beacon.nacks", MaxNacks, func(r *codec.Reader) {
		var n Nack
		var raw []byte
		r.Raw("Nack.author", len(n.Author), &raw)
		r.Uint64("Nack.msg_seq", &n.Seq)
		if r.OK() {
			copy(n.Author[:], raw)
			b.Nacks = append(b.Nacks, n)
		}
	})
	readBounded(r, "Beacon.signature", MaxSignatureSize, &b.Signature)
}

// FetchRequest asks a peer for what the requester lacks to reach the epoch
// WantID (learnt from a beacon or an envelope of that peer).
//
//	struct {
//	    opaque group_id<V>;
//	    uint64 request_id;
//	    EpochRef want;
//	    EpochRef have<V>;    // requester's head chain, newest first, <= 64
//	} FetchRequest;
type FetchRequest struct {
	GroupID   []byte
	RequestID uint64
	Want      EpochRef
	Have      []EpochRef
}

func (q *FetchRequest) MarshalMLS(w *codec.Writer) {
	if len(q.Have) > MaxHave {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	w.Opaque(q.GroupID)
	w.Uint64(q.RequestID)
	writeRef(w, &q.Want)
	w.Vector(func(w *codec.Writer) {
		for i := range q.Have {
			writeRef(w, &q.Have[i])
		}
	})
}

func (q *FetchRequest) UnmarshalMLS(r *codec.Reader) {
	*q = FetchRequest{}
	readBounded(r, "FetchRequest.group_id", MaxGroupIDSize, &q.GroupID)
	r.Uint64("FetchRequest.request_id", &q.RequestID)
	readRef(r, "FetchRequest.want", &q.Want)
	readList(r, "FetchRequest.have", MaxHave, func(r *codec.Reader) {
		var e EpochRef
		readRef(r, "FetchRequest.have", &e)
		if r.OK() {
			q.Have = append(q.Have, e)
		}
	})
}

// FetchResponse answers a FetchRequest.
//
//	struct {
//	    opaque group_id<V>;
//	    uint64 request_id;
//	    EpochRef base;          // the epoch the first commit applies to
//	    opaque commits<V><V>;   // Commit envelopes, base first, <= 64
//	    bool more;              // cut short by size: ask again from the last
//	    optional<BranchInfo> branch;
//	} FetchResponse;
//
// Commits are present when the responder still holds the chain from an
// epoch the requester named in Have; Branch when it does not (the fork is
// older than the responder's retention window), so that the requester can
// run the survivor rule and, if it loses, rejoin.
type FetchResponse struct {
	GroupID   []byte
	RequestID uint64
	Base      EpochRef
	Commits   [][]byte
	More      bool
	Branch    *BranchInfo
}

func (p *FetchResponse) MarshalMLS(w *codec.Writer) {
	if len(p.Commits) > MaxFetchCommits {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	w.Opaque(p.GroupID)
	w.Uint64(p.RequestID)
	writeRef(w, &p.Base)
	w.Vector(func(w *codec.Writer) {
		for _, c := range p.Commits {
			w.Opaque(c)
		}
	})
	w.Bool(p.More)
	w.Optional(p.Branch != nil, func(w *codec.Writer) { w.Write(p.Branch) })
}

func (p *FetchResponse) UnmarshalMLS(r *codec.Reader) {
	*p = FetchResponse{}
	readBounded(r, "FetchResponse.group_id", MaxGroupIDSize, &p.GroupID)
	r.Uint64("FetchResponse.request_id", &p.RequestID)
	readRef(r, "FetchResponse.base", &p.Base)
	readList(r, "FetchResponse.commits", MaxFetchCommits, func(r *codec.Reader) {
		var c []byte
		if r.Opaque("FetchResponse.commit", &c) {
			p.Commits = append(p.Commits, c)
		}
	})
	r.Bool("FetchResponse.more", &p.More)
	r.Optional("FetchResponse.branch", func(r *codec.Reader) {
		p.Branch = new(BranchInfo)
		r.Read(p.Branch)
	})
}

// BranchInfo describes the responder's branch when the fork is older than
// its retention window.
//
//	struct {
//	    GroupInfo group_info;   // of the responder's head, signed (§12.4.3)
//	    EpochRef history<V>;    // head chain ids, newest first, <= 1024
//	    Beacon attestations<V>; // latest beacons of the branch's members
//	} BranchInfo;
type BranchInfo struct {
	GroupInfo    wire.GroupInfo
	History      []EpochRef
	Attestations []Beacon
}

func (b *BranchInfo) MarshalMLS(w *codec.Writer) {
	if len(b.History) > MaxHistory || len(b.Attestations) > MaxAttestations {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	w.Write(&b.GroupInfo)
	w.Vector(func(w *codec.Writer) {
		for i := range b.History {
			writeRef(w, &b.History[i])
		}
	})
	w.Vector(func(w *codec.Writer) {
		for i := range b.Attestations {
			w.Write(&b.Attestations[i])
		}
	})
}

func (b *BranchInfo) UnmarshalMLS(r *codec.Reader) {
	*b = BranchInfo{}
	r.Read(&b.GroupInfo)
	readList(r, "BranchInfo.history", MaxHistory, func(r *codec.Reader) {
		var e EpochRef
		readRef(r, "BranchInfo.history", &e)
		if r.OK() {
			b.History = append(b.History, e)
		}
	})
	readList(r, "BranchInfo.attestations", MaxAttestations, func(r *codec.Reader) {
		var a Beacon
		if r.Read(&a) {
			b.Attestations = append(b.Attestations, a)
		}
	})
}

// readBounded reads opaque<V> no longer than limit.
func readBounded(r *codec.Reader, field string, limit int, v *[]byte) {
	var raw []byte
	if !r.Opaque(field, &raw) {
		return
	}
	if len(raw) > limit {
		r.Fail(field, tooLarge(len(raw), limit))
		return
	}
	*v = raw
}

// readList reads a vector of at most limit elements with fn.
func readList(r *codec.Reader, field string, limit int, fn func(r *codec.Reader)) {
	n := 0
	r.Each(field, func(r *codec.Reader) {
		n++
		if n > limit {
			r.Fail(field, tooLarge(n, limit))
			return
		}
		fn(r)
	})
}

func tooLarge(n, limit int) error {
	return fmt.Errorf("%w: %w (%d > %d)", codec.ErrInvalidValue, ErrTooLarge, n, limit)
}
