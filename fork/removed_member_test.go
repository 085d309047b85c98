package fork_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
)

// TestRemovedMemberTakesInputSafely steps everything a network can send
// into a member whose core was removed: beacons of its old epoch and of
// the new one, the next commits, fetch requests and responses, and ticks.
// The core's head is nil once it is removed, and under wait-decide the
// removal takes effect inside a Tick, before the Member has drained the
// core's events (the simulator's crash: beaconNow on that nil head).
// Every input must be refused with a typed error or ignored, never panic,
// and the member must stay silent (a removed member has no head to
// beacon, fetch or re-send in).
func TestRemovedMemberTakesInputSafely(t *testing.T) {
	for _, apply := range []consensus.ApplyPolicy{consensus.ApplySwitch{}, consensus.WaitDecide{Wait: 3}} {
		t.Run(apply.Name(), func(t *testing.T) {
			n, err := forktest.New(forktest.Options{Seed: 5, WindowTicks: 6, BeaconInterval: 2, Apply: apply}, "a", "b", "c")
			if err != nil {
				t.Fatal(err)
			}
			c := n.Node("c").Member
			oldBeacon := beaconOf(t, n, "a") // names the epoch c still holds
			n.Deliver(1 << 20)
			if err := n.Remove("a", "c"); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10 && !c.Gone(); i++ {
				n.Tick()
			}
			if !c.Gone() {
				t.Fatal("c never saw its removal")
			}
			c.Advance(c.Ready())
			// The group goes on: a commit and beacons c cannot read.
			if err := n.Commit("b"); err != nil {
				t.Fatal(err)
			}
			commits := n.InFlight("b", consensus.KindCommit)
			if len(commits) == 0 {
				t.Fatal("b's commit is not in flight")
			}
			n.Deliver(1 << 20)
			// b's beacon of its new head (under wait-decide the head
			// moves in a later Tick), taken from b's output directly.
			var newBeacon consensus.Envelope
			b := n.Node("b").Member
			for i := 0; i < 20 && newBeacon.Body == nil; i++ {
				b.Tick()
				rd := b.Ready()
				b.Advance(rd)
				for _, env := range rd.Messages {
					if env.Kind == consensus.KindBeacon && env.EpochID != oldBeacon.EpochID && env.Epoch > oldBeacon.Epoch+1 {
						newBeacon = env
					}
				}
			}
			if newBeacon.Body == nil {
				t.Fatal("b never beaconed its new head")
			}

			req := fork.FetchRequest{GroupID: []byte("forktest"), RequestID: 9,
				Have: []consensus.EpochRef{c.Core().HeadRef()}, Want: consensus.EpochRef{Epoch: newBeacon.Epoch, ID: newBeacon.EpochID}}
			resp := fork.FetchResponse{GroupID: []byte("forktest"), RequestID: 1}
			gi, err := n.Node("a").Member.Core().Head().GroupInfo()
			if err != nil {
				t.Fatal(err)
			}
			branch := fork.FetchResponse{GroupID: []byte("forktest"), RequestID: 1,
				Branch: &fork.BranchInfo{GroupInfo: *gi, History: []consensus.EpochRef{n.Node("a").Member.Core().HeadRef()}}}
			head := c.Core().HeadRef()
			inputs := map[string]consensus.Envelope{
				"old beacon":      oldBeacon,
				"new beacon":      newBeacon,
				"commit":          commits[0],
				"fetch request":   envelope(t, consensus.KindFetchRequest, head, &req),
				"fetch response":  envelope(t, consensus.KindFetchResponse, head, &resp),
				"branch response": envelope(t, consensus.KindFetchResponse, head, &branch),
			}
			allowed := []error{fork.ErrReplayedBeacon, fork.ErrUnsolicited, consensus.ErrRemoved,
				consensus.ErrUnknownEpoch, consensus.ErrFinal, consensus.ErrDuplicate, consensus.ErrReleased}
			for _, name := range []string{"old beacon", "new beacon", "commit", "fetch request", "fetch response", "branch response"} {
				env := inputs[name]
				for round := 0; round < 2; round++ {
					err := c.Step("a", &env)
					if err != nil && !isOneOf(err, allowed) {
						t.Errorf("%s: untyped error %v", name, err)
					}
					for i := 0; i < 3; i++ {
						c.Tick()
					}
					if rd := c.Ready(); len(rd.Messages)+len(rd.Direct) > 0 {
						t.Errorf("%s: a removed member sent %d broadcasts and %d directed envelopes", name, len(rd.Messages), len(rd.Direct))
					}
					c.Advance(c.Ready())
				}
			}
			if _, err := c.Send([]byte("x")); !errors.Is(err, consensus.ErrRemoved) {
				t.Errorf("Send: %v, want ErrRemoved", err)
			}
			if err := c.Commit(); !errors.Is(err, consensus.ErrRemoved) {
				t.Errorf("Commit: %v, want ErrRemoved", err)
			}
			if st := c.Stats(); st.PendingBeacons > 0 || st.InflightFetches > 0 {
				t.Errorf("a removed member keeps fork bookkeeping: %+v", st)
			}
		})
	}
}

func isOneOf(err error, sentinels []error) bool {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}
