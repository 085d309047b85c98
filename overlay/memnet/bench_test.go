package memnet_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mlsnode/mlsnode/overlay"
	"github.com/mlsnode/mlsnode/overlay/memnet"
)

// latencyProbe times one message at a time from Publish to delivery at
// every other peer.
type latencyProbe struct {
	mu      sync.Mutex
	seq     uint64
	start   time.Time
	want    int
	got     int
	sum     time.Duration
	max     time.Duration
	done    chan struct{}
	allMax  []time.Duration
	allMean []time.Duration
}

func (p *latencyProbe) deliver(m overlay.Message) {
	if len(m.Data) < 8 {
		return
	}
	seq := binary.BigEndian.Uint64(m.Data)
	p.mu.Lock()
	defer p.mu.Unlock()
	if seq != p.seq || p.got >= p.want {
		return
	}
	d := time.Since(p.start)
	p.got++
	p.sum += d
	if d > p.max {
		p.max = d
	}
	if p.got == p.want {
		close(p.done)
	}
}

func (p *latencyProbe) begin(seq uint64, want int) chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seq, p.start, p.want, p.got, p.sum, p.max = seq, time.Now(), want, 0, 0, 0
	p.done = make(chan struct{})
	return p.done
}

func (p *latencyProbe) end() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allMax = append(p.allMax, p.max)
	p.allMean = append(p.allMean, p.sum/time.Duration(p.got))
}

func percentile(ds []time.Duration, q float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// BenchmarkGossipLatency: publish on one peer, delivery at all others, over
// real gossipsub on libp2p's in-memory network (no link latency: this is
// the software's own cost), sparse topology of degree 6, 1 KiB payloads.
// One message in flight at a time; publishers rotate.
//
//	go test ./overlay/memnet -run '^$' -bench GossipLatency -benchtime 200x
func BenchmarkGossipLatency(b *testing.B) {
	for _, n := range []int{10, 50} {
		b.Run(fmt.Sprintf("peers=%d", n), func(b *testing.B) {
			group := []byte("bench")
			probe := &latencyProbe{}
			nt, err := memnet.New(context.Background(), n, func(int) overlay.Config {
				return overlay.Config{HeartbeatInterval: 100 * time.Millisecond}
			}, memnet.Options{Topology: memnet.Sparse, Degree: 6, Seed: 1})
			if err != nil {
				b.Fatal(err)
			}
			defer nt.Close()
			for _, o := range nt.Overlays() {
				if err := o.JoinGroup(group, probe.deliver); err != nil {
					b.Fatal(err)
				}
			}
			for _, o := range nt.Overlays() {
				want := len(o.Peers())
				waitFor(b, 20*time.Second, "topic peers", func() bool { return len(o.TopicPeers(group)) >= want })
				waitFor(b, 20*time.Second, "mesh", func() bool { return len(o.MeshPeers(group)) >= min(want, 4) })
			}
			payload := make([]byte, 1024)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				seq := uint64(i + 1)
				binary.BigEndian.PutUint64(payload, seq)
				done := probe.begin(seq, n-1)
				if err := nt.Overlay(i%n).Publish(context.Background(), group, payload); err != nil {
					b.Fatal(err)
				}
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					b.Fatalf("message %d reached %d of %d peers in 10s", seq, probe.got, n-1)
				}
				probe.end()
			}
			b.StopTimer()
			b.ReportMetric(ms(percentile(probe.allMax, 0.5)), "ms-all-p50")
			b.ReportMetric(ms(percentile(probe.allMax, 0.99)), "ms-all-p99")
			b.ReportMetric(ms(percentile(probe.allMean, 0.5)), "ms-mean-p50")
		})
	}
}
