package fork_test

import (
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// BenchmarkStepBeacon measures what every member pays per beacon it
// receives: decode, signature verification against the epoch's tree,
// replay check. Each iteration is a fresh beacon (a higher sequence) that
// announces one more message sent, so it carries news and is verified.
func BenchmarkStepBeacon(b *testing.B) { benchStepBeacon(b, true) }

// BenchmarkStepBeaconQuiet is the common case of a quiet group: a beacon
// naming the receiver's head with nothing new, dropped unverified.
func BenchmarkStepBeaconQuiet(b *testing.B) { benchStepBeacon(b, false) }

func benchStepBeacon(b *testing.B, news bool) {
	n := newNet(b)
	a := n.Node("a").Member
	first := beaconOf(b, n, "b")
	var bc fork.Beacon
	if err := codec.Unmarshal(first.Body, &bc); err != nil {
		b.Fatal(err)
	}
	if err := a.Step("b", &first); err != nil {
		b.Fatal(err)
	}
	a.Advance(a.Ready())
	// Pre-sign the beacons with b's key: the same fields with
	// increasing sequence numbers (and counts, for news).
	envs := make([]consensus.Envelope, b.N)
	key := n.SigningKey("b")
	for i := range envs {
		x := bc
		x.Seq = bc.Seq + uint64(i) + 1
		if news {
			x.Sent = bc.Sent + uint64(i) + 1
		}
		if err := fork.SignBeacon(key, &x); err != nil {
			b.Fatal(err)
		}
		envs[i] = envelope(b, consensus.KindBeacon, consensus.EpochRef{Epoch: x.Epoch, ID: x.EpochID}, &x)
	}
	b.ResetTimer()
	for i := range envs {
		if err := a.Step("b", &envs[i]); err != nil {
			b.Fatal(err)
		}
		a.Advance(a.Ready())
	}
}

// BenchmarkSurvivor measures the survivor rule for growing rosters.
func BenchmarkSurvivor(b *testing.B) {
	for _, size := range []int{10, 100, 1000, 10000} {
		b.Run(fmt.Sprintf("members=%d", size), func(b *testing.B) {
			var all []fork.Identity
			for i := range size {
				all = append(all, idOfName(fmt.Sprint(i)))
			}
			a := fork.BranchView{Members: all, Active: all[:size/2]}
			c := fork.BranchView{Members: all, Active: all[size/2:]}
			b.ResetTimer()
			for range b.N {
				fork.Survivor(a, c)
			}
		})
	}
}
