package consensus_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/consensus/consensustest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func newNet(t testing.TB, members int, configure func(i int, cfg *consensus.Config)) *consensustest.Network {
	t.Helper()
	n, err := consensustest.NewNetwork(consensustest.Options{Members: members, Seed: 42, Configure: configure})
	if err != nil {
		t.Fatal(err)
	}
	n.Collect()
	return n
}

// snapshot renders what a member holds, to show a rejected input changed
// nothing.
func snapshot(c *consensus.Core) string {
	return fmt.Sprintf("%v %+v %+v", c.HeadRef(), c.Epochs(), c.Stats())
}

func rawCommit(t testing.TB, n *consensustest.Network, i int, ps ...*wire.Proposal) consensus.Envelope {
	t.Helper()
	env, err := n.RawCommit(i, ps...)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func commitOf(t testing.TB, env consensus.Envelope) *consensus.CommitBody {
	t.Helper()
	var body consensus.CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil {
		t.Fatal(err)
	}
	return &body
}

func withBody(t testing.TB, env consensus.Envelope, body codec.Marshaler) consensus.Envelope {
	t.Helper()
	b, err := codec.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	env.Body = b
	return env
}

// TestStepRejectsBadInput: every kind of bad envelope is refused with its
// sentinel error and leaves the member's state as it was.
func TestStepRejectsBadInput(t *testing.T) {
	n := newNet(t, 3, nil)
	m0 := n.Members[0].Core
	good := rawCommit(t, n, 1)

	// A PrivateMessage commit of m2, made with the engine directly.
	st, _ := n.Members[2].Core.Head().MarshalState()
	g, err := mls.LoadGroup(st, mls.LoadConfig{SigningKey: n.Members[2].Key})
	if err != nil {
		t.Fatal(err)
	}
	res, err := g.Commit(n.Members[2].Rand, mls.CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	private := withBody(t, good, &consensus.CommitBody{Commit: res.Commit})

	tampered := commitOf(t, good)
	tampered.Commit.PublicMessage.Auth.Signature[0] ^= 1
	badSig := withBody(t, good, tampered)

	unknown := good
	unknown.EpochID[0] ^= 1
	otherGroup := good
	otherGroup.GroupID = []byte("other")
	wrongNumber := good
	wrongNumber.Epoch++
	garbage := good
	garbage.Body = []byte{1, 2, 3}
	proposalAsCommit := good
	proposalAsCommit.Kind = consensus.KindProposal
	kind99 := good
	kind99.Kind = 99
	beacon := good
	beacon.Kind = consensus.KindBeacon

	cases := []struct {
		name string
		env  consensus.Envelope
		want error
	}{
		{"other group", otherGroup, consensus.ErrWrongGroup},
		{"unknown kind", kind99, consensus.ErrUnknownKind},
		{"fork's kind", beacon, consensus.ErrNotHandled},
		{"garbage body", garbage, consensus.ErrMalformed},
		{"commit in a proposal envelope", proposalAsCommit, consensus.ErrMalformed},
		{"header epoch number disagrees", wrongNumber, consensus.ErrEpochMismatch},
		{"PrivateMessage commit", private, consensus.ErrPrivateHandshake},
		{"bad signature", badSig, consensus.ErrInvalidMessage},
	}
	for _, tc := range cases {
		before := snapshot(m0)
		err := m0.Step(tc.env)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if after := snapshot(m0); after != before {
			t.Errorf("%s: state changed:\n%s\n%s", tc.name, before, after)
		}
	}

	// An unknown epoch is held (bounded), not applied.
	before := m0.HeadRef()
	if err := m0.Step(unknown); !errors.Is(err, consensus.ErrUnknownEpoch) {
		t.Fatalf("unknown epoch: %v", err)
	}
	if m0.HeadRef() != before || m0.Stats().Pending != 1 {
		t.Fatalf("unknown epoch: head %v, pending %d", m0.HeadRef(), m0.Stats().Pending)
	}

	// A replayed commit is a duplicate and changes nothing.
	if err := m0.Step(good); err != nil {
		t.Fatal(err)
	}
	snap := snapshot(m0)
	if err := m0.Step(good); !errors.Is(err, consensus.ErrDuplicate) || snapshot(m0) != snap {
		t.Fatalf("replayed commit: %v", err)
	}
}

// TestReplaysAndLateCommits: a replayed application message is refused
// and not delivered twice; a commit on an epoch whose race has closed is
// refused with ErrFinal.
func TestReplaysAndLateCommits(t *testing.T) {
	n := newNet(t, 3, func(_ int, cfg *consensus.Config) { cfg.WindowTicks = 3 })
	late := rawCommit(t, n, 2) // made now, delivered after the window
	if _, err := n.Members[1].Core.Send([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	rd := n.Members[1].Core.Ready()
	n.Members[1].Core.Advance(rd)
	app := rd.Messages[0]
	m0 := n.Members[0].Core
	if err := m0.Step(app); err != nil {
		t.Fatal(err)
	}
	if d := m0.Ready().Delivered; len(d) != 1 {
		t.Fatalf("delivered %d", len(d))
	}
	m0.Advance(m0.Ready())
	if err := m0.Step(app); !errors.Is(err, consensus.ErrDuplicate) {
		t.Fatalf("replayed application message: %v", err)
	}
	if d := m0.Ready().Delivered; len(d) != 0 {
		t.Fatal("replay delivered again")
	}

	if err := n.Members[1].Core.Commit(); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	for range 4 {
		n.Tick()
	}
	snap := snapshot(m0)
	if err := m0.Step(late); !errors.Is(err, consensus.ErrFinal) {
		t.Fatalf("commit after the window: %v", err)
	}
	if snapshot(m0) != snap {
		t.Fatal("late commit changed the state")
	}
}

// TestBadEvidence: evidence that proves nothing is refused and nobody is
// penalised; valid evidence disqualifies the equivocator on that epoch.
func TestBadEvidence(t *testing.T) {
	n := newNet(t, 4, nil)
	a, b := rawCommit(t, n, 1), rawCommit(t, n, 1)
	c := rawCommit(t, n, 2)
	ca, cb, cc := commitOf(t, a).Commit, commitOf(t, b).Commit, commitOf(t, c).Commit
	forged := commitOf(t, b).Commit
	forged.PublicMessage.Auth.Signature[3] ^= 0x40
	m0 := n.Members[0].Core
	ev := func(x, y *wire.MLSMessage) consensus.Envelope {
		env := withBody(t, a, &consensus.Evidence{First: x, Second: y})
		env.Kind = consensus.KindEvidence
		return env
	}
	unknown := ev(ca, cb)
	unknown.EpochID[5] ^= 1
	garbage := ev(ca, cb)
	garbage.Body = garbage.Body[:10]
	cases := []struct {
		name string
		env  consensus.Envelope
		want error
	}{
		{"same commit twice", ev(ca, ca), consensus.ErrBadEvidence},
		{"two members' commits", ev(ca, cc), consensus.ErrBadEvidence},
		{"a forged signature", ev(ca, forged), consensus.ErrBadEvidence},
		{"unknown epoch", unknown, consensus.ErrUnknownEpoch},
		{"truncated", garbage, consensus.ErrMalformed},
	}
	for _, tc := range cases {
		before := snapshot(m0)
		err := m0.Step(tc.env)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, err, tc.want)
		}
		if tc.want != consensus.ErrUnknownEpoch && snapshot(m0) != before {
			t.Errorf("%s: state changed", tc.name)
		}
	}
	for _, e := range m0.Ready().Events {
		if e.Kind == consensus.EventEquivocation {
			t.Fatal("bad evidence penalised someone")
		}
	}
	// m1 is still a candidate like any other...
	if err := m0.Step(a); err != nil {
		t.Fatal(err)
	}
	// ...until real evidence arrives: both its commits lose.
	if err := m0.Step(ev(ca, cb)); err != nil {
		t.Fatalf("valid evidence: %v", err)
	}
	found := false
	for _, e := range m0.Ready().Events {
		found = found || (e.Kind == consensus.EventEquivocation && e.Leaf == 1)
	}
	if !found {
		t.Fatal("no equivocation event")
	}
	if m0.HeadRef().Epoch != 1 {
		t.Fatalf("head %v still on the equivocator's commit", m0.HeadRef())
	}
	if err := m0.Step(b); !errors.Is(err, consensus.ErrEquivocator) {
		t.Fatalf("commit of a proven equivocator: %v", err)
	}
	if err := m0.Step(c); err != nil || m0.HeadRef().Epoch != 2 {
		t.Fatalf("an honest commit after the evidence: %v, head %v", err, m0.HeadRef())
	}
	if err := m0.Step(ev(ca, cb)); !errors.Is(err, consensus.ErrDuplicate) {
		t.Fatalf("evidence replayed: %v", err)
	}
}

func TestEvidenceBodyEquality(t *testing.T) {
	// The evidence a member broadcasts orders the two commits by their
	// encoding, so two detectors send byte-identical evidence.
	n := newNet(t, 3, nil)
	a, b := rawCommit(t, n, 1), rawCommit(t, n, 1)
	var bodies [][]byte
	for i, order := range [][]consensus.Envelope{{b, a}, {a, b}} {
		core := n.Members[2*i].Core
		_ = core.Step(order[0])
		_ = core.Step(order[1])
		for _, m := range core.Ready().Messages {
			if m.Kind == consensus.KindEvidence {
				bodies = append(bodies, m.Body)
			}
		}
	}
	if len(bodies) != 2 || !bytes.Equal(bodies[0], bodies[1]) {
		t.Fatalf("evidence from two detectors differs (%d bodies)", len(bodies))
	}
}

func newNetSeed(members int, seed uint64) (*consensustest.Network, error) {
	n, err := consensustest.NewNetwork(consensustest.Options{Members: members, Seed: seed})
	if err != nil {
		return nil, err
	}
	n.Collect()
	return n, nil
}

// TestTooLateMessage: an application message of an epoch whose race
// closed long ago (its keys released, and beyond the engine's past
// epochs) is refused with ErrReleased, not taken for an unknown epoch.
func TestTooLateMessage(t *testing.T) {
	n := newNet(t, 2, func(_ int, cfg *consensus.Config) { cfg.WindowTicks = 1 })
	m0, m1 := n.Members[0].Core, n.Members[1].Core
	// Move to a non-final epoch, send there, and hold the message back.
	if err := m1.Commit(); err != nil {
		t.Fatal(err)
	}
	n.Collect()
	n.Deliver(consensustest.Any)
	if _, err := m1.Send([]byte("late")); err != nil {
		t.Fatal(err)
	}
	rd := m1.Ready()
	m1.Advance(rd)
	late := rd.Messages[0]
	for k := 0; k < 4; k++ {
		if err := n.Members[k%2].Core.Commit(); err != nil {
			t.Fatal(err)
		}
		n.Collect()
		n.Deliver(consensustest.Any)
		n.Tick()
		n.Tick()
	}
	if err := m0.Step(late); !errors.Is(err, consensus.ErrReleased) {
		t.Fatalf("message %d epochs late: %v, want ErrReleased", m0.HeadRef().Epoch-late.Epoch, err)
	}
}
