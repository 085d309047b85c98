package overlay

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"
)

// BenchmarkGossipLatencyTCP: publish on one node, delivery at all others,
// real hosts on loopback TCP (noise, yamux), a ring plus random chords
// (degree about 6), 1 KiB payloads, one message in flight at a time,
// publishers rotating. The figure is the overlay's share of the node's
// Send-to-delivery path.
//
//	go test ./overlay -run '^$' -bench GossipLatencyTCP -benchtime 200x
func BenchmarkGossipLatencyTCP(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			group := []byte("bench")
			var mu sync.Mutex
			var cur uint64
			var start time.Time
			var got int
			var maxD, sumD time.Duration
			var done chan struct{}
			deliver := func(m Message) {
				seq := binary.BigEndian.Uint64(m.Data)
				mu.Lock()
				defer mu.Unlock()
				if seq != cur || got >= n-1 {
					return
				}
				d := time.Since(start)
				got++
				sumD += d
				maxD = max(maxD, d)
				if got == n-1 {
					close(done)
				}
			}
			nodes := make([]*Overlay, n)
			for i := range nodes {
				nodes[i] = newNode(b, "tcp", Config{})
			}
			rng := rand.New(rand.NewPCG(1, 2))
			for i := range nodes {
				connect(b, nodes[i], nodes[(i+1)%n])
				for k := 0; k < 2; k++ {
					if j := rng.IntN(n); j != i {
						connect(b, nodes[i], nodes[j])
					}
				}
			}
			for _, o := range nodes {
				if err := o.JoinGroup(group, deliver); err != nil {
					b.Fatal(err)
				}
			}
			for _, o := range nodes {
				want := len(o.Peers())
				waitFor(b, 20*time.Second, "topic peers", func() bool { return len(o.TopicPeers(group)) >= want })
				waitFor(b, 20*time.Second, "mesh", func() bool { return len(o.MeshPeers(group)) >= min(want, 4) })
			}
			var alls, means []time.Duration
			payload := make([]byte, 1024)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mu.Lock()
				cur, start, got, maxD, sumD = uint64(i+1), time.Now(), 0, 0, 0
				done = make(chan struct{})
				ch := done
				mu.Unlock()
				binary.BigEndian.PutUint64(payload, uint64(i+1))
				if err := nodes[i%n].Publish(context.Background(), group, payload); err != nil {
					b.Fatal(err)
				}
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
					b.Fatalf("message %d reached %d of %d peers in 10s", i+1, got, n-1)
				}
				mu.Lock()
				alls = append(alls, maxD)
				means = append(means, sumD/time.Duration(got))
				mu.Unlock()
			}
			b.StopTimer()
			pct := func(ds []time.Duration, q float64) float64 {
				sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
				return float64(ds[int(q*float64(len(ds)-1))]) / float64(time.Millisecond)
			}
			b.ReportMetric(pct(alls, 0.5), "ms-all-p50")
			b.ReportMetric(pct(alls, 0.99), "ms-all-p99")
			b.ReportMetric(pct(means, 0.5), "ms-mean-p50")
		})
	}
}

// BenchmarkValidatePath: the overlay's own per-message work at every hop
// (size check, frame decode, group comparison) before the caller's
// validator, for payload sizes from a beacon to a large commit.
//
//	go test ./overlay -run '^$' -bench ValidatePath
func BenchmarkValidatePath(b *testing.B) {
	group := []byte("0123456789abcdef0123456789abcdef")
	for _, size := range []int{100, 1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("payload=%d", size), func(b *testing.B) {
			frame, err := encodeGossipFrame(group, make([]byte, size))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(frame)))
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				f, err := decodeGossipFrame(frame)
				if err != nil || len(f.Group) != len(group) {
					b.Fatal(err)
				}
			}
		})
	}
}
