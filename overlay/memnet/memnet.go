package memnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/mlsnode/mlsnode/overlay"
)

// Net is a set of overlays on one in-memory network.
type Net struct {
	mn       mocknet.Mocknet
	overlays []*overlay.Overlay
	index    map[peer.ID]int

	mu  sync.Mutex
	cut map[[2]int]bool
}

// Topology says which peers are connected at the start.
type Topology int

const (
	// Full connects every pair.
	Full Topology = iota
	// Sparse connects a ring plus Degree-2 random chords per peer (at
	// least), the shape of a real deployment where a node knows a few
	// peers and gossipsub does the rest.
	Sparse
)

// Options shape a Net.
type Options struct {
	Topology Topology
	// Degree is the target number of connections per peer for Sparse
	// (default 6, gossipsub's D).
	Degree int
	// Seed drives the random chords of Sparse.
	Seed uint64
}

// New makes n overlays, each built with config(i), links every pair and
// connects them as opts.Topology says. Close stops them all.
func New(ctx context.Context, n int, config func(i int) overlay.Config, opts Options) (*Net, error) {
	if n < 1 {
		return nil, fmt.Errorf("%w: %d peers", overlay.ErrBadConfig, n)
	}
	mn := mocknet.New()
	nt := &Net{mn: mn, index: map[peer.ID]int{}, cut: map[[2]int]bool{}}
	for i := 0; i < n; i++ {
		h, err := mn.GenPeer()
		if err != nil {
			nt.Close()
			return nil, fmt.Errorf("memnet: peer %d: %w", i, err)
		}
		var cfg overlay.Config
		if config != nil {
			cfg = config(i)
		}
		o, err := overlay.NewWithHost(ctx, h, cfg)
		if err != nil {
			nt.Close()
			return nil, fmt.Errorf("memnet: overlay %d: %w", i, err)
		}
		nt.overlays = append(nt.overlays, o)
		nt.index[h.ID()] = i
	}
	if err := mn.LinkAll(); err != nil {
		nt.Close()
		return nil, fmt.Errorf("memnet: link: %w", err)
	}
	for _, pr := range pairs(n, opts) {
		if _, err := mn.ConnectPeers(nt.overlays[pr[0]].ID(), nt.overlays[pr[1]].ID()); err != nil {
			nt.Close()
			return nil, fmt.Errorf("memnet: connect %d-%d: %w", pr[0], pr[1], err)
		}
	}
	return nt, nil
}

// pairs lists the connections of a topology, each pair once, lower first.
func pairs(n int, opts Options) [][2]int {
	seen := map[[2]int]bool{}
	var out [][2]int
	add := func(a, b int) {
		if a == b {
			return
		}
		if a > b {
			a, b = b, a
		}
		if !seen[[2]int{a, b}] {
			seen[[2]int{a, b}] = true
			out = append(out, [2]int{a, b})
		}
	}
	if opts.Topology == Full || n <= 2 {
		for a := 0; a < n; a++ {
			for b := a + 1; b < n; b++ {
				add(a, b)
			}
		}
		return out
	}
	degree := opts.Degree
	if degree <= 0 {
		degree = 6
	}
	rng := rand.New(rand.NewPCG(opts.Seed, 0x6d6c736e6f6465))
	for a := 0; a < n; a++ {
		add(a, (a+1)%n)
		for k := 0; k < degree-2; k++ {
			add(a, rng.IntN(n))
		}
	}
	return out
}

// Overlays returns the overlays, index i for the i-th peer.
func (nt *Net) Overlays() []*overlay.Overlay { return nt.overlays }

// Overlay returns the i-th overlay.
func (nt *Net) Overlay(i int) *overlay.Overlay { return nt.overlays[i] }

// Index returns the position of the peer with id p.
func (nt *Net) Index(p peer.ID) (int, bool) {
	i, ok := nt.index[p]
	return i, ok
}

func key(a, b int) [2]int {
	if a > b {
		a, b = b, a
	}
	return [2]int{a, b}
}

