package overlay

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
)

// Block and Unblock on real hosts, as the control API does for partition
// tests: while blocked nothing flows; after Unblock the overlay dials again
// by itself and group traffic flows both ways (gossipsub has re-learnt the
// subscriptions over the new connection).
func TestBlockUnblockReconnects(t *testing.T) {
	group := []byte("reconnect")
	a := newNode(t, "tcp", Config{})
	b := newNode(t, "tcp", Config{})
	connect(t, a, b)
	ia, ib := join(t, a, group), join(t, b, group)
	waitTopicPeers(t, a, group, 1)
	waitTopicPeers(t, b, group, 1)
	for round := 0; round < 5; round++ {
		a.Block(b.ID())
		waitFor(t, 5*time.Second, "disconnect", func() bool {
			return a.Host().Network().Connectedness(b.ID()) != network.Connected
		})
		during := fmt.Sprintf("during %d", round)
		if err := b.Publish(context.Background(), group, []byte(during)); err != nil {
			t.Fatal(err)
		}
		a.Unblock(b.ID())
		waitFor(t, 10*time.Second, "re-dial after unblock", func() bool {
			return a.Host().Network().Connectedness(b.ID()) == network.Connected
		})
		waitTopicPeers(t, a, group, 1)
		waitTopicPeers(t, b, group, 1)
		after := fmt.Sprintf("after %d", round)
		if err := a.Publish(context.Background(), group, []byte(after+" a")); err != nil {
			t.Fatal(err)
		}
		if err := b.Publish(context.Background(), group, []byte(after+" b")); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 10*time.Second, "traffic both ways after unblock", func() bool {
			return ib.has(after+" a") && ia.has(after+" b")
		})
		if ia.has(during) {
			t.Fatalf("round %d: a message crossed the block", round)
		}
	}
	t.Logf("gossipsub reconnect repairs: a %d, b %d", a.GossipStats().Repairs, b.GossipStats().Repairs)
}
