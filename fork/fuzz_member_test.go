package fork_test

import (
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// FuzzMemberStep feeds arbitrary bodies under valid headers of every kind
// to a Member, from a peer it has a fetch in flight to (so responses are
// processed, not refused as unsolicited): nothing may panic, and the
// member must keep working afterwards. Kinds from 128 on go to a member
// that was removed first.
func FuzzMemberStep(f *testing.F) {
	n := newNet(f)
	seedBeacon := beaconOf(f, n, "b")
	f.Add(uint8(consensus.KindBeacon), seedBeacon.Body)
	gi, err := n.Node("b").Member.Core().Head().GroupInfo()
	if err != nil {
		f.Fatal(err)
	}
	branch := fork.FetchResponse{GroupID: []byte("forktest"), RequestID: 1,
		Branch: &fork.BranchInfo{GroupInfo: *gi, History: []consensus.EpochRef{{Epoch: gi.GroupContext.Epoch}}}}
	body, _ := codec.Marshal(&branch)
	f.Add(uint8(consensus.KindFetchResponse), body)
	req := fork.FetchRequest{GroupID: []byte("forktest"), RequestID: 1}
	body, _ = codec.Marshal(&req)
	f.Add(uint8(consensus.KindFetchRequest), body)
	f.Add(uint8(consensus.KindCommit), []byte{0, 1})
	resend := fork.DirectResend{GroupID: []byte("forktest"), Sender: 1, Recipient: 0,
		KEMOutput: make([]byte, 32), Ciphertext: make([]byte, 48), Signature: make([]byte, 64)}
	body, _ = codec.Marshal(&resend)
	f.Add(uint8(consensus.KindResend), body)
	f.Add(uint8(128+consensus.KindResend), body)
	body, _ = codec.Marshal(&req)
	f.Add(uint8(128+consensus.KindBeacon), seedBeacon.Body)
	f.Add(uint8(128+consensus.KindFetchRequest), body)

	f.Fuzz(func(t *testing.T, kind uint8, body []byte) {
		n := newNet(t)
		if kind >= 128 {
			// The same input to a member whose core was removed (its
			// head is nil): typed errors or nothing, never a panic.
			if err := n.Remove("b", "a"); err != nil {
				t.Fatal(err)
			}
			n.Deliver(1 << 20)
			if !n.Node("a").Member.Gone() {
				t.Fatal("a is not removed")
			}
		}
		a := n.Node("a").Member
		head := a.Core().HeadRef()
		// Make a fetch from "x" so that a response from x is processed.
		unknown := consensus.EpochRef{Epoch: 5, ID: consensus.EpochID{5}}
		b := fork.Beacon{GroupID: []byte("forktest"), Epoch: 5, EpochID: unknown.ID, Sender: 1, Signature: make([]byte, 64)}
		benv := envelope(t, consensus.KindBeacon, unknown, &b)
		if err := a.Step("x", &benv); err != nil {
			t.Fatal(err)
		}
		a.Advance(a.Ready())
		env := consensus.Envelope{Kind: consensus.EnvelopeKind(kind%20 + 1), GroupID: []byte("forktest"),
			Epoch: head.Epoch, EpochID: head.ID, Body: body}
		_ = a.Step("x", &env)
		a.Advance(a.Ready())
		a.Tick()
		a.Advance(a.Ready())
		if _, err := a.Send([]byte("still alive")); err != nil && !a.Gone() {
			t.Fatalf("member broken after fuzzed input: %v", err)
		}
	})
}
