package fork

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ExtensionTypeRemoved is the GroupContext extension that records the
// identities removed from the group (a private-use code point, RFC 9420
// §17.3). Being in the GroupContext, it is agreed state: every member of an
// epoch holds the same set, a joiner receives it in the Welcome's or
// GroupInfo's GroupContext, and it is bound into the key schedule, so a
// member cannot hold a different one and stay in the epoch.
const ExtensionTypeRemoved wire.ExtensionType = 0xF0F1

// MaxRemoved bounds the removed set (128 KiB of identities). A commit that
// would grow it further is refused with ErrRemovedSetFull rather than
// forgetting anyone; docs/ordering.md discusses the limit.
const MaxRemoved = 4096

var (
	// ErrRemovedMember: an external commit by an identity the branch
	// removed. Survivors refuse it, so a removed member cannot come back
	// by healing.
	ErrRemovedMember = errors.New("fork: external commit by a removed member")
	// ErrRemovedSetFull: the removed set is at MaxRemoved.
	ErrRemovedSetFull = errors.New("fork: removed set full")
	// ErrRemovedSetConflict: a commit changes membership and includes a
	// GroupContextExtensions proposal by reference, which the removed set
	// cannot be merged into.
	ErrRemovedSetConflict = errors.New("fork: removal with a GroupContextExtensions proposal by reference")
)

// RemovedSet is the content of the ExtensionTypeRemoved extension.
//
//	struct { opaque identities<V>; } RemovedSet;  // 32-byte identities, sorted, unique
type RemovedSet struct {
	IDs []Identity
}

func (s *RemovedSet) MarshalMLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for _, id := range s.IDs {
			w.Raw(id[:])
		}
	})
}

func (s *RemovedSet) UnmarshalMLS(r *codec.Reader) {
	*s = RemovedSet{}
	r.Vector("RemovedSet.identities", func(r *codec.Reader) {
		if r.Remaining()%len(Identity{}) != 0 {
			r.Invalid("RemovedSet.identities", "length %d not a multiple of 32", r.Remaining())
			return
		}
		if n := r.Remaining() / len(Identity{}); n > MaxRemoved {
			r.Fail("RemovedSet.identities", tooLarge(n, MaxRemoved))
			return
		}
		for r.Remaining() > 0 && r.OK() {
			var raw []byte
			if !r.Raw("RemovedSet.identity", len(Identity{}), &raw) {
				return
			}
			id := Identity(raw)
			// Canonical form: strictly increasing.
			if n := len(s.IDs); n > 0 && bytes.Compare(s.IDs[n-1][:], id[:]) >= 0 {
				r.Invalid("RemovedSet.identity", "not sorted or duplicated")
				return
			}
			s.IDs = append(s.IDs, id)
		}
	})
}

// Contains reports whether id was removed.
func (s *RemovedSet) Contains(id Identity) bool {
	_, ok := slices.BinarySearchFunc(s.IDs, id, func(a, b Identity) int { return bytes.Compare(a[:], b[:]) })
	return ok
}

// Extensions returns exts with the removed set extension set to s.
func (s *RemovedSet) Extensions(exts wire.Extensions) wire.Extensions {
	data, err := codec.Marshal(s)
	if err != nil {
		return exts
	}
	return setExtension(exts, wire.Extension{ExtensionType: ExtensionTypeRemoved, ExtensionData: data})
}

// RemovedSetOf reads the set from GroupContext extensions; a context
// without the extension has an empty set.
func RemovedSetOf(exts wire.Extensions) (RemovedSet, error) {
	var s RemovedSet
	ext := exts.Find(ExtensionTypeRemoved)
	if ext == nil {
		return s, nil
	}
	if err := codec.Unmarshal(ext.ExtensionData, &s); err != nil {
		return RemovedSet{}, fmt.Errorf("fork: removed set extension: %w", err)
	}
	return s, nil
}

// RecordRemovals returns the by-value proposals of a commit amended so
// that the commit keeps the removed set right: identities of the leaves it
// removes (by value or by reference) are added, identities it adds are
// dropped (an explicit Add by a member is a deliberate readmission;
// healing never makes one). It edits the one GroupContextExtensions
// proposal of byValue, or appends one that carries the current extensions
// with the set replaced. A commit that changes no membership is returned
// as is. When byRef holds a GroupContextExtensions proposal, which cannot
// be edited, it fails with ErrRemovedSetConflict.
func RecordRemovals(ctx *wire.GroupContext, tree *ratchettree.Tree, byValue, byRef []*wire.Proposal) ([]*wire.Proposal, error) {
	set, err := RemovedSetOf(ctx.Extensions)
	if err != nil {
		return nil, err
	}
	changed := false
	ids := slices.Clone(set.IDs)
	gce, refGCE := -1, false
	all := append(slices.Clone(byValue), byRef...)
	for i, p := range all {
		switch p.Type {
		case wire.ProposalTypeRemove:
			leaf := tree.Leaf(treemath.LeafIndex(p.Remove.Removed))
			if leaf == nil {
				continue // invalid; the engine refuses the commit
			}
			ids = append(ids, IdentityOf(&leaf.Credential))
			changed = true
		case wire.ProposalTypeGroupContextExtensions:
			if i < len(byValue) {
				gce = i
			} else {
				refGCE = true
			}
		}
	}
	proposals := byValue
	for _, p := range all {
		if p.Type == wire.ProposalTypeAdd {
			id := IdentityOf(&p.Add.KeyPackage.LeafNode.Credential)
			if i := slices.Index(ids, id); i >= 0 {
				ids = slices.Delete(ids, i, i+1)
				changed = true
			}
		}
	}
	if !changed {
		return proposals, nil
	}
	if refGCE {
		return nil, ErrRemovedSetConflict
	}
	ids = sortUnique(ids)
	if len(ids) > MaxRemoved {
		return nil, fmt.Errorf("%w: %d identities", ErrRemovedSetFull, len(ids))
	}
	data, err := codec.Marshal(&RemovedSet{IDs: ids})
	if err != nil {
		return nil, err
	}
	base := ctx.Extensions
	if gce >= 0 {
		base = proposals[gce].GroupContextExtensions.Extensions
	}
	exts := setExtension(base, wire.Extension{ExtensionType: ExtensionTypeRemoved, ExtensionData: data})
	out := slices.Clone(proposals)
	p := &wire.Proposal{Type: wire.ProposalTypeGroupContextExtensions,
		GroupContextExtensions: &wire.GroupContextExtensions{Extensions: exts}}
	if gce >= 0 {
		out[gce] = p
	} else {
		out = append(out, p)
	}
	return out, nil
}

// setExtension returns a copy of exts with ext replacing the extension of
// its type, or appended.
func setExtension(exts wire.Extensions, ext wire.Extension) wire.Extensions {
	out := make(wire.Extensions, 0, len(exts)+1)
	for _, e := range exts {
		if e.ExtensionType != ext.ExtensionType {
			out = append(out, e)
		}
	}
	return append(out, ext)
}
