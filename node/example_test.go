package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mlsnode/mlsnode/node"
)

// Two nodes on loopback TCP with on-disk stores: one creates a group and
// invites the other by peer id; a message goes from one to the other.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "mlsnode-example-")
	defer os.RemoveAll(dir)
	start := func(name string) *node.Node {
		n, err := node.New(ctx,
			node.WithDataDir(filepath.Join(dir, name)),
			node.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
			node.WithAutoJoin(true),
		)
		if err != nil {
			panic(err)
		}
		return n
	}
	alice, bob := start("alice"), start("bob")
	defer alice.Close()
	defer bob.Close()
	if err := bob.Connect(ctx, alice.FullAddrs()[0]); err != nil {
		panic(err)
	}
	sub := bob.Subscribe(0)
	defer sub.Close()

	group, _ := alice.CreateGroup(ctx)
	if err := alice.Invite(ctx, group, bob.ID()); err != nil {
		panic(err)
	}
	for e := range sub.C { // bob joins by itself (WithAutoJoin)
		if e.Kind == node.EventJoined {
			break
		}
	}
	id, _ := alice.Send(ctx, group, []byte("hello bob"))
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-sub.C:
			if e.Kind == node.EventMessage && e.MessageID == id {
				fmt.Printf("%s from alice: %v\n", e.Data, e.Peer == alice.ID().String())
				return
			}
		case <-timeout:
			fmt.Println("not delivered")
			return
		}
	}
	// Output: hello bob from alice: true
}
