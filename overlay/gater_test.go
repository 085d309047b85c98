package overlay

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestBanRefusesConnections(t *testing.T) {
	a := newNode(t, "both", Config{})
	b := newNode(t, "both", Config{})
	connect(t, a, b)
	a.Ban(b.ID())
	waitFor(t, 5*time.Second, "ban to close the connection", func() bool {
		return a.Host().Network().Connectedness(b.ID()) != network.Connected
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()}); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial to a banned peer: %v", err)
	}
	// Inbound: b dials a, a's gater refuses it after the handshake.
	b.Host().Network().ClosePeer(a.ID())
	b.Host().Peerstore().RemovePeer(a.ID())
	if err := b.Connect(ctx, peer.AddrInfo{ID: a.ID(), Addrs: a.Host().Addrs()}); err == nil {
		// The dial may complete on b's side before a's gater closes it.
		waitFor(t, 5*time.Second, "inbound connection from a banned peer to close", func() bool {
			return a.Host().Network().Connectedness(b.ID()) != network.Connected
		})
	}
	if _, err := b.Sync(ctx, a.ID(), []byte("x")); err == nil {
		t.Fatal("a banned peer's request was served")
	}
	if got := a.Gater().Banned(); len(got) != 1 || got[0] != b.ID() {
		t.Fatalf("ban list %v", got)
	}
	a.Unban(b.ID())
	connect(t, a, b)

	a.Block(b.ID())
	if a.Gater().Allowed(b.ID()) {
		t.Fatal("blocked peer allowed")
	}
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()}); !errors.Is(err, ErrBlocked) {
		t.Fatalf("dial to a blocked peer: %v", err)
	}
	a.Unblock(b.ID())
	connect(t, a, b)
}

func TestParseBootstrap(t *testing.T) {
	if _, err := ParseBootstrap([]string{"not a multiaddr"}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("garbage: %v", err)
	}
	if _, err := ParseBootstrap([]string{"/ip4/127.0.0.1/tcp/1"}); !errors.Is(err, ErrBadConfig) {
		t.Fatalf("no /p2p: %v", err)
	}
	a := newNode(t, "tcp", Config{})
	infos, err := ParseBootstrap([]string{a.Addrs()[0].String()})
	if err != nil || len(infos) != 1 || infos[0].ID != a.ID() {
		t.Fatalf("%v, %v", infos, err)
	}
}

// A node started with a bootstrap address connects by itself.
func TestBootstrapConnects(t *testing.T) {
	a := newNode(t, "tcp", Config{})
	var addrs []string
	for _, m := range a.Addrs() {
		addrs = append(addrs, m.String())
	}
	b := newNode(t, "tcp", Config{Bootstrap: addrs})
	waitFor(t, 10*time.Second, "bootstrap connection", func() bool {
		return b.Host().Network().Connectedness(a.ID()) == network.Connected
	})
}

// mDNS on loopback: two nodes find each other. Multicast may be missing in
// a container; the test then skips and says so.
func TestMDNSDiscovery(t *testing.T) {
	a := newNode(t, "tcp", Config{MDNS: true, ListenAddrs: []string{"/ip4/0.0.0.0/tcp/0"}})
	b := newNode(t, "tcp", Config{MDNS: true, ListenAddrs: []string{"/ip4/0.0.0.0/tcp/0"}})
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b.Host().Network().Connectedness(a.ID()) == network.Connected {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Skip("SKIPPED: mDNS found no peer within 5s; this machine likely has no multicast interface (HandlePeerFound's dialling is the only code of ours involved)")
}
