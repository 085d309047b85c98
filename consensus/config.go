package consensus

import (
	"io"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Defaults for the bounds of Config.
const (
	DefaultWindowTicks        = 20
	DefaultMaxRivalsPerParent = 8
	DefaultMaxRetainedEpochs  = 64
	DefaultMaxPendingPerEpoch = 64
	DefaultMaxOutbox          = 1024
	DefaultMaxPendingEpochs   = 16
)

// Config is what a Core needs. Group, SigningKey and Rand are required.
type Config struct {
	// Group is the member's state of the epoch it starts in (after
	// CreateGroup, JoinFromWelcome, JoinExternal or LoadGroup). The Core
	// takes ownership: the caller must not use it afterwards.
	Group *mls.Group
	// SigningKey, PSKs and Credentials are what mls.LoadGroup needs to
	// restore retained epochs from their stored state.
	SigningKey  *suite.SigningKey
	PSKs        mls.PSKStore
	Credentials mls.CredentialValidator
	// Rand supplies every random byte the Core uses (commits' path
	// secrets, reuse guards, message nonces).
	Rand io.Reader

	// Rank orders rivals (nil: CommitterOrder). Apply says when to act
	// on the best (nil: ApplySwitch). Membership judges commits (nil:
	// AllowAll).
	Rank       RankRule
	Apply      ApplyPolicy
	Membership MembershipPolicy

	// WindowTicks is the retention window: an epoch on the head chain is
	// final WindowTicks ticks after the head moved past it, or earlier
	// when every member of its child has built on it (see
	// docs/ordering.md, "Finality").
	WindowTicks uint64
	// MaxRivalsPerParent bounds the candidate commits kept per parent
	// epoch; beyond it a new candidate is kept only if it ranks above
	// the worst kept one, which is then dropped.
	MaxRivalsPerParent int
	// MaxRetainedEpochs bounds the epoch tree.
	MaxRetainedEpochs int
	// MaxPendingPerEpoch bounds messages buffered for an epoch this
	// member has heard of but not yet reached.
	MaxPendingPerEpoch int
	// MaxOutbox bounds application messages awaiting finality.
	MaxOutbox int

	// CommitHook, if set, may edit the by-value proposals of every commit
	// the Core creates (package fork keeps a GroupContext extension up to
	// date with it). It must be deterministic.
	// SealHandshakes makes the Core send its commits, proposals and
	// evidence as KindSealed envelopes, encrypted under a key only
	// members of the epoch can derive, so that the topic does not show
	// who adds or removes whom (docs/ordering.md, "Sealed handshakes").
	// A Core opens sealed envelopes whatever this says.
	SealHandshakes bool
	// SkipPersist leaves Ready.Persist nil (the simulator, which never
	// restarts a Core, skips the cost of encoding the state each step).
	SkipPersist bool
	// MaxPendingEpochs bounds how many unknown epochs have messages held.
	MaxPendingEpochs int

	CommitHook func(head *mls.Group, proposals []*wire.Proposal) []*wire.Proposal
	// CommitHookRefs, if set, is used instead of CommitHook and also sees
	// the proposals the commit will include by reference (read only):
	// those received in the head epoch, in order.
	CommitHookRefs func(head *mls.Group, byValue, byRef []*wire.Proposal) []*wire.Proposal
	// KeepAbandoned, if set, is asked about each of this member's own
	// commits that a branch switch abandons, with the commit's
	// authenticated data: true means its proposals are not committed
	// again on the new head. Package fork uses it for batch re-adds,
	// whose Adds only make sense together with their Removes and whose
	// re-commit would remove the rejoiners instead (the Add's signature
	// key is already in the tree, so re-targeting drops the Add).
	KeepAbandoned func(authenticatedData []byte) bool
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.Rank == nil {
		out.Rank = CommitterOrder{}
	}
	if out.Apply == nil {
		out.Apply = ApplySwitch{}
	}
	if out.Membership == nil {
		out.Membership = AllowAll{}
	}
	if out.WindowTicks == 0 {
		out.WindowTicks = DefaultWindowTicks
	}
	if out.MaxRivalsPerParent == 0 {
		out.MaxRivalsPerParent = DefaultMaxRivalsPerParent
	}
	if out.MaxRetainedEpochs == 0 {
		out.MaxRetainedEpochs = DefaultMaxRetainedEpochs
	}
	if out.MaxPendingPerEpoch == 0 {
		out.MaxPendingPerEpoch = DefaultMaxPendingPerEpoch
	}
	if out.MaxPendingEpochs == 0 {
		out.MaxPendingEpochs = DefaultMaxPendingEpochs
	}
	if out.MaxOutbox == 0 {
		out.MaxOutbox = DefaultMaxOutbox
	}
	return out
}
