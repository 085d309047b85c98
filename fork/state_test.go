package fork_test

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// TestRestartFromPersist: a Member restarted from the core's persisted
// state and its own State is in the same head and keeps its sent log.
func TestRestartFromPersist(t *testing.T) {
	n := newNet(t)
	a := n.Node("a").Member
	if err := n.Send("a", "before the restart"); err != nil {
		t.Fatal(err)
	}
	// The harness runs with SkipPersist; build the Persist a node would
	// have written from the head's state.
	raw, err := a.Core().Head().MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	p := &consensus.Persist{HeadID: a.Core().HeadID(), HeadState: raw}
	m, err := fork.New(fork.Config{Core: consensus.Config{SigningKey: n.SigningKey("a"), Rand: bytes.NewReader(make([]byte, 1<<16))},
		Persist: p, State: n.Node("a").State})
	if err != nil {
		t.Fatal(err)
	}
	if m.Core().HeadID() != a.Core().HeadID() || m.Stats().SentLog != 1 {
		t.Fatalf("restarted: head %v (want %v), sent log %d (want 1)", m.Core().HeadID(), a.Core().HeadID(), m.Stats().SentLog)
	}
	if _, err := fork.New(fork.Config{Core: consensus.Config{SigningKey: n.SigningKey("a"), Rand: bytes.NewReader(nil)}}); !errors.Is(err, consensus.ErrConfig) {
		t.Fatalf("neither Group nor Persist: %v, want ErrConfig", err)
	}
}

// TestRestartFromState: a member restarted from its persisted fork.State
// keeps its sent log (so it can still re-send after a heal), its chain
// history, and never reuses a beacon sequence number.
func TestRestartFromState(t *testing.T) {
	n := newNet(t)
	for _, text := range []string{"one", "two", "three"} {
		if err := n.Send("a", text); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		n.Tick()
	}
	a := n.Node("a")
	st := a.State
	if st == nil || len(st.Sent) != 3 {
		t.Fatalf("persisted state %+v, want 3 sent messages", st)
	}
	enc, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := fork.UnmarshalState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("state round trip differs:\n%+v\n%+v", back, st)
	}
	lastSeq := a.MaxBeaconSeq
	if lastSeq == 0 {
		t.Fatal("a sent no beacon with a sequence number above 0; the check below would prove nothing")
	}
	// Restart: the MLS state from its encoding, fork's from State.
	old := a.Member
	raw, err := old.Core().Head().MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	key := n.SigningKey("a")
	g, err := mls.LoadGroup(raw, mls.LoadConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	m, err := fork.New(fork.Config{Core: consensus.Config{Group: g, SigningKey: key, Rand: bytes.NewReader(make([]byte, 1<<16))},
		BeaconInterval: 2, State: back})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Stats().SentLog, 3; got != want {
		t.Fatalf("sent log after restart: %d, want %d", got, want)
	}
	if back.SendSeq != 3 {
		t.Fatalf("persisted next message number %d, want 3", back.SendSeq)
	}
	if got, want := m.Stats().History, old.Stats().History; got != want {
		t.Fatalf("history after restart: %d, want %d", got, want)
	}
	beacons := 0
	for _, env := range m.Ready().Messages {
		var b fork.Beacon
		if env.Kind != consensus.KindBeacon || codec.Unmarshal(env.Body, &b) != nil {
			continue
		}
		beacons++
		if b.Seq <= lastSeq {
			t.Fatalf("restarted member reuses beacon seq %d (last used %d)", b.Seq, lastSeq)
		}
	}
	if beacons == 0 {
		t.Fatal("restarted member sent no beacon")
	}
}

func TestStateRejectsGarbage(t *testing.T) {
	if _, err := fork.UnmarshalState([]byte{1, 2, 3}); !errors.Is(err, codec.ErrTruncated) {
		t.Fatalf("truncated state: %v", err)
	}
}

func FuzzState(f *testing.F) {
	st := fork.State{BeaconSeq: 9, History: []consensus.EpochRef{{Epoch: 1}}, Sent: []fork.SentMessage{{OutboxEntry: consensus.OutboxEntry{Data: []byte("x")}, AddedAfter: []fork.Identity{{1}}}}}
	enc, _ := st.MarshalBinary()
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := fork.UnmarshalState(data)
		if err != nil {
			return
		}
		out, err := s.MarshalBinary()
		if err != nil || !bytes.Equal(out, data) {
			t.Fatalf("state not canonical: %x -> %x (%v)", data, out, err)
		}
	})
}

