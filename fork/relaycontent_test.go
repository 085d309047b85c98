package fork_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// relayedTo lists the relayed contents rd sends to peer.
func relayedTo(rd fork.Ready, peer string) []consensus.Envelope {
	var out []consensus.Envelope
	for _, d := range rd.Direct {
		if d.To == fork.PeerID(peer) && d.Envelope.Kind == consensus.KindRelayed {
			out = append(out, d.Envelope)
		}
	}
	return out
}

// releasedNet: a's message never reaches c (a's link to c is cut), c moves
// on three epochs (releasing the message's epoch), and a is removed. c
// held the epoch but can no longer open the original.
func releasedNet(t *testing.T) (*forktest.Network, fork.Identity) {
	t.Helper()
	n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2}, "a", "b", "c", "d")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Tick() // first news of everyone
	}
	n.Drop("a", "c")
	if err := n.Send("a", "signed-by-a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	for range 3 {
		if err := n.Commit("b"); err != nil {
			t.Fatal(err)
		}
		n.Deliver(1 << 20)
	}
	for range 8 {
		n.Tick()
	}
	author := n.Node("a").Member.Identity()
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	return n, author
}

// TestRelayedContentOfAReleasedEpoch: c was a member of the epoch a's
// message was sealed in but released its keys before any copy reached
// it, and a is out of the group. b relays what a signed (content and
// signature, with the epoch's GroupContext), HPKE-encrypted to c's leaf;
// c recognises the context as one it held, finds a's key at that leaf
// and epoch in its own records, verifies a's signature, and delivers the
// message as a's, under its own id. Before, nothing could reach c.
func TestRelayedContentOfAReleasedEpoch(t *testing.T) {
	n, _ := releasedNet(t)
	c := n.Node("c").Member
	if delivered(n, "c", "signed-by-a") || !n.Node("a").Member.Gone() {
		t.Fatal("setup: c must lack the message and a must be out")
	}
	for range 4 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	if !delivered(n, "c", "signed-by-a") {
		t.Fatal("c never got a's message: no relayed content reached it")
	}
	if got := c.Stats().Seen; got == 0 {
		t.Fatal("c remembers no message id")
	}
}

// captureRelayed runs releasedNet until b sends c a relayed content, and
// returns it with c not having stepped it.
func captureRelayed(t *testing.T) (*forktest.Network, consensus.Envelope) {
	t.Helper()
	n, _ := releasedNet(t)
	b, c := n.Node("b").Member, n.Node("c").Member
	b.Advance(b.Ready())
	for range 4 * fork.DefaultBeaconInterval {
		c.Tick()
		rd := c.Ready()
		c.Advance(rd)
		for _, env := range rd.Messages {
			if env.Kind != consensus.KindBeacon {
				continue
			}
			if err := b.Step("c", &env); err != nil {
				continue
			}
			rb := b.Ready()
			b.Advance(rb)
			if got := relayedTo(rb, "c"); len(got) > 0 {
				return n, got[0]
			}
		}
	}
	t.Fatal("setup: b never relayed the content to c")
	return nil, consensus.Envelope{}
}

// TestRelayedContentRefusals: a relayed content that was altered, points
// at another recipient or an epoch context c never held, or comes again,
// is refused with a typed error and changes nothing.
func TestRelayedContentRefusals(t *testing.T) {
	n, env := captureRelayed(t)
	c := n.Node("c").Member
	c.Advance(c.Ready())
	var d fork.RelayedContent
	if err := codec.Unmarshal(env.Body, &d); err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(*fork.RelayedContent)) consensus.Envelope {
		x := d
		x.Ciphertext = append([]byte(nil), d.Ciphertext...)
		f(&x)
		out := envelope(t, consensus.KindRelayed, consensus.EpochRef{Epoch: x.Head.Epoch, ID: x.Head.ID}, &x)
		return out
	}
	cases := []struct {
		name string
		env  consensus.Envelope
		want error
	}{
		{"flipped ciphertext", mutate(func(x *fork.RelayedContent) { x.Ciphertext[3] ^= 1 }), fork.ErrBadRelay},
		{"other sealing epoch", mutate(func(x *fork.RelayedContent) { x.Sealed.ID[0] ^= 1 }), fork.ErrBadRelay},
		{"other recipient", mutate(func(x *fork.RelayedContent) { x.Recipient ^= 1 }), fork.ErrWrongRecipient},
		{"unknown head", mutate(func(x *fork.RelayedContent) { x.Head.ID[0] ^= 1 }), consensus.ErrUnknownEpoch},
		{"garbage", consensus.Envelope{Kind: consensus.KindRelayed, GroupID: []byte("forktest"), Epoch: env.Epoch,
			EpochID: env.EpochID, Body: []byte{1, 2, 3}}, consensus.ErrMalformed},
	}
	for _, tc := range cases {
		before := c.Stats()
		if err := c.Step("b", &tc.env); !errors.Is(err, tc.want) {
			t.Fatalf("%s: %v, want %v", tc.name, err, tc.want)
		}
		unchanged(t, c, before)
	}
	if err := c.Step("b", &env); err != nil {
		t.Fatalf("the genuine copy: %v", err)
	}
	rd := c.Ready()
	if len(rd.Delivered) != 1 || string(rd.Delivered[0].Data) != "signed-by-a" || string(rd.Delivered[0].Identity) != "a" {
		t.Fatalf("c delivered %+v, want a's message attributed to a", rd.Delivered)
	}
	c.Advance(rd)
	if err := c.Step("b", &env); !errors.Is(err, fork.ErrReplayedRelay) {
		t.Fatalf("the same copy again: %v, want ErrReplayedRelay", err)
	}
}

