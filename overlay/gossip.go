package overlay

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Gossipsub settings beyond its defaults (see ARCHITECTURE.md's dependency
// notes: without flood publish a publish before the first heartbeat reaches
// nobody; the default queues of 32 drop commits in a burst).
const (
	outboundQueueSize  = 1024
	validateQueueSize  = 1024
	subscriptionBuffer = 1024
	validatorTimeout   = 5 * time.Second
	scoreInspectPeriod = 500 * time.Millisecond
	// rpcOverhead is room for the frame, the protobuf envelope and topic
	// name on top of the largest payload.
	rpcOverhead = 4 << 10
)

// Score settings. Invalid deliveries (Reject) count squared with weight
// -100, so one rejected message puts a peer at -100 (the gossip threshold,
// not below it), two at -400 (the graylist threshold) and three below it:
// an honest peer with one bad message keeps its place, a peer sending
// garbage is graylisted, i.e. its RPCs are dropped. Ignore adds nothing.
// The counter decays by 1% a second (half-life about 70s).
const (
	invalidMessageWeight = -100
	invalidMessageDecay  = 0.99
	gossipThreshold      = -100
	publishThreshold     = -200
	graylistThreshold    = -400
)

// Message is a group message delivered to the caller.
type Message struct {
	// From is the peer that relayed the message to us; messages carry no
	// author (MLS authenticates the sender itself).
	From peer.ID
	// Group is the group id.
	Group []byte
	// Data is the payload as passed to Publish.
	Data []byte
}

// TopicName is the gossipsub topic of a group.
func TopicName(group []byte) string { return TopicPrefix + hex.EncodeToString(group) }

// messageID names a message by the SHA-256 of its bytes, so the same commit
// relayed by many peers is one message, whoever published it.
func messageID(m *pb.Message) string {
	h := sha256.Sum256(m.Data)
	return string(h[:])
}

func (o *Overlay) newPubSub() (*pubsub.PubSub, error) {
	params := pubsub.DefaultGossipSubParams()
	params.HeartbeatInterval = o.cfg.HeartbeatInterval
	if params.HeartbeatInitialDelay > o.cfg.HeartbeatInterval {
		params.HeartbeatInitialDelay = o.cfg.HeartbeatInterval
	}
	scoreParams := &pubsub.PeerScoreParams{
		SkipAtomicValidation: true,
		Topics:               map[string]*pubsub.TopicScoreParams{},
		AppSpecificScore:     o.pen.appScore,
		AppSpecificWeight:    1,
		// Peers that break gossip rules (broken promises, GRAFT floods).
		BehaviourPenaltyWeight:    -10,
		BehaviourPenaltyThreshold: 6,
		BehaviourPenaltyDecay:     0.9,
		DecayInterval:             time.Second,
		DecayToZero:               0.01,
		RetainScore:               10 * time.Minute,
	}
	thresholds := &pubsub.PeerScoreThresholds{
		SkipAtomicValidation: true,
		GossipThreshold:      gossipThreshold,
		PublishThreshold:     publishThreshold,
		GraylistThreshold:    graylistThreshold,
	}
	ps, err := pubsub.NewGossipSub(o.ctx, o.host,
		pubsub.WithGossipSubParams(params),
		pubsub.WithFloodPublish(true),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithPeerOutboundQueueSize(outboundQueueSize),
		pubsub.WithValidateQueueSize(validateQueueSize),
		pubsub.WithMaxMessageSize(o.cfg.Limits.MaxMessageSize+rpcOverhead),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return o.gater.Allowed(p) }),
		pubsub.WithAppSpecificRpcInspector(func(p peer.ID, _ *pubsub.RPC) error {
			if !o.gater.Allowed(p) {
				return ErrBlocked
			}
			return nil
		}),
		pubsub.WithRawTracer(o.tr),
		pubsub.WithPeerScore(scoreParams, thresholds),
		pubsub.WithPeerScoreInspect(pubsub.PeerScoreInspectFn(o.setScores), scoreInspectPeriod),
	)
	if err != nil {
		return nil, fmt.Errorf("overlay: gossipsub: %w", err)
	}
	return ps, nil
}

// groupTopic is one joined group.
type groupTopic struct {
	name   string
	topic  *pubsub.Topic
	sub    *pubsub.Subscription
	cancel context.CancelFunc
	ps     *pubsub.PubSub
}

func (gt *groupTopic) close() {
	gt.cancel()
	gt.sub.Cancel()
	_ = gt.ps.UnregisterTopicValidator(gt.name)
	_ = gt.topic.Close()
}

