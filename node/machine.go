package node

import (
	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// machine is the pure per-(member, group) state machine a group loop
// drives: fork.Member (consensus.Core plus fork detection and healing), in
// raft's Step/Tick/Ready/Advance shape. It is not safe for concurrent use;
// only the group's loop goroutine touches it.
type machine interface {
	Step(env consensus.Envelope) error
	Tick()
	Send(data []byte) (consensus.MessageID, error)
	Propose(p *wire.Proposal) error
	Commit(proposals ...*wire.Proposal) error
	HasReady() bool
	Ready() consensus.Ready
	Advance(rd consensus.Ready)
	Head() *mls.Group
	HeadID() consensus.EpochID
}

var _ machine = (*consensus.Core)(nil)
