package mls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

type member struct {
	name string
	key  *suite.SigningKey
	kp   *KeyPackageBundle
	g    *Group
	psks PSKStore // the PSKs this member holds when it joins
}

func newMember(t *testing.T, cs *suite.Suite, rng *rand.ChaCha8, name string) *member {
	return newMemberTB(t, cs, rng, name)
}

func newMemberTB(t testing.TB, cs *suite.Suite, rng *rand.ChaCha8, name string) *member {
	t.Helper()
	priv, _, err := cs.GenerateSignatureKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := cs.NewSigningKey(priv)
	kp, err := NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)}, key,
		KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	return &member{name: name, key: key, kp: kp}
}

// wireTrip encodes and decodes a message, as the network would.
func wireTrip(t *testing.T, m *wire.MLSMessage) *wire.MLSMessage {
	t.Helper()
	b, err := codec.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	out, err := wire.ParseMLSMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// commitAndDeliver has committer commit opts, merges it there, delivers
// the commit to every other current member (who stage and merge it), and
// joins the new members from the Welcome.
func commitAndDeliver(t *testing.T, rng *rand.ChaCha8, cs *suite.Suite, committer *member, others []*member, joiners []*member, opts CommitOptions) {
	t.Helper()
	res, err := committer.g.Commit(rng, opts)
	if err != nil {
		t.Fatalf("%s commits: %v", committer.name, err)
	}
	msg := wireTrip(t, res.Commit)
	for _, o := range others {
		p, err := o.g.ProcessHandshake(msg)
		if err != nil {
			t.Fatalf("%s processes %s's commit: %v", o.name, committer.name, err)
		}
		if p.Commit.SelfRemoved {
			continue
		}
		if err := o.g.Merge(p.Commit); err != nil {
			t.Fatal(err)
		}
	}
	// The committer sees its own commit come back from the network and
	// gets the same staged state it created.
	own, err := committer.g.ProcessHandshake(msg)
	if err != nil || own.Commit != res.Staged {
		t.Fatalf("%s processing its own commit: %v", committer.name, err)
	}
	if err := committer.g.Merge(own.Commit); err != nil {
		t.Fatal(err)
	}
	if len(joiners) > 0 {
		if res.Welcome == nil {
			t.Fatal("no Welcome for added members")
		}
		wb, _ := codec.Marshal(wire.NewMLSMessage(res.Welcome))
		wm, err := wire.ParseMLSMessage(wb)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range joiners {
			if j.g, err = JoinFromWelcome(cs, wm.Welcome, JoinConfig{KeyPackage: j.kp, SigningKey: j.key, PSKs: j.psks}); err != nil {
				t.Fatalf("%s joins: %v", j.name, err)
			}
		}
	}
}

func addProposal(m *member) *wire.Proposal {
	return &wire.Proposal{Type: wire.ProposalTypeAdd, Add: &wire.Add{KeyPackage: *m.kp.KeyPackage}}
}

func sameEpoch(t *testing.T, ms ...*member) {
	t.Helper()
	for _, m := range ms[1:] {
		if !bytes.Equal(m.g.EpochAuthenticator(), ms[0].g.EpochAuthenticator()) || m.g.Epoch() != ms[0].g.Epoch() {
			t.Fatalf("%s and %s disagree on epoch %d", ms[0].name, m.name, ms[0].g.Epoch())
		}
		a, _ := ms[0].g.Export("test", nil, 32)
		b, _ := m.g.Export("test", nil, 32)
		if !bytes.Equal(a, b) {
			t.Fatalf("%s and %s export different secrets", ms[0].name, m.name)
		}
	}
}

func sendAndReceive(t *testing.T, rng *rand.ChaCha8, from *member, to ...*member) {
	t.Helper()
	text := []byte(fmt.Sprintf("from %s in epoch %d", from.name, from.g.Epoch()))
	m, err := from.g.SealApplication(rng, text, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	msg := wireTrip(t, m)
	for _, r := range to {
		got, err := r.g.OpenMessage(msg)
		if err != nil || !bytes.Equal(got.ApplicationData, text) || got.Sender != from.g.OwnLeaf() {
			t.Fatalf("%s reading %s: %v", r.name, from.name, err)
		}
	}
}

// TestGroupLifeCycle runs a group through creation, adds (with and
// without a path), joins from Welcomes, application messages, an empty
// commit, a removal and commits as Public and Private messages, in every
// suite, checking after every step that all members agree.
func TestGroupLifeCycle(t *testing.T) {
	for _, id := range suite.All() {
		t.Run(id.String(), func(t *testing.T) {
			cs, _ := suite.Lookup(id)
			rng := rand.NewChaCha8([32]byte{byte(id), 'l', 'c'})
			alice, bob, carol, dave := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol"), newMember(t, cs, rng, "dave")
			var err error
			if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
				t.Fatal(err)
			}
			// Add bob with a partial commit (no path).
			commitAndDeliver(t, rng, cs, alice, nil, []*member{bob}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}})
			sameEpoch(t, alice, bob)
			sendAndReceive(t, rng, alice, bob)
			sendAndReceive(t, rng, bob, alice)
			// Bob refreshes his keys with an empty commit (path required).
			commitAndDeliver(t, rng, cs, bob, []*member{alice}, nil, CommitOptions{})
			sameEpoch(t, alice, bob)
			// Alice adds carol and dave with a path, as a PublicMessage.
			commitAndDeliver(t, rng, cs, alice, []*member{bob}, []*member{carol, dave},
				CommitOptions{Proposals: []*wire.Proposal{addProposal(carol), addProposal(dave)}, ForcePath: true, PublicMessage: true})
			sameEpoch(t, alice, bob, carol, dave)
			sendAndReceive(t, rng, carol, alice, bob, dave)
			// Dave removes carol; carol sees she is removed.
			remove := &wire.Proposal{Type: wire.ProposalTypeRemove, Remove: &wire.Remove{Removed: uint32(carol.g.OwnLeaf())}}
			commitAndDeliver(t, rng, cs, dave, []*member{alice, bob, carol}, nil, CommitOptions{Proposals: []*wire.Proposal{remove}})
			sameEpoch(t, alice, bob, dave)
			if alice.g.Tree().MemberCount() != 3 {
				t.Fatalf("%d members after the removal", alice.g.Tree().MemberCount())
			}
			sendAndReceive(t, rng, bob, alice, dave)
			// Carol, still in the old epoch, cannot read the new epoch.
			m, _ := bob.g.SealApplication(rng, []byte("secret"), nil, 0)
			if _, err := carol.g.OpenMessage(wireTrip(t, m)); err == nil {
				t.Fatal("removed member read a message of the next epoch")
			}
		})
	}
}

