package node

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// Message catch-up.
//
// Gossipsub never re-sends what a peer missed while it was down or cut
// off, and the ordering layer fetches commits, not application messages.
// So every node keeps the last historyCap application envelopes of each
// group it saw (sent or received, as they travelled: still encrypted) and
// hands them to a peer that asks. A node asks each peer it (re)connects
// to; it feeds what comes back through its machine like gossip, which
// drops what it already has (the same MessageID is delivered once).
//
// The request travels on the overlay's sync protocol next to fork's fetch
// envelopes; its first byte (historyRequestTag) cannot start an Envelope,
// whose first byte is its version, 1.
//
//	struct { uint8 tag = 0xA1; opaque group_id<V>; } HistoryRequest;
//	struct { opaque envelopes<V><V>; } HistoryResponse;

const (
	historyRequestTag = 0xA1
	historyCap        = 2048
	maxHistoryGroupID = 256
	// sentCap bounds this node's own sent envelopes kept in the store, so
	// that it can still serve them after a restart (a message published
	// while nobody could hear it is otherwise lost with the process).
	sentCap = 64
	// maxHistoryBytes bounds one history response.
	maxHistoryBytes = 8 << 20
)

type historyRequest struct {
	GroupID []byte
}

func (h *historyRequest) MarshalMLS(w *codec.Writer) {
	w.Uint8(historyRequestTag)
	w.Opaque(h.GroupID)
}

func (h *historyRequest) UnmarshalMLS(r *codec.Reader) {
	var tag uint8
	r.Uint8("HistoryRequest.tag", &tag)
	if r.OK() && tag != historyRequestTag {
		r.Fail("HistoryRequest.tag", fmt.Errorf("%w: tag %#x", ErrInvalidArgument, tag))
		return
	}
	r.Opaque("HistoryRequest.group_id", &h.GroupID)
	if r.OK() && (len(h.GroupID) == 0 || len(h.GroupID) > maxHistoryGroupID) {
		r.Fail("HistoryRequest.group_id", fmt.Errorf("%w: group id of %d bytes", ErrInvalidArgument, len(h.GroupID)))
	}
}

type historyResponse struct {
	Envelopes [][]byte
}

func (h *historyResponse) MarshalMLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for _, e := range h.Envelopes {
			w.Opaque(e)
		}
	})
}

func (h *historyResponse) UnmarshalMLS(r *codec.Reader) {
	r.Vector("HistoryResponse.envelopes", func(r *codec.Reader) {
		for !r.Empty() {
			var e []byte
			if !r.Opaque("HistoryResponse.envelope", &e) {
				return
			}
			h.Envelopes = append(h.Envelopes, e)
		}
	})
}

func isHistoryRequest(req []byte) bool { return len(req) > 0 && req[0] == historyRequestTag }

// remember keeps an application envelope for peers that missed it.
func (g *group) remember(env *consensus.Envelope) {
	if env.Kind != consensus.KindApplication {
		return
	}
	raw, err := env.MarshalBinary()
	if err != nil {
		return
	}
	if len(g.history) >= historyCap {
		copy(g.history, g.history[1:])
		g.history = g.history[:historyCap-1]
	}
	g.history = append(g.history, raw)
}

// serveHistory answers a HistoryRequest.
func (n *Node) serveHistory(from peer.ID, req []byte) ([]byte, error) {
	var hr historyRequest
	if err := codec.Unmarshal(req, &hr); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	g, err := n.group(hex.EncodeToString(hr.GroupID))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	var resp historyResponse
	if err := g.do(ctx, func() error {
		// Only members may read the group's (encrypted) history.
		if _, ok := g.leafOf(from); !ok {
			return fmt.Errorf("%w: %s", ErrNotMember, from)
		}
		// Newest first up to maxHistoryBytes (the overlay bounds a sync
		// response at 16 MiB), then back in sending order.
		size := 0
		start := len(g.history)
		for start > 0 && size+len(g.history[start-1]) <= maxHistoryBytes {
			start--
			size += len(g.history[start])
		}
		resp.Envelopes = append([][]byte(nil), g.history[start:]...)
		return nil
	}); err != nil {
		return nil, err
	}
	return codec.Marshal(&resp)
}

// catchUp asks p for the group's recent application messages.
func (g *group) catchUp(p peer.ID) {
	req, err := codec.Marshal(&historyRequest{GroupID: g.gid})
	if err != nil {
		return
	}
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		ctx, cancel := context.WithTimeout(g.ctx, 20*time.Second)
		defer cancel()
		raw, err := g.n.ov.Sync(ctx, p, req)
		if err != nil {
			g.log.Debug("history request failed", "peer", p, "err", err)
			return
		}
		var resp historyResponse
		if err := codec.Unmarshal(raw, &resp); err != nil {
			g.log.Debug("undecodable history response", "peer", p, "err", err)
			return
		}
		fed := 0
		for _, b := range resp.Envelopes {
			env, err := consensus.UnmarshalEnvelope(b)
			if err != nil || env.Kind != consensus.KindApplication {
				continue
			}
			select {
			case g.inbox <- inbound{from: p, env: env}:
				fed++
			case <-g.quit:
				return
			}
		}
		g.log.Debug("history received", "peer", p, "envelopes", fed)
	}()
}

func hasApplication(envs []consensus.Envelope) bool {
	for _, e := range envs {
		if e.Kind == consensus.KindApplication {
			return true
		}
	}
	return false
}

// noteSent adds this Ready's own application envelopes to the sent log
// and returns its new encoding for the store, or nil if it did not change.
func (g *group) noteSent(envs []consensus.Envelope) []byte {
	changed := false
	for i := range envs {
		if envs[i].Kind != consensus.KindApplication {
			continue
		}
		raw, err := envs[i].MarshalBinary()
		if err != nil {
			continue
		}
		g.sent = append(g.sent, raw)
		if len(g.sent) > sentCap {
			g.sent = g.sent[len(g.sent)-sentCap:]
		}
		changed = true
	}
	if !changed {
		return nil
	}
	b, err := codec.Marshal(&historyResponse{Envelopes: g.sent})
	if err != nil {
		return nil
	}
	return b
}

// loadSent restores the sent log after a restart, and puts it in the
// history buffer that peers catch up from.
func (g *group) loadSent(ctx context.Context) {
	raw, err := g.sg.GroupKey(ctx, sentKey)
	if err != nil {
		return
	}
	var h historyResponse
	if err := codec.Unmarshal(raw, &h); err != nil {
		g.log.Warn("stored sent log unreadable", "err", err)
		return
	}
	g.sent = h.Envelopes
	g.history = append(g.history, h.Envelopes...)
}
