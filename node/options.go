package node

import (
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/prometheus/client_golang/prometheus"
)

// Option configures a Node (functional options, go-libp2p style).
type Option func(*options) error

type options struct {
	dataDir        string
	memory         bool
	identity       crypto.PrivKey
	listen         []string
	bootstrap      []string
	mdns           bool
	host           host.Host
	logger         *slog.Logger
	registerer     prometheus.Registerer
	tick           time.Duration
	heartbeat      time.Duration
	suite          suite.ID
	rand           io.Reader
	now            func() time.Time
	autoJoin       bool
	subBuffer      int
	inboxSize      int
	keyPackages    int
	kpLifetime     time.Duration
	windowTicks    uint64
	beaconTicks    uint64
	publishTimeout time.Duration
	manualTicks    bool
}

func defaultOptions() options {
	return options{
		listen:         []string{"/ip4/127.0.0.1/tcp/0"},
		logger:         slog.New(slog.DiscardHandler),
		tick:           100 * time.Millisecond,
		heartbeat:      time.Second,
		suite:          DefaultSuite,
		rand:           rand.Reader,
		now:            time.Now,
		subBuffer:      1024,
		inboxSize:      1024,
		keyPackages:    8,
		kpLifetime:     30 * 24 * time.Hour,
		publishTimeout: 10 * time.Second,
	}
}

// WithDataDir keeps the node's identity and groups in an on-disk store
// (leveldb) under dir. Without it (or WithMemoryStore) New fails: a node
// that forgets its keys on restart would reuse nonces.
func WithDataDir(dir string) Option {
	return func(o *options) error {
		if dir == "" {
			return fmt.Errorf("%w: empty data directory", ErrInvalidArgument)
		}
		o.dataDir = dir
		return nil
	}
}

// WithMemoryStore keeps everything in memory: for tests and the simulator.
func WithMemoryStore() Option {
	return func(o *options) error { o.memory = true; return nil }
}

// WithIdentity sets the libp2p identity (Ed25519). Without it the store's
// identity is used, or a new one is made and stored.
func WithIdentity(k crypto.PrivKey) Option {
	return func(o *options) error {
		if k == nil || k.Type() != crypto.Ed25519 {
			return fmt.Errorf("%w: identity must be an Ed25519 key", ErrUnsupportedSuite)
		}
		o.identity = k
		return nil
	}
}

// WithListenAddrs sets the libp2p listen multiaddrs (default loopback TCP,
// port chosen by the system).
func WithListenAddrs(addrs ...string) Option {
	return func(o *options) error { o.listen = append([]string(nil), addrs...); return nil }
}

// WithBootstrap sets multiaddrs (ending in /p2p/<id>) to dial at start.
func WithBootstrap(addrs ...string) Option {
	return func(o *options) error { o.bootstrap = append([]string(nil), addrs...); return nil }
}

// WithMDNS turns on LAN discovery.
func WithMDNS(on bool) Option { return func(o *options) error { o.mdns = on; return nil } }

// WithHost runs the node on a libp2p host the caller made (for example on
// libp2p's in-memory network); the identity is the host's.
func WithHost(h host.Host) Option { return func(o *options) error { o.host = h; return nil } }

// WithLogger sets the slog logger.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l != nil {
			o.logger = l
		}
		return nil
	}
}

// WithMetrics registers the node's Prometheus collectors on r.
func WithMetrics(r prometheus.Registerer) Option {
	return func(o *options) error { o.registerer = r; return nil }
}

// WithTick sets the wall-clock length of one logical tick of the ordering
// layer (default 100ms).
func WithTick(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: tick %v", ErrInvalidArgument, d)
		}
		o.tick = d
		return nil
	}
}

// WithManualTicks stops the node's own ticker: the ordering layer's
// logical time then advances only when the caller calls Node.Tick. The
// gossip-mode simulator uses it to give many nodes in one process one
// clock that never runs ahead of their input (see Tick).
func WithManualTicks() Option {
	return func(o *options) error { o.manualTicks = true; return nil }
}

// WithHeartbeat sets gossipsub's heartbeat (default 1s).
func WithHeartbeat(d time.Duration) Option {
	return func(o *options) error { o.heartbeat = d; return nil }
}

// WithWindowTicks sets the ordering layer's retention window in ticks
// (0: the ordering layer's default).
func WithWindowTicks(n uint64) Option {
	return func(o *options) error { o.windowTicks = n; return nil }
}

// WithBeaconTicks sets how many ticks pass between a member's signed head
// beacons (0: fork's default, 5). Every member verifies every beacon, so
// with n members this costs n^2 signature checks per interval.
func WithBeaconTicks(n uint64) Option {
	return func(o *options) error { o.beaconTicks = n; return nil }
}

// WithSuite selects the cipher suite of groups this node creates.
func WithSuite(id suite.ID) Option {
	return func(o *options) error {
		if _, err := checkSuite(id); err != nil {
			return err
		}
		o.suite = id
		return nil
	}
}

// WithRand replaces crypto/rand (tests only).
func WithRand(r io.Reader) Option { return func(o *options) error { o.rand = r; return nil } }

// WithClock replaces time.Now (tests only).
func WithClock(now func() time.Time) Option {
	return func(o *options) error { o.now = now; return nil }
}

// WithAutoJoin joins every group this node is invited to as soon as the
// Welcome arrives, instead of waiting for Join.
func WithAutoJoin(on bool) Option { return func(o *options) error { o.autoJoin = on; return nil } }
