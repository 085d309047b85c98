package cores

import (
	"context"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/sim"
)

// recording keeps the members a Population makes, to inspect them after
// a run.
type recording struct {
	*Population
	members []*Member
}

func (r *recording) Genesis(n int) ([]sim.Member, error) {
	ms, err := r.Population.Genesis(n)
	for _, m := range ms {
		r.members = append(r.members, m.(*Member))
	}
	return ms, err
}

func (r *recording) NewJoiner(id sim.MemberID) (sim.Member, []byte, error) {
	m, kp, err := r.Population.NewJoiner(id)
	if m != nil {
		r.members = append(r.members, m.(*Member))
	}
	return m, kp, err
}

// After a run every live member's store holds its head: the stored head id
// is the core's, and the stored state loads into an mls.Group of that
// epoch with the same epoch id.
func TestStoreHoldsHead(t *testing.T) {
	c, _ := sim.ScenarioConfig("quiet")
	c.Members, c.Seed, c.DurationMs, c.SettleMs = 6, 3, 6000, 3000
	p, err := NewPopulation(c)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recording{Population: p.(*Population)}
	r, err := sim.NewRunner(c, rec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.CommitsFinalChain == 0 {
		t.Fatal("no commit merged: the check below would be vacuous")
	}
	checked := 0
	for _, m := range rec.members {
		if !m.inGroup() {
			continue
		}
		if m.store == nil || m.store.Writes == 0 {
			t.Fatalf("%s wrote nothing to its store", m)
		}
		g := m.store.st.Group(m.fm.GroupID())
		id, _, err := g.HeadID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		want := m.fm.Core().HeadID()
		if consensus.EpochID(id) != want {
			t.Fatalf("%s: store head %x, core head %x", m, id[:4], want[:4])
		}
		e, err := g.Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		loaded, err := mls.LoadGroup(e.State, mls.LoadConfig{SigningKey: m.c.key, Credentials: m.p.dir})
		if err != nil {
			t.Fatalf("%s: stored head does not load: %v", m, err)
		}
		if consensus.EpochIDOf(loaded) != want {
			t.Fatalf("%s: stored state is of another epoch", m)
		}
		checked++
	}
	if checked < c.Members {
		t.Fatalf("checked %d members", checked)
	}
}
