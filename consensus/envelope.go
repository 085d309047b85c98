package consensus

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// EnvelopeKind says what an Envelope's body holds.
type EnvelopeKind uint8

// Envelope kinds. Values 1-15 belong to this package, 16-31 to package fork
// (which defines their bodies); the rest are reserved.
const (
	KindCommit        EnvelopeKind = 1  // CommitBody
	KindProposal      EnvelopeKind = 2  // MLSMessage (PublicMessage proposal)
	KindApplication   EnvelopeKind = 3  // MLSMessage (PrivateMessage application)
	KindEvidence      EnvelopeKind = 4  // Evidence
	KindSealed        EnvelopeKind = 5  // Sealed (a commit, proposal or evidence, encrypted)
	KindBeacon        EnvelopeKind = 16 // fork.Beacon
	KindFetchRequest  EnvelopeKind = 17 // fork.FetchRequest
	KindFetchResponse EnvelopeKind = 18 // fork.FetchResponse
	KindResend        EnvelopeKind = 19 // fork.DirectResend (point to point)
	KindJoinRequest   EnvelopeKind = 20 // fork join request (MLSMessage, new_member_proposal)
	KindRelayed       EnvelopeKind = 21 // fork.RelayedContent (point to point)
)

func (k EnvelopeKind) String() string {
	switch k {
	case KindCommit:
		return "commit"
	case KindProposal:
		return "proposal"
	case KindApplication:
		return "application"
	case KindEvidence:
		return "evidence"
	case KindSealed:
		return "sealed"
	case KindBeacon:
		return "beacon"
	case KindFetchRequest:
		return "fetch-request"
	case KindFetchResponse:
		return "fetch-response"
	case KindResend:
		return "resend"
	case KindJoinRequest:
		return "join-request"
	case KindRelayed:
		return "relayed"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

func (k EnvelopeKind) known() bool {
	switch k {
	case KindCommit, KindProposal, KindApplication, KindEvidence, KindSealed, KindBeacon, KindFetchRequest, KindFetchResponse, KindResend, KindJoinRequest, KindRelayed:
		return true
	}
	return false
}

// Wire limits, checked before anything is allocated for a field.
const (
	// MaxGroupIDSize bounds a group id (§11 suggests KDF.Nh random bytes,
	// at most 64 in every suite).
	MaxGroupIDSize = 256
	// MaxBodySize bounds an envelope body: a commit with an UpdatePath
	// and a Welcome for a large group stays well below it.
	MaxBodySize = 4 << 20
)

// EnvelopeVersion is the version byte every envelope starts with.
const EnvelopeVersion = 1

// Envelope is the one wire format of the ordering layer: every message a
// node publishes on a group's topic is an Envelope. The header (kind,
// group, epoch number and id) is readable without any key, so that a
// gossip validator can route and de-duplicate without decrypting.
//
//	struct {
//	    uint8 version = 1;
//	    uint8 kind;              // EnvelopeKind
//	    opaque group_id<V>;      // <= 256 bytes
//	    uint64 epoch;            // the epoch the body belongs to
//	    opaque epoch_id[32];     // its EpochID
//	    opaque body<V>;          // <= 4 MiB, by kind
//	} Envelope;
//
// For a commit, epoch and epoch_id name the parent epoch the commit is
// made on; for a proposal or an application message, the epoch it was sent
// in; for evidence, the parent epoch of the two commits.
type Envelope struct {
	Kind    EnvelopeKind
	GroupID []byte
	Epoch   uint64
	EpochID EpochID
	Body    []byte
}

// MarshalMLS writes the envelope in the TLS presentation language.
func (e *Envelope) MarshalMLS(w *codec.Writer) {
	if len(e.GroupID) > MaxGroupIDSize || len(e.Body) > MaxBodySize {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	w.Uint8(EnvelopeVersion)
	w.Uint8(uint8(e.Kind))
	w.Opaque(e.GroupID)
	w.Uint64(e.Epoch)
	w.Raw(e.EpochID[:])
	w.Opaque(e.Body)
}

// UnmarshalMLS reads an envelope; unknown versions and kinds fail.
func (e *Envelope) UnmarshalMLS(r *codec.Reader) {
	*e = Envelope{}
	var version, kind uint8
	r.Uint8("Envelope.version", &version)
	if r.OK() && version != EnvelopeVersion {
		r.Fail("Envelope.version", fmt.Errorf("%w: version %d", ErrUnknownKind, version))
		return
	}
	r.Uint8("Envelope.kind", &kind)
	e.Kind = EnvelopeKind(kind)
	if r.OK() && !e.Kind.known() {
		r.Fail("Envelope.kind", fmt.Errorf("%w: %d", ErrUnknownKind, kind))
		return
	}
	readBounded(r, "Envelope.group_id", MaxGroupIDSize, &e.GroupID)
	r.Uint64("Envelope.epoch", &e.Epoch)
	readID(r, "Envelope.epoch_id", &e.EpochID)
	readBounded(r, "Envelope.body", MaxBodySize, &e.Body)
}

// MarshalBinary encodes the envelope.
func (e *Envelope) MarshalBinary() ([]byte, error) {
	b, err := codec.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return b, nil
}

// UnmarshalEnvelope decodes an envelope, rejecting trailing bytes. Errors
// wrap ErrMalformed (and ErrUnknownKind or ErrTooLarge where they apply).
func UnmarshalEnvelope(data []byte) (*Envelope, error) {
	e := new(Envelope)
	if err := codec.Unmarshal(data, e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return e, nil
}

// readBounded reads opaque<V> of at most max bytes, failing before the
// body is copied when the length prefix says more.
func readBounded(r *codec.Reader, field string, max int, v *[]byte) {
	var b []byte
	if !r.Opaque(field, &b) {
		return
	}
	if len(b) > max {
		r.Fail(field, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), max))
		return
	}
	*v = b
}

func readID(r *codec.Reader, field string, id *EpochID) {
	var raw []byte
	if r.Raw(field, len(id), &raw) {
		copy(id[:], raw)
	}
}

// CommitBody is the body of a KindCommit envelope: the commit, always an
// MLSMessage carrying a PublicMessage, and the Welcome for members it adds.
//
//	struct {
//	    MLSMessage commit;
//	    optional<Welcome> welcome;
//	} CommitBody;
type CommitBody struct {
	Commit  *wire.MLSMessage
	Welcome *wire.Welcome
}

func (b *CommitBody) MarshalMLS(w *codec.Writer) {
	if b.Commit == nil {
		w.SetError(&codec.EncodeError{Err: fmt.Errorf("%w: commit body without a commit", ErrMalformed)})
		return
	}
	w.Write(b.Commit)
	w.Optional(b.Welcome != nil, func(w *codec.Writer) { w.Write(b.Welcome) })
}

func (b *CommitBody) UnmarshalMLS(r *codec.Reader) {
	*b = CommitBody{Commit: new(wire.MLSMessage)}
	r.Read(b.Commit)
	r.Optional("CommitBody.welcome", func(r *codec.Reader) {
		b.Welcome = new(wire.Welcome)
		r.Read(b.Welcome)
	})
}

// Evidence is the body of a KindEvidence envelope: two different commits
// signed by the same member for the same parent epoch (named by the
// envelope header). Any member of that epoch verifies both signatures with
// the member's leaf key; see docs/ordering.md.
//
//	struct {
//	    MLSMessage first;   // the one whose encoding sorts lower
//	    MLSMessage second;
//	} Evidence;
type Evidence struct {
	First, Second *wire.MLSMessage
}

func (ev *Evidence) MarshalMLS(w *codec.Writer) {
	if ev.First == nil || ev.Second == nil {
		w.SetError(&codec.EncodeError{Err: fmt.Errorf("%w: evidence needs two commits", ErrMalformed)})
		return
	}
	w.Write(ev.First)
	w.Write(ev.Second)
}

func (ev *Evidence) UnmarshalMLS(r *codec.Reader) {
	*ev = Evidence{First: new(wire.MLSMessage), Second: new(wire.MLSMessage)}
	r.Read(ev.First)
	r.Read(ev.Second)
}

// ApplicationPayload is the plaintext the Core seals in an application
// PrivateMessage: a nonce that, with the sender's credential, names the
// message across re-encryptions (MessageID), and the application's data.
//
//	struct {
//	    opaque nonce[16];
//	    opaque data<V>;
//	} ApplicationPayload;
type ApplicationPayload struct {
	Nonce [16]byte
	Data  []byte
}

func (p *ApplicationPayload) MarshalMLS(w *codec.Writer) {
	w.Raw(p.Nonce[:])
	w.Opaque(p.Data)
}

func (p *ApplicationPayload) UnmarshalMLS(r *codec.Reader) {
	*p = ApplicationPayload{}
	var raw []byte
	if r.Raw("ApplicationPayload.nonce", len(p.Nonce), &raw) {
		copy(p.Nonce[:], raw)
	}
	r.Opaque("ApplicationPayload.data", &p.Data)
}
