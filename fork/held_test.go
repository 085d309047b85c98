package fork_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
)

// TestResendOfAnUnknownEpochHeld: a point-to-point re-send sealed in an
// epoch its recipient has not reached is held, not dropped, and opened as
// soon as the recipient merges that epoch, with no other copy needed (the
// author may be gone by then: simulator churn seed 7, member 12 back from
// offline was sent re-sends 60 ms before it fetched their epoch).
func TestResendOfAnUnknownEpochHeld(t *testing.T) {
	n := newNet(t)
	n.Drop("a", "c")
	n.Drop("b", "c")
	if err := n.Send("a", "while-c-was-away"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	n.Drop("d", "c")
	n.Drop("c", "a")
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	for range 6 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	a, c := n.Node("a").Member, n.Node("c").Member
	lagging := c.Core().HeadRef()
	if lagging.ID == a.Core().HeadID() {
		t.Fatal("setup: c must lag behind")
	}
	// c's beacon makes a serve it point to point (the group re-send may
	// not carry the message: d joined after it).
	a.Advance(a.Ready())
	var beacon consensus.Envelope
	for range 4 * fork.DefaultBeaconInterval {
		c.Tick()
		rd := c.Ready()
		for _, env := range rd.Messages {
			if env.Kind == consensus.KindBeacon {
				beacon = env
			}
		}
		c.Advance(rd)
		if beacon.Body != nil {
			break
		}
	}
	if beacon.Body == nil {
		t.Fatal("setup: c sent no beacon")
	}
	if err := a.Step("c", &beacon); err != nil {
		t.Fatal(err)
	}
	rd := a.Ready()
	var resend *consensus.Envelope
	for i := range rd.Direct {
		if rd.Direct[i].To == "c" && rd.Direct[i].Envelope.Kind == consensus.KindResend {
			resend = &rd.Direct[i].Envelope
		}
	}
	a.Advance(rd)
	if resend == nil {
		t.Fatal("setup: a sent c no point-to-point re-send")
	}

	// It names a's head, which c does not know yet.
	if err := c.Step("a", resend); !errors.Is(err, consensus.ErrUnknownEpoch) {
		t.Fatalf("c stepped a re-send of an unknown epoch: %v, want ErrUnknownEpoch", err)
	}
	if got := c.Ready().Delivered; len(got) != 0 {
		t.Fatalf("c delivered %+v before knowing the epoch", got)
	}
	c.Advance(c.Ready())

	// c merges the commits it missed (as a fetch response would bring
	// them), and nothing else: the held re-send is opened.
	commits, ok := a.Core().CommitsAfter(lagging.ID, 0)
	if !ok || len(commits) == 0 {
		t.Fatal("setup: a has no commits after c's head")
	}
	var got []string
	for i := range commits {
		if err := c.Step("b", &commits[i]); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		rd := c.Ready()
		for _, d := range rd.Delivered {
			got = append(got, string(d.Data))
		}
		c.Advance(rd)
	}
	if c.Core().HeadID() != a.Core().HeadID() {
		t.Fatal("setup: c did not reach a's head")
	}
	if len(got) != 1 || got[0] != "while-c-was-away" {
		t.Fatalf("c delivered %q once it knew the epoch, want the held re-send's message", got)
	}
	// Held once only: the same copy again is a replay.
	if err := c.Step("a", resend); !errors.Is(err, fork.ErrReplayedResend) {
		t.Fatalf("the same re-send again: %v, want ErrReplayedResend", err)
	}
}

// TestHeldResendsBounded: re-sends naming unknown epochs cannot be
// verified until the epoch is known, so a flood of forged ones is held
// within the core's bounds for held messages (epochs, and per epoch),
// and dropped after twice the window; none is delivered.
func TestHeldResendsBounded(t *testing.T) {
	n := newNet(t)
	c := n.Node("c").Member
	c.Advance(c.Ready())
	for e := range consensus.DefaultMaxPendingEpochs + 3 {
		for i := range consensus.DefaultMaxPendingPerEpoch + 3 {
			d := fork.DirectResend{GroupID: []byte("forktest"), Epoch: 9, EpochID: consensus.EpochID{byte(e), 1},
				Sender: 0, Recipient: 2, KEMOutput: []byte{byte(i)}, Ciphertext: []byte{byte(i >> 8), byte(i)}, Signature: []byte{1}}
			env := envelope(t, consensus.KindResend, consensus.EpochRef{Epoch: d.Epoch, ID: d.EpochID}, &d)
			if err := c.Step("a", &env); !errors.Is(err, consensus.ErrUnknownEpoch) {
				t.Fatalf("forged re-send: %v, want ErrUnknownEpoch", err)
			}
		}
	}
	want := consensus.DefaultMaxPendingEpochs * consensus.DefaultMaxPendingPerEpoch
	if got := c.Stats().HeldResends; got != want {
		t.Fatalf("held %d forged re-sends, want the bound %d", got, want)
	}
	if rd := c.Ready(); len(rd.Delivered) != 0 {
		t.Fatalf("delivered %+v from forged re-sends", rd.Delivered)
	}
	for range 2*4 + 1 { // newNet's window is 4 ticks
		c.Tick()
	}
	if got := c.Stats().HeldResends; got != 0 {
		t.Fatalf("%d re-sends still held after twice the window", got)
	}
}