// TestStateKeepsBatchRejoin: a loser restarted while its join request is
// out keeps the KeyPackage's private keys (State.Join) and joins from the
// batch's Welcome afterwards; a survivor restarted while holding requests
// holds them again (State.Requests). The State with these fields round-
// trips, and a State without them is the old format.
func TestStateKeepsBatchRejoin(t *testing.T) {
	n, err := forktest.New(forktest.Options{Seed: 21, WindowTicks: 4, BeaconInterval: 2, HealDelay: 6}, "a", "b", "c", "d", "e")
	if err != nil {
		t.Fatal(err)
	}
	n.Partition([]string{"a", "b", "c"}, []string{"d", "e"})
	if err := n.Commit("a"); err != nil {
		t.Fatal(err)
	}
	if err := n.Commit("d"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	for range 12 {
		n.Tick()
	}
	n.Heal()
	d, a := n.Node("d"), n.Node("a")
	for i := 0; !d.Member.Stats().PendingJoin; i++ {
		if i == 40 {
			t.Fatal("d never sent a join request")
		}
		n.Tick()
	}
	onto := a.Member.Core().HeadID()
	st := d.State
	if st == nil || st.Join == nil {
		t.Fatalf("d's persisted state has no pending join: %+v", st)
	}
	enc, err := st.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	back, err := fork.UnmarshalState(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, st) {
		t.Fatalf("state round trip differs:\n%+v\n%+v", back, st)
	}
	raw, err := d.Member.Core().Head().MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	key := n.SigningKey("d")
	g, err := mls.LoadGroup(raw, mls.LoadConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	restarted, err := fork.New(fork.Config{Core: consensus.Config{Group: g, SigningKey: key, Rand: bytes.NewReader(make([]byte, 1<<16))},
		BeaconInterval: 2, State: back})
	if err != nil {
		t.Fatal(err)
	}
	if !restarted.Stats().PendingJoin {
		t.Fatal("restarted d forgot its join request")
	}
	// The survivors batch it; the restarted d opens the Welcome.
	for i := 0; a.Member.Core().HeadID() == onto; i++ {
		if i == 20 {
			t.Fatal("no batch commit")
		}
		n.Tick()
	}
	envs, ok := a.Member.Core().CommitsAfter(onto, 1)
	if !ok || len(envs) != 1 {
		t.Fatalf("batch commit not found after %v", onto)
	}
	restarted.Advance(restarted.Ready())
	if err := restarted.Step("a", &envs[0]); err != nil {
		t.Fatalf("restarted d stepping the batch: %v", err)
	}
	readded := false
	for _, ev := range restarted.Ready().Fork {
		readded = readded || ev.Kind == fork.EventReadded
	}
	if !readded || restarted.Core().HeadRef().Epoch != envs[0].Epoch+1 {
		t.Fatalf("restarted d did not join from the batch's Welcome (head %v)", restarted.Core().HeadRef())
	}
	// A survivor that holds requests persists them.
	n2, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2}, "a", "b", "c")
	if err != nil {
		t.Fatal(err)
	}
	m := n2.Node("a").Member
	req := makeJoinRequest(t, requestOpts{cred: "b", key: n2.SigningKey("b"), onto: m.Core().HeadRef()})
	if err := m.Step("b", &req); err != nil {
		t.Fatal(err)
	}
	rd := m.Ready()
	if rd.State == nil || len(rd.State.Requests) != 1 {
		t.Fatalf("held request not persisted: %+v", rd.State)
	}
	m.Advance(rd)
	raw2, err := m.Core().Head().MarshalState()
	if err != nil {
		t.Fatal(err)
	}
	g2, err := mls.LoadGroup(raw2, mls.LoadConfig{SigningKey: n2.SigningKey("a")})
	if err != nil {
		t.Fatal(err)
	}
	again, err := fork.New(fork.Config{Core: consensus.Config{Group: g2, SigningKey: n2.SigningKey("a"), Rand: bytes.NewReader(make([]byte, 1<<16))},
		BeaconInterval: 2, State: rd.State})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Stats().JoinRequests; got != 1 {
		t.Fatalf("restarted survivor holds %d requests, want 1", got)
	}
	// The old format (no batch fields) still decodes; empty batch fields
	// written out are refused as not canonical.
	old := fork.State{BeaconSeq: 3}
	oenc, _ := old.MarshalBinary()
	if _, err := fork.UnmarshalState(oenc); err != nil {
		t.Fatalf("state without batch fields: %v", err)
	}
	if _, err := fork.UnmarshalState(append(oenc, 0, 0)); err == nil {
		t.Fatal("empty batch fields accepted")
	}
}
