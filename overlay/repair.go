package overlay

import (
	"context"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// Gossipsub (v0.19) learns that a peer's stream died only when a read on
// its outbound stream fails, and handles that on its event loop some time
// later. If by then a new connection to the peer is up (a quick reconnect,
// an Unblock, a duplicate connection closing), it wipes the topic
// subscriptions it has just learnt from the peer's hello on the new
// connection and opens a new outbound stream; the peer, whose own stream
// is fine, never sends its subscriptions again. The two stay connected but
// this node no longer knows the peer is in any group: it neither floods to
// it nor grafts it. TestBlockUnblockReconnects (five rounds) hit this
// about one run in five before the repair.
//
// The repair: when gossipsub drops a peer's outbound stream while the peer
// is still connected, close every connection to it, wait until gossipsub
// has let go of it, give the peer a moment to see the close too, and dial
// again, so that both sides start from a clean hello. At most once per
// repairInterval per peer, so two nodes cannot keep each other busy.
// TestBlockUnblockReconnects (50 block/unblock rounds a run) needed a repair
// in about half its runs and has not failed since.
const (
	repairInterval = time.Second
	repairSettle   = 2 * time.Second
	repairPause    = 250 * time.Millisecond
)

func (o *Overlay) onGossipStreamClosed(p peer.ID) {
	if o.host.Network().Connectedness(p) != network.Connected || !o.gater.Allowed(p) {
		return // an ordinary disconnect, or one we made
	}
	o.repairMu.Lock()
	if time.Since(o.lastRepair[p]) < repairInterval {
		o.repairMu.Unlock()
		return
	}
	o.lastRepair[p] = time.Now()
	o.repairMu.Unlock()
	o.tr.repairs.Add(1)
	o.goTracked(func() { o.repairGossipPeer(p) })
}

func (o *Overlay) repairGossipPeer(p peer.ID) {
	o.log.Debug("overlay: gossipsub dropped a connected peer; reconnecting it", "peer", p)
	_ = o.host.Network().ClosePeer(p)
	deadline := time.Now().Add(repairSettle)
	for slices.Contains(o.GossipPeers(), p) && time.Now().Before(deadline) {
		select {
		case <-o.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case <-o.ctx.Done():
		return
	case <-time.After(repairPause):
	}
	if !o.gater.Allowed(p) {
		return
	}
	ctx, cancel := context.WithTimeout(o.ctx, 10*time.Second)
	defer cancel()
	if err := o.host.Connect(ctx, peer.AddrInfo{ID: p}); err != nil {
		o.log.Debug("overlay: re-dial after gossipsub repair failed", "peer", p, "err", err)
	}
}
