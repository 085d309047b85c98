package node

import (
	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// machine is the pure per-(member, group) state machine a group loop
// drives: fork.Member (consensus.Core plus fork detection and healing), in
// raft's Step/Tick/Ready/Advance shape. It is not safe for concurrent use;
// only the group's loop goroutine touches it.
type machine interface {
	Step(from fork.PeerID, env *consensus.Envelope) error
	Tick()
	Send(data []byte) (consensus.MessageID, error)
	Propose(p *wire.Proposal) error
	Commit(proposals ...*wire.Proposal) error
	HasReady() bool
	Ready() fork.Ready
	Advance(rd fork.Ready)
	Core() *consensus.Core
	Gone() bool
}

var _ machine = (*fork.Member)(nil)
