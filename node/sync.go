package node

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
)

// Point-to-point traffic of the ordering layer (fork's fetch requests and
// responses) travels over the overlay's request/response protocol. A
// request is one encoded Envelope (its header names the group); the answer
// is one encoded Envelope or nothing.

// serving is the fetch request the loop is answering right now: a
// response the machine addresses to its sender goes back on the same
// stream.
type serving struct {
	from peer.ID
	resp *consensus.Envelope
}

// direct sends a point-to-point envelope; a response that comes back is
// fed to the machine like any inbound envelope.
func (g *group) direct(d fork.Directed) {
	to := peer.ID(d.To) // node passes raw peer ids to the machine
	if g.serving != nil && to == g.serving.from && g.serving.resp == nil {
		env := d.Envelope
		g.serving.resp = &env
		return
	}
	data, err := d.Envelope.MarshalBinary()
	if err != nil {
		g.log.Error("encoding a direct envelope", "err", err)
		return
	}
	g.bg.Add(1)
	go func() {
		defer g.bg.Done()
		ctx, cancel := context.WithTimeout(g.ctx, 20*time.Second)
		defer cancel()
		resp, err := g.n.ov.Sync(ctx, to, data)
		if err != nil {
			g.log.Debug("sync request failed", "to", to, "kind", d.Envelope.Kind, "err", err)
			return
		}
		if len(resp) == 0 {
			return
		}
		env, err := consensus.UnmarshalEnvelope(resp)
		if err != nil {
			g.log.Debug("undecodable sync response", "from", to, "err", err)
			return
		}
		select {
		case g.inbox <- inbound{from: to, env: env}:
		case <-g.quit:
		}
	}()
}

// handleSync is the overlay's SyncHandler: it steps the request through
// the group's machine on the group's loop and returns what the machine
// answers its sender.
func (n *Node) handleSync(from peer.ID, req []byte) ([]byte, error) {
	if isHistoryRequest(req) {
		return n.serveHistory(from, req)
	}
	env, err := consensus.UnmarshalEnvelope(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidArgument, err)
	}
	n.mu.Lock()
	g, ok := n.groups[hex.EncodeToString(env.GroupID)]
	n.mu.Unlock()
	if !ok {
		return nil, ErrUnknownGroup
	}
	ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
	defer cancel()
	var resp *consensus.Envelope
	err = g.do(ctx, func() error {
		g.serving = &serving{from: from}
		defer func() { g.serving = nil }()
		err := g.m.Step(fork.PeerID(from), env)
		g.drainReady()
		resp = g.serving.resp
		return err
	})
	if err != nil && resp == nil {
		if errors.Is(err, ErrClosed) {
			return nil, err
		}
		return nil, fmt.Errorf("node: sync request refused: %w", err)
	}
	if resp == nil {
		return []byte{}, nil
	}
	return resp.MarshalBinary()
}
