package overlay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestIdentityRoundTrip(t *testing.T) {
	priv, err := GenerateIdentity(testRand())
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalIdentity(priv)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnmarshalIdentity(b)
	if err != nil {
		t.Fatal(err)
	}
	if !back.Equals(priv) {
		t.Fatal("identity key changed in a round trip")
	}
	id1, _ := IdentityPeerID(priv)
	id2, _ := IdentityPeerID(back)
	if id1 != id2 {
		t.Fatal("peer id changed in a round trip")
	}
	if _, err := UnmarshalIdentity([]byte("not a key")); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage identity: got %v, want ErrMalformed", err)
	}
	// The host really takes the identity.
	o := newNode(t, "tcp", Config{Identity: back})
	if o.ID() != id1 {
		t.Fatalf("host id %s, want %s", o.ID(), id1)
	}
}

// A line a-b-c over TCP: c gets a's message through b's relay, nobody gets
// their own, and the validator sees the right group and payload.
func TestGossipRelayOverTCP(t *testing.T) {
	group := []byte("group-1")
	var seen atomic.Int32
	check := ValidatorFunc(func(_ peer.ID, g, data []byte) ValidationResult {
		if !bytes.Equal(g, group) {
			t.Errorf("validator got group %q", g)
		}
		seen.Add(1)
		return Accept
	})
	a := newNode(t, "tcp", Config{Validator: check})
	b := newNode(t, "tcp", Config{Validator: check})
	c := newNode(t, "tcp", Config{Validator: check})
	connect(t, a, b)
	connect(t, b, c)
	ia, ib, ic := join(t, a, group), join(t, b, group), join(t, c, group)
	waitTopicPeers(t, a, group, 1)
	waitMesh(t, b, group, 2)
	waitMesh(t, c, group, 1)
	for i := 0; i < 5; i++ {
		if err := a.Publish(context.Background(), group, fmt.Appendf(nil, "hello %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "delivery at b and c", func() bool { return ib.count() == 5 && ic.count() == 5 })
	if ia.count() != 0 {
		t.Fatalf("publisher got %d of its own messages", ia.count())
	}
	for i := 0; i < 5; i++ {
		if !ic.has(fmt.Sprintf("hello %d", i)) {
			t.Fatalf("c is missing message %d", i)
		}
	}
	m := ic.msgs[0]
	if m.From != b.ID() {
		t.Fatalf("c's message came from %s, want relay b %s", m.From, b.ID())
	}
	if seen.Load() < 15 {
		t.Fatalf("validator ran %d times, want >= 15 (5 local + 5 at b + 5 at c)", seen.Load())
	}
	// The same payload again is the same message (content-hash id): not
	// delivered twice.
	if err := a.Publish(context.Background(), group, []byte("hello 0")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if ib.count() != 5 {
		t.Fatalf("b got %d messages after a duplicate publish, want 5", ib.count())
	}
	// Leaving stops delivery.
	if err := c.LeaveGroup(group); err != nil {
		t.Fatal(err)
	}
	if err := c.LeaveGroup(group); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("second leave: %v", err)
	}
	if err := c.Publish(context.Background(), group, []byte("x")); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("publish after leave: %v", err)
	}
}

func TestGossipOverQUIC(t *testing.T) {
	group := []byte("quic-group")
	a := newNode(t, "quic", Config{})
	b := newNode(t, "quic", Config{})
	connect(t, a, b)
	for _, c := range a.Host().Network().ConnsToPeer(b.ID()) {
		if !strings.Contains(c.RemoteMultiaddr().String(), "quic-v1") {
			t.Fatalf("connection over %s, want QUIC", c.RemoteMultiaddr())
		}
	}
	join(t, a, group)
	ib := join(t, b, group)
	waitTopicPeers(t, a, group, 1)
	if err := a.Publish(context.Background(), group, []byte("over quic")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "delivery over QUIC", func() bool { return ib.has("over quic") })
}

func TestPublishChecks(t *testing.T) {
	group := []byte("g")
	a := newNode(t, "tcp", Config{
		Limits:    Limits{MaxMessageSize: 100},
		Validator: ValidatorFunc(func(peer.ID, []byte, []byte) ValidationResult { return Reject }),
	})
	if err := a.Publish(context.Background(), group, []byte("x")); !errors.Is(err, ErrNotJoined) {
		t.Fatalf("publish before join: %v", err)
	}
	join(t, a, group)
	if err := a.JoinGroup(group, func(Message) {}); err == nil {
		t.Fatal("second join succeeded")
	}
	if err := a.JoinGroup(nil, func(Message) {}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("empty group id: %v", err)
	}
	if err := a.Publish(context.Background(), group, make([]byte, 101)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized publish: %v", err)
	}
	if err := a.Publish(context.Background(), group, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("empty publish: %v", err)
	}
	// The node's own validator judges its own messages too.
	if err := a.Publish(context.Background(), group, []byte("x")); !errors.Is(err, ErrRefused) {
		t.Fatalf("publish of a message the validator rejects: %v", err)
	}
}
