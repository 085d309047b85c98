package overlay

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	ma "github.com/multiformats/go-multiaddr"
)

// Overlay is one node's network edge. It is safe for concurrent use.
type Overlay struct {
	cfg     Config
	host    host.Host
	ownHost bool // Close closes the host too
	gater   *Gater
	pen     *penalties
	log     *slog.Logger

	ps *pubsub.PubSub
	tr *tracer

	ctx    context.Context
	cancel context.CancelFunc

	// life guards closed and the goroutines Close waits for. It is taken
	// from gossipsub's event loop (through the tracer), so nothing may hold
	// it while calling into gossipsub.
	life   sync.Mutex
	closed bool
	wg     sync.WaitGroup

	mu     sync.Mutex
	groups map[string]*groupTopic // by topic name

	scoresMu sync.Mutex
	scores   map[peer.ID]float64 // last snapshot from gossipsub

	kp   *kpDirectory
	mail *mailbox

	disc   *discovery
	notify *network.NotifyBundle

	repairMu   sync.Mutex
	lastRepair map[peer.ID]time.Time
}

// New builds a real libp2p host (TCP and QUIC on cfg.ListenAddrs, the gater,
// the resource manager) and the overlay on it, and starts discovery.
// Close stops both.
func New(ctx context.Context, cfg Config) (*Overlay, error) {
	c := cfg.withDefaults()
	g := NewGater()
	h, err := newLibp2pHost(&c, g)
	if err != nil {
		return nil, err
	}
	o, err := build(ctx, h, g, c, true)
	if err != nil {
		h.Close()
		return nil, err
	}
	if err := o.startDiscovery(); err != nil {
		o.Close()
		return nil, err
	}
	return o, nil
}

// NewWithHost builds the overlay on a host the caller made, such as a host of
// libp2p's in-memory network (p2p/net/mock), which cannot take a connection
// gater: there the overlay enforces its Gater itself on gossipsub RPCs and on
// its stream protocols, and Block must be paired with cutting the link (see
// package overlay/memnet). cfg.Identity, ListenAddrs, Bootstrap and MDNS are
// not used. Close leaves the host open.
func NewWithHost(ctx context.Context, h host.Host, cfg Config) (*Overlay, error) {
	c := cfg.withDefaults()
	return build(ctx, h, NewGater(), c, false)
}

func build(ctx context.Context, h host.Host, g *Gater, c Config, own bool) (*Overlay, error) {
	octx, cancel := context.WithCancel(ctx)
	o := &Overlay{
		cfg:     c,
		host:    h,
		ownHost: own,
		gater:   g,
		pen:     newPenalties(c.Limits.RequestRate, c.Limits.RequestBurst),
		log:     c.Logger,
		ctx:     octx,
		cancel:  cancel,
		groups:  map[string]*groupTopic{},
		scores:  map[peer.ID]float64{},
		tr:      newTracer(),

		lastRepair: map[peer.ID]time.Time{},
	}
	o.tr.streamClosed = o.onGossipStreamClosed
	o.kp = newKPDirectory(o)
	o.mail = newMailbox(o)
	ps, err := o.newPubSub()
	if err != nil {
		cancel()
		return nil, err
	}
	o.ps = ps
	h.SetStreamHandler(SyncProtocol, o.serve(SyncProtocol, o.handleSync))
	h.SetStreamHandler(KeyPackageProtocol, o.serve(KeyPackageProtocol, o.kp.handle))
	h.SetStreamHandler(MailboxProtocol, o.serve(MailboxProtocol, o.mail.handle))
	o.notify = &network.NotifyBundle{
		ConnectedF:    func(_ network.Network, c network.Conn) { o.onConnected(c.RemotePeer()) },
		DisconnectedF: func(_ network.Network, c network.Conn) { o.pen.forget(c.RemotePeer()) },
	}
	h.Network().Notify(o.notify)
	return o, nil
}

// Close leaves every group, stops the protocols and, for a host New made,
// closes the host.
func (o *Overlay) Close() error {
	o.life.Lock()
	if o.closed {
		o.life.Unlock()
		return nil
	}
	o.closed = true
	o.life.Unlock()
	o.mu.Lock()
	groups := o.groups
	o.groups = map[string]*groupTopic{}
	o.mu.Unlock()

	for _, p := range []protocol.ID{SyncProtocol, KeyPackageProtocol, MailboxProtocol} {
		o.host.RemoveStreamHandler(p)
	}
	o.host.Network().StopNotify(o.notify)
	for _, gt := range groups {
		gt.close()
	}
	if o.disc != nil {
		o.disc.close()
	}
	o.cancel()
	o.wg.Wait()
	if o.ownHost {
		return o.host.Close()
	}
	return nil
}

// Host is the libp2p host.
func (o *Overlay) Host() host.Host { return o.host }

// ID is this node's peer id.
func (o *Overlay) ID() peer.ID { return o.host.ID() }

// Addrs are this node's listen addresses, each with /p2p/<id> appended,
// ready for another node's Bootstrap list.
func (o *Overlay) Addrs() []ma.Multiaddr {
	info := peer.AddrInfo{ID: o.host.ID(), Addrs: o.host.Addrs()}
	out, err := peer.AddrInfoToP2pAddrs(&info)
	if err != nil {
		return nil
	}
	return out
}

// Gater is the overlay's connection gater.
func (o *Overlay) Gater() *Gater { return o.gater }