// TestLateMessages: an application message sent before a commit still
// opens after the receiver merged it, for the configured number of past
// epochs, and not beyond.
func TestLateMessages(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'l', 'a', 't', 'e'})
	alice, bob := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob")
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key, PastEpochs: 1}); err != nil {
		t.Fatal(err)
	}
	commitAndDeliver(t, rng, cs, alice, nil, []*member{bob}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}})
	seal := func() *wire.MLSMessage {
		m, err := alice.g.SealApplication(rng, []byte("late"), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		return wireTrip(t, m)
	}
	// bob joined with the default retention (2); alice keeps 1.
	m1 := seal() // epoch 1
	commitAndDeliver(t, rng, cs, bob, []*member{alice}, nil, CommitOptions{})
	m2 := seal() // epoch 2
	commitAndDeliver(t, rng, cs, bob, []*member{alice}, nil, CommitOptions{})
	if got, err := bob.g.OpenMessage(m2); err != nil || got.Epoch != 2 {
		t.Fatalf("one epoch late: %v", err)
	}
	if got, err := bob.g.OpenMessage(m1); err != nil || got.Epoch != 1 {
		t.Fatalf("two epochs late: %v", err)
	}
	m3 := seal() // epoch 3
	commitAndDeliver(t, rng, cs, bob, []*member{alice}, nil, CommitOptions{})
	commitAndDeliver(t, rng, cs, bob, []*member{alice}, nil, CommitOptions{})
	commitAndDeliver(t, rng, cs, bob, []*member{alice}, nil, CommitOptions{})
	if _, err := bob.g.OpenMessage(m3); !errors.Is(err, framing.ErrWrongEpoch) {
		t.Fatalf("beyond the retention: err = %v", err)
	}
	if len(alice.g.past) != 1 || len(bob.g.past) != 2 {
		t.Fatalf("retained %d and %d past epochs", len(alice.g.past), len(bob.g.past))
	}
}

