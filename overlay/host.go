package overlay

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"
	quic "github.com/libp2p/go-libp2p/p2p/transport/quic"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
)

// Connection manager watermarks: the node keeps between connLow and
// connHigh connections; gossipsub tags its mesh peers so they are trimmed
// last.
const (
	connLow   = 64
	connHigh  = 192
	connGrace = time.Minute
)

// newLibp2pHost builds the real host: TCP and QUIC only (no relay, no
// websocket, no NAT port mapping: the node is reached on the addresses it
// is configured with), the gater, a connection manager and the resource
// manager.
func newLibp2pHost(cfg *Config, g *Gater) (host.Host, error) {
	if cfg.Identity == nil {
		return nil, fmt.Errorf("%w: no identity key", ErrBadConfig)
	}
	rm, err := newResourceManager(&cfg.Limits)
	if err != nil {
		return nil, err
	}
	cm, err := connmgr.NewConnManager(connLow, connHigh, connmgr.WithGracePeriod(connGrace))
	if err != nil {
		return nil, fmt.Errorf("overlay: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(cfg.Identity),
		libp2p.ListenAddrStrings(cfg.ListenAddrs...),
		libp2p.Transport(tcp.NewTCPTransport),
		libp2p.Transport(quic.NewTransport),
		libp2p.ConnectionGater(g),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		// Black-hole detection would stop QUIC dials on a host whose first
		// UDP dials fail; the node's peers are configured, not guessed.
		libp2p.UDPBlackHoleSuccessCounter(nil),
		libp2p.IPv6BlackHoleSuccessCounter(nil),
	)
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("overlay: libp2p host: %w", err)
	}
	return h, nil
}

// newResourceManager scales libp2p's default limits to the machine and adds
// limits for the overlay's own protocols: request/response protocols get a
// few concurrent streams per peer and a memory cap, so a peer that opens
// streams in a loop is refused by the resource manager before any handler
// runs. Gossipsub keeps one long-lived stream per peer and is covered by
// the defaults.
func newResourceManager(l *Limits) (network.ResourceManager, error) {
	perPeer := rcmgr.ResourceLimits{
		Streams:         8,
		StreamsInbound:  4,
		StreamsOutbound: 4,
		Memory:          rcmgr.LimitVal64(4 * int64(l.MaxSyncResponse)),
	}
	total := rcmgr.ResourceLimits{
		Streams:         512,
		StreamsInbound:  256,
		StreamsOutbound: 256,
		Memory:          256 << 20,
	}
	partial := rcmgr.PartialLimitConfig{
		Protocol:     map[protocol.ID]rcmgr.ResourceLimits{},
		ProtocolPeer: map[protocol.ID]rcmgr.ResourceLimits{},
	}
	for _, p := range []protocol.ID{SyncProtocol, KeyPackageProtocol, MailboxProtocol} {
		partial.Protocol[p] = total
		partial.ProtocolPeer[p] = perPeer
	}
	// AutoScale builds fresh maps, and Build copies, so the package-level
	// DefaultLimits is never written to (hosts are built concurrently in
	// tests).
	limits := partial.Build(rcmgr.DefaultLimits.AutoScale())
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits))
	if err != nil {
		return nil, fmt.Errorf("overlay: resource manager: %w", err)
	}
	return rm, nil
}
