package fork

import "testing"

// TestSureGapsTakeTurns: a member back from a dead branch had sure gaps
// of several authors that nobody answers (numbers of members re-added
// with it), enough to fill all sixteen nack slots; in a fixed order by
// identity the author that sorted last, still in the group and ready to
// re-send at once, was never asked for the one message the member lacked
// (simulator commit-storm seeds 24 and 57: 1 lost each). Authors now
// take turns from an offset that moves with each beacon, so within as
// many beacons as there are authors every author's gap is named.
func TestSureGapsTakeTurns(t *testing.T) {
	m := &Member{cfg: Config{BeaconInterval: 5}, authors: map[Identity]*authorRecord{}}
	var last Identity
	for i := range 5 {
		var id Identity
		id[0] = byte(0x10 * (i + 1))
		rec := newRecord(0)
		rec.announced, rec.previous = 4, 4 // numbers 0-3 sent, none received
		m.authors[id] = rec
		last = id
	}
	// The last author: one message, number 1, lacking; 0 received.
	m.authors[last].announced, m.authors[last].previous = 2, 2
	m.authors[last].have[0] = true

	asked := false
	for beacon := range len(m.authors) {
		m.seq = uint64(beacon)
		ns := m.nacks()
		if len(ns) > MaxNacks {
			t.Fatalf("beacon %d: %d nacks", beacon, len(ns))
		}
		for _, n := range ns {
			if n.Author == last {
				if n.Seq != 1 {
					t.Fatalf("beacon %d: asked for number %d of the last author, which was received", beacon, n.Seq)
				}
				asked = true
			}
		}
	}
	if !asked {
		t.Fatalf("in %d beacons the author sorting last was never asked for its missing message", len(m.authors))
	}
}