// Cut separates peers a and b in both directions: each blocks the other in
// its overlay's Gater (gossipsub RPCs from the other are dropped on arrival
// by the RPC inspector, nothing is forwarded to it, stream requests are
// refused both ways) and the link is removed so that nothing can dial.
//
// The connection itself is left open, on purpose. Closing it and dialling
// again at Heal races gossipsub: it learns that a peer died only when its
// stream read fails, and on the in-memory network that news can come late
// or never; arriving after the new connection's hello, it wipes the peer's
// topic subscriptions, which are never sent again, and the pair stays
// connected but deaf. With the connection open and every RPC dropped, the
// partition is just as tight (TestCutAndHeal, TestBlockDropsInFlight) and
// Heal needs no re-dial: gossipsub's own state survives, and the mesh
// re-forms at the next heartbeats. Messages sent during the cut are not
// replayed after it, as on a real network; catching up is the sync
// protocol's job.
func (nt *Net) Cut(a, b int) error {
	if a == b {
		return nil
	}
	oa, ob := nt.overlays[a], nt.overlays[b]
	nt.mu.Lock()
	nt.cut[key(a, b)] = true
	nt.mu.Unlock()
	oa.Gater().Block(ob.ID())
	ob.Gater().Block(oa.ID())
	if len(nt.mn.LinksBetweenPeers(oa.ID(), ob.ID())) > 0 {
		if err := nt.mn.UnlinkPeers(oa.ID(), ob.ID()); err != nil {
			return fmt.Errorf("memnet: unlink %d-%d: %w", a, b, err)
		}
	}
	return nil
}

// Heal undoes Cut(a, b).
func (nt *Net) Heal(a, b int) error {
	if a == b {
		return nil
	}
	oa, ob := nt.overlays[a], nt.overlays[b]
	nt.mu.Lock()
	wasCut := nt.cut[key(a, b)]
	delete(nt.cut, key(a, b))
	nt.mu.Unlock()
	if !wasCut {
		return nil
	}
	oa.Gater().Unblock(ob.ID())
	ob.Gater().Unblock(oa.ID())
	if _, err := nt.mn.LinkPeers(oa.ID(), ob.ID()); err != nil {
		return fmt.Errorf("memnet: link %d-%d: %w", a, b, err)
	}
	return nil
}

// Connect connects peers a and b (they must not be cut).
func (nt *Net) Connect(a, b int) error {
	if nt.IsCut(a, b) {
		return fmt.Errorf("%w: %d and %d are cut", overlay.ErrBlocked, a, b)
	}
	_, err := nt.mn.ConnectPeers(nt.overlays[a].ID(), nt.overlays[b].ID())
	return err
}

// Partition cuts every peer of side from every peer not in it.
func (nt *Net) Partition(side []int) error {
	in := map[int]bool{}
	for _, i := range side {
		in[i] = true
	}
	var errs []error
	for a := range nt.overlays {
		for b := a + 1; b < len(nt.overlays); b++ {
			if in[a] != in[b] {
				errs = append(errs, nt.Cut(a, b))
			}
		}
	}
	return errors.Join(errs...)
}

// HealAll heals every cut.
func (nt *Net) HealAll() error {
	nt.mu.Lock()
	var cuts [][2]int
	for k := range nt.cut {
		cuts = append(cuts, k)
	}
	nt.mu.Unlock()
	var errs []error
	for _, k := range cuts {
		errs = append(errs, nt.Heal(k[0], k[1]))
	}
	return errors.Join(errs...)
}

// IsCut reports whether a and b are cut apart.
func (nt *Net) IsCut(a, b int) bool {
	nt.mu.Lock()
	defer nt.mu.Unlock()
	return nt.cut[key(a, b)]
}

// Close stops every overlay and the network.
func (nt *Net) Close() error {
	var errs []error
	for _, o := range nt.overlays {
		errs = append(errs, o.Close())
	}
	errs = append(errs, nt.mn.Close())
	return errors.Join(errs...)
}
