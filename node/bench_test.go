package node_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/node"
)

// benchGroup starts n nodes on loopback TCP, each with an on-disk store,
// and puts them in one group. Every node is connected to the creator
// (which fetches their KeyPackages) and to up to three neighbours, so
// gossip has to relay.
func benchGroup(tb testing.TB, n int, extra ...node.Option) ([]*node.Node, string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	// Not tb.TempDir: a benchmark's group outlives the first b.N = 1 run.
	dir, err := os.MkdirTemp("", "mlsnode-bench-")
	if err != nil {
		tb.Fatal(err)
	}
	benchDirs = append(benchDirs, dir)
	if t, ok := tb.(*testing.T); ok {
		// Registered first, so it runs after the nodes' Close.
		t.Cleanup(func() { os.RemoveAll(dir) })
	}
	var nodes []*node.Node
	for i := 0; i < n; i++ {
		opts := append([]node.Option{
			node.WithDataDir(filepath.Join(dir, fmt.Sprint(i))),
			node.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
			node.WithAutoJoin(true),
			node.WithTick(50 * time.Millisecond),
			node.WithHeartbeat(200 * time.Millisecond),
			node.WithLogger(testLogger(fmt.Sprint(i))),
		}, extra...)
		nd, err := node.New(ctx, opts...)
		if err != nil {
			tb.Fatal(err)
		}
		if t, ok := tb.(*testing.T); ok {
			t.Cleanup(func() { nd.Close() })
		}
		nodes = append(nodes, nd)
		for j := max(0, i-3); j < i; j++ {
			if err := nd.Connect(ctx, nodes[j].FullAddrs()[0]); err != nil {
				tb.Fatal(err)
			}
		}
		if i > 3 {
			if err := nd.Connect(ctx, nodes[0].FullAddrs()[0]); err != nil {
				tb.Fatal(err)
			}
		}
	}
	gid, err := nodes[0].CreateGroup(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var peers []peer.ID
	for _, nd := range nodes[1:] {
		peers = append(peers, nd.ID())
	}
	if err := nodes[0].InviteAll(ctx, gid, peers...); err != nil {
		tb.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		joined := 0
		for _, nd := range nodes {
			for _, g := range nd.Status().Groups {
				if g.Group == gid && g.Members == n {
					joined++
				}
			}
		}
		if joined == n {
			break
		}
		if time.Now().After(deadline) {
			tb.Fatalf("only %d of %d nodes joined", joined, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Let gossipsub's mesh form before measuring.
	time.Sleep(time.Second)
	return nodes, gid
}

// testLogger logs to stderr when MLSNODE_TEST_LOG is set.
func testLogger(name string) *slog.Logger {
	if os.Getenv("MLSNODE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSendToDelivery measures, on real gossipsub over loopback TCP
// with on-disk stores, the time from Send on one member to delivery on
// every other member (ns/op: until the last one), the per-delivery
// latency quantiles, and the CPU time of the whole process per delivered
// message (all nodes run in this process: sealing, relaying, opening,
// persisting).
//
// The group is built once per size and kept across the runs the testing
// package makes (it always runs a benchmark with b.N = 1 first), then
// closed before the next size starts so that its background work does not
// count there. Settings: tick 100ms (the daemon's default), a beacon every
// 10 ticks (1 s), gossipsub heartbeat 200ms.
func BenchmarkSendToDelivery(b *testing.B) {
	for _, n := range []int{10, 50} {
		var nodes []*node.Node
		var gid string
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			if nodes == nil {
				nodes, gid = benchGroup(b, n, node.WithTick(100*time.Millisecond), node.WithBeaconTicks(10))
			}
			subs := make([]*node.Subscription, n)
			for i, nd := range nodes {
				subs[i] = nd.Subscribe(4096)
				defer subs[i].Close()
			}
			var lat []time.Duration
			ctx := context.Background()
			// The group's background work (beacons every few ticks, gossip
			// heartbeats) costs CPU with no traffic at all: idle-cpu-% is
			// measured over three seconds before the runs, as context for
			// cpu-µs/delivery (which includes it). On a shared machine it
			// is noisy, so it is not subtracted.
			time.Sleep(2 * time.Second) // joins, catch-up and mesh settle first
			idle0, idleStart := cpuTime(), time.Now()
			time.Sleep(3 * time.Second)
			idleRate := float64(cpuTime()-idle0) / float64(time.Since(idleStart))
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				from := i % n
				start := time.Now()
				id, err := nodes[from].Send(ctx, gid, []byte(fmt.Sprintf("message %d", i)))
				if err != nil {
					b.Fatal(err)
				}
				for r, sub := range subs {
					if r == from {
						continue
					}
					timeout := time.After(30 * time.Second)
				wait:
					for {
						select {
						case e := <-sub.C:
							if e.Kind == node.EventMessage && e.MessageID == id {
								lat = append(lat, e.Time.Sub(start))
								break wait
							}
						case <-timeout:
							b.Fatalf("member %d did not deliver message %d", r, i)
						}
					}
				}
			}
			cpu := cpuTime() - cpu0
			b.StopTimer()
			deliveries := len(lat)
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			b.ReportMetric(float64(cpu.Microseconds())/float64(deliveries), "cpu-µs/delivery")
			b.ReportMetric(idleRate*100, "idle-cpu-%")
		})
		for _, nd := range nodes {
			nd.Close()
		}
	}
	for _, d := range benchDirs {
		os.RemoveAll(d)
	}
}

var benchDirs []string