// TestProposalsByReference: members propose (Update as PrivateMessage, Add
// as PublicMessage), another member commits them by reference, and the
// updated member uses its new leaf key to decrypt the next commit's path.
func TestProposalsByReference(t *testing.T) {
	for _, id := range suite.All() {
		cs, _ := suite.Lookup(id)
		rng := rand.NewChaCha8([32]byte{byte(id), 'r', 'e', 'f'})
		alice, bob, carol, dave := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol"), newMember(t, cs, rng, "dave")
		var err error
		if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
			t.Fatal(err)
		}
		commitAndDeliver(t, rng, cs, alice, nil, []*member{bob, carol},
			CommitOptions{Proposals: []*wire.Proposal{addProposal(bob), addProposal(carol)}})

		deliver := func(m *wire.MLSMessage, ref []byte, to ...*member) {
			t.Helper()
			msg := wireTrip(t, m)
			for _, r := range to {
				p, err := r.g.ProcessHandshake(msg)
				if err != nil || p.Proposal == nil {
					t.Fatalf("%s processing a proposal: %v", r.name, err)
				}
				if !bytes.Equal(p.ProposalRef, ref) {
					t.Fatalf("%s computes another reference for the proposal", r.name)
				}
			}
		}
		update, err := bob.g.NewUpdate(rng)
		if err != nil {
			t.Fatal(err)
		}
		um, uref, err := bob.g.Propose(rng, update, ProposeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		deliver(um, uref, alice, bob, carol) // bob sees his own proposal come back
		am, aref, err := carol.g.Propose(rng, NewAdd(dave.kp.KeyPackage), ProposeOptions{PublicMessage: true})
		if err != nil {
			t.Fatal(err)
		}
		deliver(am, aref, alice, bob, carol)

		commitAndDeliver(t, rng, cs, alice, []*member{bob, carol}, []*member{dave}, CommitOptions{References: [][]byte{uref, aref}})
		sameEpoch(t, alice, bob, carol, dave)
		if !bytes.Equal(bob.g.Tree().Leaf(bob.g.OwnLeaf()).EncryptionKey, update.Update.LeafNode.EncryptionKey) {
			t.Fatal("bob's update was not applied")
		}
		// Carol's path must reach bob through his new leaf key.
		commitAndDeliver(t, rng, cs, carol, []*member{alice, bob, dave}, nil, CommitOptions{})
		sameEpoch(t, alice, bob, carol, dave)
		sendAndReceive(t, rng, bob, alice, carol, dave)

		// A commit referring to a proposal nobody sent is refused.
		if _, err := alice.g.Commit(rng, CommitOptions{References: [][]byte{make([]byte, cs.HashSize())}}); !errors.Is(err, ErrUnknownProposal) {
			t.Fatalf("unknown reference: err = %v", err)
		}
	}
}

