package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/overlay"
	"github.com/mlsnode/mlsnode/store"
)

// Node is one mlsnode peer: a libp2p overlay, a store, and one event loop
// per group. All methods are safe for concurrent use.
type Node struct {
	opts options
	log  *slog.Logger

	priv crypto.PrivKey
	id   peer.ID
	cs   *suite.Suite
	sig  *suite.SigningKey
	cred wire.Credential // names id and binds sig to it (identity.go)

	st     *store.Store
	ov     *overlay.Overlay
	met    *metrics
	events *broker
	kps    *keyPackages

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	groups  map[string]*group // by hex group id
	invites map[string]*invitation
}

// New starts a node: it opens the store, loads (or makes and stores) the
// identity, starts the libp2p overlay, resumes every stored group and
// publishes fresh KeyPackages.
func New(ctx context.Context, opts ...Option) (*Node, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	cs, err := checkSuite(o.suite)
	if err != nil {
		return nil, err
	}
	n := &Node{
		opts:    o,
		log:     o.logger,
		cs:      cs,
		events:  newBroker(),
		groups:  map[string]*group{},
		invites: map[string]*invitation{},
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	ok := false
	defer func() {
		if !ok {
			n.cancel()
			if n.ov != nil {
				n.ov.Close()
			}
			if n.st != nil {
				n.st.Close()
			}
		}
	}()
	if err := n.openStore(ctx); err != nil {
		return nil, err
	}
	if err := n.loadIdentity(ctx); err != nil {
		return nil, err
	}
	if n.met, err = newMetrics(o.registerer, n.peerCount, n.groupCount); err != nil {
		return nil, err
	}
	// The overlay lives as long as the node, not as long as New's ctx.
	if err := n.startOverlay(n.ctx); err != nil {
		return nil, err
	}
	if err := n.kpsInit(ctx); err != nil {
		return nil, err
	}
	if err := n.resumeGroups(ctx); err != nil {
		return nil, err
	}
	if err := n.loadInvitations(ctx); err != nil {
		return nil, err
	}
	// Peers dialled at start connected before the groups were resumed:
	// let each group catch up from them now.
	for _, p := range n.ov.Peers() {
		n.onConnected(p)
	}
	n.wg.Add(1)
	go n.maintain()
	ok = true
	n.log.Info("node started", "peer", n.id, "addrs", n.Addrs())
	return n, nil
}

func (n *Node) openStore(ctx context.Context) error {
	var err error
	switch {
	case n.opts.memory:
		n.st, err = store.OpenMemory()
	case n.opts.dataDir != "":
		n.st, err = store.OpenDir(ctx, n.opts.dataDir)
	default:
		return fmt.Errorf("%w: no store (use WithDataDir or WithMemoryStore)", ErrInvalidArgument)
	}
	if err != nil {
		return fmt.Errorf("node: opening the store: %w", err)
	}
	return nil
}

func (n *Node) startOverlay(ctx context.Context) error {
	cfg := overlay.Config{
		Identity:          n.priv,
		ListenAddrs:       n.opts.listen,
		Bootstrap:         n.opts.bootstrap,
		MDNS:              n.opts.mdns,
		Validator:         overlay.ValidatorFunc(n.validate),
		SyncHandler:       overlay.SyncHandlerFunc(n.handleSync),
		WelcomeHandler:    n.handleWelcome,
		KeyPackageCheck:   n.checkKeyPackage,
		HeartbeatInterval: n.opts.heartbeat,
		Logger:            n.log.With("part", "overlay"),
	}
	var err error
	if n.opts.host != nil {
		n.ov, err = overlay.NewWithHost(ctx, n.opts.host, cfg)
	} else {
		n.ov, err = overlay.New(ctx, cfg)
	}
	if err != nil {
		return fmt.Errorf("node: starting the overlay: %w", err)
	}
	n.ov.Host().Network().Notify(&network.NotifyBundle{
		ConnectedF: func(_ network.Network, c network.Conn) {
			n.onConnected(c.RemotePeer())
		},
	})
	return nil
}

// ID is this node's libp2p peer id, which is also its MLS identity.
func (n *Node) ID() peer.ID { return n.id }

// Addrs are the node's listen addresses (without /p2p/).
func (n *Node) Addrs() []string {
	var out []string
	for _, a := range n.ov.Host().Addrs() {
		out = append(out, a.String())
	}
	return out
}

// FullAddrs are the listen addresses with /p2p/<id>, for Connect and
// bootstrap lists.
func (n *Node) FullAddrs() []string {
	var out []string
	for _, a := range n.ov.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// Peers lists connected peers.
func (n *Node) Peers() []PeerInfo {
	ps := n.ov.Peers()
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	out := make([]PeerInfo, 0, len(ps))
	for _, p := range ps {
		pi := PeerInfo{Peer: p.String()}
		for _, c := range n.ov.Host().Network().ConnsToPeer(p) {
			pi.Addrs = append(pi.Addrs, c.RemoteMultiaddr().String())
		}
		out = append(out, pi)
	}
	return out
}

func (n *Node) peerCount() float64 { return float64(len(n.ov.Peers())) }

func (n *Node) groupCount() float64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return float64(len(n.groups))
}

// Connect dials a peer by multiaddr (ending in /p2p/<id>).
func (n *Node) Connect(ctx context.Context, addr string) error {
	if err := n.alive(); err != nil {
		return err
	}
	m, err := ma.NewMultiaddr(addr)
	if err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrInvalidArgument, addr, err)
	}
	info, err := peer.AddrInfoFromP2pAddr(m)
	if err != nil {
		return fmt.Errorf("%w: address %q: %v", ErrInvalidArgument, addr, err)
	}
	return n.ov.Connect(ctx, *info)
}

