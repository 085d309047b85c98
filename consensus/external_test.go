package consensus_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TestExternalJoin: a newcomer joins by external commit. It cannot
// compute the id of the epoch it joins, so its envelope names the parent
// by number only (zero id); members take the head chain's epoch of that
// number, apply the commit, and the newcomer's own Core carries on with
// them.
// externalJoin makes a newcomer's external commit on m0's head: the
// envelope (naming the parent by number only), the newcomer's group, key
// and randomness.
func externalJoin(t *testing.T, n *consensustest.Network) (consensus.Envelope, *mls.Group, *suite.SigningKey, *rand.ChaCha8) {
	t.Helper()
	cs := n.Suite
	rng := rand.NewChaCha8([32]byte{'x', 'j'})
	kp, key := newcomer(t, cs, rng)
	gi, err := n.Members[0].Core.Head().GroupInfo()
	if err != nil {
		t.Fatal(err)
	}
	g, msg, err := mls.JoinExternal(rng, cs, mls.ExternalJoinConfig{GroupInfo: gi, KeyPackage: kp, SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.Marshal(&consensus.CommitBody{Commit: msg})
	if err != nil {
		t.Fatal(err)
	}
	return consensus.Envelope{Kind: consensus.KindCommit, GroupID: g.GroupID(), Epoch: gi.GroupContext.Epoch, Body: body}, g, key, rng
}

// TestExternalJoin: a newcomer joins by external commit. It cannot
// compute the id of the epoch it joins, so its envelope names the parent
// by number only (zero id); members take the head chain's epoch of that
// number, apply the commit, and the newcomer's own Core carries on with
// them.
func TestExternalJoin(t *testing.T) {
	n := newNet(t, 3, nil)
	env, g, key, rng := externalJoin(t, n)
	joiner, err := consensus.New(consensus.Config{Group: g, SigningKey: key, Rand: rng})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range n.Members {
		if err := m.Core.Step(env); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if m.Core.HeadID() != joiner.HeadID() {
			t.Fatalf("%s on %v, joiner on %v", m.Name, m.Core.HeadID(), joiner.HeadID())
		}
	}
	n.Collect()
	// A message from the joiner reaches everyone.
	id, err := joiner.Send([]byte("hello from the newcomer"))
	if err != nil {
		t.Fatal(err)
	}
	rd := joiner.Ready()
	joiner.Advance(rd)
	for _, m := range n.Members {
		if err := m.Core.Step(rd.Messages[0]); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		got := m.Core.Ready().Delivered
		if len(got) != 1 || got[0].ID != id || string(got[0].Identity) != "newcomer" {
			t.Fatalf("%s delivered %+v", m.Name, got)
		}
		m.Core.Advance(m.Core.Ready())
	}
}

// TestAdminPolicyExternalJoin: under the admin policy an external join is
// refused by every member unless the policy allows it.
func TestAdminPolicyExternalJoin(t *testing.T) {
	for _, allow := range []bool{false, true} {
		policy := consensus.AdminPolicy{Bootstrap: [][]byte{[]byte("m0")}, AllowExternalJoin: allow}
		n := newNet(t, 3, func(_ int, cfg *consensus.Config) { cfg.Membership = policy })
		env, g, _, _ := externalJoin(t, n)
		for _, m := range n.Members {
			err := m.Core.Step(env)
			switch {
			case allow && (err != nil || m.Core.HeadID() != consensus.EpochIDOf(g)):
				t.Fatalf("allowed: %s: %v", m.Name, err)
			case !allow && !errors.Is(err, consensus.ErrPolicy):
				t.Fatalf("refused: %s: %v", m.Name, err)
			case !allow && m.Core.HeadRef().Epoch != 1:
				t.Fatalf("refused join applied at %s", m.Name)
			}
		}
	}
}

// newcomer makes a signing key and a KeyPackage for a member-to-be.
func newcomer(t *testing.T, cs *suite.Suite, rng *rand.ChaCha8) (*mls.KeyPackageBundle, *suite.SigningKey) {
	t.Helper()
	priv, _, err := cs.GenerateSignatureKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := cs.NewSigningKey(priv)
	kp, err := mls.NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("newcomer")}, key,
		mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotAfter: 1 << 40}, Capabilities: &wire.Capabilities{
			Versions: []wire.ProtocolVersion{wire.ProtocolVersionMLS10}, CipherSuites: []wire.CipherSuite{wire.CipherSuite(cs.ID())},
			Credentials: []wire.CredentialType{wire.CredentialTypeBasic}, Extensions: []wire.ExtensionType{consensus.ExtensionTypeAdmins}}})
	if err != nil {
		t.Fatal(err)
	}
	return kp, key
}

func newcomerKeyPackage(t *testing.T, cs *suite.Suite) *mls.KeyPackageBundle {
	kp, _ := newcomer(t, cs, rand.NewChaCha8([32]byte{'n', 'k'}))
	return kp
}