// TestExternalJoin: a client joins from a GroupInfo by external commit,
// and a member that lost its state rejoins, removing its old leaf.
func TestExternalJoin(t *testing.T) {
	for _, id := range suite.All() {
		cs, _ := suite.Lookup(id)
		rng := rand.NewChaCha8([32]byte{byte(id), 'e', 'x', 't'})
		alice, bob, carol := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol")
		var err error
		if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
			t.Fatal(err)
		}
		commitAndDeliver(t, rng, cs, alice, nil, []*member{bob}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}})

		externalJoin := func(joiner *member, from *member, removeOld *uint32, others ...*member) {
			t.Helper()
			gi, err := from.g.GroupInfo()
			if err != nil {
				t.Fatal(err)
			}
			giMsg := wireTrip(t, wire.NewMLSMessage(gi))
			g, commit, err := JoinExternal(rng, cs, ExternalJoinConfig{GroupInfo: giMsg.GroupInfo, KeyPackage: joiner.kp, SigningKey: joiner.key, RemoveOld: removeOld})
			if err != nil {
				t.Fatalf("%s joins externally: %v", joiner.name, err)
			}
			msg := wireTrip(t, commit)
			for _, o := range others {
				p, err := o.g.ProcessHandshake(msg)
				if err != nil {
					t.Fatalf("%s processes %s's external commit: %v", o.name, joiner.name, err)
				}
				if err := o.g.Merge(p.Commit); err != nil {
					t.Fatal(err)
				}
			}
			joiner.g = g
		}
		externalJoin(carol, bob, nil, alice, bob)
		sameEpoch(t, alice, bob, carol)
		sendAndReceive(t, rng, carol, alice, bob)
		sendAndReceive(t, rng, alice, bob, carol)

		// Bob loses his state and rejoins from alice's GroupInfo.
		old := uint32(bob.g.OwnLeaf())
		bobAgain := newMember(t, cs, rng, "bob")
		bobAgain.key, bobAgain.kp = bob.key, bob.kp
		externalJoin(bobAgain, alice, &old, alice, carol)
		sameEpoch(t, alice, bobAgain, carol)
		if alice.g.Tree().MemberCount() != 3 {
			t.Fatalf("%d members after bob's rejoin", alice.g.Tree().MemberCount())
		}
		sendAndReceive(t, rng, bobAgain, alice, carol)

		// A tampered external commit is refused by members.
		gi, _ := alice.g.GroupInfo()
		dave := newMember(t, cs, rng, "dave")
		_, commit, err := JoinExternal(rng, cs, ExternalJoinConfig{GroupInfo: gi, KeyPackage: dave.kp, SigningKey: dave.key})
		if err != nil {
			t.Fatal(err)
		}
		commit.PublicMessage.Content.Commit.Path.Nodes[0].EncryptionKey[3] ^= 1
		if _, err := carol.g.ProcessHandshake(wireTrip(t, commit)); err == nil {
			t.Fatal("tampered external commit accepted")
		}
	}
}

// TestPSKCommits: an external PSK known to every member and a resumption
// PSK of an earlier epoch of this group are injected by commits; members
// that lack the external PSK cannot follow, and nothing changes for them.
func TestPSKCommits(t *testing.T) {
	for _, id := range suite.All() {
		cs, _ := suite.Lookup(id)
		rng := rand.NewChaCha8([32]byte{byte(id), 'p', 's', 'k'})
		shared := mapPSKs{"7073": bytes.Repeat([]byte{0x42}, 32)} // psk id "ps"
		alice, bob, carol := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol")
		bob.psks = shared // carol holds no PSK
		var err error
		if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key, PSKs: shared}); err != nil {
			t.Fatal(err)
		}
		commitAndDeliver(t, rng, cs, alice, nil, []*member{bob, carol}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob), addProposal(carol)}})
		nonce := func() []byte {
			b := make([]byte, cs.HashSize())
			rng.Read(b)
			return b
		}
		// A resumption PSK of the current epoch of this group: everyone has it.
		resumption := &wire.Proposal{Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{PSK: wire.PreSharedKeyID{
			PSKType: wire.PSKTypeResumption, Usage: wire.ResumptionPSKUsageApplication,
			PSKGroupID: alice.g.GroupID(), PSKEpoch: alice.g.Epoch(), PSKNonce: nonce()}}}
		commitAndDeliver(t, rng, cs, alice, []*member{bob, carol}, nil, CommitOptions{Proposals: []*wire.Proposal{resumption}})
		sameEpoch(t, alice, bob, carol)

		// An external PSK only alice and bob hold: carol cannot follow,
		// and the refused commit leaves her state unchanged.
		external := &wire.Proposal{Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{PSK: wire.PreSharedKeyID{
			PSKType: wire.PSKTypeExternal, PSKID: []byte("ps"), PSKNonce: nonce()}}}
		res, err := alice.g.Commit(rng, CommitOptions{Proposals: []*wire.Proposal{external}})
		if err != nil {
			t.Fatal(err)
		}
		msg := wireTrip(t, res.Commit)
		before := carol.g.EpochAuthenticator()
		if _, err := carol.g.ProcessHandshake(msg); !errors.Is(err, ErrUnknownPSK) {
			t.Fatalf("commit with an unknown PSK: err = %v", err)
		}
		if !bytes.Equal(carol.g.EpochAuthenticator(), before) {
			t.Fatal("a refused commit changed the group")
		}
		p, err := bob.g.ProcessHandshake(msg)
		if err != nil {
			t.Fatal(err)
		}
		if err := bob.g.Merge(p.Commit); err != nil {
			t.Fatal(err)
		}
		if err := alice.g.Merge(res.Staged); err != nil {
			t.Fatal(err)
		}
		sameEpoch(t, alice, bob)
	}
}

