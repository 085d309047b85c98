package node_test

import (
	"context"
	"testing"
	"time"

	"github.com/mlsnode/mlsnode/node"
)

func waitMessage(t testing.TB, sub *node.Subscription, id string, limit time.Duration) node.Event {
	t.Helper()
	timeout := time.After(limit)
	for {
		select {
		case e := <-sub.C:
			if e.Kind == node.EventMessage && e.MessageID == id {
				return e
			}
		case <-timeout:
			t.Fatalf("message %s not delivered in %v", id, limit)
		}
	}
}

func TestGroupInProcess(t *testing.T) {
	nodes, gid := benchGroup(t, 4)
	ctx := context.Background()
	subs := make([]*node.Subscription, len(nodes))
	for i, nd := range nodes {
		subs[i] = nd.Subscribe(256)
		defer subs[i].Close()
	}
	for from := range nodes {
		id, err := nodes[from].Send(ctx, gid, []byte("hi"))
		if err != nil {
			t.Fatal(err)
		}
		for r := range nodes {
			if r != from {
				e := waitMessage(t, subs[r], id, 10*time.Second)
				if string(e.Data) != "hi" || e.Peer != nodes[from].ID().String() {
					t.Fatalf("delivered %+v", e)
				}
			}
		}
	}
	ms, err := nodes[2].Members(gid)
	if err != nil || len(ms) != 4 {
		t.Fatalf("members %v %v", ms, err)
	}
}
