package overlay

import (
	"sync"
	"sync/atomic"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// GossipStats counts what gossipsub did with group messages on this node.
type GossipStats struct {
	Delivered     uint64 // accepted and handed to subscribers (own included)
	Rejected      uint64 // Reject: by the overlay's checks or the Validator
	Ignored       uint64 // Ignore
	Dropped       uint64 // refused before validation: queue full, throttled, bad signature policy
	Duplicates    uint64
	DroppedRPCs   uint64 // outbound RPCs dropped because a peer's queue was full
	Undeliverable uint64 // dropped because a subscriber did not keep up
	Repairs       uint64 // connections restarted to undo gossipsub's reconnect race (repair.go)
}

// tracer is a gossipsub RawTracer that keeps each topic's mesh (gossipsub
// has no API for it) and the counters of GossipStats.
type tracer struct {
	mu   sync.Mutex
	mesh map[string]map[peer.ID]struct{}

	// streamClosed is told when gossipsub has dropped a peer's outbound
	// stream (after wiping what it knew of the peer's subscriptions). It
	// runs on gossipsub's event loop and must not block.
	streamClosed func(peer.ID)

	delivered, rejected, ignored, dropped, duplicates, droppedRPCs, undeliverable, repairs atomic.Uint64
}

func newTracer() *tracer { return &tracer{mesh: map[string]map[peer.ID]struct{}{}} }

func (t *tracer) meshPeers(topic string) []peer.ID {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]peer.ID, 0, len(t.mesh[topic]))
	for p := range t.mesh[topic] {
		out = append(out, p)
	}
	return out
}

func (t *tracer) stats() GossipStats {
	return GossipStats{
		Delivered:     t.delivered.Load(),
		Rejected:      t.rejected.Load(),
		Ignored:       t.ignored.Load(),
		Dropped:       t.dropped.Load(),
		Duplicates:    t.duplicates.Load(),
		DroppedRPCs:   t.droppedRPCs.Load(),
		Undeliverable: t.undeliverable.Load(),
		Repairs:       t.repairs.Load(),
	}
}

func (t *tracer) Graft(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	m := t.mesh[topic]
	if m == nil {
		m = map[peer.ID]struct{}{}
		t.mesh[topic] = m
	}
	m[p] = struct{}{}
}

func (t *tracer) Prune(p peer.ID, topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mesh[topic], p)
}

func (t *tracer) Leave(topic string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.mesh, topic)
}

func (t *tracer) DeliverMessage(*pubsub.Message) { t.delivered.Add(1) }

func (t *tracer) RejectMessage(_ *pubsub.Message, reason string) {
	switch reason {
	case pubsub.RejectValidationFailed:
		t.rejected.Add(1)
	case pubsub.RejectValidationIgnored:
		t.ignored.Add(1)
	default:
		t.dropped.Add(1)
	}
}

func (t *tracer) DuplicateMessage(*pubsub.Message)         { t.duplicates.Add(1) }
func (t *tracer) DropRPC(*pubsub.RPC, peer.ID)             { t.droppedRPCs.Add(1) }
func (t *tracer) UndeliverableMessage(*pubsub.Message)     { t.undeliverable.Add(1) }
func (t *tracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *tracer) OnClosedOutboundStream(p peer.ID) {
	if t.streamClosed != nil {
		t.streamClosed(p)
	}
}
func (t *tracer) Join(string)                                          {}
func (t *tracer) ValidateMessage(*pubsub.Message)                      {}
func (t *tracer) ThrottlePeer(peer.ID)                                 {}
func (t *tracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *tracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *tracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}

// MeshPeers lists the group's gossipsub mesh: the peers this node forwards
// the group's messages to at once (others learn of them by gossip, within a
// few heartbeats).
func (o *Overlay) MeshPeers(group []byte) []peer.ID { return o.tr.meshPeers(TopicName(group)) }

// GossipStats returns the gossip counters.
func (o *Overlay) GossipStats() GossipStats { return o.tr.stats() }

// GossipPeers lists the peers gossipsub currently has a stream to, on any
// topic.
func (o *Overlay) GossipPeers() []peer.ID { return o.ps.ListPeers("") }