// TestExternalProposals: an external sender listed in the group removes a
// member by proposal, a client proposes its own Add, members commit both
// by reference; disallowed or unknown external senders are refused.
func TestExternalProposals(t *testing.T) {
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'x', 'p'})
	alice, bob, dave, server := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "dave"), newMember(t, cs, rng, "server")
	senders := wire.ExternalSenders{{SignatureKey: server.key.PublicKey(), Credential: wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("server")}}}
	ext := wire.Extensions{{ExtensionType: wire.ExtensionTypeExternalSenders, ExtensionData: mustMarshal(t, &senders)}}
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key, Extensions: ext}); err != nil {
		t.Fatal(err)
	}
	commitAndDeliver(t, rng, cs, alice, nil, []*member{bob}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob)}})

	process := func(m *wire.MLSMessage, to ...*member) []byte {
		t.Helper()
		var ref []byte
		for _, r := range to {
			p, err := r.g.ProcessHandshake(wireTrip(t, m))
			if err != nil || p.Proposal == nil {
				t.Fatalf("%s processing an external proposal: %v", r.name, err)
			}
			if ref != nil && !bytes.Equal(ref, p.ProposalRef) {
				t.Fatal("members computed different proposal references")
			}
			ref = p.ProposalRef
		}
		return ref
	}
	rm, err := NewExternalProposal(server.key, 0, alice.g.Context(), NewRemove(uint32(bob.g.OwnLeaf())))
	if err != nil {
		t.Fatal(err)
	}
	removeRef := process(rm, alice, bob)
	join, err := NewJoinProposal(dave.key, alice.g.Context(), dave.kp.KeyPackage)
	if err != nil {
		t.Fatal(err)
	}
	joinRef := process(join, alice, bob)
	commitAndDeliver(t, rng, cs, alice, []*member{bob}, []*member{dave}, CommitOptions{References: [][]byte{removeRef, joinRef}})
	sameEpoch(t, alice, dave)
	if alice.g.Tree().MemberCount() != 2 {
		t.Fatalf("%d members, want alice and dave", alice.g.Tree().MemberCount())
	}

	// Refusals: an Update from an external sender, an unknown sender
	// index, a forged signature, and a new member proposing a Remove.
	upd := &wire.Proposal{Type: wire.ProposalTypeUpdate, Update: &wire.Update{LeafNode: *alice.g.Tree().Leaf(0)}}
	bad1, _ := NewExternalProposal(server.key, 0, alice.g.Context(), upd)
	bad2, _ := NewExternalProposal(server.key, 3, alice.g.Context(), NewRemove(1))
	bad3, _ := NewExternalProposal(dave.key, 0, alice.g.Context(), NewRemove(1))
	bad4, _ := externalProposal(dave.key, wire.Sender{SenderType: wire.SenderTypeNewMemberProposal}, alice.g.Context(), NewRemove(1))
	for i, m := range []*wire.MLSMessage{bad1, bad2, bad3, bad4} {
		if _, err := alice.g.ProcessHandshake(wireTrip(t, m)); err == nil {
			t.Errorf("bad external proposal %d accepted", i+1)
		}
	}
}

// TestReInitAndBranch: a group commits a ReInit and is closed for
// messages; a member starts the new group (another suite) bound by a
// reinit resumption PSK and the others join it. Separately, a subgroup
// branches off with a branch resumption PSK.
func TestReInitAndBranch(t *testing.T) {
	for _, id := range suite.All() {
		t.Run(id.String(), func(t *testing.T) { reinitAndBranch(t, id, id%7+1) })
	}
}