// TestRelayedContentNotForLaterJoiners: e joins after a's message; its
// nack of the message is not answered with the content (it was not in the
// sealing epoch's roster), and the content sent to c does not open for it.
func TestRelayedContentNotForLaterJoiners(t *testing.T) {
	n, env := captureRelayed(t)
	n.Heal()
	if err := n.Add("b", "e"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	e := n.Node("e").Member
	if e == nil {
		t.Fatal("setup: e did not join")
	}
	e.Advance(e.Ready())
	if err := e.Step("b", &env); err == nil {
		t.Fatal("e opened a relayed content sealed to c")
	}
	b := n.Node("b").Member
	b.Advance(b.Ready())
	nack := nackFrom(t, n, "e", envAuthor(t, n), 0)
	if err := b.Step("e", &nack); err != nil {
		t.Fatal(err)
	}
	rd := b.Ready()
	if got := len(relayedTo(rd, "e")) + len(directApplications(rd)); got != 0 {
		t.Fatalf("b sent e, who joined after the message, %d copies", got)
	}
}

func envAuthor(t *testing.T, n *forktest.Network) fork.Identity {
	t.Helper()
	return n.Node("a").Member.Identity()
}

// TestRelayedContentAcrossAHeal: a sends a message just after a partition
// parts {a, b} from {c, d, e}; the larger side removes a and moves on,
// releasing the epoch, and stays cut off for longer than its members keep
// a gone author's record without a rival in view. At the heal the
// smaller side loses and b is re-added; b, which delivered a's message,
// relays its signed content to c, d and e, which held the epoch. Their
// records of a outlived the partition because a rival branch was in view
// (before, they expired and nobody asked); and the content needs no
// epoch keys.
func TestRelayedContentAcrossAHeal(t *testing.T) {
	n, err := forktest.New(forktest.Options{Seed: 5, WindowTicks: 4, BeaconInterval: 2, HealDelay: 6}, "a", "b", "c", "d", "e")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Tick()
	}
	n.Partition([]string{"a", "b"}, []string{"c", "d", "e"})
	if err := n.Send("a", "before-the-heal"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Remove("c", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	for i := range 4 {
		if err := n.Send([]string{"c", "d", "e", "c"}[i], "side-two"); err != nil {
			t.Fatal(err)
		}
		if err := n.Commit("d"); err != nil {
			t.Fatal(err)
		}
		n.Deliver(1 << 20)
	}
	for range 20 {
		n.Tick()
	}
	if !delivered(n, "b", "before-the-heal") || delivered(n, "c", "before-the-heal") {
		t.Fatal("setup: b must have a's message and c must not")
	}
	n.Heal()
	for range 40 {
		n.Tick()
	}
	var buf bytes.Buffer
	n.Status(&buf)
	for _, name := range []string{"c", "d", "e"} {
		if !delivered(n, name, "before-the-heal") {
			t.Fatalf("%s, a member of the epoch a's message was sealed in, never got it:\n%s", name, buf.String())
		}
	}
}

// TestProbesTakeTurns: c, cut off, misses one message of each of five
// authors, all removed before it is back. It probes each gone author's
// next four numbers: twenty nacks for sixteen slots. The authors take
// turns across beacons, so every message reaches c; in a fixed order the
// author that sorts last was never probed (simulator churn seed 79).
func TestProbesTakeTurns(t *testing.T) {
	authors := []string{"a1", "a2", "a3", "a4", "a5"}
	n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2}, append(authors, "b", "c")...)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Tick()
	}
	n.Partition([]string{"c"})
	for _, a := range authors {
		if err := n.Send(a, "from-"+a); err != nil {
			t.Fatal(err)
		}
		n.Deliver(1 << 20)
	}
	for _, a := range authors {
		if err := n.Remove("b", a); err != nil {
			t.Fatal(err)
		}
		n.Deliver(1 << 20)
	}
	for range 8 {
		n.Tick()
	}
	n.Heal()
	for range 8 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	for _, a := range authors {
		if !delivered(n, "c", "from-"+a) {
			t.Errorf("c never got %s's message", a)
		}
	}
}

// TestProbesNotCrowdedOutByGaps: c joins after x1..x4 sent four messages
// each; on first news of their counts it asks for those sixteen numbers
// (they may have been sent after it joined), and nobody answers: they
// were not. Meanwhile a's message, sent after c joined, misses c, and a
// is removed. c probes for a's numbers; four nack slots are kept for
// probes, so b relays it. Before, the sixteen unanswered gaps filled
// every beacon until the probing ended (simulator flapping seed 18).
func TestProbesNotCrowdedOutByGaps(t *testing.T) {
	xs := []string{"x1", "x2", "x3", "x4"}
	n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2}, append([]string{"a", "b"}, xs...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range xs {
		for i := range 4 {
			if err := n.Send(x, fmt.Sprintf("%s-%d", x, i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	n.Deliver(1 << 20)
	n.Tick()
	if err := n.Add("b", "c"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	for range 2 {
		n.Tick() // c's first news of everyone's counts
	}
	n.Drop("a", "c")
	if err := n.Send("a", "owed-to-c"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if delivered(n, "c", "owed-to-c") || !n.Node("a").Member.Gone() {
		t.Fatal("setup: c must lack a's message and a must be out")
	}
	for range 4 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	if !delivered(n, "c", "owed-to-c") {
		t.Fatal("c never got the gone author's message it was owed")
	}
	if delivered(n, "c", "x1-0") {
		t.Fatal("c got a message sent before it joined")
	}
}
