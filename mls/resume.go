package mls

import (
	"errors"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ErrReInitPending: the group committed a ReInit and is closed for
// application messages; continue in the new group (§11.2).
var ErrReInitPending = errors.New("mls: group is being reinitialised")

// PendingReInit returns the ReInit this group committed, or nil.
func (g *Group) PendingReInit() *wire.ReInit { return g.reinit }

// ResumptionPSKs is a PSKStore of this group's resumption PSKs (current
// and retained epochs), for joining a group resumed from it.
func (g *Group) ResumptionPSKs() PSKStore { return resumptionStore{g} }

type resumptionStore struct{ g *Group }

func (r resumptionStore) PSK(id *wire.PreSharedKeyID) ([]byte, error) {
	if id.PSKType == wire.PSKTypeResumption && string(id.PSKGroupID) == string(r.g.context.GroupID) {
		if psk, ok := r.g.resumptionPSK(id.PSKEpoch); ok {
			return psk, nil
		}
	}
	return nil, fmt.Errorf("no resumption PSK for epoch %d of this group", id.PSKEpoch)
}

// Resume starts a new group bound to this one by a resumption PSK (§11.2,
// §11.3): with usage reinit after a committed ReInit (the new group takes
// the ReInit's group id, suite and extensions), or usage branch for a
// subgroup with the same suite. cfg describes the creator's side of the
// new group; members are the KeyPackages of everyone else to bring along.
// It returns the new group at epoch 1 and the Welcome for the others, who
// join with JoinFromWelcome and this old group's ResumptionPSKs.
func (g *Group) Resume(rand io.Reader, usage wire.ResumptionPSKUsage, cfg CreateConfig, members []*wire.KeyPackage) (*Group, *wire.Welcome, error) {
	return g.ResumeWith(rand, usage, cfg, members, ResumeOptions{})
}

// ResumeOptions shape the first commit of a resumed group.
type ResumeOptions struct {
	// ForcePath gives the commit an UpdatePath, so that the creator's leaf
	// key is fresh from the first epoch.
	ForcePath bool
	// ExternalTree leaves the ratchet tree out of the Welcome, as in
	// CommitOptions; the joiners need the new group's Tree out of band.
	ExternalTree bool
}

// ResumeWith is Resume with options for the new group's first commit.
func (g *Group) ResumeWith(rand io.Reader, usage wire.ResumptionPSKUsage, cfg CreateConfig, members []*wire.KeyPackage, opts ResumeOptions) (*Group, *wire.Welcome, error) {
	cs := g.suite
	switch usage {
	case wire.ResumptionPSKUsageReInit:
		ri := g.reinit
		if ri == nil {
			return nil, nil, fmt.Errorf("mls: no ReInit committed in this group")
		}
		next, err := lookupSuite(ri.CipherSuite)
		if err != nil {
			return nil, nil, err
		}
		cs = next
		cfg.GroupID, cfg.Extensions = ri.GroupID, ri.Extensions
	case wire.ResumptionPSKUsageBranch:
		if cfg.KeyPackage.KeyPackage.CipherSuite != wire.CipherSuite(cs.ID()) {
			return nil, nil, fmt.Errorf("mls: a branch keeps the suite of its group")
		}
	default:
		return nil, nil, fmt.Errorf("mls: resumption usage %v does not start a group", usage)
	}
	n, err := CreateGroup(rand, cs, cfg)
	if err != nil {
		return nil, nil, err
	}
	nonce := make([]byte, cs.HashSize())
	if _, err := io.ReadFull(rand, nonce); err != nil {
		return nil, nil, err
	}
	proposals := []*wire.Proposal{{Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{PSK: wire.PreSharedKeyID{
		PSKType: wire.PSKTypeResumption, Usage: usage, PSKGroupID: g.context.GroupID, PSKEpoch: g.context.Epoch, PSKNonce: nonce}}}}
	for _, kp := range members {
		proposals = append(proposals, NewAdd(kp))
	}
	n.psks = g.ResumptionPSKs()
	n.policy.resumeUsage = usage
	res, err := n.Commit(rand, CommitOptions{Proposals: proposals, PublicMessage: true, ForcePath: opts.ForcePath, ExternalTree: opts.ExternalTree})
	if err != nil {
		return nil, nil, err
	}
	if err := n.Merge(res.Staged); err != nil {
		return nil, nil, err
	}
	n.psks, n.policy.resumeUsage = cfg.PSKs, 0
	return n, res.Welcome, nil
}

// CheckResumption verifies, after joining from a Welcome (whose PSKs the
// group remembers), that the new
// group really resumes old as §11.2/§11.3 require: epoch 1, a resumption
// PSK of the given usage naming old's group, and for reinit the group id,
// suite and extensions of old's committed ReInit, for branch old's suite.
// Which identities may follow into a branch is the application's call.
func (g *Group) CheckResumption(old *Group, usage wire.ResumptionPSKUsage) error {
	if g.context.Epoch != 1 {
		return fmt.Errorf("%w: resumed group at epoch %d, want 1", ErrInvalidWelcome, g.context.Epoch)
	}
	found := false
	for _, id := range g.joinedPSKs {
		found = found || (id.PSKType == wire.PSKTypeResumption && id.Usage == usage && string(id.PSKGroupID) == string(old.context.GroupID))
	}
	if !found {
		return fmt.Errorf("%w: no %v resumption PSK of the old group", ErrInvalidWelcome, usage)
	}
	switch usage {
	case wire.ResumptionPSKUsageReInit:
		ri := old.reinit
		if ri == nil || string(ri.GroupID) != string(g.context.GroupID) || ri.CipherSuite != g.context.CipherSuite {
			return fmt.Errorf("%w: new group does not match the committed ReInit", ErrInvalidWelcome)
		}
	case wire.ResumptionPSKUsageBranch:
		if g.context.CipherSuite != old.context.CipherSuite {
			return fmt.Errorf("%w: a branch changed the suite", ErrInvalidWelcome)
		}
	}
	return nil
}

func lookupSuite(id wire.CipherSuite) (*suite.Suite, error) { return suite.Lookup(suite.ID(id)) }
