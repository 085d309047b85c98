package consensus

import (
	"bytes"
	"sort"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// node is one epoch of the epoch tree: the commit that made it (nil for
// the root), what the member keeps of its state, and the candidate commits
// made on it (its children).
type node struct {
	ref    EpochRef
	parent *node
	// children are the candidate commits on this epoch, best first.
	children []*node

	// The commit that created this epoch, as broadcast.
	env         Envelope
	msg         *wire.MLSMessage
	digest      [32]byte
	committer   uint32
	signer      string // committer's signature key: the identity equivocation is judged by
	external    bool
	key         []byte // rank key under the Core's RankRule
	added       []uint32
	removed     []uint32
	removedIDs  [][]byte
	proposals   []mls.QueuedProposal
	selfRemoved bool // this member is not in this epoch
	equivocated bool // its committer signed another commit on the parent
	// inheritSeen: inheritRemovals has looked at this losing candidate
	// or descendant of one.
	inheritSeen bool
	// unreachable: this member's own commit, never merged, restored
	// without its staged state; it cannot become this member's head.
	unreachable bool
	arrived     uint64

	// staged is the processed commit until it is merged once; state is
	// the member's MLS state of this epoch (mls MarshalState), saved when
	// the head leaves the epoch or when it is rebuilt to stage a child;
	// tree is the epoch's ratchet tree once known.
	staged *mls.StagedCommit
	state  []byte
	tree   *ratchettree.Tree
	// sealKey is the epoch's key for KindSealed envelopes, once derived.
	sealKey []byte

	// firstChild is the tick the first candidate commit on this epoch
	// arrived (valid once hadChild); the race on the epoch closes
	// WindowTicks later.
	firstChild uint64
	hadChild   bool
	// closed: the race on this epoch is decided; final: this epoch is on
	// the head chain and its parent's race is closed.
	closed, final bool

	// builders are the signature keys of members known to have sent
	// something (commit, proposal, application message) in this epoch
	// or a descendant: they accepted it (see finalize).
	builders map[string]bool

	bySigner     map[string]*node // candidate children by committer signature key
	equivocators map[string]bool
	// proposalRefs are the proposals received in this epoch, in order,
	// and byRef the proposals they name.
	proposalRefs [][]byte
	byRef        []*wire.Proposal
}

// setState replaces the saved MLS state, zeroing the old copy: it holds
// the epoch's secrets, and the engine never aliases a state it loaded
// (mls/codec copies every opaque field), so nothing else refers to it.
func (n *node) setState(st []byte) {
	clear(n.state)
	n.state = st
}

// better reports whether a ranks before b.
func better(a, b *node) bool {
	if c := bytes.Compare(a.key, b.key); c != 0 {
		return c < 0
	}
	return bytes.Compare(a.digest[:], b.digest[:]) < 0
}

func (n *node) insertChild(ch *node) {
	i := sort.Search(len(n.children), func(i int) bool { return better(ch, n.children[i]) })
	n.children = append(n.children, nil)
	copy(n.children[i+1:], n.children[i:])
	n.children[i] = ch
}

func (n *node) removeChild(ch *node) {
	for i, x := range n.children {
		if x == ch {
			n.children = append(n.children[:i], n.children[i+1:]...)
			return
		}
	}
}

// best is the best candidate that has not been disqualified.
func (n *node) best() *node {
	for _, ch := range n.children {
		if !ch.equivocated && !ch.unreachable {
			return ch
		}
	}
	return nil
}

// isAncestorOf reports whether n is x or an ancestor of x.
func (n *node) isAncestorOf(x *node) bool {
	for ; x != nil; x = x.parent {
		if x == n {
			return true
		}
		if x.ref.Epoch < n.ref.Epoch {
			return false
		}
	}
	return false
}

// commonAncestor of two nodes of one tree.
func commonAncestor(a, b *node) *node {
	for a != nil && b != nil && a != b {
		if a.ref.Epoch >= b.ref.Epoch {
			a = a.parent
		} else {
			b = b.parent
		}
	}
	if a == b {
		return a
	}
	return nil
}

// pathFrom lists the nodes strictly below anc down to n, top first.
func pathFrom(anc, n *node) []*node {
	var path []*node
	for x := n; x != nil && x != anc; x = x.parent {
		path = append(path, x)
	}
	for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return path
}

// subtree lists n and all its descendants, depth first, children in rank
// order.
func (n *node) subtree() []*node {
	out := []*node{n}
	for _, ch := range n.children {
		out = append(out, ch.subtree()...)
	}
	return out
}
