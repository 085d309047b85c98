package consensus

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/wire"
)

// MessageID names an application message across re-encryptions: SHA-256
// of the sender's credential and the nonce it drew, truncated. A message
// re-sent in a winning epoch keeps its id, so "delivered once" is
// checkable.
type MessageID [16]byte

func (id MessageID) String() string { return fmt.Sprintf("%x", id[:4]) }

// Delivered is an application message for the application.
type Delivered struct {
	ID MessageID
	// Sender is the sender's leaf index and Identity its credential's
	// identity in the epoch the message was sent in.
	Sender   uint32
	Identity []byte
	Epoch    uint64
	EpochID  EpochID
	Data     []byte
	// LosingBranch is set when the epoch is not on the head chain: the
	// message was sent in an epoch that lost a race. It is delivered
	// anyway; its sender re-sends it in the winner with the same ID.
	LosingBranch bool
	// Envelope is the application envelope the message came in, as
	// received: the sender's PrivateMessage, whose content signature and
	// encryption are the sender's. fork relays it unchanged to a member
	// that lacks the message when its sender cannot re-send it; only a
	// member holding the epoch's keys opens it.
	Envelope Envelope
	// Content is the message's content with the sender's signature, and
	// Context the GroupContext of its epoch that the signature covers
	// (mls.Received): fork relays them, encrypted to one member, to a
	// member of the epoch that lacks the message after releasing the
	// epoch's keys (docs/ordering.md, "Delivery guarantee"). Nil for
	// messages the core did not open itself.
	Content *wire.AuthenticatedContent
	Context *wire.GroupContext
}

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventEpochMerged: the head chain grew by one epoch (Epoch, ID,
	// Parent, Committer, Added, Removed). Emitted for every epoch the
	// head moves onto, in order, after a switch too.
	EventEpochMerged EventKind = iota + 1
	// EventBranchSwitched: the head left a branch for a better rival
	// (From is the old head, ID the new one, RolledBack the number of
	// epochs abandoned).
	EventBranchSwitched
	// EventEpochFinal: the epoch (ID) on the head chain is final; its
	// rivals and the retained state of its parent were released.
	EventEpochFinal
	// EventEquivocation: the member at leaf Leaf signed two commits on
	// the parent epoch Parent; both lose.
	EventEquivocation
	// EventCommitRejected: a commit was refused (Reason says why).
	EventCommitRejected
	// EventResend: an application message sent in a losing epoch was
	// re-encrypted in the head and queued for broadcast (MessageID).
	EventResend
	// EventReproposed: proposals of a losing commit were re-proposed or
	// re-committed on the winning branch (Count).
	EventReproposed
	// EventRemoved: this member was removed on the head branch; the Core
	// stops sending.
	EventRemoved
)

func (k EventKind) String() string {
	switch k {
	case EventEpochMerged:
		return "merged"
	case EventBranchSwitched:
		return "switched"
	case EventEpochFinal:
		return "final"
	case EventEquivocation:
		return "equivocation"
	case EventCommitRejected:
		return "rejected"
	case EventResend:
		return "resend"
	case EventReproposed:
		return "reproposed"
	case EventRemoved:
		return "removed"
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

// Event reports a change of the Core's state. Which fields are set depends
// on Kind (see the constants).
type Event struct {
	Kind      EventKind
	Epoch     uint64
	ID        EpochID
	Parent    EpochID
	From      EpochID
	Committer uint32
	Added     []uint32
	Removed   []uint32
	// RemovedIdentities are the credential identities of Removed, read
	// from the parent epoch's tree.
	RemovedIdentities [][]byte
	// ContextHash (EventEpochMerged) is SHA-256 of the new epoch's
	// encoded GroupContext, so that fork can recognise that context
	// later (a relayed message's signature covers it).
	ContextHash [32]byte
	Leaf        uint32
	RolledBack  int
	Count       int
	MessageID   MessageID
	Reason      string
}

// Persist is what the caller must write atomically before acting on the
// rest of a Ready: the head's MLS state (it holds consumed message keys, so
// losing it risks nonce reuse) and the retained epoch tree and outbox.
type Persist struct {
	HeadID    EpochID
	HeadState []byte
	// Tick is the Core's logical time, so that a restored Core keeps the
	// windows it had open.
	Tick uint64
	// Retained lists every retained epoch with the commit that made it
	// and, where kept, its MLS state.
	Retained []RetainedEpoch
	// Outbox holds application messages sent but not final.
	Outbox []OutboxEntry
}

// RetainedEpoch is one node of the epoch tree as persisted.
type RetainedEpoch struct {
	Ref    EpochRef
	Parent EpochID
	Commit []byte // the envelope that created it, as received; nil for the root
	State  []byte // mls MarshalState, when the member was in it
	// Meta is the Core's bookkeeping of the epoch (rank inputs, flags,
	// proposals, who built on it), opaque to the caller: store it with
	// the rest for Restore to rebuild the epoch tree.
	Meta []byte
}

// OutboxEntry is an application message awaiting finality of its epoch.
type OutboxEntry struct {
	ID      MessageID
	EpochID EpochID
	Nonce   [16]byte
	Data    []byte
	// Sealed is the envelope as last broadcast (for retransmission).
	Sealed Envelope
}

// Ready is the Core's output since the last Advance.
type Ready struct {
	// Messages are envelopes to broadcast on the group's topic.
	Messages []Envelope
	// Delivered are application messages for the application.
	Delivered []Delivered
	// Events report state changes, in order.
	Events []Event
	// Persist is set when durable state changed.
	Persist *Persist
}

// IsEmpty reports whether the Ready carries nothing.
func (rd *Ready) IsEmpty() bool {
	return len(rd.Messages) == 0 && len(rd.Delivered) == 0 && len(rd.Events) == 0 && rd.Persist == nil
}
