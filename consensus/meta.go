package consensus

import (
	"fmt"
	"sort"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// nodeMeta is the bookkeeping of one epoch-tree node beyond its commit and
// MLS state, so that Restore rebuilds the tree as it was
// (RetainedEpoch.Meta). Its encoding is internal to this package:
//
//	struct {
//	    opaque digest[32];            // of the commit's MLSMessage
//	    uint32 committer;
//	    opaque signer<V>;
//	    uint8 flags;                  // external, self-removed, equivocated,
//	                                  // closed, final, had-child
//	    uint64 first_child_age;       // ticks since the first candidate
//	    uint32 added<V>;
//	    uint32 removed<V>;
//	    opaque removed_ids<V><V>;
//	    ProposalWithSender proposals<V>;   // the commit's, for re-proposal
//	    opaque equivocators<V><V>;
//	    opaque proposal_refs<V><V>;
//	    Proposal by_ref<V>;
//	    opaque builders<V><V>;
//	} NodeMeta;
type nodeMeta struct {
	n   *node
	age uint64
}

const (
	metaExternal = 1 << iota
	metaSelfRemoved
	metaEquivocated
	metaClosed
	metaFinal
	metaHadChild
)

// maxMetaList bounds every list in a NodeMeta a decoder accepts.
const maxMetaList = 1 << 16

func (m *nodeMeta) MarshalMLS(w *codec.Writer) {
	n := m.n
	w.Raw(n.digest[:])
	w.Uint32(n.committer)
	w.Opaque([]byte(n.signer))
	var flags uint8
	for _, f := range []struct {
		on  bool
		bit uint8
	}{{n.external, metaExternal}, {n.selfRemoved, metaSelfRemoved}, {n.equivocated, metaEquivocated},
		{n.closed, metaClosed}, {n.final, metaFinal}, {n.hadChild, metaHadChild}} {
		if f.on {
			flags |= f.bit
		}
	}
	w.Uint8(flags)
	w.Uint64(m.age)
	writeU32s(w, n.added)
	writeU32s(w, n.removed)
	writeBytesList(w, n.removedIDs)
	w.Vector(func(w *codec.Writer) {
		for _, qp := range n.proposals {
			w.Write(&qp.Sender)
			w.Write(qp.Proposal)
		}
	})
	writeBytesList(w, sortedKeys(n.equivocators))
	writeBytesList(w, n.proposalRefs)
	w.Vector(func(w *codec.Writer) {
		for _, p := range n.byRef {
			w.Write(p)
		}
	})
	writeBytesList(w, sortedKeys(n.builders))
}

func (m *nodeMeta) UnmarshalMLS(r *codec.Reader) {
	n := &node{bySigner: map[string]*node{}, equivocators: map[string]bool{}, builders: map[string]bool{}}
	m.n = n
	var signer, digest []byte
	var flags uint8
	if r.Raw("NodeMeta.digest", len(n.digest), &digest) {
		copy(n.digest[:], digest)
	}
	r.Uint32("NodeMeta.committer", &n.committer)
	r.Opaque("NodeMeta.signer", &signer)
	n.signer = string(signer)
	r.Uint8("NodeMeta.flags", &flags)
	if r.OK() && flags >= metaHadChild<<1 {
		r.Fail("NodeMeta.flags", fmt.Errorf("%w: unknown flags %#x", ErrMalformed, flags))
		return
	}
	n.external, n.selfRemoved, n.equivocated = flags&metaExternal != 0, flags&metaSelfRemoved != 0, flags&metaEquivocated != 0
	n.closed, n.final, n.hadChild = flags&metaClosed != 0, flags&metaFinal != 0, flags&metaHadChild != 0
	r.Uint64("NodeMeta.first_child_age", &m.age)
	n.added = readU32s(r, "NodeMeta.added")
	n.removed = readU32s(r, "NodeMeta.removed")
	n.removedIDs = readBytesList(r, "NodeMeta.removed_ids")
	r.Each("NodeMeta.proposals", func(r *codec.Reader) {
		qp := mls.QueuedProposal{Proposal: new(wire.Proposal)}
		r.Read(&qp.Sender)
		r.Read(qp.Proposal)
		if len(n.proposals) >= maxMetaList {
			r.Fail("NodeMeta.proposals", ErrTooLarge)
		}
		n.proposals = append(n.proposals, qp)
	})
	for _, e := range readBytesList(r, "NodeMeta.equivocators") {
		n.equivocators[string(e)] = true
	}
	n.proposalRefs = readBytesList(r, "NodeMeta.proposal_refs")
	r.Each("NodeMeta.by_ref", func(r *codec.Reader) {
		p := new(wire.Proposal)
		r.Read(p)
		if len(n.byRef) >= maxMetaList {
			r.Fail("NodeMeta.by_ref", ErrTooLarge)
		}
		n.byRef = append(n.byRef, p)
	})
	for _, b := range readBytesList(r, "NodeMeta.builders") {
		n.builders[string(b)] = true
	}
	if r.OK() && len(n.proposalRefs) != len(n.byRef) {
		r.Fail("NodeMeta.by_ref", fmt.Errorf("%w: %d references, %d proposals", ErrMalformed, len(n.proposalRefs), len(n.byRef)))
	}
}

func writeU32s(w *codec.Writer, list []uint32) {
	w.Vector(func(w *codec.Writer) {
		for _, v := range list {
			w.Uint32(v)
		}
	})
}

func readU32s(r *codec.Reader, field string) []uint32 {
	var out []uint32
	r.Each(field, func(r *codec.Reader) {
		var v uint32
		r.Uint32(field, &v)
		if len(out) >= maxMetaList {
			r.Fail(field, ErrTooLarge)
		}
		out = append(out, v)
	})
	return out
}

func writeBytesList(w *codec.Writer, list [][]byte) {
	w.Vector(func(w *codec.Writer) {
		for _, b := range list {
			w.Opaque(b)
		}
	})
}

func readBytesList(r *codec.Reader, field string) [][]byte {
	var out [][]byte
	r.Each(field, func(r *codec.Reader) {
		var b []byte
		r.Opaque(field, &b)
		if len(out) >= maxMetaList {
			r.Fail(field, ErrTooLarge)
		}
		out = append(out, b)
	})
	return out
}

// sortedKeys lists a set's keys in order (deterministic encodings).
func sortedKeys(set map[string]bool) [][]byte {
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = []byte(k)
	}
	return out
}
