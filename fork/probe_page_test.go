package fork

import "testing"

// TestProbePage: probes ask right past the last number known every other
// beacon interval, and the next three pages of probeAhead numbers in turn
// between, so numbers nobody answers (sent before the prober joined)
// cannot hide the next ones for good.
func TestProbePage(t *testing.T) {
	const interval = 5
	want := []uint64{0, 4, 0, 8, 0, 12, 0, 4, 0, 8}
	for k, w := range want {
		for _, off := range []uint64{0, interval - 1} {
			if got := probePage(uint64(k)*interval+off, interval); got != w {
				t.Errorf("interval %d (+%d ticks): page offset %d, want %d", k, off, got, w)
			}
		}
	}
	if got := probePage(7, 0); got != 4 { // a zero interval counts ticks
		t.Errorf("zero interval: %d", got)
	}
}
