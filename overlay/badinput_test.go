package overlay

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// attacker is a bare libp2p host with a gossipsub that validates nothing,
// so it can put anything on a group topic.
type attacker struct {
	h     host.Host
	ps    *pubsub.PubSub
	topic *pubsub.Topic
}

func newAttacker(t *testing.T, group []byte, maxMessage int) *attacker {
	t.Helper()
	h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	params := pubsub.DefaultGossipSubParams()
	params.HeartbeatInterval = testHeartbeat
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithGossipSubParams(params),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictNoSign),
		pubsub.WithNoAuthor(),
		pubsub.WithMessageIdFn(messageID),
		pubsub.WithFloodPublish(true),
		pubsub.WithMaxMessageSize(maxMessage),
		pubsub.WithPeerOutboundQueueSize(8192),
	)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(TopicName(group))
	if err != nil {
		t.Fatal(err)
	}
	// Subscribe so that the victim grafts us and takes our messages as a
	// mesh peer would.
	if _, err := topic.Subscribe(); err != nil {
		t.Fatal(err)
	}
	return &attacker{h: h, ps: ps, topic: topic}
}

// connect connects to o and waits until each side sees the other on the
// topic, so that a publish reaches o.
func (a *attacker) connect(t *testing.T, o *Overlay) {
	t.Helper()
	if err := a.h.Connect(context.Background(), peer.AddrInfo{ID: o.ID(), Addrs: o.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	topic := a.topic.String()
	waitFor(t, 10*time.Second, "attacker and victim on the topic", func() bool {
		seen := false
		for _, p := range o.ps.ListPeers(topic) {
			seen = seen || p == a.h.ID()
		}
		for _, p := range a.ps.ListPeers(topic) {
			if p == o.ID() {
				return seen
			}
		}
		return false
	})
}

func (a *attacker) publish(t *testing.T, data []byte) {
	t.Helper()
	if err := a.topic.Publish(context.Background(), data); err != nil {
		t.Fatal(err)
	}
}

func score(o *Overlay, p peer.ID) float64 {
	s, _ := o.PeerScore(p)
	return s
}

// Ignore leaves a peer's score alone; Reject lowers it until the peer is
// graylisted and its further messages are dropped, while the ignored peer's
// messages still flow.
func TestScoringRejectsButNotIgnores(t *testing.T) {
	group := []byte("scoring")
	verdict := ValidatorFunc(func(_ peer.ID, _ []byte, data []byte) ValidationResult {
		switch data[0] {
		case 'i':
			return Ignore
		case 'r':
			return Reject
		}
		return Accept
	})
	h := newNode(t, "tcp", Config{Validator: verdict})
	ign := newNode(t, "tcp", Config{}) // accepts its own messages
	rej := newNode(t, "tcp", Config{})
	connect(t, ign, h)
	connect(t, rej, h)
	ih := join(t, h, group)
	join(t, ign, group)
	join(t, rej, group)
	waitTopicPeers(t, ign, group, 1)
	waitTopicPeers(t, rej, group, 1)
	for i := 0; i < 10; i++ {
		if err := ign.Publish(context.Background(), group, fmt.Appendf(nil, "i-other-branch-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		if err := rej.Publish(context.Background(), group, fmt.Appendf(nil, "r-garbage-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "validation of all 13", func() bool {
		st := h.GossipStats()
		return st.Ignored >= 10 && st.Rejected >= 3
	})
	waitFor(t, 10*time.Second, "the rejected peer graylisted", func() bool { return score(h, rej.ID()) < graylistThreshold })
	if s := score(h, ign.ID()); s < 0 {
		t.Fatalf("ignored peer's score %v, want >= 0", s)
	}
	if ih.count() != 0 {
		t.Fatalf("%d ignored or rejected messages delivered", ih.count())
	}
	if err := ign.Publish(context.Background(), group, []byte("a-from-ignored")); err != nil {
		t.Fatal(err)
	}
	if err := rej.Publish(context.Background(), group, []byte("a-from-rejected")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the ignored peer's good message", func() bool { return ih.has("a-from-ignored") })
	time.Sleep(500 * time.Millisecond)
	if ih.has("a-from-rejected") {
		t.Fatal("a graylisted peer's message was delivered")
	}
}

// Garbage on a group topic never reaches the caller's validator, is
// rejected (and scored), and the node keeps delivering honest traffic.
func TestGarbageOnGroupTopic(t *testing.T) {
	group := []byte("garbage")
	var calls atomic.Int32
	h := newNode(t, "tcp", Config{Validator: ValidatorFunc(func(peer.ID, []byte, []byte) ValidationResult {
		calls.Add(1)
		return Accept
	})})
	honest := newNode(t, "tcp", Config{})
	connect(t, honest, h)
	ih := join(t, h, group)
	join(t, honest, group)
	att := newAttacker(t, group, 1<<20)
	att.connect(t, h)
	waitFor(t, 10*time.Second, "attacker seen on topic", func() bool { return len(h.TopicPeers(group)) == 2 })

	wrongGroup, _ := encodeGossipFrame([]byte("another group"), []byte("payload"))
	futureVersion := append([]byte{2}, wrongGroup[1:]...)
	rng := rand.New(rand.NewPCG(1, 2))
	garbage := [][]byte{
		{0x00},
		{gossipFrameVersion},                          // truncated
		{gossipFrameVersion, 0x40},                    // varint cut
		{gossipFrameVersion, 0x01, 'g', 0x00},         // empty payload
		append(append([]byte(nil), wrongGroup...), 0), // trailing byte
		wrongGroup,                                    // valid frame, other group: a cross-topic replay
	}
	for i := 0; i < 20; i++ {
		b := make([]byte, 1+rng.IntN(200))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		garbage = append(garbage, b)
	}
	for _, g := range garbage {
		att.publish(t, g)
	}
	att.publish(t, futureVersion) // another version on a version-1 topic
	waitFor(t, 10*time.Second, "garbage validated", func() bool {
		st := h.GossipStats()
		// Once graylisted, the attacker's further RPCs are dropped unread,
		// so not every garbage message is counted.
		return st.Rejected >= 3 && score(h, att.h.ID()) < graylistThreshold
	})
	if n := calls.Load(); n != 0 {
		t.Fatalf("caller's validator saw %d garbage messages", n)
	}
	if ih.count() != 0 {
		t.Fatalf("%d garbage messages delivered", ih.count())
	}
	if err := honest.Publish(context.Background(), group, []byte("still works")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "honest delivery after garbage", func() bool { return ih.has("still works") })
	if s := score(h, honest.ID()); s < 0 {
		t.Fatalf("honest peer's score %v", s)
	}
}

// Oversized messages: an RPC over gossipsub's limit is dropped by
// gossipsub; a payload over the overlay's limit inside a small enough RPC
// is rejected by the overlay. The node keeps working.
func TestOversizedGossip(t *testing.T) {
	group := []byte("big")
	const limit = 1024
	h := newNode(t, "tcp", Config{Limits: Limits{MaxMessageSize: limit}})
	honest := newNode(t, "tcp", Config{Limits: Limits{MaxMessageSize: limit}})
	connect(t, honest, h)
	ih := join(t, h, group)
	join(t, honest, group)
	att := newAttacker(t, group, 1<<20)
	att.connect(t, h)
	waitFor(t, 10*time.Second, "attacker seen on topic", func() bool { return len(h.TopicPeers(group)) == 2 })

	over, _ := encodeGossipFrame(group, make([]byte, limit+1))
	att.publish(t, over)
	waitFor(t, 10*time.Second, "over-limit payload rejected", func() bool { return h.GossipStats().Rejected >= 1 })
	// Far over gossipsub's RPC limit: the victim's reader refuses the RPC
	// and resets the stream; nothing reaches validation.
	huge, _ := encodeGossipFrame(group, make([]byte, 100<<10))
	att.publish(t, huge)
	time.Sleep(200 * time.Millisecond)
	if err := honest.Publish(context.Background(), group, []byte("small")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "honest delivery", func() bool { return ih.has("small") })
	if ih.count() != 1 {
		t.Fatalf("%d messages delivered, want only the small one", ih.count())
	}
}

// A peer floods the topic with garbage while an honest peer publishes: the
// flooder is graylisted and every honest message arrives.
func TestFloodingPeer(t *testing.T) {
	group := []byte("flood")
	h := newNode(t, "tcp", Config{})
	honest := newNode(t, "tcp", Config{})
	connect(t, honest, h)
	ih := join(t, h, group)
	join(t, honest, group)
	att := newAttacker(t, group, 1<<20)
	att.connect(t, h)
	waitFor(t, 10*time.Second, "both peers on topic", func() bool { return len(h.TopicPeers(group)) == 2 })
	waitMesh(t, honest, group, 1)

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 5000; i++ {
			_ = att.topic.Publish(context.Background(), fmt.Appendf(nil, "garbage %d", i))
		}
	}()
	const honestN = 50
	for i := 0; i < honestN; i++ {
		if err := honest.Publish(context.Background(), group, fmt.Appendf(nil, "honest %d", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	wg.Wait()
	waitFor(t, 20*time.Second, "all honest messages", func() bool { return ih.count() == honestN })
	for i := 0; i < honestN; i++ {
		if !ih.has(fmt.Sprintf("honest %d", i)) {
			t.Fatalf("honest message %d lost", i)
		}
	}
	waitFor(t, 10*time.Second, "flooder graylisted", func() bool { return score(h, att.h.ID()) < graylistThreshold })
	st := h.GossipStats()
	t.Logf("flood: %+v", st)
}

// Garbage, oversized frames and a request flood on the sync protocol: the
// handler never sees the garbage, the peer is charged, and an honest peer
// is still served.
func TestSyncBadInput(t *testing.T) {
	var calls atomic.Int32
	h := newNode(t, "tcp", Config{
		Limits: Limits{MaxSyncRequest: 1024, RequestRate: 20, RequestBurst: 20},
		SyncHandler: SyncHandlerFunc(func(_ peer.ID, req []byte) ([]byte, error) {
			calls.Add(1)
			return append([]byte("re:"), req...), nil
		}),
	})
	bad := newNode(t, "tcp", Config{})
	good := newNode(t, "tcp", Config{})
	connect(t, bad, h)
	connect(t, good, h)

	raw := func(b []byte) error {
		s, err := bad.Host().NewStream(context.Background(), h.ID(), SyncProtocol)
		if err != nil {
			return err
		}
		defer s.Close()
		s.Write(b)
		s.CloseWrite()
		_, err = readFrame(bufio.NewReader(s), 1<<20)
		return err
	}
	inputs := [][]byte{
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // varint overflow
		{0x80, 0x80, 0x80, 0x80, 0x04},                                     // 1 GiB announced
		{0x05, 'a', 'b'},                                                   // body cut short
		{},                                                                 // nothing
	}
	for i, in := range inputs {
		if err := raw(in); err == nil {
			t.Fatalf("garbage %d answered", i)
		}
	}
	if n := calls.Load(); n != 0 {
		t.Fatalf("handler ran %d times on garbage", n)
	}
	if s := h.pen.appScore(bad.ID()); s > -4*penaltyMalformed+1 {
		t.Fatalf("bad peer's penalty score %v, want <= %v", s, -4*penaltyMalformed)
	}
	// Over the client's own limit: refused before sending.
	if _, err := bad.Sync(context.Background(), h.ID(), make([]byte, 1<<20)); err == nil {
		t.Fatal("oversized request sent")
	}
	// Flood: far more than the burst; most are refused, the node is fine.
	// At most burst + rate x elapsed requests can pass the rate limit
	// (fewer: the resource manager admits 4 concurrent streams per peer).
	var ok atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := bad.Sync(context.Background(), h.ID(), []byte("x")); err == nil {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	allowed := 20 + int32(20*time.Since(start).Seconds()) + 1
	if n := ok.Load(); n > allowed || n == 0 {
		t.Fatalf("%d of 200 flood requests served, want between 1 and %d", n, allowed)
	}
	resp, err := good.Sync(context.Background(), h.ID(), []byte("hello"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp) != "re:hello" {
		t.Fatalf("response %q", resp)
	}
	t.Logf("flood: %d of 200 served; bad peer app score %.0f", ok.Load(), h.pen.appScore(bad.ID()))
}
