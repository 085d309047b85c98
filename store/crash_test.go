package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The crash test re-executes the test binary as a child (TestMain sees
// envCrashDir) that applies epoch transitions to an on-disk store as fast
// as it can and prints "ack N" after each Commit returns. The parent kills
// it with SIGKILL at random moments, reopens the store and checks it is
// exactly the state after the last acknowledged transition (or the one
// after it, whose Commit may have reached the disk before the ack was
// printed).

const (
	envCrashDir  = "MLSNODE_STORE_CRASH_DIR"
	envCrashSeed = "MLSNODE_STORE_CRASH_SEED"
	crashWindow  = 3 // retained epochs: the head and two before it
	crashKills   = 60
)

var crashGroup = []byte("crash-group")

func TestMain(m *testing.M) {
	if dir := os.Getenv(envCrashDir); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild runs transitions until it is killed.
func crashChild(dir string) {
	fail := func(err error) {
		fmt.Fprintf(os.Stdout, "error %v\n", err)
		os.Exit(2)
	}
	ctx := context.Background()
	s, err := OpenDir(ctx, dir)
	if err != nil {
		fail(err)
	}
	os.Stdout.Write([]byte("ready\n"))
	g := s.Group(crashGroup)
	n := uint64(0)
	if _, h, err := g.HeadID(ctx); err == nil {
		n = h + 1
	} else if !errors.Is(err, ErrNotFound) {
		fail(err)
	}
	for ; ; n++ {
		if err := crashTransition(ctx, g, n); err != nil {
			fail(err)
		}
		if _, err := os.Stdout.Write([]byte("ack " + strconv.FormatUint(n, 10) + "\n")); err != nil {
			os.Exit(3)
		}
	}
}

func crashEpoch(n uint64) EpochID { return eid("crash", int(n)) }

func crashState(n uint64) []byte {
	st := append([]byte("state "), secretBytes("crash-state", int(n))...)
	return append(st, bytes.Repeat([]byte{byte(n)}, 4096)...)
}

// crashTransition is transition n: the new head n, its path key and a
// rival, epoch n-3 dropped, one message sent and one received, the
// outbox entry of n-2 acknowledged and, every third step, entry n-1 moved
// to epoch n.
func crashTransition(ctx context.Context, g *Group, n uint64) error {
	tx := g.Begin()
	var parent EpochID
	if n > 0 {
		parent = crashEpoch(n - 1)
	}
	tx.PutEpoch(Epoch{ID: crashEpoch(n), Number: n, Parent: parent, State: crashState(n)})
	tx.PutEpochKey(crashEpoch(n), "path", secretBytes("crash-key", int(n)))
	tx.PutRival(Rival{Parent: crashEpoch(n), ID: eid("crash-rival", int(n)), Commit: fmt.Appendf(nil, "rival %d", n)})
	tx.SetHead(crashEpoch(n))
	if n >= crashWindow {
		tx.DropEpoch(crashEpoch(n - crashWindow))
	}
	if id := tx.AddOutbox(crashEpoch(n), fmt.Appendf(nil, "msg %d", n), fmt.Appendf(nil, "ct %d", n)); id != n {
		return fmt.Errorf("transition %d: outbox id %d", n, id)
	}
	if n >= 2 {
		tx.AckOutbox(n - 2)
	}
	if n >= 1 && n%3 == 0 {
		tx.MoveOutbox(n-1, crashEpoch(n), fmt.Appendf(nil, "ct %d moved to %d", n-1, n))
	}
	if seq := tx.PutReceived(Received{Epoch: crashEpoch(n), Sender: uint32(n % 7), Data: fmt.Appendf(nil, "recv %d", n)}); seq != n {
		return fmt.Errorf("transition %d: received seq %d", n, seq)
	}
	tx.PutCommitSeen(CommitSeen{Parent: parent, ID: crashEpoch(n), Number: n})
	return tx.Commit(ctx)
}

// checkCrashState checks that the store holds exactly the state after
// transition h.
func checkCrashState(t *testing.T, g *Group, h uint64) {
	t.Helper()
	ctx := context.Background()
	head, err := g.Head(ctx)
	if err != nil {
		t.Fatalf("head: %v", err)
	}
	if head.ID != crashEpoch(h) || head.Number != h || !bytes.Equal(head.State, crashState(h)) {
		t.Fatalf("head is epoch %d, want %d", head.Number, h)
	}
	ids, err := g.EpochIDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := uint64(0)
	if h+1 > crashWindow {
		first = h + 1 - crashWindow
	}
	if len(ids) != int(h-first+1) {
		t.Fatalf("%d epochs stored after transition %d, want %d", len(ids), h, h-first+1)
	}
	for n := first; n <= h; n++ {
		e, err := g.Epoch(ctx, crashEpoch(n))
		if err != nil || !bytes.Equal(e.State, crashState(n)) {
			t.Fatalf("retained epoch %d: %v", n, err)
		}
		k, err := g.EpochKey(ctx, crashEpoch(n), "path")
		if err != nil || !bytes.Equal(k, secretBytes("crash-key", int(n))) {
			t.Fatalf("key of retained epoch %d: %v", n, err)
		}
		if rv, err := g.Rivals(ctx, crashEpoch(n)); err != nil || len(rv) != 1 || string(rv[0].Commit) != fmt.Sprintf("rival %d", n) {
			t.Fatalf("rival of epoch %d: %+v %v", n, rv, err)
		}
	}
	for n := uint64(0); n < first; n++ {
		if _, err := g.Epoch(ctx, crashEpoch(n)); !errors.Is(err, ErrNotFound) {
			t.Fatalf("dropped epoch %d reads back: %v", n, err)
		}
		if _, err := g.EpochKey(ctx, crashEpoch(n), "path"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("key of dropped epoch %d reads back: %v", n, err)
		}
	}
	// Outbox: entries h-1 and h; entry h-1 moved to epoch h if h%3 == 0.
	var want []OutboxEntry
	if h >= 1 {
		e := OutboxEntry{ID: h - 1, Epoch: crashEpoch(h - 1), Plaintext: fmt.Appendf(nil, "msg %d", h-1), Message: fmt.Appendf(nil, "ct %d", h-1)}
		if h%3 == 0 {
			e.Epoch, e.Message = crashEpoch(h), fmt.Appendf(nil, "ct %d moved to %d", h-1, h)
		}
		want = append(want, e)
	}
	want = append(want, OutboxEntry{ID: h, Epoch: crashEpoch(h), Plaintext: fmt.Appendf(nil, "msg %d", h), Message: fmt.Appendf(nil, "ct %d", h)})
	ob, err := g.Outbox(ctx)
	if err != nil || !equalOutbox(ob, want) {
		t.Fatalf("outbox after transition %d: %+v %v", h, ob, err)
	}
	rc, err := g.Received(ctx)
	if err != nil || len(rc) != int(h+1) {
		t.Fatalf("received after transition %d: %d messages, %v", h, len(rc), err)
	}
	for i, m := range rc {
		if m.Seq != uint64(i) || string(m.Data) != fmt.Sprintf("recv %d", i) || m.Epoch != crashEpoch(uint64(i)) {
			t.Fatalf("received message %d: %+v", i, m)
		}
	}
	cs, err := g.CommitsSeen(ctx)
	if err != nil || len(cs) != int(h+1) {
		t.Fatalf("commits seen after transition %d: %d, %v", h, len(cs), err)
	}
}

// crashSecrets returns the secrets of dropped epochs below first and of
// retained epochs first..h.
func crashSecrets(first, h uint64) (gone, live [][]byte) {
	for n := uint64(0); n <= h; n++ {
		s := [][]byte{secretBytes("crash-state", int(n)), secretBytes("crash-key", int(n))}
		if n < first {
			gone = append(gone, s...)
		} else {
			live = append(live, s...)
		}
	}
	return gone, live
}

func TestCrashRecovery(t *testing.T) {
	t.Parallel() // mostly waits on its child; let the other tests run meanwhile
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv(envCrashSeed); v != "" {
		var err error
		if seed, err = strconv.ParseUint(v, 10, 64); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seed %d (rerun with %s=%d)", seed, envCrashSeed, seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var verified uint64 // head after the last check
	started := false    // a head exists
	var killedBeforeAck, killedAfterAcks, purgesFinishedByOpen int
	for kill := 0; kill < crashKills; kill++ {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), envCrashDir+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acks := make(chan []string, 1)
		ready := make(chan struct{})
		go func() {
			var lines []string
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "ready" {
					close(ready)
					continue
				}
				lines = append(lines, sc.Text())
			}
			acks <- lines
		}()
		// Kill at a random moment: one kill in five during start-up
		// and Open (which finishes interrupted purges), the others
		// within 120 ms of the child being ready, in the middle of its
		// stream of commits and purges. Timing from "ready" keeps the
		// test meaningful when a loaded machine starts processes slowly.
		if rng.IntN(5) == 0 {
			time.Sleep(time.Duration(rng.IntN(150_000)) * time.Microsecond)
		} else {
			select {
			case <-ready:
			case <-time.After(20 * time.Second):
				t.Fatalf("kill %d: the child did not open the store in 20 s", kill)
			}
			time.Sleep(time.Duration(rng.IntN(120_000)) * time.Microsecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		lines := <-acks
		cmd.Wait()

		lastAck, acked := verified, false
		for _, l := range lines {
			if strings.HasPrefix(l, "error ") {
				t.Fatalf("kill %d: child failed: %s", kill, l)
			}
			n, err := strconv.ParseUint(strings.TrimPrefix(l, "ack "), 10, 64)
			if err != nil {
				t.Fatalf("kill %d: child said %q", kill, l)
			}
			lastAck, acked = n, true
		}
		if acked {
			killedAfterAcks++
		} else {
			killedBeforeAck++
		}

		// Before the store is reopened: every epoch dropped by an
		// acknowledged transition is already purged from the files (its
		// Commit returned, purge included, before the ack). Only the
		// epoch the in-flight transition dropped may still be there.
		inFlightDropPresent := false
		if h := lastAck + 1; (started || acked) && h >= crashWindow {
			gone, _ := crashSecrets(h-crashWindow, h)
			for i, f := range dirContains(t, dir, gone) {
				if f {
					t.Fatalf("kill %d: a secret of epoch %d, dropped by an acknowledged transition, is in the files before reopening", kill, i/2)
				}
			}
			inFlightDropPresent = dirContains(t, dir, [][]byte{secretBytes("crash-state", int(h-crashWindow))})[0]
		}

		s, err := OpenDir(context.Background(), dir)
		if err != nil {
			t.Fatalf("kill %d: reopening: %v", kill, err)
		}
		g := s.Group(crashGroup)
		_, h, err := g.HeadID(context.Background())
		switch {
		case errors.Is(err, ErrNotFound) && !started && !acked:
			// Killed before the first transition committed.
			s.Close()
			continue
		case err != nil:
			t.Fatalf("kill %d: head: %v", kill, err)
		}
		// The last acknowledged transition is in; the one after it may
		// be too (committed, killed before the ack was written).
		if (started || acked) && h != lastAck && h != lastAck+1 {
			t.Fatalf("kill %d: head is %d, last acknowledged %d", kill, h, lastAck)
		}
		if !started && !acked && h != 0 {
			t.Fatalf("kill %d: head %d without any acknowledgement", kill, h)
		}
		checkCrashState(t, g, h)
		if inFlightDropPresent && h == lastAck+1 {
			// The in-flight transition committed and dropped the epoch,
			// but was killed before its purge ended: Open finished it
			// (checked just below).
			purgesFinishedByOpen++
		}
		first := uint64(0)
		if h+1 > crashWindow {
			first = h + 1 - crashWindow
		}
		gone, live := crashSecrets(first, h)
		for i, f := range dirContains(t, dir, gone) {
			if f {
				t.Fatalf("kill %d: secret %d of dropped epoch %d is still in the files", kill, i%2, i/2)
			}
		}
		for i, f := range dirContains(t, dir, live) {
			if !f {
				t.Fatalf("kill %d: secret of retained epoch %d not found in the files: the check is blind", kill, first+uint64(i/2))
			}
		}
		must(t, s.Close())
		verified, started = h, true
	}
	t.Logf("%d kills: %d before the first ack of their run, %d after; %d between a commit and the end of its purge; %d transitions survived",
		crashKills, killedBeforeAck, killedAfterAcks, purgesFinishedByOpen, verified+1)
	// Guard against a vacuous run (every kill before any commit), with
	// room for a slow, loaded machine.
	if killedAfterAcks < crashKills/4 || verified < crashKills/2 {
		t.Fatalf("the kills did not exercise the store: %d runs with acks, head %d", killedAfterAcks, verified)
	}
}
