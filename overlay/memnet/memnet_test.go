package memnet_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/overlay"
	"github.com/mlsnode/mlsnode/overlay/memnet"
)

const heartbeat = 50 * time.Millisecond

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type inbox struct {
	mu  sync.Mutex
	got map[string]bool
}

func (b *inbox) deliver(m overlay.Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got[string(m.Data)] = true
}

func (b *inbox) has(s string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.got[s]
}

func newNet(t testing.TB, n int, opts memnet.Options, group []byte) (*memnet.Net, []*inbox) {
	t.Helper()
	nt, err := memnet.New(context.Background(), n, func(int) overlay.Config {
		return overlay.Config{
			HeartbeatInterval: heartbeat,
			SyncHandler: overlay.SyncHandlerFunc(func(_ peer.ID, req []byte) ([]byte, error) {
				return req, nil
			}),
		}
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nt.Close() })
	boxes := make([]*inbox, n)
	for i, o := range nt.Overlays() {
		boxes[i] = &inbox{got: map[string]bool{}}
		if err := o.JoinGroup(group, boxes[i].deliver); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range nt.Overlays() {
		want := len(o.Peers())
		waitFor(t, 10*time.Second, "topic peers", func() bool { return len(o.TopicPeers(group)) >= want })
		waitFor(t, 10*time.Second, "mesh", func() bool { return len(o.MeshPeers(group)) >= 1 })
	}
	return nt, boxes
}

func TestCutAndHeal(t *testing.T) {
	group := []byte("partition")
	nt, in := newNet(t, 4, memnet.Options{Topology: memnet.Full}, group)
	ctx := context.Background()
	if err := nt.Partition([]int{0, 1}); err != nil {
		t.Fatal(err)
	}
	if !nt.IsCut(0, 2) || nt.IsCut(0, 1) {
		t.Fatal("IsCut")
	}
	if err := nt.Overlay(0).Publish(ctx, group, []byte("left")); err != nil {
		t.Fatal(err)
	}
	if err := nt.Overlay(3).Publish(ctx, group, []byte("right")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "delivery inside each side", func() bool { return in[1].has("left") && in[2].has("right") })
	time.Sleep(10 * heartbeat) // gossip would have carried it by now
	if in[2].has("left") || in[3].has("left") || in[0].has("right") || in[1].has("right") {
		t.Fatal("a message crossed the cut")
	}
	if _, err := nt.Overlay(0).Sync(ctx, nt.Overlay(2).ID(), []byte("x")); !errors.Is(err, overlay.ErrBlocked) {
		t.Fatalf("sync across the cut: %v", err)
	}
	if err := nt.Connect(0, 2); !errors.Is(err, overlay.ErrBlocked) {
		t.Fatalf("connect across the cut: %v", err)
	}

	if err := nt.HealAll(); err != nil {
		t.Fatal(err)
	}
	if nt.IsCut(0, 2) {
		t.Fatal("still cut after HealAll")
	}
	// The connections stayed up, so every node still knows every other on
	// the topic; the mesh may take a prune backoff to re-form, but flood
	// publish reaches every topic peer at once.
	for _, o := range nt.Overlays() {
		if n := len(o.TopicPeers(group)); n != 3 {
			t.Fatalf("%d topic peers after heal", n)
		}
	}
	if err := nt.Overlay(0).Publish(ctx, group, []byte("healed")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "delivery everywhere after heal", func() bool {
		return in[1].has("healed") && in[2].has("healed") && in[3].has("healed")
	})
	if resp, err := nt.Overlay(0).Sync(ctx, nt.Overlay(2).ID(), []byte("x")); err != nil || string(resp) != "x" {
		t.Fatalf("sync after heal: %q, %v", resp, err)
	}
}

// The guard alone: the connection stays up (as for a message in flight
// when the cut happens, or under -race scheduling) and only the receiver
// blocks the sender; its RPC inspector must drop what arrives. Unblocking
// lets traffic through again on the same connection.
func TestBlockDropsInFlight(t *testing.T) {
	group := []byte("guard")
	nt, in := newNet(t, 2, memnet.Options{Topology: memnet.Full}, group)
	o0, o1 := nt.Overlay(0), nt.Overlay(1)
	o0.Gater().Block(o1.ID()) // the list only: connection and link stay up
	if err := o1.Publish(context.Background(), group, []byte("blocked")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(10 * heartbeat) // several gossip rounds too
	if in[0].has("blocked") {
		t.Fatal("a blocked peer's message was delivered")
	}
	if len(o0.Peers()) != 1 {
		t.Fatal("the test needs the connection up")
	}
	o0.Gater().Unblock(o1.ID())
	if err := o1.Publish(context.Background(), group, []byte("unblocked")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "delivery after unblock", func() bool { return in[0].has("unblocked") })
}

func TestSparseTopologyDelivers(t *testing.T) {
	group := []byte("sparse")
	nt, in := newNet(t, 20, memnet.Options{Topology: memnet.Sparse, Degree: 4, Seed: 7}, group)
	if err := nt.Overlay(5).Publish(context.Background(), group, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "delivery to all 19", func() bool {
		for i, b := range in {
			if i != 5 && !b.has("hi") {
				return false
			}
		}
		return true
	})
	if _, err := memnet.New(context.Background(), 0, nil, memnet.Options{}); err == nil {
		t.Fatal("a net of 0 peers")
	}
}