// Block cuts this node off from p (connection gater): a partition for
// tests and demos. Unblock lifts it.
func (n *Node) Block(p peer.ID) { n.ov.Block(p) }

// Unblock lifts a Block; the overlay re-dials p at its known addresses in
// the background. It does not wait for the connection: when both sides of
// a cut are unblocked one pair at a time, the first side's dial can only
// succeed once the other side has lifted its block too, and waiting for
// each dial in turn made healing a 50-node partition take minutes.
func (n *Node) Unblock(p peer.ID) { n.ov.Unblock(p) }

// Tick advances every group's logical clock by one tick, for a node made
// WithManualTicks (without it, it adds a tick to the node's own). Each
// group first handles the envelopes already in its inbox, then the tick;
// Tick returns when every group has done so. A caller that ticks many
// nodes this way gives them one clock that slows down, instead of
// running ahead, when the process cannot keep up with their input.
func (n *Node) Tick(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	groups := make([]*group, 0, len(n.groups))
	for _, g := range n.groups {
		groups = append(groups, g)
	}
	n.mu.Unlock()
	for _, g := range groups {
		if err := g.do(ctx, g.manualTick); err != nil && !errors.Is(err, ErrClosed) {
			return err
		}
	}
	return nil
}

// Subscribe returns a stream of events with a buffer of the given size
// (0: the node's default).
func (n *Node) Subscribe(buffer int) *Subscription {
	if buffer <= 0 {
		buffer = n.opts.subBuffer
	}
	return n.events.subscribe(buffer)
}

func (n *Node) alive() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	return nil
}

func (n *Node) group(gid string) (*group, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	g, ok := n.groups[gid]
	if !ok {
		if _, err := hex.DecodeString(gid); err != nil || gid == "" {
			return nil, fmt.Errorf("%w: group id %q is not hex", ErrInvalidArgument, gid)
		}
		return nil, fmt.Errorf("%w: %s", ErrUnknownGroup, gid)
	}
	return g, nil
}

// Status describes the node and its groups.
func (n *Node) Status() Status {
	st := Status{Peer: n.id.String(), Addrs: n.Addrs(), Peers: len(n.ov.Peers())}
	n.mu.Lock()
	groups := make([]*group, 0, len(n.groups))
	for _, g := range n.groups {
		groups = append(groups, g)
	}
	for gid := range n.invites {
		st.Invitations = append(st.Invitations, gid)
	}
	n.mu.Unlock()
	sort.Strings(st.Invitations)
	for _, g := range groups {
		if gs, err := g.status(); err == nil {
			st.Groups = append(st.Groups, gs)
		}
	}
	sort.Slice(st.Groups, func(i, j int) bool { return st.Groups[i].Group < st.Groups[j].Group })
	return st
}

// Close stops every group loop (each flushes its state to the store),
// the overlay and the store. It is safe to call more than once.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	groups := make([]*group, 0, len(n.groups))
	for _, g := range n.groups {
		groups = append(groups, g)
	}
	n.mu.Unlock()
	for _, g := range groups {
		g.stop()
	}
	n.cancel()
	n.wg.Wait()
	var errs []error
	if err := n.ov.Close(); err != nil {
		errs = append(errs, err)
	}
	n.events.close()
	if err := n.st.Close(); err != nil {
		errs = append(errs, err)
	}
	n.log.Info("node stopped", "peer", n.id)
	return errors.Join(errs...)
}

// maintain runs the node's background chores: republish KeyPackages when
// few are left.
func (n *Node) maintain() {
	defer n.wg.Done()
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.kpsRefill(n.ctx)
		}
	}
}

func (n *Node) onConnected(p peer.ID) {
	// A new peer can hold a KeyPackage for us and can catch us up; nudge
	// every group so that it syncs with it.
	n.mu.Lock()
	groups := make([]*group, 0, len(n.groups))
	for _, g := range n.groups {
		groups = append(groups, g)
	}
	n.mu.Unlock()
	for _, g := range groups {
		g.peerConnected(p)
	}
}
