package consensus

import (
	"github.com/mlsnode/mlsnode/mls"
)

// ProposedCommit is what a MembershipPolicy judges: a commit staged on a
// parent epoch, before any member accepts it.
type ProposedCommit struct {
	// Parent is the state of the epoch the commit is made on; read only.
	Parent *mls.Group
	// Staged is the processed commit; read only.
	Staged *mls.StagedCommit
	// External is set for an external commit (new_member_commit).
	External bool
}

// MembershipPolicy is a rule every member applies identically before it
// accepts a commit, its own included. It must be a pure function of the
// parent epoch and the commit, so that all members agree: a commit it
// refuses is refused everywhere and can never win a race.
type MembershipPolicy interface {
	Name() string
	Check(c *ProposedCommit) error
}

// AllowAll accepts every commit the MLS engine accepts.
type AllowAll struct{}

func (AllowAll) Name() string                { return "allow-all" }
func (AllowAll) Check(*ProposedCommit) error { return nil }
