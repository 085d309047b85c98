package overlay

import (
	"context"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/discovery/mdns"
	ma "github.com/multiformats/go-multiaddr"
)

// bootstrapRetry is how often the node re-dials its bootstrap peers while
// it has no connection at all.
const bootstrapRetry = 10 * time.Second

// discovery finds peers: the bootstrap list, re-dialled while the node is
// alone, and mDNS on the local network.
type discovery struct {
	mdns interface{ Close() error }
}

func (d *discovery) close() {
	if d.mdns != nil {
		_ = d.mdns.Close()
	}
}

// ParseBootstrap turns multiaddrs ending in /p2p/<id> into peer infos.
func ParseBootstrap(addrs []string) ([]peer.AddrInfo, error) {
	var mas []ma.Multiaddr
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: bootstrap address %q: %w", ErrBadConfig, s, err)
		}
		mas = append(mas, m)
	}
	infos, err := peer.AddrInfosFromP2pAddrs(mas...)
	if err != nil {
		return nil, fmt.Errorf("%w: bootstrap addresses: %w", ErrBadConfig, err)
	}
	return infos, nil
}

func (o *Overlay) startDiscovery() error {
	infos, err := ParseBootstrap(o.cfg.Bootstrap)
	if err != nil {
		return err
	}
	o.disc = &discovery{}
	if len(infos) > 0 {
		o.goTracked(func() { o.bootstrapLoop(infos) })
	}
	if o.cfg.MDNS {
		svc := mdns.NewMdnsService(o.host, MDNSServiceName, mdnsNotifee{o})
		if err := svc.Start(); err != nil {
			return fmt.Errorf("overlay: mdns: %w", err)
		}
		o.disc.mdns = svc
	}
	return nil
}

// bootstrapLoop dials every bootstrap peer at start, and again whenever
// the node finds itself with no connections.
func (o *Overlay) bootstrapLoop(infos []peer.AddrInfo) {
	t := time.NewTicker(bootstrapRetry)
	defer t.Stop()
	first := true
	for {
		if first || len(o.Peers()) == 0 {
			first = false
			for _, info := range infos {
				if info.ID == o.host.ID() {
					continue
				}
				ctx, cancel := context.WithTimeout(o.ctx, 5*time.Second)
				if err := o.Connect(ctx, info); err != nil {
					o.log.Debug("overlay: bootstrap dial failed", "peer", info.ID, "err", err)
				}
				cancel()
			}
		}
		select {
		case <-o.ctx.Done():
			return
		case <-t.C:
		}
	}
}

// mdnsNotifee connects to peers mDNS finds.
type mdnsNotifee struct{ o *Overlay }

// HandlePeerFound implements mdns.Notifee.
func (n mdnsNotifee) HandlePeerFound(info peer.AddrInfo) {
	if info.ID == n.o.host.ID() || !n.o.gater.Allowed(info.ID) {
		return
	}
	n.o.goTracked(func() {
		ctx, cancel := context.WithTimeout(n.o.ctx, 5*time.Second)
		defer cancel()
		if err := n.o.Connect(ctx, info); err != nil {
			n.o.log.Debug("overlay: mdns dial failed", "peer", info.ID, "err", err)
		}
	})
}
