package fork

import (
	"bytes"

	"github.com/mlsnode/mlsnode/consensus"
)

// Held point-to-point re-sends. A DirectResend is sealed in its author's
// head, and its recipient is typically a member that lacks messages
// because it was away: back online, it is sent re-sends at once, sealed
// in epochs it has not fetched yet. The core holds application messages
// of unknown epochs until it reaches them; re-sends, which the core does
// not see, are held here alike, within the same bounds
// (consensus.DefaultMaxPendingEpochs epochs, DefaultMaxPendingPerEpoch
// each, dropped after twice the window), and opened once the epoch is
// known. Dropping them instead lost the messages of authors removed
// before the recipient caught up (simulator churn seed 7: member 12, back
// at 11.8 s, was sent re-sends in epoch 9 and merged epochs 3-9 only 60 ms
// later).
//
// Nothing is verified before the epoch is known (its tree is needed), so
// an envelope held can be forged; it costs a slot until it expires, and
// is verified like any re-send when opened. A member with a join request
// out keeps them in early instead (batch.go), for the core it will join.

type heldQueue struct {
	since uint64
	envs  []consensus.Envelope
}

type heldResends struct {
	byEpoch map[EpochID]*heldQueue
	order   []EpochID // oldest first
}

// holdResend keeps a re-send naming an epoch the core does not know. It
// reports whether it was kept.
func (m *Member) holdResend(env *consensus.Envelope) bool {
	if m.pj != nil || m.outside() || env.EpochID.IsZero() || m.core.Knows(env.EpochID) {
		return false
	}
	h := &m.held
	if h.byEpoch == nil {
		h.byEpoch = map[EpochID]*heldQueue{}
	}
	q := h.byEpoch[env.EpochID]
	if q == nil {
		if len(h.order) >= consensus.DefaultMaxPendingEpochs {
			return false
		}
		q = &heldQueue{since: m.tick}
		h.byEpoch[env.EpochID] = q
		h.order = append(h.order, env.EpochID)
	}
	if len(q.envs) >= consensus.DefaultMaxPendingPerEpoch {
		return false
	}
	for i := range q.envs {
		if bytes.Equal(q.envs[i].Body, env.Body) {
			return true
		}
	}
	e := *env
	e.Body = bytes.Clone(env.Body)
	e.GroupID = bytes.Clone(env.GroupID)
	q.envs = append(q.envs, e)
	return true
}

// releaseResends opens the held re-sends of epochs the core now knows, and
// forgets those held for longer than twice the window.
func (m *Member) releaseResends() {
	h := &m.held
	if len(h.order) == 0 {
		return
	}
	w := m.cfg.Core.WindowTicks
	if w == 0 {
		w = consensus.DefaultWindowTicks
	}
	keep := h.order[:0]
	var ready []consensus.Envelope
	for _, id := range h.order {
		q := h.byEpoch[id]
		switch {
		case !m.outside() && m.core.Knows(id):
			ready = append(ready, q.envs...)
			delete(h.byEpoch, id)
		case m.tick-q.since > 2*w || m.outside():
			delete(h.byEpoch, id)
		default:
			keep = append(keep, id)
		}
	}
	h.order = keep
	for i := range ready {
		_ = m.stepDirect(&ready[i]) // refusals were counted when it arrived
	}
}

func (h *heldResends) count() int {
	k := 0
	for _, q := range h.byEpoch {
		k += len(q.envs)
	}
	return k
}
