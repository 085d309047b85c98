package overlay

import (
	"math"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/time/rate"
)

// penaltyHalfLife is how fast a peer's stream-protocol penalty fades, so
// that one bad request does not follow an honest peer for ever.
const penaltyHalfLife = 2 * time.Minute

// Penalty weights charged to a peer's application-specific gossipsub score.
// The graylist threshold is -400 (see scoreThresholds): a handful of
// malformed requests graylists a peer, a burst of rate-limited ones too.
const (
	penaltyMalformed   = 50
	penaltyTooLarge    = 100
	penaltyRateLimited = 5
)

// penalties tracks misbehaviour on the stream protocols, which gossipsub
// cannot see, and feeds it into gossipsub's score through
// AppSpecificScore. It also holds the per-peer request rate limiters.
type penalties struct {
	mu       sync.Mutex
	now      func() time.Time
	score    map[peer.ID]*penalty
	limiters map[peer.ID]*rate.Limiter
	rate     rate.Limit
	burst    int
}

type penalty struct {
	value float64
	at    time.Time
}

func newPenalties(r float64, burst int) *penalties {
	return &penalties{
		now:      time.Now,
		score:    map[peer.ID]*penalty{},
		limiters: map[peer.ID]*rate.Limiter{},
		rate:     rate.Limit(r),
		burst:    burst,
	}
}

func (ps *penalties) decayed(p *penalty, now time.Time) float64 {
	dt := now.Sub(p.at)
	return p.value * math.Exp2(-dt.Seconds()/penaltyHalfLife.Seconds())
}

// charge adds w to p's penalty.
func (ps *penalties) charge(p peer.ID, w float64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	now := ps.now()
	e := ps.score[p]
	if e == nil {
		e = &penalty{at: now}
		ps.score[p] = e
	}
	e.value = ps.decayed(e, now) + w
	e.at = now
}

// appScore is gossipsub's AppSpecificScore: minus the decayed penalty.
func (ps *penalties) appScore(p peer.ID) float64 {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	e := ps.score[p]
	if e == nil {
		return 0
	}
	v := ps.decayed(e, ps.now())
	if v < 0.5 {
		delete(ps.score, p)
		return 0
	}
	return -v
}

// allow takes one request token for p.
func (ps *penalties) allow(p peer.ID) bool {
	ps.mu.Lock()
	l := ps.limiters[p]
	if l == nil {
		l = rate.NewLimiter(ps.rate, ps.burst)
		ps.limiters[p] = l
	}
	ps.mu.Unlock()
	return l.Allow()
}

// forget drops p's rate limiter when it disconnects, but only if its
// bucket is full again: a flooding peer must not refill it by reconnecting.
// Its penalty stays and fades on its own.
func (ps *penalties) forget(p peer.ID) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if l := ps.limiters[p]; l != nil && l.Tokens() >= float64(ps.burst) {
		delete(ps.limiters, p)
	}
}
