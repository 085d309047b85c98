package fork_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// TestDirectResend: a message b missed is re-sent to b alone, point to
// point, once d (added after the message) is in the group, since a re-send
// in the head would open it to d. b reads it; d's nack for it gets nothing;
// a forged, misaddressed or replayed copy is refused and changes nothing.
func TestDirectResend(t *testing.T) {
	n := newNet(t)
	n.Drop("a", "b")
	if err := n.Send("a", "before d"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Tick()
	}
	n.Deliver(1 << 20)
	n.Heal()
	a, b, c, d := n.Node("a").Member, n.Node("b").Member, n.Node("c").Member, n.Node("d").Member
	if d == nil || a.Core().HeadID() != b.Core().HeadID() || a.Core().HeadID() != d.Core().HeadID() {
		t.Fatal("a, b and d are not on one head with d in the group")
	}
	for _, m := range []*fork.Member{a, b, c, d} {
		m.Advance(m.Ready())
	}

	// d's nack for a message sent before it joined: nothing at all.
	env := nackFrom(t, n, "d", a.Identity(), 0)
	if err := a.Step("d", &env); err != nil {
		t.Fatal(err)
	}
	if rd := a.Ready(); applicationsIn(rd) != 0 || len(rd.Direct) != 0 {
		t.Fatalf("d's nack for a message sent before it joined was answered: %d broadcast, %d direct", applicationsIn(rd), len(rd.Direct))
	}
	a.Advance(a.Ready())

	// b's nack: no broadcast (d would read it), one direct re-send to b.
	env = nackFrom(t, n, "b", a.Identity(), 0)
	if err := a.Step("b", &env); err != nil {
		t.Fatal(err)
	}
	rd := a.Ready()
	a.Advance(rd)
	if applicationsIn(rd) != 0 || len(rd.Direct) != 1 || rd.Direct[0].To != "b" || rd.Direct[0].Envelope.Kind != consensus.KindResend {
		t.Fatalf("b's nack: %d broadcast, direct %+v; want one KindResend to b", applicationsIn(rd), rd.Direct)
	}
	direct := rd.Direct[0].Envelope

	// d and c are not the recipient.
	for name, m := range map[string]*fork.Member{"c": c, "d": d} {
		before := m.Stats()
		if err := m.Step("a", &direct); !errors.Is(err, fork.ErrWrongRecipient) {
			t.Fatalf("%s opened b's re-send: %v", name, err)
		}
		unchanged(t, m, before)
	}

	// A forged signature, or a ciphertext changed in flight.
	for _, field := range []string{"signature", "ciphertext"} {
		var dr fork.DirectResend
		if err := codec.Unmarshal(direct.Body, &dr); err != nil {
			t.Fatal(err)
		}
		if field == "signature" {
			dr.Signature[3] ^= 1
		} else {
			dr.Ciphertext[3] ^= 1
		}
		bad := envelope(t, consensus.KindResend, consensus.EpochRef{Epoch: direct.Epoch, ID: direct.EpochID}, &dr)
		before := b.Stats()
		if err := b.Step("a", &bad); !errors.Is(err, fork.ErrBadResend) {
			t.Fatalf("%s flipped: %v, want ErrBadResend", field, err)
		}
		unchanged(t, b, before)
	}

	// b reads it, with a's id.
	if err := b.Step("a", &direct); err != nil {
		t.Fatal(err)
	}
	got := b.Ready()
	b.Advance(got)
	if len(got.Delivered) != 1 || string(got.Delivered[0].Data) != "before d" || string(got.Delivered[0].Identity) != "a" {
		t.Fatalf("b delivered %+v, want a's \"before d\"", got.Delivered)
	}

	// A replay is refused.
	before := b.Stats()
	if err := b.Step("a", &direct); !errors.Is(err, fork.ErrReplayedResend) {
		t.Fatalf("replayed re-send: %v", err)
	}
	unchanged(t, b, before)

	// A member removed since refuses it (no head state, no leaf key)
	// rather than failing on it.
	if err := n.Remove("a", "b"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if !b.Gone() {
		t.Fatal("b is not out of the group")
	}
	b.Advance(b.Ready())
	if err := b.Step("a", &direct); !errors.Is(err, consensus.ErrRemoved) {
		t.Fatalf("removed member: %v, want ErrRemoved", err)
	}
}