// JoinGroup subscribes to the group's topic. deliver is called for every
// accepted message relayed by another peer (never for this node's own
// publishes), one at a time, on a goroutine of the group's own; it must not
// block for long, since gossipsub drops messages for a subscriber whose
// buffer (1024 messages) is full. Joining a joined group is an error.
func (o *Overlay) JoinGroup(group []byte, deliver func(Message)) error {
	if len(group) == 0 || len(group) > maxGroupIDLen {
		return fmt.Errorf("%w: group id of %d bytes", ErrBadConfig, len(group))
	}
	name := TopicName(group)
	// o.mu is held across the calls into gossipsub: nothing gossipsub
	// calls back (validators, tracer, inspector, score) takes it.
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.isClosed() {
		return ErrClosed
	}
	if _, ok := o.groups[name]; ok {
		return fmt.Errorf("overlay: group %x already joined", group)
	}
	want := append([]byte(nil), group...)
	if err := o.ps.RegisterTopicValidator(name, o.validator(want), pubsub.WithValidatorTimeout(validatorTimeout)); err != nil {
		return fmt.Errorf("overlay: validator for %s: %w", name, err)
	}
	topic, err := o.ps.Join(name)
	if err != nil {
		_ = o.ps.UnregisterTopicValidator(name)
		return fmt.Errorf("overlay: join %s: %w", name, err)
	}
	if err := topic.SetScoreParams(&pubsub.TopicScoreParams{
		SkipAtomicValidation: true,
		TopicWeight:          1,
		// A small reward for staying in the mesh (at most +3 after five
		// minutes); the quantum must be set even at weight 0, gossipsub
		// divides by it.
		TimeInMeshWeight:               0.01,
		TimeInMeshQuantum:              time.Second,
		TimeInMeshCap:                  300,
		InvalidMessageDeliveriesWeight: invalidMessageWeight,
		InvalidMessageDeliveriesDecay:  invalidMessageDecay,
	}); err != nil {
		_ = topic.Close()
		_ = o.ps.UnregisterTopicValidator(name)
		return fmt.Errorf("overlay: score params for %s: %w", name, err)
	}
	sub, err := topic.Subscribe(pubsub.WithBufferSize(subscriptionBuffer))
	if err != nil {
		_ = topic.Close()
		_ = o.ps.UnregisterTopicValidator(name)
		return fmt.Errorf("overlay: subscribe %s: %w", name, err)
	}
	ctx, cancel := context.WithCancel(o.ctx)
	gt := &groupTopic{name: name, topic: topic, sub: sub, cancel: cancel, ps: o.ps}
	if !o.goTracked(func() { o.readGroup(ctx, sub, deliver) }) {
		gt.close() // Close ran meanwhile
		return ErrClosed
	}
	o.groups[name] = gt
	return nil
}

func (o *Overlay) readGroup(ctx context.Context, sub *pubsub.Subscription, deliver func(Message)) {
	self := o.host.ID()
	for {
		m, err := sub.Next(ctx)
		if err != nil {
			return // cancelled: the group was left or the overlay closed
		}
		if m.ReceivedFrom == self {
			continue
		}
		f, ok := m.ValidatorData.(*gossipFrame)
		if !ok {
			// Every message passes our validator, which sets the frame.
			continue
		}
		deliver(Message{From: m.ReceivedFrom, Group: f.Group, Data: f.Payload})
	}
}

// LeaveGroup unsubscribes from the group's topic.
func (o *Overlay) LeaveGroup(group []byte) error {
	name := TopicName(group)
	o.mu.Lock()
	gt, ok := o.groups[name]
	delete(o.groups, name)
	o.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %x", ErrNotJoined, group)
	}
	gt.close()
	return nil
}

// Publish sends payload to the group. The group must be joined. The
// payload passes the same checks as a received one, the caller's Validator
// included, before it leaves.
func (o *Overlay) Publish(ctx context.Context, group []byte, payload []byte) error {
	if len(payload) > o.cfg.Limits.MaxMessageSize {
		return fmt.Errorf("%w: payload of %d bytes, limit %d", ErrTooLarge, len(payload), o.cfg.Limits.MaxMessageSize)
	}
	if len(payload) == 0 {
		return fmt.Errorf("%w: empty payload", ErrMalformed)
	}
	o.mu.Lock()
	gt, ok := o.groups[TopicName(group)]
	o.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %x", ErrNotJoined, group)
	}
	b, err := encodeGossipFrame(group, payload)
	if err != nil {
		return fmt.Errorf("overlay: encode frame: %w", err)
	}
	if err := gt.topic.Publish(ctx, b); err != nil {
		var ve pubsub.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%w: own message failed validation: %s", ErrRefused, ve.Reason)
		}
		return fmt.Errorf("overlay: publish: %w", err)
	}
	return nil
}

// TopicPeers lists the peers known to be subscribed to the group's topic.
func (o *Overlay) TopicPeers(group []byte) []peer.ID {
	return o.ps.ListPeers(TopicName(group))
}

// validator is the gossipsub validator of one group topic: the overlay's
// own checks (size, frame, group id matches the topic), then the caller's.
func (o *Overlay) validator(group []byte) pubsub.ValidatorEx {
	return func(_ context.Context, from peer.ID, m *pubsub.Message) pubsub.ValidationResult {
		if len(m.Data) > o.cfg.Limits.MaxMessageSize+rpcOverhead {
			return pubsub.ValidationReject
		}
		f, err := decodeGossipFrame(m.Data)
		if err != nil {
			return pubsub.ValidationReject
		}
		if string(f.Group) != string(group) || len(f.Payload) > o.cfg.Limits.MaxMessageSize {
			return pubsub.ValidationReject
		}
		verdict := Accept
		if o.cfg.Validator != nil {
			verdict = o.cfg.Validator.Validate(from, f.Group, f.Payload)
		}
		switch verdict {
		case Accept:
			m.ValidatorData = f
			return pubsub.ValidationAccept
		case Reject:
			return pubsub.ValidationReject
		default:
			return pubsub.ValidationIgnore
		}
	}
}
