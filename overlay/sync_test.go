package overlay

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSyncRoundTrip(t *testing.T) {
	var from peer.ID
	srv := newNode(t, "tcp", Config{
		Limits: Limits{MaxSyncResponse: 1 << 20},
		SyncHandler: SyncHandlerFunc(func(p peer.ID, req []byte) ([]byte, error) {
			from = p
			switch string(req) {
			case "fail":
				return nil, errors.New("no such epoch\n\x00")
			case "big":
				return make([]byte, 1<<20+1), nil
			case "large":
				return bytes.Repeat([]byte{7}, 1<<20), nil
			}
			return append([]byte("ok:"), req...), nil
		}),
	})
	cli := newNode(t, "tcp", Config{})
	none := newNode(t, "tcp", Config{}) // no handler
	connect(t, cli, srv)
	connect(t, cli, none)
	ctx := context.Background()

	resp, err := cli.Sync(ctx, srv.ID(), []byte("epoch 7"))
	if err != nil {
		t.Fatal(err)
	}
	if string(resp) != "ok:epoch 7" || from != cli.ID() {
		t.Fatalf("response %q from %s", resp, from)
	}
	// An empty request is a request too.
	if resp, err := cli.Sync(ctx, srv.ID(), nil); err != nil || string(resp) != "ok:" {
		t.Fatalf("empty request: %q, %v", resp, err)
	}
	// A 1 MiB answer arrives whole.
	resp, err = cli.Sync(ctx, srv.ID(), []byte("large"))
	if err != nil || len(resp) != 1<<20 {
		t.Fatalf("large response: %d bytes, %v", len(resp), err)
	}
	// The handler's error comes back, sanitised.
	_, err = cli.Sync(ctx, srv.ID(), []byte("fail"))
	var re *RemoteError
	if !errors.As(err, &re) || !errors.Is(err, ErrRefused) {
		t.Fatalf("handler error: %v", err)
	}
	if re.Message != "no such epoch??" {
		t.Fatalf("remote message %q", re.Message)
	}
	// Over the server's own response limit: an error, not a huge frame.
	if _, err := cli.Sync(ctx, srv.ID(), []byte("big")); !errors.Is(err, ErrRefused) {
		t.Fatalf("oversized response: %v", err)
	}
	// No handler: refused.
	if _, err := cli.Sync(ctx, none.ID(), []byte("x")); !errors.Is(err, ErrRefused) {
		t.Fatalf("no handler: %v", err)
	}
}

// A response larger than the requester's limit is refused by the requester.
func TestSyncResponseLimit(t *testing.T) {
	srv := newNode(t, "tcp", Config{SyncHandler: SyncHandlerFunc(func(peer.ID, []byte) ([]byte, error) {
		return make([]byte, 5000), nil
	})})
	cli := newNode(t, "tcp", Config{Limits: Limits{MaxSyncResponse: 4096}})
	connect(t, cli, srv)
	if _, err := cli.Sync(context.Background(), srv.ID(), []byte("x")); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want ErrTooLarge", err)
	}
}

// The resource manager admits at most 4 concurrent inbound streams per peer
// on a request protocol; the rest are refused before any handler runs.
func TestResourceManagerLimitsStreamsPerPeer(t *testing.T) {
	release := make(chan struct{})
	var inFlight, peak atomic.Int32
	srv := newNode(t, "tcp", Config{SyncHandler: SyncHandlerFunc(func(peer.ID, []byte) ([]byte, error) {
		n := inFlight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		<-release
		inFlight.Add(-1)
		return []byte("ok"), nil
	})})
	// A bare host: the overlay's own resource manager would also limit
	// the client's outbound streams, and this test is about the server.
	cli, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"), libp2p.DisableRelay(), libp2p.DisableMetrics())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if err := cli.Connect(context.Background(), peer.AddrInfo{ID: srv.ID(), Addrs: srv.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var served, refused atomic.Int32
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := cli.NewStream(context.Background(), srv.ID(), SyncProtocol)
			if err == nil {
				err = writeFrame(s, []byte("x"))
			}
			if err == nil {
				s.CloseWrite()
				_, err = readFrame(bufio.NewReader(s), 1024)
			}
			if err == nil {
				served.Add(1)
			} else {
				refused.Add(1)
			}
		}()
	}
	waitFor(t, 5*time.Second, "four handlers running", func() bool { return inFlight.Load() == 4 })
	time.Sleep(300 * time.Millisecond) // give a fifth the chance to get in
	close(release)
	wg.Wait()
	if peak.Load() != 4 {
		t.Fatalf("peak of %d concurrent handlers, want 4 (the per-peer stream limit)", peak.Load())
	}
	if refused.Load() == 0 {
		t.Fatal("no request refused")
	}
	t.Logf("served %d, refused %d", served.Load(), refused.Load())
}
