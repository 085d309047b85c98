package cores

import (
	"fmt"
	"os"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/sim"
)

// A debugging trace of what members do with application messages and
// healing, on stderr, when MLSNODE_SIM_TRACE is set (to anything). It is
// for finding why a message was lost (see docs/simulation.md); it changes
// nothing the members do, and runs stay deterministic with it.
var traceOn = os.Getenv("MLSNODE_SIM_TRACE") != ""

func (m *Member) trace(format string, args ...any) {
	if !traceOn {
		return
	}
	fmt.Fprintf(os.Stderr, "t=%d m=%d %s\n", m.now, m.c.id, fmt.Sprintf(format, args...))
}

func short(id consensus.EpochID) string { return fmt.Sprintf("%x", id[:4]) }

// traceReceive notes an application or re-send envelope and its fate.
func (m *Member) traceReceive(from sim.MemberID, env *consensus.Envelope, err error) {
	if !traceOn || (env.Kind != consensus.KindApplication && env.Kind != consensus.KindResend && env.Kind != consensus.KindRelayed) {
		return
	}
	m.trace("recv kind=%d from=%d epoch=%d/%s err=%v", env.Kind, from, env.Epoch, short(env.EpochID), err)
}

// traceReady notes deliveries and events of one Ready.
func (m *Member) traceReady(rd *fork.Ready) {
	if !traceOn {
		return
	}
	for _, d := range rd.Delivered {
		m.trace("deliver %q epoch=%d/%s losing=%v", trunc(d.Data), d.Epoch, short(d.EpochID), d.LosingBranch)
	}
	for _, ev := range rd.Events {
		switch ev.Kind {
		case consensus.EventEpochMerged, consensus.EventRemoved, consensus.EventBranchSwitched:
			m.trace("core %v epoch=%d/%s parent=%s committer=%d removed=%v", ev.Kind, ev.Epoch, short(ev.ID), short(ev.Parent), ev.Committer, ev.Removed)
		}
	}
	for _, d := range rd.Direct {
		switch d.Envelope.Kind {
		case consensus.KindApplication:
			m.trace("relay to=%s epoch=%d/%s", d.To, d.Envelope.Epoch, short(d.Envelope.EpochID))
		case consensus.KindResend:
			m.trace("direct-resend to=%s", d.To)
		case consensus.KindRelayed:
			m.trace("relay-content to=%s sealed-in-head=%d/%s", d.To, d.Envelope.Epoch, short(d.Envelope.EpochID))
		}
	}
	for _, env := range rd.Messages {
		var b fork.Beacon
		if env.Kind != consensus.KindBeacon || codec.Unmarshal(env.Body, &b) != nil || len(b.Nacks) == 0 {
			continue
		}
		var ns []string
		for _, n := range b.Nacks {
			ns = append(ns, fmt.Sprintf("%x/%d", n.Author[:2], n.Seq))
		}
		m.trace("beacon epoch=%d/%s nacks=%v", b.Epoch, short(b.EpochID), ns)
	}
	for _, ev := range rd.Fork {
		m.trace("fork %v peer=%s rival=%d/%s count=%d", ev.Kind, ev.Peer, ev.Rival.Epoch, short(ev.Rival.ID), ev.Count)
	}
}

func trunc(b []byte) string {
	if len(b) > 16 {
		return string(b[:16])
	}
	return string(b)
}
