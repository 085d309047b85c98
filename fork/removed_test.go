package fork_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func TestRecordRemovals(t *testing.T) {
	n := newNet(t)
	head := n.Node("a").Member.Core().Head()
	ctx, tree := head.Context(), head.Tree()
	leafOf := func(name string) uint32 {
		for _, l := range tree.Members() {
			if string(tree.Leaf(l).Credential.Identity) == name {
				return uint32(l)
			}
		}
		t.Fatalf("%s not in the tree", name)
		return 0
	}
	setOf := func(props []*wire.Proposal) fork.RemovedSet {
		t.Helper()
		var gce *wire.Proposal
		for _, p := range props {
			if p.Type == wire.ProposalTypeGroupContextExtensions {
				if gce != nil {
					t.Fatal("two GroupContextExtensions proposals")
				}
				gce = p
			}
		}
		if gce == nil {
			t.Fatal("no GroupContextExtensions proposal")
		}
		set, err := fork.RemovedSetOf(gce.GroupContextExtensions.Extensions)
		if err != nil {
			t.Fatal(err)
		}
		return set
	}

	// A removal by value and one by reference are both recorded.
	out, err := fork.RecordRemovals(ctx, tree, []*wire.Proposal{mls.NewRemove(leafOf("b"))}, []*wire.Proposal{mls.NewRemove(leafOf("c"))})
	if err != nil {
		t.Fatal(err)
	}
	set := setOf(out)
	if !set.Contains(idOfName("b")) || !set.Contains(idOfName("c")) || set.Contains(idOfName("a")) {
		t.Fatalf("removed set %x, want b and c", set.IDs)
	}

	// A commit that changes no membership is left alone.
	upd := []*wire.Proposal{{Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{}}}
	if out, err := fork.RecordRemovals(ctx, tree, upd, nil); err != nil || len(out) != 1 {
		t.Fatalf("no membership change: %d proposals, %v", len(out), err)
	}

	// An explicit Add takes an identity off the set: start from a context
	// listing b, and add b back.
	ctx2 := *ctx
	listed := setOf(out)
	ctx2.Extensions = listed.Extensions(ctx.Extensions)
	kp := n.KeyPackage(t, "b")
	out, err = fork.RecordRemovals(&ctx2, tree, []*wire.Proposal{mls.NewAdd(kp)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if set := setOf(out); set.Contains(idOfName("b")) || !set.Contains(idOfName("c")) {
		t.Fatalf("after re-adding b: %x, want c only", set.IDs)
	}

	// A GroupContextExtensions proposal by reference cannot be merged.
	gce := &wire.Proposal{Type: wire.ProposalTypeGroupContextExtensions, GroupContextExtensions: &wire.GroupContextExtensions{}}
	if _, err := fork.RecordRemovals(ctx, tree, []*wire.Proposal{mls.NewRemove(leafOf("b"))}, []*wire.Proposal{gce}); !errors.Is(err, fork.ErrRemovedSetConflict) {
		t.Fatalf("GCE by reference: %v, want ErrRemovedSetConflict", err)
	}
}
