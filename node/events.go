package node

import (
	"sync"
	"time"
)

// EventKind names what happened.
type EventKind string

// Event kinds.
const (
	// EventMessage is an application message delivered to this node
	// (including messages of a branch that later lost: they were sent by
	// a member and are not withdrawn).
	EventMessage EventKind = "message"
	// EventMemberJoined and EventMemberLeft report membership changes;
	// Peer is the member, Actor who added or removed it.
	EventMemberJoined EventKind = "member_joined"
	EventMemberLeft   EventKind = "member_left"
	// EventEpochChanged reports a new head epoch.
	EventEpochChanged EventKind = "epoch_changed"
	// EventBranchSwitched reports that the head moved to a better rival
	// branch (a commit race or a healed partition).
	EventBranchSwitched EventKind = "branch_switched"
	// EventForkHealed reports that a fork detected with other members has
	// been resolved onto one branch.
	EventForkHealed EventKind = "fork_healed"
	// EventJoined reports that this node joined a group; EventInvited that
	// a Welcome arrived and is waiting for Join.
	EventJoined  EventKind = "joined"
	EventInvited EventKind = "invited"
	// EventLeft reports that this node left or was removed from a group.
	EventLeft EventKind = "left"
)

// Event is one thing that happened in a group, as seen by this node. It
// is plain data and encodes to JSON as the control API's tail stream.
type Event struct {
	Kind  EventKind `json:"kind"`
	Group string    `json:"group"` // hex group id
	Epoch uint64    `json:"epoch,omitempty"`
	// EpochID is the hex id of the head epoch after the event.
	EpochID string `json:"epoch_id,omitempty"`
	// Peer is the member the event is about: the sender of a message,
	// the member who joined or left.
	Peer string `json:"peer,omitempty"`
	// Actor is who caused a membership change (the committer).
	Actor string `json:"actor,omitempty"`
	// MessageID identifies an application message across re-sends.
	MessageID string `json:"message_id,omitempty"`
	Data      []byte `json:"data,omitempty"`
	// SentAt is the sender's clock when it called Send (message only).
	SentAt time.Time `json:"sent_at,omitzero"`
	// LosingBranch marks a message delivered from a branch that lost.
	LosingBranch bool `json:"losing_branch,omitempty"`
	// Detail is a human-readable note (branch switch reason, etc.).
	Detail string    `json:"detail,omitempty"`
	Time   time.Time `json:"time"`
	// Missed counts events this subscriber lost to a full buffer before
	// this one; the message history (Node.Messages) still has them.
	Missed uint64 `json:"missed,omitempty"`
}

// Subscription is a stream of events. Events go into a bounded buffer; a
// subscriber that falls behind loses events (counted in the next event's
// Missed) rather than stalling the node. Delivered messages are also kept
// in the node's store, so nothing is lost for good.
type Subscription struct {
	C      <-chan Event
	c      chan Event
	b      *broker
	missed uint64
	once   sync.Once
}

// Close ends the subscription; C is closed.
func (s *Subscription) Close() {
	s.once.Do(func() { s.b.remove(s) })
}

type broker struct {
	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

func newBroker() *broker { return &broker{subs: map[*Subscription]struct{}{}} }

func (b *broker) subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = 1
	}
	c := make(chan Event, buffer)
	s := &Subscription{C: c, c: c, b: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(c)
		return s
	}
	b.subs[s] = struct{}{}
	return s
}

func (b *broker) remove(s *Subscription) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.c)
	}
}

// publish never blocks: a full subscriber misses the event.
func (b *broker) publish(e Event) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs {
		ev := e
		ev.Missed = s.missed
		select {
		case s.c <- ev:
			s.missed = 0
		default:
			s.missed++
		}
	}
}

func (b *broker) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	for s := range b.subs {
		delete(b.subs, s)
		close(s.c)
	}
}
