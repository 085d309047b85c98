package overlay

import (
	"sync"

	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
)

// Gater refuses connections to and from banned or blocked peers. It is a
// libp2p connmgr.ConnectionGater on real hosts; on libp2p's in-memory
// network, which has no gater, the overlay consults it itself (pubsub RPC
// inspector, peer filter, stream handlers).
//
// Two lists, because they have different owners: Ban is for misbehaving
// peers (the node decides, and may persist it); Block cuts peers apart for
// partition tests and the simulator (the control API's "block"). A peer on
// either list is refused.
type Gater struct {
	mu      sync.RWMutex
	banned  map[peer.ID]struct{}
	blocked map[peer.ID]struct{}
}

// NewGater returns a Gater with empty lists.
func NewGater() *Gater {
	return &Gater{banned: map[peer.ID]struct{}{}, blocked: map[peer.ID]struct{}{}}
}

func (g *Gater) set(m map[peer.ID]struct{}, p peer.ID, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if on {
		m[p] = struct{}{}
	} else {
		delete(m, p)
	}
}

// Ban adds p to the ban list.
func (g *Gater) Ban(p peer.ID) { g.set(g.banned, p, true) }

// Unban removes p from the ban list.
func (g *Gater) Unban(p peer.ID) { g.set(g.banned, p, false) }

// Block adds p to the block list.
func (g *Gater) Block(p peer.ID) { g.set(g.blocked, p, true) }

// Unblock removes p from the block list.
func (g *Gater) Unblock(p peer.ID) { g.set(g.blocked, p, false) }

// Allowed reports whether p is on neither list.
func (g *Gater) Allowed(p peer.ID) bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	_, b := g.banned[p]
	_, k := g.blocked[p]
	return !b && !k
}

// Banned lists the banned peers.
func (g *Gater) Banned() []peer.ID { return g.list(g.banned) }

// Blocked lists the blocked peers.
func (g *Gater) Blocked() []peer.ID { return g.list(g.blocked) }

func (g *Gater) list(m map[peer.ID]struct{}) []peer.ID {
	g.mu.RLock()
	defer g.mu.RUnlock()
	out := make([]peer.ID, 0, len(m))
	for p := range m {
		out = append(out, p)
	}
	return out
}

// InterceptPeerDial implements connmgr.ConnectionGater.
func (g *Gater) InterceptPeerDial(p peer.ID) bool { return g.Allowed(p) }

// InterceptAddrDial implements connmgr.ConnectionGater.
func (g *Gater) InterceptAddrDial(p peer.ID, _ ma.Multiaddr) bool { return g.Allowed(p) }

// InterceptAccept implements connmgr.ConnectionGater: the peer is not known
// before the security handshake, so every connection is accepted here and
// judged in InterceptSecured.
func (g *Gater) InterceptAccept(network.ConnMultiaddrs) bool { return true }

// InterceptSecured implements connmgr.ConnectionGater.
func (g *Gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.Allowed(p)
}

// InterceptUpgraded implements connmgr.ConnectionGater.
func (g *Gater) InterceptUpgraded(c network.Conn) (bool, control.DisconnectReason) {
	return g.Allowed(c.RemotePeer()), 0
}
