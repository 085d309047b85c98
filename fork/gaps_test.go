package fork_test

import (
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
)

// nackFrom builds name's signed beacon at its head naming message seq of
// author as missing.
func nackFrom(t *testing.T, n *forktest.Network, name string, author fork.Identity, seq uint64) consensus.Envelope {
	t.Helper()
	m := n.Node(name).Member
	head := m.Core().Head()
	b := fork.Beacon{GroupID: []byte("forktest"), Epoch: head.Epoch(), EpochID: m.Core().HeadID(),
		Sender: uint32(head.OwnLeaf()), Seq: 1<<40 + seq, Nacks: []fork.Nack{{Author: author, Seq: seq}}}
	if err := fork.SignBeacon(n.SigningKey(name), &b); err != nil {
		t.Fatal(err)
	}
	return envelope(t, consensus.KindBeacon, consensus.EpochRef{Epoch: b.Epoch, ID: b.EpochID}, &b)
}

func applicationsIn(rd fork.Ready) int {
	k := 0
	for _, e := range rd.Messages {
		if e.Kind == consensus.KindApplication {
			k++
		}
	}
	return k
}

// TestNackHonouredOnlyForMembersOfTheTime: a member that was in the group
// when a message was sent gets it re-sent when it nacks it; a member
// added afterwards does not, since the re-sent copy would be readable by
// it (and by everyone else added since).
func TestNackHonouredOnlyForMembersOfTheTime(t *testing.T) {
	n := newNet(t)
	if err := n.Send("a", "before c"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	a := n.Node("a").Member
	self := a.Identity()

	// b was a member when the message was sent: its nack is answered.
	env := nackFrom(t, n, "b", self, 0)
	a.Advance(a.Ready())
	if err := a.Step("b", &env); err != nil {
		t.Fatal(err)
	}
	if got := applicationsIn(a.Ready()); got != 1 {
		t.Fatalf("b's nack: %d application messages re-sent, want 1", got)
	}
	a.Advance(a.Ready())

	// Now b adds d; d's nack for the same message is refused.
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Tick()
	}
	if n.Node("d").Member == nil {
		t.Fatal("d did not join")
	}
	if a.Core().HeadID() != n.Node("d").Member.Core().HeadID() {
		t.Fatal("a and d are not on one head")
	}
	for range 2 * fork.DefaultBeaconInterval {
		a.Tick() // past the re-send throttle
	}
	a.Advance(a.Ready())
	env = nackFrom(t, n, "d", self, 0)
	if err := a.Step("d", &env); err != nil {
		t.Fatal(err)
	}
	if got := applicationsIn(a.Ready()); got != 0 {
		t.Fatalf("d's nack for a message sent before d joined: %d re-sent, want 0", got)
	}
	// Control: a message sent after d joined is re-sent on d's nack.
	a.Advance(a.Ready())
	if _, err := a.Send([]byte("after d")); err != nil {
		t.Fatal(err)
	}
	a.Advance(a.Ready())
	env = nackFrom(t, n, "d", self, 1)
	if err := a.Step("d", &env); err != nil {
		t.Fatal(err)
	}
	if got := applicationsIn(a.Ready()); got != 1 {
		t.Fatalf("d's nack for a message sent after it joined: %d re-sent, want 1", got)
	}
}

// TestNackAnsweredAcrossHeads: a nack is answered whatever head the nacking
// member is on, as long as the author can verify its beacon: b, which
// missed a's message and a's next commit, is still on the old head.
func TestNackAnsweredAcrossHeads(t *testing.T) {
	n := newNet(t)
	n.Drop("a", "b")
	n.Drop("c", "b")
	if err := n.Send("a", "missed"); err != nil {
		t.Fatal(err)
	}
	if err := n.Commit("a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	a, b := n.Node("a").Member, n.Node("b").Member
	if a.Core().HeadID() == b.Core().HeadID() {
		t.Fatal("b reached a's head: the test needs it behind")
	}
	for range fork.DefaultBeaconInterval {
		a.Tick() // past the re-send throttle (a re-sent it once already)
	}
	if a.Core().TreeOf(b.Core().HeadID()) == nil {
		t.Fatal("a no longer retains b's head: the nack cannot be verified")
	}
	env := nackFrom(t, n, "b", a.Identity(), 0)
	a.Advance(a.Ready())
	if err := a.Step("b", &env); err != nil {
		t.Fatal(err)
	}
	if got := applicationsIn(a.Ready()); got != 1 {
		t.Fatalf("b's nack from another head: %d application messages re-sent, want 1", got)
	}
}
