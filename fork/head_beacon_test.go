package fork_test

import (
	"crypto/sha256"
	"encoding/binary"
	"testing"

	"github.com/mlsnode/mlsnode/fork"
)

// TestHeadBeaconsBounded: in a roster no larger than HeadBeacons every
// member beacons when the head moves; in a larger one about HeadBeacons
// do, a different set for each epoch (so no member is always the silent
// one), and the choice is a function of the epoch id and the identity.
func TestHeadBeaconsBounded(t *testing.T) {
	ids := make([]fork.Identity, 1000)
	for i := range ids {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		ids[i] = sha256.Sum256(b[:])
	}
	epoch := func(e int) fork.EpochID {
		return fork.EpochID(sha256.Sum256([]byte{byte(e), byte(e >> 8), 'e'}))
	}
	for _, self := range ids[:32] {
		if !fork.HeadBeaconer(epoch(1), self, 32, 32) {
			t.Fatal("a member of a 32-member roster stayed silent with HeadBeacons 32")
		}
	}
	const epochs = 200
	total := 0
	everBeaconed := map[int]bool{}
	for e := range epochs {
		n := 0
		for i, self := range ids {
			if fork.HeadBeaconer(epoch(e), self, len(ids), 32) {
				n++
				everBeaconed[i] = true
			}
			if fork.HeadBeaconer(epoch(e), self, len(ids), 32) != fork.HeadBeaconer(epoch(e), self, len(ids), 32) {
				t.Fatal("the choice is not a function of its inputs")
			}
		}
		if n > 80 {
			t.Fatalf("epoch %d: %d of 1000 members beacon, want about 32", e, n)
		}
		total += n
	}
	if mean := float64(total) / epochs; mean < 28 || mean > 36 {
		t.Fatalf("mean %.1f beacons per head change, want about 32", mean)
	}
	// 200 epochs of 32 draws from 1000: each member beacons about 6.4
	// times; the chance that a given one never does is e^-6.4, about 0.2%.
	if len(everBeaconed) < 980 {
		t.Fatalf("only %d of 1000 members ever beaconed in %d epochs", len(everBeaconed), epochs)
	}
}