func reinitAndBranch(t *testing.T, id, target suite.ID) {
	cs, _ := suite.Lookup(id)
	rng := rand.NewChaCha8([32]byte{'r', 'i', byte(id)})
	alice, bob, carol := newMember(t, cs, rng, "alice"), newMember(t, cs, rng, "bob"), newMember(t, cs, rng, "carol")
	var err error
	if alice.g, err = CreateGroup(rng, cs, CreateConfig{KeyPackage: alice.kp, SigningKey: alice.key}); err != nil {
		t.Fatal(err)
	}
	commitAndDeliver(t, rng, cs, alice, nil, []*member{bob, carol}, CommitOptions{Proposals: []*wire.Proposal{addProposal(bob), addProposal(carol)}})

	// Branch: alice and carol form a subgroup in the same suite.
	carolKP, err := NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("carol")}, carol.key,
		KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	aliceKP, _ := NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte("alice")}, alice.key,
		KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	sub, welcome, err := alice.g.Resume(rng, wire.ResumptionPSKUsageBranch, CreateConfig{KeyPackage: aliceKP, SigningKey: alice.key}, []*wire.KeyPackage{carolKP.KeyPackage})
	if err != nil {
		t.Fatal(err)
	}
	carolSub, err := JoinFromWelcome(cs, welcome, JoinConfig{KeyPackage: carolKP, SigningKey: carol.key, PSKs: carol.g.ResumptionPSKs()})
	if err != nil {
		t.Fatalf("carol joins the branch: %v", err)
	}
	if err := carolSub.CheckResumption(carol.g, wire.ResumptionPSKUsageBranch); err != nil {
		t.Fatal(err)
	}
	if err := carolSub.CheckResumption(carol.g, wire.ResumptionPSKUsageReInit); !errors.Is(err, ErrInvalidWelcome) {
		t.Fatalf("a branch passed as a reinit: err = %v", err)
	}
	if !bytes.Equal(sub.EpochAuthenticator(), carolSub.EpochAuthenticator()) || sub.Tree().MemberCount() != 2 {
		t.Fatal("branch members disagree")
	}
	// Without the old group's resumption PSK the branch cannot be joined.
	if _, err := JoinFromWelcome(cs, welcome, JoinConfig{KeyPackage: carolKP, SigningKey: carol.key}); !errors.Is(err, ErrUnknownPSK) {
		t.Fatalf("joining a branch without the old group: err = %v", err)
	}

	// ReInit to another suite with a new group id.
	reinit := &wire.Proposal{Type: wire.ProposalTypeReInit, ReInit: &wire.ReInit{GroupID: []byte("renewed"), Version: wire.ProtocolVersionMLS10, CipherSuite: wire.CipherSuite(target)}}
	commitAndDeliver(t, rng, cs, bob, []*member{alice, carol}, nil, CommitOptions{Proposals: []*wire.Proposal{reinit}, ForcePath: true})
	reload(t, alice) // the pending ReInit survives a restart
	if _, err := alice.g.SealApplication(rng, []byte("x"), nil, 0); !errors.Is(err, ErrReInitPending) {
		t.Fatalf("message after ReInit: err = %v", err)
	}
	cs3, _ := suite.Lookup(target)
	kp3 := map[string]*KeyPackageBundle{}
	for _, m := range []*member{alice, bob, carol} {
		priv, _, _ := cs3.GenerateSignatureKey(rng)
		k, _ := cs3.NewSigningKey(priv)
		m.key = k
		if kp3[m.name], err = NewKeyPackage(rng, cs3, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(m.name)}, k,
			KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}}); err != nil {
			t.Fatal(err)
		}
	}
	renewed, welcome3, err := bob.g.Resume(rng, wire.ResumptionPSKUsageReInit, CreateConfig{KeyPackage: kp3["bob"], SigningKey: bob.key},
		[]*wire.KeyPackage{kp3["alice"].KeyPackage, kp3["carol"].KeyPackage})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*member{alice, carol} {
		g, err := JoinFromWelcome(cs3, welcome3, JoinConfig{KeyPackage: kp3[m.name], SigningKey: m.key, PSKs: m.g.ResumptionPSKs()})
		if err != nil {
			t.Fatalf("%s joins the reinitialised group: %v", m.name, err)
		}
		if err := g.CheckResumption(m.g, wire.ResumptionPSKUsageReInit); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(g.EpochAuthenticator(), renewed.EpochAuthenticator()) || string(g.GroupID()) != "renewed" || g.Suite().ID() != target {
			t.Fatalf("%s is not in the renewed group", m.name)
		}
	}
}
