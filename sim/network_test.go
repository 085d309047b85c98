package sim

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLatency(t *testing.T) {
	for in, want := range map[string]Latency{
		"40":            {Kind: "fixed", Base: 40},
		"uniform:10:80": {Kind: "uniform", Base: 10, Jitter: 80},
		"exp:20:30":     {Kind: "exp", Base: 20, Jitter: 30},
	} {
		got, err := ParseLatency(in)
		if err != nil || got != want {
			t.Errorf("ParseLatency(%q) = %+v, %v; want %+v", in, got, err, want)
		}
		if back, _ := ParseLatency(got.String()); back != got {
			t.Errorf("String round trip of %q: %q", in, got.String())
		}
	}
	for _, bad := range []string{"", "x", "-5", "exp:1", "gauss:1:2", "exp:1:NaN", "uniform:1:-2"} {
		if _, err := ParseLatency(bad); !errors.Is(err, ErrBadLatency) {
			t.Errorf("ParseLatency(%q) error %v, want ErrBadLatency", bad, err)
		}
	}
}

// The clock runs events in time order and same-time events in the order
// they were scheduled.
func TestClockOrder(t *testing.T) {
	var c Clock
	var got []int
	c.At(10, func() { got = append(got, 3) })
	c.At(5, func() { got = append(got, 1) })
	c.At(5, func() { got = append(got, 2); c.After(0, func() { got = append(got, 25) }) })
	c.At(20, func() { got = append(got, 4) })
	for c.Step(15) {
	}
	want := []int{1, 2, 25, 3}
	if len(got) != len(want) {
		t.Fatalf("got %v want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	if c.Now() != 10 || c.Pending() != 1 {
		t.Fatalf("now %d pending %d", c.Now(), c.Pending())
	}
}

// Loss, duplication and cuts act at the rates asked for.
func TestNetworkFaults(t *testing.T) {
	var c Clock
	online := func(MemberID) bool { return true }
	n := newNetwork(NetConfig{Latency: Latency{Kind: "exp", Base: 10, Jitter: 10}, Loss: 0.25, Duplicate: 0.1}, 3, &c, online)
	arrived := 0
	count := func() (func(Time), func()) { return func(Time) {}, func() { arrived++ } }
	const sends = 20000
	for i := range sends {
		n.send(MemberID(i%7), MemberID(i%5+7), []byte("x"), count)
	}
	for c.Step(1 << 40) {
	}
	lossRate := float64(n.CopiesLost) / sends
	if lossRate < 0.23 || lossRate > 0.27 {
		t.Errorf("loss rate %.3f, want about 0.25", lossRate)
	}
	if want := int(sends - n.CopiesLost + n.CopiesDup); arrived != want {
		t.Errorf("arrived %d, want %d", arrived, want)
	}
	n.cut = func(from, to MemberID) bool { return from == 1 }
	before := arrived
	n.send(1, 2, []byte("x"), count)
	for c.Step(1 << 40) {
	}
	if arrived != before {
		t.Error("a copy crossed a cut")
	}
}

func TestParsePayload(t *testing.T) {
	p := appPayload(12, 345, 64)
	s, q, ok := parsePayload(p)
	if !ok || s != 12 || q != 345 || len(p) != 64 {
		t.Fatalf("%q -> %d %d %v", p, s, q, ok)
	}
	for _, bad := range []string{"", "app|", "app|x|1|", "app|1|", "xpp|1|2|", "app|99999999999|1|"} {
		if _, _, ok := parsePayload([]byte(bad)); ok {
			t.Errorf("parsed %q", bad)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add([]byte("app|1|2|abc"))
	f.Add([]byte("app||"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, q, ok := parsePayload(b)
		if ok && s < 0 {
			t.Fatalf("negative sender from %q", b)
		}
		_ = q
	})
}

// A sweep CSV reads back into the measures it was written from.
func TestCSVRoundTrip(t *testing.T) {
	in := []*Result{
		{Scenario: "split-brain", Members: 8, PartitionMs: 1000, Loss: 0.05, Seed: 3, ForksRemaining: 1, LostMessages: 2,
			ConvergeP50: 12.5, ConvergeP99: 40, Samples: 2, ConvergeAll: []Fixed{12.5, 40}, BytesPerMemberPerCommit: 99.25, Vacuous: true},
		{Scenario: "lossy", Members: 16, Seed: 1, Rank: "commit-hash", Apply: "wait-decide"},
	}
	var b strings.Builder
	if err := WriteCSV(&b, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadCSV(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	var b2 strings.Builder
	if err := WriteCSV(&b2, out); err != nil {
		t.Fatal(err)
	}
	if b.String() != b2.String() {
		t.Fatalf("round trip:\n%s\n%s", b.String(), b2.String())
	}
	for _, bad := range []string{"", "scenario\nx\n", strings.Join(CSVHeader, ",") + "\n" + strings.Repeat("x,", len(CSVHeader)-1) + "x\n"} {
		if _, err := ReadCSV(strings.NewReader(bad)); !errors.Is(err, ErrBadCSV) {
			t.Errorf("ReadCSV(%q) = %v", bad, err)
		}
	}
}
