package fork

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func idOf(name string) Identity {
	return IdentityOf(&wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)})
}

func ids(names ...string) []Identity {
	var out []Identity
	for _, n := range names {
		out = append(out, idOf(n))
	}
	return out
}

func TestSurvivorRule(t *testing.T) {
	cases := []struct {
		name string
		a, b BranchView
		want Verdict
	}{
		{
			name: "more common members active wins",
			a:    BranchView{Members: ids("1", "2", "3", "4", "5"), Active: ids("1", "2", "3")},
			b:    BranchView{Members: ids("1", "2", "3", "4", "5"), Active: ids("4", "5")},
			want: FirstSurvives,
		},
		{
			// Side a removed 4 and 5 and added 6..9: the members it
			// invented and the members it removed get no vote.
			name: "members added on one side do not vote",
			a:    BranchView{Members: ids("1", "2", "6", "7", "8", "9"), Active: ids("1", "2", "6", "7", "8", "9")},
			b:    BranchView{Members: ids("1", "2", "3", "4", "5"), Active: ids("3", "4", "5")},
			want: FirstSurvives, // common = {1,2}; a has 2 active, b has 0
		},
		{
			name: "a removed member does not vote",
			a:    BranchView{Members: ids("1", "2", "3"), Active: ids("1", "2")},
			b:    BranchView{Members: ids("2", "3", "4"), Active: ids("4")},
			want: FirstSurvives, // common = {2,3}: 1 and 4 do not vote
		},
		{
			name: "no common active member: no verdict",
			a:    BranchView{Members: ids("1", "2"), Active: ids("1")},
			b:    BranchView{Members: ids("2", "3"), Active: ids("3")},
			want: NoVerdict,
		},
		{
			name: "a member claimed by both sides counts on neither",
			a:    BranchView{Members: ids("1", "2", "3"), Active: ids("1", "2")},
			b:    BranchView{Members: ids("1", "2", "3"), Active: ids("2", "3", "3")},
			want: tieWinner(ids("1"), ids("3")),
		},
		{
			name: "tie broken by the smallest active identity",
			a:    BranchView{Members: ids("1", "2", "3", "4"), Active: ids("1", "2")},
			b:    BranchView{Members: ids("1", "2", "3", "4"), Active: ids("3", "4")},
			want: tieWinner(ids("1", "2"), ids("3", "4")),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Survivor(c.a, c.b)
			if got != c.want {
				t.Fatalf("Survivor(a, b) = %v, want %v", got, c.want)
			}
			// Symmetry: both sides reach the same branch.
			mirror := map[Verdict]Verdict{NoVerdict: NoVerdict, FirstSurvives: SecondSurvives, SecondSurvives: FirstSurvives}
			if back := Survivor(c.b, c.a); back != mirror[got] {
				t.Fatalf("Survivor(b, a) = %v, want %v", back, mirror[got])
			}
		})
	}
}

// tieWinner computes the expected verdict of a tie independently of
// Survivor: the side holding the smallest identity.
func tieWinner(a, b []Identity) Verdict {
	min := func(xs []Identity) Identity {
		m := xs[0]
		for _, x := range xs[1:] {
			if string(x[:]) < string(m[:]) {
				m = x
			}
		}
		return m
	}
	ma, mb := min(a), min(b)
	if string(ma[:]) < string(mb[:]) {
		return FirstSurvives
	}
	return SecondSurvives
}

func TestRemovedSetCodec(t *testing.T) {
	set := RemovedSet{IDs: sortUnique(ids("x", "y", "z"))}
	enc, err := codec.Marshal(&set)
	if err != nil {
		t.Fatal(err)
	}
	var got RemovedSet
	if err := codec.Unmarshal(enc, &got); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"x", "y", "z"} {
		if !got.Contains(idOf(n)) {
			t.Fatalf("decoded set lacks %s", n)
		}
	}
	if got.Contains(idOf("w")) {
		t.Fatal("decoded set contains an identity never removed")
	}
	// Unsorted input is not canonical and is refused.
	bad := RemovedSet{IDs: []Identity{set.IDs[1], set.IDs[0]}}
	enc, _ = codec.Marshal(&bad)
	if err := codec.Unmarshal(enc, new(RemovedSet)); !errors.Is(err, codec.ErrInvalidValue) {
		t.Fatalf("unsorted set: %v, want ErrInvalidValue", err)
	}
}

func FuzzRemovedSet(f *testing.F) {
	set := RemovedSet{IDs: sortUnique(ids("x", "y"))}
	enc, _ := codec.Marshal(&set)
	f.Add(enc)
	f.Fuzz(func(t *testing.T, data []byte) {
		var s RemovedSet
		if err := codec.Unmarshal(data, &s); err != nil {
			return
		}
		out, err := codec.Marshal(&s)
		if err != nil || string(out) != string(data) {
			t.Fatalf("not canonical: %x -> %x (%v)", data, out, err)
		}
	})
}
