package overlay

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

const testHeartbeat = 100 * time.Millisecond

var seedCounter struct {
	sync.Mutex
	n uint64
}

func testRand() *rand.ChaCha8 {
	seedCounter.Lock()
	defer seedCounter.Unlock()
	seedCounter.n++
	var seed [32]byte
	seed[0] = byte(seedCounter.n)
	seed[1] = byte(seedCounter.n >> 8)
	return rand.NewChaCha8(seed)
}

// newNode starts a real overlay on loopback. transport is "tcp", "quic" or
// "both".
func newNode(t testing.TB, transport string, cfg Config) *Overlay {
	t.Helper()
	if cfg.Identity == nil {
		id, err := GenerateIdentity(testRand())
		if err != nil {
			t.Fatal(err)
		}
		cfg.Identity = id
	}
	if cfg.ListenAddrs == nil {
		switch transport {
		case "tcp":
			cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0"}
		case "quic":
			cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
		default:
			cfg.ListenAddrs = []string{"/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"}
		}
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = testHeartbeat
	}
	o, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	return o
}

func connect(t testing.TB, a, b *Overlay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Host().Addrs()}); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// inbox collects delivered group messages.
type inbox struct {
	mu   sync.Mutex
	msgs []Message
	ch   chan Message
}

func newInbox() *inbox { return &inbox{ch: make(chan Message, 4096)} }

func (b *inbox) deliver(m Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	select {
	case b.ch <- m:
	default:
	}
}

func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func (b *inbox) has(data string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, m := range b.msgs {
		if string(m.Data) == data {
			return true
		}
	}
	return false
}

func join(t testing.TB, o *Overlay, group []byte) *inbox {
	t.Helper()
	b := newInbox()
	if err := o.JoinGroup(group, b.deliver); err != nil {
		t.Fatal(err)
	}
	return b
}

func waitTopicPeers(t testing.TB, o *Overlay, group []byte, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "topic peers", func() bool { return len(o.TopicPeers(group)) >= n })
}

// waitMesh waits until o's mesh for group holds at least n peers: only then
// is a relayed message forwarded at once rather than by later gossip.
func waitMesh(t testing.TB, o *Overlay, group []byte, n int) {
	t.Helper()
	waitFor(t, 10*time.Second, "mesh peers", func() bool { return len(o.MeshPeers(group)) >= n })
}

// testKeyPackage makes a real, signed KeyPackage (suite 1) as an encoded
// MLSMessage.
func testKeyPackage(t testing.TB, name string, lastResort bool) []byte {
	t.Helper()
	cs, err := suite.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	rng := testRand()
	priv, _, err := cs.GenerateSignatureKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	key, err := cs.NewSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mls.NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)}, key,
		mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}, LastResort: lastResort})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := codec.Marshal(wire.NewMLSMessage(b.KeyPackage))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// testWelcome makes a structurally valid Welcome MLSMessage; its contents
// are random (the overlay never opens a Welcome).
func testWelcome(t testing.TB, tag byte) []byte {
	t.Helper()
	w := &wire.Welcome{
		CipherSuite:        1,
		EncryptedGroupInfo: []byte{tag, 1, 2, 3},
	}
	raw, err := codec.Marshal(wire.NewMLSMessage(w))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
