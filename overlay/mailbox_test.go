package overlay

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls/codec"
)

type welcomeSink struct {
	mu   sync.Mutex
	got  [][]byte
	from []peer.ID
	fail bool
}

func (s *welcomeSink) handle(from peer.ID, w []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got = append(s.got, w)
	s.from = append(s.from, from)
	if s.fail {
		return errors.New("not for any of my KeyPackages")
	}
	return nil
}

func (s *welcomeSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

func TestWelcomeDirect(t *testing.T) {
	var sink welcomeSink
	inviter := newNode(t, "tcp", Config{})
	invitee := newNode(t, "tcp", Config{WelcomeHandler: sink.handle})
	connect(t, inviter, invitee)
	w := testWelcome(t, 1)
	res, err := inviter.SendWelcome(context.Background(), invitee.ID(), w)
	if err != nil || !res.Delivered {
		t.Fatalf("%+v, %v", res, err)
	}
	if sink.count() != 1 || string(sink.got[0]) != string(w) || sink.from[0] != inviter.ID() {
		t.Fatal("Welcome not handed to the handler")
	}
	// The same Welcome again is not handed over twice.
	if _, err := inviter.SendWelcome(context.Background(), invitee.ID(), w); err != nil {
		t.Fatal(err)
	}
	if sink.count() != 1 {
		t.Fatalf("handler ran %d times for one Welcome", sink.count())
	}
	// Not a Welcome: refused locally.
	if _, err := inviter.SendWelcome(context.Background(), invitee.ID(), testKeyPackage(t, "x", false)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("KeyPackage as Welcome: %v", err)
	}
	// The invitee's handler refuses: the inviter hears it.
	sink.fail = true
	if _, err := inviter.SendWelcome(context.Background(), invitee.ID(), testWelcome(t, 2)); !errors.Is(err, ErrRefused) {
		t.Fatalf("refused Welcome: %v", err)
	}
}

// Store and forward: the invitee is offline when invited; the inviter goes
// offline too; a third peer hands the Welcome over when the invitee
// connects.
func TestWelcomeStoreAndForward(t *testing.T) {
	inviter := newNode(t, "tcp", Config{})
	holder := newNode(t, "tcp", Config{})
	connect(t, inviter, holder)
	var sink welcomeSink
	inviteeID, err := GenerateIdentity(testRand())
	if err != nil {
		t.Fatal(err)
	}
	id, _ := IdentityPeerID(inviteeID)
	w := testWelcome(t, 3)
	res, err := inviter.SendWelcome(context.Background(), id, w)
	if err != nil {
		t.Fatal(err)
	}
	if res.Delivered || len(res.DepositedAt) != 1 || res.DepositedAt[0] != holder.ID() {
		t.Fatalf("result %+v", res)
	}
	if holder.PendingWelcomes(id) != 1 || inviter.PendingWelcomes(id) != 1 {
		t.Fatal("Welcome not kept by holder and inviter")
	}
	inviter.Close()

	invitee := newNode(t, "tcp", Config{Identity: inviteeID, WelcomeHandler: sink.handle})
	connect(t, invitee, holder)
	waitFor(t, 10*time.Second, "Welcome handed over on connect", func() bool { return sink.count() == 1 })
	if string(sink.got[0]) != string(w) || sink.from[0] != holder.ID() {
		t.Fatal("wrong Welcome handed over")
	}
	waitFor(t, 5*time.Second, "holder to drop delivered mail", func() bool { return holder.PendingWelcomes(id) == 0 })
}

// The invitee asks for its mail; repeats from several holders are handled
// once. The mail is stored after the connections are up, so no holder
// pushes it: only CollectWelcomes can bring it.
func TestCollectWelcomes(t *testing.T) {
	var sink welcomeSink
	h1 := newNode(t, "tcp", Config{})
	h2 := newNode(t, "tcp", Config{})
	invitee := newNode(t, "tcp", Config{WelcomeHandler: sink.handle})
	connect(t, invitee, h1)
	connect(t, invitee, h2)
	id := invitee.ID()
	w := testWelcome(t, 4)
	for _, err := range []error{h1.mail.store(id, "depositor", w), h2.mail.store(id, "depositor", w), h2.mail.store(id, "depositor", testWelcome(t, 5))} {
		if err != nil {
			t.Fatal(err)
		}
	}
	n, err := invitee.CollectWelcomes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 || sink.count() != 2 {
		t.Fatalf("collected %d, handler ran %d times, want 2 distinct Welcomes", n, sink.count())
	}
	// Holders delete after reading the collector's acknowledgement, which
	// may be just after CollectWelcomes returns.
	waitFor(t, 5*time.Second, "holders to drop collected mail", func() bool {
		return h1.PendingWelcomes(id) == 0 && h2.PendingWelcomes(id) == 0
	})
	// Nothing left: a second collect brings nothing.
	if n, err := invitee.CollectWelcomes(context.Background()); n != 0 || err != nil {
		t.Fatalf("second collect: %d, %v", n, err)
	}
}

func TestMailboxBounds(t *testing.T) {
	o := newNode(t, "tcp", Config{Limits: Limits{MailPerRecipient: 2, MailRecipients: 2, MailBytes: 1000, MailPerDepositor: 3}})
	m := o.mail
	w := func(tag byte) []byte { return testWelcome(t, tag) }
	if err := m.store("r1", "d", w(1)); err != nil {
		t.Fatal(err)
	}
	if err := m.store("r1", "d", w(1)); err != nil || m.pending("r1") != 1 {
		t.Fatal("repeat stored twice")
	}
	m.store("r1", "d", w(2))
	if err := m.store("r1", "d", w(3)); !errors.Is(err, ErrRefused) {
		t.Fatalf("full mailbox: %v", err)
	}
	m.store("r2", "d", w(4))
	if err := m.store("r3", "d", w(5)); !errors.Is(err, ErrRefused) {
		t.Fatalf("too many recipients: %v", err)
	}
	if err := m.store("r2", "d", make([]byte, 1000)); !errors.Is(err, ErrRefused) {
		t.Fatalf("byte bound: %v", err)
	}
	// Held mail is never pushed out by new mail.
	if m.pending("r1") != 2 || m.pending("r2") != 1 {
		t.Fatal("held mail lost")
	}
	m.remove("r1", m.snapshot("r1")[0].hash)
	if m.pending("r1") != 1 {
		t.Fatal("remove")
	}
	// Per depositor: "d" holds 2 items now, so one more and then no more.
	if err := m.store("r2", "d", w(6)); err != nil {
		t.Fatal(err)
	}
	if err := m.store("r1", "d", w(7)); !errors.Is(err, ErrRefused) {
		t.Fatalf("depositor bound: %v", err)
	}
	if err := m.store("r1", "other", w(7)); err != nil {
		t.Fatalf("another depositor refused: %v", err)
	}
}

// Garbage on the mailbox protocol: refused and charged; deposits of
// non-Welcomes are not stored.
func TestMailboxBadInput(t *testing.T) {
	srv := newNode(t, "tcp", Config{})
	bad := newNode(t, "tcp", Config{})
	connect(t, bad, srv)
	notWelcome, _ := codec.Marshal(&mailRequest{Op: mailOpDeposit, Recipient: []byte(bad.ID()), Welcome: testKeyPackage(t, "x", false)})
	badRecipient, _ := codec.Marshal(&mailRequest{Op: mailOpDeposit, Recipient: []byte("??"), Welcome: testWelcome(t, 1)})
	for i, req := range [][]byte{{0}, {mailOpDeliver}, {mailOpCollect, 0}, notWelcome, badRecipient} {
		if _, err := bad.request(context.Background(), srv.ID(), MailboxProtocol, req, 1<<16); err == nil {
			t.Fatalf("garbage %d answered", i)
		}
	}
	if srv.mail.pending(bad.ID()) != 0 {
		t.Fatal("garbage stored")
	}
	if s := srv.pen.appScore(bad.ID()); s > -5*penaltyMalformed+1 {
		t.Fatalf("penalty %v", s)
	}
}