// Connect dials a peer.
func (o *Overlay) Connect(ctx context.Context, info peer.AddrInfo) error {
	if !o.gater.Allowed(info.ID) {
		return fmt.Errorf("%w: %s", ErrBlocked, info.ID)
	}
	if err := o.host.Connect(ctx, info); err != nil {
		return fmt.Errorf("overlay: connect %s: %w", info.ID, err)
	}
	return nil
}

// Peers lists the peers this node is connected to.
func (o *Overlay) Peers() []peer.ID { return o.host.Network().Peers() }

// Ban refuses p from now on and closes its connections. The node persists
// bans itself if it wants them to outlive a restart.
func (o *Overlay) Ban(p peer.ID) {
	o.gater.Ban(p)
	_ = o.host.Network().ClosePeer(p)
}

// Unban lifts a ban.
func (o *Overlay) Unban(p peer.ID) { o.gater.Unban(p) }

// Block cuts this node off from p (a partition for tests and the
// simulator): connections are closed and refused, gossipsub RPCs from p are
// dropped and nothing is sent to it.
func (o *Overlay) Block(p peer.ID) {
	o.gater.Block(p)
	_ = o.host.Network().ClosePeer(p)
}

// Unblock lifts a Block and, if the peerstore still has addresses for p,
// dials it again in the background (libp2p re-dials nothing by itself, and
// a healed partition should heal without the caller's help).
func (o *Overlay) Unblock(p peer.ID) {
	o.gater.Unblock(p)
	if len(o.host.Peerstore().Addrs(p)) == 0 {
		return
	}
	o.goTracked(func() {
		ctx, cancel := context.WithTimeout(o.ctx, 10*time.Second)
		defer cancel()
		if err := o.host.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
			o.log.Debug("overlay: re-dial after unblock failed", "peer", p, "err", err)
		}
	})
}

// PeerScore is p's gossipsub score as of the last snapshot (taken every
// scoreInspectPeriod), and whether gossipsub knows p.
func (o *Overlay) PeerScore(p peer.ID) (float64, bool) {
	o.scoresMu.Lock()
	defer o.scoresMu.Unlock()
	s, ok := o.scores[p]
	return s, ok
}

func (o *Overlay) setScores(m map[peer.ID]float64) {
	o.scoresMu.Lock()
	defer o.scoresMu.Unlock()
	o.scores = m
}

// goTracked runs fn on a goroutine that Close waits for; after Close it
// runs nothing and returns false.
func (o *Overlay) goTracked(fn func()) bool {
	o.life.Lock()
	defer o.life.Unlock()
	if o.closed {
		return false
	}
	o.wg.Add(1)
	go func() {
		defer o.wg.Done()
		fn()
	}()
	return true
}

func (o *Overlay) onConnected(p peer.ID) {
	// Hand over any Welcomes kept for p. Runs off the notifier's goroutine:
	// network notifications must not block.
	if o.mail.has(p) {
		o.goTracked(func() { o.mail.flush(p) })
	}
}

// serve wraps a stream handler: it refuses banned or blocked peers (the
// gater cannot on the in-memory network), applies the per-peer rate limit,
// bounds the exchange in time and charges the peer for malformed input.
func (o *Overlay) serve(proto protocol.ID, fn func(s network.Stream, r *bufio.Reader) error) network.StreamHandler {
	return func(s network.Stream) {
		p := s.Conn().RemotePeer()
		if !o.gater.Allowed(p) {
			_ = s.Reset()
			return
		}
		if !o.pen.allow(p) {
			o.pen.charge(p, penaltyRateLimited)
			o.log.Debug("overlay: rate limited", "peer", p, "protocol", proto)
			_ = s.Reset()
			return
		}
		_ = s.SetDeadline(time.Now().Add(o.cfg.Limits.StreamTimeout))
		err := fn(s, bufio.NewReader(s))
		switch {
		case err == nil:
			_ = s.Close()
			return
		case errors.Is(err, ErrTooLarge):
			o.pen.charge(p, penaltyTooLarge)
		case errors.Is(err, ErrMalformed):
			o.pen.charge(p, penaltyMalformed)
		}
		o.log.Debug("overlay: stream failed", "peer", p, "protocol", proto, "err", err)
		_ = s.Reset()
	}
}

// request opens a stream to p, sends req as one frame, closes its write
// side and reads one response frame of at most max bytes.
func (o *Overlay) request(ctx context.Context, p peer.ID, proto protocol.ID, req []byte, max int) ([]byte, error) {
	s, err := o.openStream(ctx, p, proto)
	if err != nil {
		return nil, err
	}
	if err := writeFrame(s, req); err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("overlay: %s to %s: write: %w", proto, p, err)
	}
	_ = s.CloseWrite()
	resp, err := readFrame(bufio.NewReader(s), max)
	if err != nil {
		_ = s.Reset()
		return nil, fmt.Errorf("overlay: %s from %s: %w", proto, p, err)
	}
	_ = s.Close()
	return resp, nil
}

func (o *Overlay) openStream(ctx context.Context, p peer.ID, proto protocol.ID) (network.Stream, error) {
	if !o.gater.Allowed(p) {
		return nil, fmt.Errorf("%w: %s", ErrBlocked, p)
	}
	if o.isClosed() {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, o.cfg.Limits.StreamTimeout)
	defer cancel()
	s, err := o.host.NewStream(ctx, p, proto)
	if err != nil {
		return nil, fmt.Errorf("overlay: open %s to %s: %w", proto, p, err)
	}
	deadline := time.Now().Add(o.cfg.Limits.StreamTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	_ = s.SetDeadline(deadline)
	return s, nil
}

func (o *Overlay) isClosed() bool {
	o.life.Lock()
	defer o.life.Unlock()
	return o.closed
}
