package fork_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
)

// delivered reports whether the named node handed text to its application.
func delivered(n *forktest.Network, name, text string) bool {
	var buf bytes.Buffer
	n.Delivered(&buf)
	for _, line := range strings.Split(buf.String(), "\n") {
		if rest, ok := strings.CutPrefix(line, name+": "); ok {
			return slices.Contains(strings.Fields(rest), text)
		}
	}
	return false
}

// nackAgain is nackFrom with another beacon sequence number, so that the
// same nack can be sent twice (a replayed beacon is refused).
func nackAgain(t *testing.T, n *forktest.Network, name string, author fork.Identity, seq, round uint64) consensus.Envelope {
	t.Helper()
	m := n.Node(name).Member
	head := m.Core().Head()
	b := fork.Beacon{GroupID: []byte("forktest"), Epoch: head.Epoch(), EpochID: m.Core().HeadID(),
		Sender: uint32(head.OwnLeaf()), Seq: 1<<41 + round, Nacks: []fork.Nack{{Author: author, Seq: seq}}}
	if err := fork.SignBeacon(n.SigningKey(name), &b); err != nil {
		t.Fatal(err)
	}
	return envelope(t, consensus.KindBeacon, consensus.EpochRef{Epoch: b.Epoch, ID: b.EpochID}, &b)
}

// directApplications lists the application envelopes rd sends point to
// point.
func directApplications(rd fork.Ready) []fork.Directed {
	var out []fork.Directed
	for _, d := range rd.Direct {
		if d.Envelope.Kind == consensus.KindApplication {
			out = append(out, d)
		}
	}
	return out
}

