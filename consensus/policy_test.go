package consensus_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func setAdmins(t *testing.T, names ...string) *wire.Proposal {
	t.Helper()
	var ids [][]byte
	for _, n := range names {
		ids = append(ids, []byte(n))
	}
	ext, err := consensus.AdminsExtension(ids...)
	if err != nil {
		t.Fatal(err)
	}
	return &wire.Proposal{Type: wire.ProposalTypeGroupContextExtensions,
		GroupContextExtensions: &wire.GroupContextExtensions{Extensions: wire.Extensions{ext}}}
}

// TestAdminPolicyRules: the admin list lives in the GroupContext; only
// admins change it, it never becomes empty, and a change takes effect for
// the commits on the next epoch.
func TestAdminPolicyRules(t *testing.T) {
	n, err := consensustest.NewNetwork(consensustest.Options{Members: 3, Seed: 3, Admins: []int{0},
		Configure: func(_ int, cfg *consensus.Config) { cfg.Membership = consensus.AdminPolicy{} }})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	m2 := n.Members[2].Core
	step := func(env consensus.Envelope) error {
		err := m2.Step(env)
		m2.Advance(m2.Ready())
		return err
	}
	for name, env := range map[string]consensus.Envelope{
		"a non-admin makes itself admin": rawCommit(t, n, 1, setAdmins(t, "m1")),
		"a non-admin removes":            rawCommit(t, n, 1, mls.NewRemove(2)),
		"an admin empties the list":      rawCommit(t, n, 0, setAdmins(t)),
	} {
		if err := step(env); !errors.Is(err, consensus.ErrPolicy) || !errors.Is(err, consensus.ErrNotAdmin) {
			t.Errorf("%s: %v, want ErrPolicy", name, err)
		}
	}
	if m2.HeadRef().Epoch != 1 {
		t.Fatal("a refused commit was applied")
	}
	// The admin makes m1 an admin; on the next epoch m1 may remove.
	if err := step(rawCommit(t, n, 0, setAdmins(t, "m0", "m1"))); err != nil {
		t.Fatal(err)
	}
	if err := n.Members[1].Core.Step(mustLast(t, n, 2)); err != nil || n.Members[1].Core.HeadID() != m2.HeadID() {
		t.Fatalf("m1 did not follow: %v", err)
	}
	if err := step(rawCommit(t, n, 1, mls.NewRemove(0))); err != nil {
		t.Fatalf("a new admin removes: %v", err)
	}
}

// mustLast returns the commit envelope that member i applied last, as
// broadcast (from its head chain).
func mustLast(t *testing.T, n *consensustest.Network, i int) consensus.Envelope {
	t.Helper()
	c := n.Members[i].Core
	chain := c.Chain(2)
	envs, ok := c.CommitsAfter(chain[1].ID, 1)
	if !ok || len(envs) != 1 {
		t.Fatal("no commit on the head chain")
	}
	return envs[0]
}
