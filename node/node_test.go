package node_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mlsnode/mlsnode/mls/suite"
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

	// Remove: node 0 removes node 3, who learns it.
	if err := nodes[0].Remove(ctx, gid, nodes[3].ID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[:3], gid, 3)
	waitGone(t, nodes[3], gid)
	// And node 1 removes node 2.
	if err := nodes[1].Remove(ctx, gid, nodes[2].ID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[:2], gid, 2)
	waitGone(t, nodes[2], gid)
	st := nodes[1].Status()
	var removed []string
	for _, g := range st.Groups {
		for _, c := range g.Changes {
			if c.Kind == "removed" {
				removed = append(removed, c.Peer+" by "+c.Actor)
			}
		}
	}
	if len(removed) != 2 || removed[0] != nodes[3].ID().String()+" by "+nodes[0].ID().String() ||
		removed[1] != nodes[2].ID().String()+" by "+nodes[1].ID().String() {
		t.Fatalf("membership history: %v", removed)
	}
}

func waitMembers(t *testing.T, nodes []*node.Node, gid string, want int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok := true
		for _, nd := range nodes {
			ms, err := nd.Members(gid)
			if err != nil || len(ms) != want {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("members did not reach %d", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitGone(t *testing.T, nd *node.Node, gid string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := nd.Members(gid); errors.Is(err, node.ErrUnknownGroup) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the removed member still has the group")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestLeave: a member proposes its own removal and another member (the
// lowest other leaf) commits it.
func TestLeave(t *testing.T) {
	nodes, gid := benchGroup(t, 3)
	if err := nodes[2].Leave(context.Background(), gid); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, nodes[:2], gid, 2)
	waitGone(t, nodes[2], gid)
}

// TestRestartKeepsSentMessages: a message sent while cut off from everyone
// is persisted (sent log) before it is published; after a restart the
// node serves it to the other member, which gets it exactly once.
func TestRestartKeepsSentMessages(t *testing.T) {
	ctx := context.Background()
	open := opener(t)
	a, b := open("a"), open("b")
	defer b.Close()
	if err := b.Connect(ctx, a.FullAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	gid, err := a.CreateGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Invite(ctx, gid, b.ID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []*node.Node{a, b}, gid, 2)
	sub := b.Subscribe(256)
	defer sub.Close()

	a.Block(b.ID())
	id, err := a.Send(ctx, gid, []byte("sent while cut off"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = open("a")
	defer a.Close()
	if err := a.Connect(ctx, b.FullAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	e := waitMessage(t, sub, id, 15*time.Second)
	if string(e.Data) != "sent while cut off" {
		t.Fatalf("delivered %q", e.Data)
	}
	time.Sleep(500 * time.Millisecond)
	msgs, err := b.Messages(gid)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		if m.MessageID == id {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("message delivered %d times", n)
	}
}

// TestConcurrentUse drives three nodes from many goroutines at once
// (sends, status, members, history, subscriptions); run it with -race.
// Every message must reach every other member exactly once.
func TestConcurrentUse(t *testing.T) {
	nodes, gid := benchGroup(t, 3)
	ctx := context.Background()
	const senders, each = 3, 8
	var mu sync.Mutex
	sent := map[string]int{} // message id -> sender index
	var wg sync.WaitGroup
	for i, nd := range nodes {
		for s := 0; s < senders; s++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < each; k++ {
					id, err := nd.Send(ctx, gid, []byte(fmt.Sprintf("%d/%d/%d", i, s, k)))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					sent[id] = i
					mu.Unlock()
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < 20; k++ {
				nd.Status()
				if _, err := nd.Members(gid); err != nil {
					t.Error(err)
				}
				if _, err := nd.Messages(gid); err != nil {
					t.Error(err)
				}
				sub := nd.Subscribe(1)
				sub.Close()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(20 * time.Second)
	for {
		missing, dup := 0, 0
		for r, nd := range nodes {
			msgs, err := nd.Messages(gid)
			if err != nil {
				t.Fatal(err)
			}
			count := map[string]int{}
			for _, m := range msgs {
				count[m.MessageID]++
			}
			for id, from := range sent {
				if from != r && count[id] == 0 {
					missing++
				}
				if count[id] > 1 {
					dup++
				}
			}
		}
		if dup > 0 {
			t.Fatalf("%d messages delivered twice", dup)
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries missing of %d", missing, len(sent)*(len(nodes)-1))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(sent) != len(nodes)*senders*each {
		t.Fatalf("%d message ids for %d sends", len(sent), len(nodes)*senders*each)
	}
}

// opener returns a function that starts (or restarts) a named node with
// an on-disk store in a directory of the test.
func opener(t *testing.T) func(name string) *node.Node {
	dir := t.TempDir()
	return func(name string) *node.Node {
		t.Helper()
		nd, err := node.New(context.Background(),
			node.WithDataDir(filepath.Join(dir, name)),
			node.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
			node.WithAutoJoin(true),
			node.WithTick(50*time.Millisecond),
			node.WithHeartbeat(200*time.Millisecond),
			node.WithLogger(testLogger(name)),
		)
		if err != nil {
			t.Fatal(err)
		}
		return nd
	}
}

// TestRemovedGroupNotResumed: a member that was removed keeps no live
// group after a restart (its stored head is an epoch it is no longer in).
func TestRemovedGroupNotResumed(t *testing.T) {
	ctx := context.Background()
	open := opener(t)
	a, b := open("a"), open("b")
	defer a.Close()
	if err := b.Connect(ctx, a.FullAddrs()[0]); err != nil {
		t.Fatal(err)
	}
	gid, err := a.CreateGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Invite(ctx, gid, b.ID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []*node.Node{a, b}, gid, 2)
	if err := a.Remove(ctx, gid, b.ID()); err != nil {
		t.Fatal(err)
	}
	waitGone(t, b, gid)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	b = open("b")
	defer b.Close()
	if gs := b.Status().Groups; len(gs) != 0 {
		t.Fatalf("removed member resumed %+v", gs)
	}
}

// TestManualTicks: with WithManualTicks the ordering layer's clock moves
// only on Node.Tick. A Leave proposal is committed by the designated
// member 3 ticks after it arrived: without ticks it stays pending, after
// a few Ticks it is committed.
func TestManualTicks(t *testing.T) {
	nodes, gid := benchGroup(t, 3, node.WithManualTicks())
	ctx := context.Background()
	if err := nodes[2].Leave(ctx, gid); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // 20 ticks of the nodes' 50ms, had they ticked
	for _, nd := range nodes[:2] {
		if ms, err := nd.Members(gid); err != nil || len(ms) != 3 {
			t.Fatalf("without ticks the Leave was committed: %d members, %v", len(ms), err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		for _, nd := range nodes {
			if err := nd.Tick(ctx); err != nil {
				t.Fatal(err)
			}
		}
		ms0, _ := nodes[0].Members(gid)
		ms1, _ := nodes[1].Members(gid)
		if len(ms0) == 2 && len(ms1) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Leave was not committed under manual ticks: %d and %d members", len(ms0), len(ms1))
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitGone(t, nodes[2], gid)
}

// TestGroupInEverySuite: nodes run groups in every cipher suite, not only
// those whose signature scheme is the libp2p identity's (Ed25519). In the
// others each member's leaf carries a derived key vouched for by its
// identity key, and Members still names the right peer.
func TestGroupInEverySuite(t *testing.T) {
	for _, id := range suite.All() {
		if id == node.DefaultSuite {
			continue // TestGroupInProcess
		}
		t.Run(fmt.Sprint(id), func(t *testing.T) {
			nodes, gid := benchGroup(t, 2, node.WithSuite(id))
			ctx := context.Background()
			subs := []*node.Subscription{nodes[0].Subscribe(64), nodes[1].Subscribe(64)}
			for _, s := range subs {
				defer s.Close()
			}
			for from := range nodes {
				msg, err := nodes[from].Send(ctx, gid, []byte("in "+id.String()))
				if err != nil {
					t.Fatal(err)
				}
				e := waitMessage(t, subs[1-from], msg, 20*time.Second)
				if string(e.Data) != "in "+id.String() || e.Peer != nodes[from].ID().String() {
					t.Fatalf("delivered %+v", e)
				}
			}
			ms, err := nodes[1].Members(gid)
			if err != nil || len(ms) != 2 {
				t.Fatalf("members %v %v", ms, err)
			}
			for _, m := range ms {
				if m.Peer != nodes[m.Leaf].ID().String() {
					t.Fatalf("leaf %d named %s, want %s", m.Leaf, m.Peer, nodes[m.Leaf].ID())
				}
			}
		})
	}
}

// TestRestartRestoresEpochTree: a restarted node comes back with the
// ordering layer's whole epoch tree (retained parents and their commits),
// not just its head, and keeps working in the group.
func TestRestartRestoresEpochTree(t *testing.T) {
	ctx := context.Background()
	open := opener(t)
	a, b, c := open("a"), open("b"), open("c")
	defer b.Close()
	defer c.Close()
	for _, nd := range []*node.Node{b, c} {
		if err := nd.Connect(ctx, a.FullAddrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	gid, err := a.CreateGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Invite(ctx, gid, b.ID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []*node.Node{a, b}, gid, 2)
	if err := a.Invite(ctx, gid, c.ID()); err != nil {
		t.Fatal(err)
	}
	waitMembers(t, []*node.Node{a, b, c}, gid, 3)
	before := groupStatus(t, a, gid)
	if before.RetainedEpochs < 2 {
		t.Fatalf("only %d retained epochs before the restart; the test needs a tree", before.RetainedEpochs)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	a = open("a")
	defer a.Close()
	after := groupStatus(t, a, gid)
	if after.EpochID != before.EpochID || after.RetainedEpochs != before.RetainedEpochs {
		t.Fatalf("after the restart: head %s with %d retained epochs, before: %s with %d",
			after.EpochID, after.RetainedEpochs, before.EpochID, before.RetainedEpochs)
	}
	for _, nd := range []*node.Node{b, c} {
		if err := a.Connect(ctx, nd.FullAddrs()[0]); err != nil {
			t.Fatal(err)
		}
	}
	sub := c.Subscribe(64)
	defer sub.Close()
	id, err := a.Send(ctx, gid, []byte("after restart"))
	if err != nil {
		t.Fatal(err)
	}
	waitMessage(t, sub, id, 15*time.Second)
}

func groupStatus(t *testing.T, nd *node.Node, gid string) node.GroupStatus {
	t.Helper()
	for _, g := range nd.Status().Groups {
		if g.Group == gid {
			return g
		}
	}
	t.Fatalf("group %s not in the status", gid)
	return node.GroupStatus{}
}