// TestRelayOfARemovedAuthorsMessage: a's message never reached c, and a is
// removed before anyone asks it again. b, which delivered it, relays the
// original envelope to c when c's beacon nacks it; c opens it with the
// epoch's keys and attributes it to a (the author's own signature inside,
// nothing of b's). A member that never held that epoch cannot open the
// same copy.
func TestRelayOfARemovedAuthorsMessage(t *testing.T) {
	n := newNet(t)
	a, b := n.Node("a").Member, n.Node("b").Member
	author := a.Identity()
	n.Drop("a", "c")
	if err := n.Send("a", "only-b-has-it"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if !delivered(n, "b", "only-b-has-it") || delivered(n, "c", "only-b-has-it") {
		t.Fatal("setup: b must have the message and c must not")
	}
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if !a.Gone() {
		t.Fatal("setup: a is still in the group")
	}
	c := n.Node("c").Member
	if c.Core().HeadID() != b.Core().HeadID() {
		t.Fatal("setup: b and c are not on one head")
	}

	// c's nack reaches b: the author is out of b's roster, so b relays at
	// once, point to point, the envelope as a sent it.
	b.Advance(b.Ready())
	nack := nackFrom(t, n, "c", author, 0)
	if err := b.Step("c", &nack); err != nil {
		t.Fatal(err)
	}
	rd := b.Ready()
	relayed := directApplications(rd)
	if len(relayed) != 1 || relayed[0].To != "c" {
		t.Fatalf("b relayed %d application envelopes (%+v), want 1 to c", len(relayed), relayed)
	}
	b.Advance(rd)
	// The same nack again within the interval: no second copy.
	nack2 := nackAgain(t, n, "c", author, 0, 1)
	if err := b.Step("c", &nack2); err != nil {
		t.Fatal(err)
	}
	if got := directApplications(b.Ready()); len(got) != 0 {
		t.Fatalf("b relayed again within one beacon interval: %d copies", len(got))
	}
	b.Advance(b.Ready())

	// c opens it as a's message.
	c.Advance(c.Ready())
	env := relayed[0].Envelope
	if err := c.Step("b", &env); err != nil {
		t.Fatalf("c refused the relayed copy: %v", err)
	}
	rc := c.Ready()
	if len(rc.Delivered) != 1 || string(rc.Delivered[0].Data) != "only-b-has-it" || string(rc.Delivered[0].Identity) != "a" {
		t.Fatalf("c delivered %+v, want a's message attributed to a", rc.Delivered)
	}
	c.Advance(rc)

	// d joins after the message: the relayed copy does not open for it
	// (it never held the epoch), so a relay shows it nothing.
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	d := n.Node("d").Member
	if d == nil {
		t.Fatal("setup: d did not join")
	}
	d.Advance(d.Ready())
	env = relayed[0].Envelope
	if err := d.Step("b", &env); err == nil {
		t.Fatal("d, which joined after the message, accepted the relayed copy")
	}
	if rd := d.Ready(); len(rd.Delivered) != 0 {
		t.Fatalf("d delivered %+v from a copy sealed before it joined", rd.Delivered)
	}
}

// TestRelayWaitsForAPresentAuthor: while the author is in the group, it
// answers its own nacks; a member holding the message relays only after
// the nack has stood for a beacon interval.
func TestRelayWaitsForAPresentAuthor(t *testing.T) {
	n := newNet(t)
	a, b := n.Node("a").Member, n.Node("b").Member
	n.Drop("a", "c")
	if err := n.Send("a", "late"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	b.Advance(b.Ready())
	nack := nackFrom(t, n, "c", a.Identity(), 0)
	if err := b.Step("c", &nack); err != nil {
		t.Fatal(err)
	}
	if got := directApplications(b.Ready()); len(got) != 0 {
		t.Fatalf("b relayed at once for an author in the group: %d copies", len(got))
	}
	b.Advance(b.Ready())
	for range fork.DefaultBeaconInterval {
		b.Tick()
	}
	b.Advance(b.Ready())
	nack = nackAgain(t, n, "c", a.Identity(), 0, 1)
	if err := b.Step("c", &nack); err != nil {
		t.Fatal(err)
	}
	if got := directApplications(b.Ready()); len(got) != 1 {
		t.Fatalf("the nack stood a beacon interval: b relayed %d copies, want 1", len(got))
	}
}

// TestNackHonouredForAMemberOfTheSealingEpoch: a member that was in the
// epoch a message was sealed in is owed it, even when the author's chain
// adds it again later (in the simulator: added by a commit that lost,
// added again on the winner). Before, the later Add put it among the
// members "added after the message" and its nacks were refused.
func TestNackHonouredForAMemberOfTheSealingEpoch(t *testing.T) {
	n := newNet(t)
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if n.Node("d").Member == nil {
		t.Fatal("setup: d did not join")
	}
	a := n.Node("a").Member
	n.Drop("a", "d")
	if err := n.Send("a", "for-d-too"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Remove("b", "d"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	d := n.Node("d").Member
	if d.Gone() || d.Core().HeadID() != a.Core().HeadID() {
		t.Fatal("setup: d is not back on a's head")
	}
	a.Advance(a.Ready())
	nack := nackFrom(t, n, "d", a.Identity(), 0)
	if err := a.Step("d", &nack); err != nil {
		t.Fatal(err)
	}
	rd := a.Ready()
	if got := applicationsIn(rd) + len(directApplications(rd)) + len(rd.Direct); got == 0 {
		t.Fatal("d was a member of the epoch the message was sealed in; its nack was refused")
	}
}

// TestGapOfAGoneAuthorRecovered: end to end. a's first message misses c,
// its second reaches it, and a is removed at once, before any nack. c
// keeps a's record after a left its roster, nacks the gap (a announces
// nothing any more: the number it received shows the gap), and b relays
// the original; c delivers it within a few beacon intervals.
func TestGapOfAGoneAuthorRecovered(t *testing.T) {
	n := newNet(t)
	for range 3 {
		n.Tick()
	}
	n.Drop("a", "c")
	if err := n.Send("a", "first"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	n.Heal()
	if err := n.Send("a", "second"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if delivered(n, "c", "first") || !delivered(n, "c", "second") {
		t.Fatal("setup: c must have the second message only")
	}
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if !n.Node("a").Member.Gone() {
		t.Fatal("setup: a is still in the group")
	}
	for range 3 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	if !delivered(n, "c", "first") {
		t.Fatal("c never got a's first message from a relay")
	}
}

// TestLaggingPeerServedPointToPoint: c was cut off while a sent a message
// and b then added d. When c's beacon shows it in an epoch final at a,
// a serves it what it sent since; the message d must not read cannot go
// in a group re-send, and now goes to c alone (a DirectResend) instead of
// being skipped: c may never nack it, having missed a's beacons.
func TestLaggingPeerServedPointToPoint(t *testing.T) {
	n := newNet(t)
	n.Drop("a", "c")
	n.Drop("b", "c")
	if err := n.Send("a", "while-c-was-away"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	n.Drop("d", "c")
	n.Drop("c", "a") // c's beacons reach a only when the test hands one over
	if err := n.Add("b", "d"); err != nil {
		t.Fatal(err)
	}
	for range 6 * fork.DefaultBeaconInterval {
		n.Tick() // the epochs c still holds become final at a
	}
	a, c := n.Node("a").Member, n.Node("c").Member
	if c.Core().HeadID() == a.Core().HeadID() {
		t.Fatal("setup: c must lag behind")
	}
	a.Advance(a.Ready())
	var beacon consensus.Envelope
	found := false
	for range 4 * fork.DefaultBeaconInterval {
		c.Tick()
		for _, env := range c.Ready().Messages {
			if env.Kind == consensus.KindBeacon {
				beacon, found = env, true
			}
		}
		c.Advance(c.Ready())
		if found {
			break
		}
	}
	if !found {
		t.Fatal("setup: c sent no beacon")
	}
	if err := a.Step("c", &beacon); err != nil {
		t.Fatal(err)
	}
	rd := a.Ready()
	resends := 0
	for _, d := range rd.Direct {
		if d.To == "c" && d.Envelope.Kind == consensus.KindResend {
			resends++
		}
	}
	if resends != 1 {
		t.Fatalf("a sent %d point-to-point re-sends to the lagging c, want 1 (direct: %d, broadcast applications: %d)",
			resends, len(rd.Direct), applicationsIn(rd))
	}
}

// TestProbeForAGoneAuthorsUnknownNumbers: c heard nothing from a for two
// epochs (a's link to c is cut), in which a sent a message and was then
// removed. c does not know the message's number, so no gap shows; having
// been away from a, it asks for the next numbers past the last it knows
// (probes), and b relays what it has.
func TestProbeForAGoneAuthorsUnknownNumbers(t *testing.T) {
	n := newNet(t)
	for range 2 {
		n.Tick()
	}
	n.Drop("a", "c")
	for range 2 {
		if err := n.Commit("b"); err != nil {
			t.Fatal(err)
		}
		n.Deliver(1 << 20)
	}
	if err := n.Send("a", "unannounced"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if delivered(n, "c", "unannounced") || !n.Node("a").Member.Gone() {
		t.Fatal("setup: c must lack the message and a must be out")
	}
	for range 3 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	if !delivered(n, "c", "unannounced") {
		t.Fatal("c never got the message of the gone author it had not heard of")
	}
}

// TestRelayToAMemberBackFromOffline: c is cut off while a sends a message
// and b makes four more epochs, the last removing a. Back, c merges them
// all at once and keeps their states while their races are open at c,
// though they are final at b and c's head is four epochs past the
// message's. Its beacon says so (opens_from), and b relays the original to
// it. Before, b judged by its own view (at most two epochs behind c's
// head, or the race open at b) and never relayed it (simulator churn
// seed 7).
func TestRelayToAMemberBackFromOffline(t *testing.T) {
	// d sends nothing: the races c merges stay open at c for the window
	// (with every member seen building on them they would close at once).
	// The window is six beacon intervals, as in the simulator (2 s, 500
	// ms), so that catching up takes less than a window.
	n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 12, BeaconInterval: 2}, "a", "b", "c", "d")
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		n.Tick() // first news of everyone
	}
	n.Partition([]string{"c"})
	if err := n.Send("a", "while-c-was-offline"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	sealed := n.Node("b").Member.Core().HeadRef()
	for range 3 {
		if err := n.Commit("b"); err != nil {
			t.Fatal(err)
		}
		n.Deliver(1 << 20)
	}
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	for range 16 {
		n.Tick() // the races on the epochs c missed close at b
	}
	b, c := n.Node("b").Member, n.Node("c").Member
	if !n.Node("a").Member.Gone() || delivered(n, "c", "while-c-was-offline") || c.Core().Head().Epoch() != sealed.Epoch {
		t.Fatal("setup: a must be out and c still in the message's epoch without it")
	}
	if b.Core().Head().Epoch() < sealed.Epoch+4 || b.Core().OpensFrom() > b.Core().Head().Epoch()-2 {
		t.Fatalf("setup: b at %d opens from %d; the message's epoch %d must be released there",
			b.Core().Head().Epoch(), b.Core().OpensFrom(), sealed.Epoch)
	}
	n.Heal()
	caughtUp := false
	for range 3 * fork.DefaultBeaconInterval {
		n.Tick()
		if !caughtUp && c.Core().HeadID() == b.Core().HeadID() {
			caughtUp = true
			if c.Core().OpensFrom() > sealed.Epoch {
				t.Fatalf("c merged up to %d and opens from %d only: the test needs the message's epoch %d open",
					c.Core().Head().Epoch(), c.Core().OpensFrom(), sealed.Epoch)
			}
		}
	}
	if c.Core().HeadID() != b.Core().HeadID() {
		t.Fatal("c did not catch up")
	}
	if !delivered(n, "c", "while-c-was-offline") {
		var buf bytes.Buffer
		n.Delivered(&buf)
		t.Log(buf.String())
		t.Fatal("c, which merged the message's epoch late and could still open it, was never relayed it")
	}
}

// TestProbeForAGoneAuthorsLastMessage: c was not away (it heard a in its
// current epoch), but a's last message and every beacon announcing it
// were lost to c, and a was removed at once. No gap shows; c probes for
// a's next numbers for a few beacon intervals all the same, and b relays
// it. Before, only a member that had been away probed (lossy seeds 6, 34).
func TestProbeForAGoneAuthorsLastMessage(t *testing.T) {
	n := newNet(t)
	for range 3 {
		n.Tick()
	}
	n.Drop("a", "c")
	if err := n.Send("a", "last-words"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if err := n.Remove("b", "a"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	if delivered(n, "c", "last-words") || !n.Node("a").Member.Gone() {
		t.Fatal("setup: c must lack the message and a must be out")
	}
	for range 3 * fork.DefaultBeaconInterval {
		n.Tick()
	}
	if !delivered(n, "c", "last-words") {
		t.Fatal("c never got the last message of a gone author it had heard recently")
	}
}
