package cores

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/sim"
)

// Genesis gives every member the same first epoch, with itself in it, and
// replays from the seed.
func TestGenesis(t *testing.T) {
	cs, err := suite.Lookup(1)
	if err != nil {
		t.Fatal(err)
	}
	build := func(seed sim.Seed) []consensus.EpochID {
		dir := &directory{keys: map[sim.MemberID][]byte{}}
		_, groups, err := genesis(cs, seed, 9, dir)
		if err != nil {
			t.Fatal(err)
		}
		var ids []consensus.EpochID
		for i, g := range groups {
			ids = append(ids, consensus.EpochIDOf(g))
			r := roster(g)
			if len(r) != 9 || g.Epoch() != 1 {
				t.Fatalf("member %d: %d members at epoch %d", i, len(r), g.Epoch())
			}
			if r[i].ID != sim.MemberID(i) || r[i].Leaf != uint32(g.OwnLeaf()) {
				t.Fatalf("member %d: roster entry %+v, own leaf %d", i, r[i], g.OwnLeaf())
			}
		}
		for i := range ids {
			if ids[i] != ids[0] {
				t.Fatalf("member %d has another first epoch", i)
			}
		}
		return ids
	}
	a, b, c := build(5), build(5), build(6)
	if a[0] != b[0] {
		t.Fatal("same seed, different genesis")
	}
	if a[0] == c[0] {
		t.Fatal("different seeds, same genesis")
	}
}

func TestIdentity(t *testing.T) {
	for _, id := range []sim.MemberID{0, 7, 1 << 30} {
		got, err := MemberOf(IdentityOf(id))
		if err != nil || got != id {
			t.Fatalf("%d -> %d %v", id, got, err)
		}
	}
	for _, bad := range []string{"", "sim-member/", "sim-member/-1", "sim-member/x", "other/1", "sim-member/99999999999"} {
		if _, err := MemberOf([]byte(bad)); !errors.Is(err, ErrIdentity) {
			t.Errorf("MemberOf(%q) = %v", bad, err)
		}
	}
	d := &directory{keys: map[sim.MemberID][]byte{3: []byte("key3")}}
	basic := func(id string) *wire.Credential {
		return &wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(id)}
	}
	if err := d.Validate(basic("sim-member/3"), []byte("key3")); err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(basic("sim-member/3"), []byte("key4")); !errors.Is(err, ErrIdentity) {
		t.Fatal("a stolen identity passed the directory")
	}
	if err := d.Validate(basic("sim-member/4"), []byte("key3")); !errors.Is(err, ErrIdentity) {
		t.Fatal("an unknown member passed the directory")
	}
}
