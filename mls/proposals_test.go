package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func memberSender(leaf uint32) wire.Sender {
	return wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: leaf}
}

func addOf(t *testing.T, cs *suite.Suite, seed byte) QueuedProposal {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{seed, 0xad})
	priv, _, _ := cs.GenerateSignatureKey(rng)
	key, _ := cs.NewSigningKey(priv)
	b, err := NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte{seed}}, key,
		KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	return QueuedProposal{Sender: memberSender(0), Proposal: &wire.Proposal{Type: wire.ProposalTypeAdd, Add: &wire.Add{KeyPackage: *b.KeyPackage}}}
}

func removeOf(leaf uint32) QueuedProposal {
	return QueuedProposal{Sender: memberSender(0), Proposal: &wire.Proposal{Type: wire.ProposalTypeRemove, Remove: &wire.Remove{Removed: leaf}}}
}

func pskOf(nonce []byte) QueuedProposal {
	return QueuedProposal{Sender: memberSender(0), Proposal: &wire.Proposal{Type: wire.ProposalTypePSK,
		PreSharedKey: &wire.PreSharedKey{PSK: wire.PreSharedKeyID{PSKType: wire.PSKTypeExternal, PSKID: []byte("k"), PSKNonce: nonce}}}}
}

func gceOf(exts wire.Extensions) QueuedProposal {
	return QueuedProposal{Sender: memberSender(0), Proposal: &wire.Proposal{Type: wire.ProposalTypeGroupContextExtensions,
		GroupContextExtensions: &wire.GroupContextExtensions{Extensions: exts}}}
}

func TestProposalListRules(t *testing.T) {
	g := createGroup(t, 1, 7)
	cs := g.Suite()
	a1, a2 := addOf(t, cs, 1), addOf(t, cs, 2)

	// Two Adds apply in order to leaves 1 and 2.
	committer := memberSender(0)
	ok := []QueuedProposal{a1, a2}
	if err := g.ValidateProposals(committer, ok, ProposalCheck{}); err != nil {
		t.Fatalf("valid adds: %v", err)
	}
	applied, err := g.ApplyProposals(ok)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied.Added) != 2 || applied.Added[0] != 1 || applied.Added[1] != 2 || applied.Tree.MemberCount() != 3 {
		t.Fatalf("added %v, %d members", applied.Added, applied.Tree.MemberCount())
	}
	if g.Tree().MemberCount() != 1 {
		t.Fatal("ApplyProposals changed the group's own tree")
	}
	// A group of three to test removals against.
	g3v := *g
	g3 := &g3v
	g3v.tree = applied.Tree

	nonce := bytes.Repeat([]byte{1}, cs.HashSize())
	// A valid KeyPackage of the creator's own client (same signature key).
	again, err := NewKeyPackage(rand.NewChaCha8([32]byte{99}), cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("creator")},
		g.signingKey, KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	creatorAsAdd := QueuedProposal{Sender: committer, Proposal: &wire.Proposal{Type: wire.ProposalTypeAdd, Add: &wire.Add{KeyPackage: *again.KeyPackage}}}
	reinit := QueuedProposal{Sender: committer, Proposal: &wire.Proposal{Type: wire.ProposalTypeReInit, ReInit: &wire.ReInit{GroupID: []byte("g"), Version: wire.ProtocolVersionMLS10, CipherSuite: 1}}}
	extInit := QueuedProposal{Sender: committer, Proposal: &wire.Proposal{Type: wire.ProposalTypeExternalInit, ExternalInit: &wire.ExternalInit{KEMOutput: make([]byte, 32)}}}
	update := QueuedProposal{Sender: committer, Proposal: &wire.Proposal{Type: wire.ProposalTypeUpdate, Update: &wire.Update{LeafNode: *g.Tree().Leaf(0)}}}
	requireUnknownExt := gceOf(wire.Extensions{{ExtensionType: wire.ExtensionTypeRequiredCapabilities,
		ExtensionData: mustMarshal(t, &wire.RequiredCapabilities{ExtensionTypes: []wire.ExtensionType{0x7777}})}})

	for _, tc := range []struct {
		name  string
		group *Group
		list  []QueuedProposal
	}{
		{"same client added twice", g, []QueuedProposal{a1, a1}},
		{"add of a current member", g, []QueuedProposal{creatorAsAdd}},
		{"remove of the committer", g3, []QueuedProposal{removeOf(0)}},
		{"remove of an absent leaf", g3, []QueuedProposal{removeOf(9)}},
		{"two removes of one leaf", g3, []QueuedProposal{removeOf(1), removeOf(1)}},
		{"update by the committer", g3, []QueuedProposal{update}},
		{"short psk nonce", g, []QueuedProposal{pskOf(nonce[1:])}},
		{"same psk twice", g, []QueuedProposal{pskOf(nonce), pskOf(nonce)}},
		{"two group context extensions", g, []QueuedProposal{gceOf(nil), gceOf(nil)}},
		{"reinit with others", g, []QueuedProposal{reinit, a1}},
		{"external init in a regular commit", g, []QueuedProposal{extInit}},
		{"required capability nobody has", g, []QueuedProposal{requireUnknownExt}},
	} {
		err := tc.group.ValidateProposals(committer, tc.list, ProposalCheck{})
		t.Logf("%s: %v", tc.name, err)
		if !errors.Is(err, ErrInvalidProposals) {
			t.Errorf("%s: err = %v, want ErrInvalidProposals", tc.name, err)
		}
	}
	// Valid lists of each kind.
	for _, tc := range []struct {
		name string
		list []QueuedProposal
	}{
		{"removes", []QueuedProposal{removeOf(1), removeOf(2)}},
		{"psks", []QueuedProposal{pskOf(nonce), pskOf(bytes.Repeat([]byte{2}, cs.HashSize()))}},
		{"reinit alone", []QueuedProposal{reinit}},
	} {
		if err := g3.ValidateProposals(committer, tc.list, ProposalCheck{}); err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	// Removing both new members truncates the tree back to one leaf.
	back, err := g3.ApplyProposals([]QueuedProposal{removeOf(1), removeOf(2)})
	if err != nil || back.Tree.LeafCount() != 1 {
		t.Fatalf("remove both: %v, %d leaves", err, back.Tree.LeafCount())
	}

	// External commits: exactly one ExternalInit, at most one Remove.
	ext := ProposalCheck{External: true}
	if err := g3.ValidateProposals(committer, []QueuedProposal{extInit, removeOf(1), pskOf(nonce)}, ext); err != nil {
		t.Errorf("valid external list: %v", err)
	}
	for name, list := range map[string][]QueuedProposal{
		"no external init":  {removeOf(1)},
		"two removes":       {extInit, removeOf(1), removeOf(2)},
		"add in external":   {extInit, a1},
		"two external init": {extInit, extInit},
	} {
		if err := g3.ValidateProposals(committer, list, ext); !errors.Is(err, ErrInvalidProposals) {
			t.Errorf("external %s: err = %v", name, err)
		}
	}

	// Path rules of §12.4.
	if !PathRequired(nil) || PathRequired([]QueuedProposal{a1, pskOf(nonce)}) || !PathRequired([]QueuedProposal{a1, removeOf(1)}) {
		t.Error("PathRequired disagrees with §12.4")
	}
}

func mustMarshal(t *testing.T, v codec.Marshaler) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
