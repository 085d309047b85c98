package sim

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// ErrBadLatency is returned for a latency specification that does not parse.
var ErrBadLatency = errors.New("sim: bad latency specification")

// Latency is a per-link delay distribution. Each directed link draws its own
// base delay once (uniform in [Base/2, 3*Base/2], from a hash of the seed and
// the link, so it costs no memory), and each message adds jitter:
//
//	fixed:   base
//	uniform: base + U[0, Jitter)
//	exp:     base + Exp(mean Jitter), a long tail like a congested path
type Latency struct {
	Kind   string  // "fixed", "uniform" or "exp"
	Base   float64 // milliseconds
	Jitter float64 // milliseconds
}

// DefaultLatency is a WAN-like link: 20 ms base and an exponential tail.
var DefaultLatency = Latency{Kind: "exp", Base: 20, Jitter: 30}

// ParseLatency reads "40" (fixed), "uniform:10:80" or "exp:20:30".
func ParseLatency(s string) (Latency, error) {
	parts := strings.Split(s, ":")
	num := func(p string) (float64, error) {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("%w: %q", ErrBadLatency, s)
		}
		return v, nil
	}
	switch {
	case len(parts) == 1:
		b, err := num(parts[0])
		return Latency{Kind: "fixed", Base: b}, err
	case len(parts) == 3 && (parts[0] == "uniform" || parts[0] == "exp" || parts[0] == "fixed"):
		b, err := num(parts[1])
		if err != nil {
			return Latency{}, err
		}
		j, err := num(parts[2])
		return Latency{Kind: parts[0], Base: b, Jitter: j}, err
	}
	return Latency{}, fmt.Errorf("%w: %q (want MS, uniform:BASE:JITTER or exp:BASE:MEAN)", ErrBadLatency, s)
}

func (l Latency) String() string {
	if l.Kind == "fixed" && l.Jitter == 0 {
		return strconv.FormatFloat(l.Base, 'f', -1, 64)
	}
	return fmt.Sprintf("%s:%s:%s", l.Kind, strconv.FormatFloat(l.Base, 'f', -1, 64), strconv.FormatFloat(l.Jitter, 'f', -1, 64))
}

// mix64 is SplitMix64's finaliser: a stateless hash used to give each link a
// stable base delay without storing n^2 numbers.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// NetConfig describes the faults of the in-memory network besides
// partitions and churn.
type NetConfig struct {
	Latency   Latency
	Loss      float64 // probability a message copy is dropped
	Duplicate float64 // probability a message copy is delivered twice
	Reorder   float64 // probability a copy is held back by up to ReorderMs
	ReorderMs float64
}

// Cut says whether traffic from one member to another is blocked now.
type Cut func(from, to MemberID) bool

// Network is the in-memory network: directed links with their own delay,
// loss, duplication and reordering, cut by the current partition, and
// silent towards members that are offline.
type Network struct {
	cfg    NetConfig
	seed   uint64
	rng    *rand.Rand
	clock  *Clock
	cut    Cut
	online func(MemberID) bool

	// Observed traffic, per sending member.
	BytesSent    map[MemberID]uint64
	CopiesSent   uint64
	CopiesLost   uint64 // dropped by loss
	CopiesCut    uint64 // dropped by a partition or an offline end
	CopiesDup    uint64
	CopiesArrive uint64
}

func newNetwork(cfg NetConfig, seed Seed, clock *Clock, online func(MemberID) bool) *Network {
	return &Network{
		cfg: cfg, seed: uint64(seed), rng: seed.Stream("net"), clock: clock,
		cut: func(MemberID, MemberID) bool { return false }, online: online,
		BytesSent: map[MemberID]uint64{},
	}
}

func (n *Network) linkBase(from, to MemberID) float64 {
	h := mix64(n.seed ^ mix64(uint64(uint32(from))<<32|uint64(uint32(to))))
	u := float64(h>>11) / (1 << 53)
	return n.cfg.Latency.Base * (0.5 + u)
}

func (n *Network) delay(from, to MemberID) Time {
	l := n.cfg.Latency
	d := n.linkBase(from, to)
	if l.Kind == "fixed" {
		d = l.Base
	}
	switch l.Kind {
	case "uniform":
		d += n.rng.Float64() * l.Jitter
	case "exp":
		d += n.rng.ExpFloat64() * l.Jitter
	}
	if n.cfg.Reorder > 0 && n.rng.Float64() < n.cfg.Reorder {
		d += n.rng.Float64() * n.cfg.ReorderMs
	}
	if d < 1 {
		d = 1
	}
	return Time(d)
}

// send puts one copy of data on the link from -> to; when a copy arrives,
// the member event made by arrive runs (its work is given the receiver,
// its run the shared state). Bytes are counted once per copy put on the
// wire, which is what a mesh of point-to-point links costs the sender.
func (n *Network) send(from, to MemberID, data []byte, arrive func() (work func(now Time), run func())) {
	n.CopiesSent++
	n.BytesSent[from] += uint64(len(data))
	if n.cut(from, to) || !n.online(to) {
		n.CopiesCut++
		return
	}
	if n.cfg.Loss > 0 && n.rng.Float64() < n.cfg.Loss {
		n.CopiesLost++
		return
	}
	copies := 1
	if n.cfg.Duplicate > 0 && n.rng.Float64() < n.cfg.Duplicate {
		copies = 2
		n.CopiesDup++
	}
	for range copies {
		work, run := arrive()
		// A partition that started while the copy was in flight, or a
		// receiver that went offline, loses it. Partitions and churn
		// change only in barrier events, so the work (which may run
		// beside other members' work) and the run see the same answer.
		var arrived bool
		n.clock.AtMember(n.clock.now+n.delay(from, to), to,
			func(now Time) {
				arrived = !n.cut(from, to) && n.online(to)
				if arrived {
					work(now)
				}
			},
			func() {
				if !arrived {
					n.CopiesCut++
					return
				}
				n.CopiesArrive++
				run()
			})
	}
}

// minDelay is the least delay send can give a copy: the lookahead of the
// engine's parallel windows.
func (n *Network) minDelay() Time {
	l := n.cfg.Latency
	d := l.Base * 0.5
	if l.Kind == "fixed" {
		d = l.Base
	}
	if d < 1 {
		d = 1
	}
	return Time(d)
}
