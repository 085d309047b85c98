package fork

import (
	"bytes"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
)

// What a member remembers of the epochs it held, after their states are
// released, to check a relayed content (relaycontent.go): the hash of each
// epoch's GroupContext, and which signature key sat at which leaf in which
// epoch numbers. Both are bounded; forgetting an entry only means a
// relayed content for it is refused.

// Bounds of the epoch records.
const (
	// maxContextHashes: epochs whose GroupContext hash is kept.
	maxContextHashes = 1024
	// maxAuthorKeys: (leaf, signature key) entries kept; the oldest by
	// last epoch seen go first.
	maxAuthorKeys = 8192
	// maxRosterCache: epochs whose roster is cached for relay entries.
	maxRosterCache = 256
)

// contextLog maps epoch ids to the SHA-256 of their GroupContext.
type contextLog struct {
	hash  map[EpochID][32]byte
	order []EpochID
}

func (l *contextLog) add(id EpochID, h [32]byte) {
	if h == ([32]byte{}) {
		return
	}
	if l.hash == nil {
		l.hash = map[EpochID][32]byte{}
	}
	if _, ok := l.hash[id]; ok {
		return
	}
	l.hash[id] = h
	l.order = append(l.order, id)
	if len(l.order) > maxContextHashes {
		delete(l.hash, l.order[0])
		l.order = l.order[1:]
	}
}

// authorKey is a member's signature key at a leaf, over the epoch numbers
// [first, last] in which this member saw it there. The span is contiguous:
// a key seen at a leaf again after a gap (its member removed, the leaf
// reused by another, the member re-added there) gets a second entry, so
// the span never covers epochs in which another key sat at that leaf.
type authorKey struct {
	leaf        uint32
	key         []byte
	credential  []byte // encoded, for message ids
	identity    []byte // the credential's identity, for deliveries
	id          Identity
	first, last uint64
}

// touches reports whether epoch is inside k's span or next to it.
func (k *authorKey) touches(epoch uint64) bool {
	return epoch+1 >= k.first && epoch <= k.last+1
}

// keyBook records the leaves of every tree this member merged.
type keyBook struct {
	byLeaf  map[uint32][]*authorKey // newest last
	entries int
}

// note records the leaves of tree, the tree of epoch number epoch.
func (b *keyBook) note(tree *ratchettree.Tree, epoch uint64) {
	if tree == nil {
		return
	}
	if b.byLeaf == nil {
		b.byLeaf = map[uint32][]*authorKey{}
	}
	for _, l := range tree.Members() {
		leaf := tree.Leaf(l)
		i := uint32(l)
		list := b.byLeaf[i]
		if n := len(list); n > 0 && bytes.Equal(list[n-1].key, leaf.SignatureKey) && list[n-1].touches(epoch) {
			k := list[n-1]
			k.first, k.last = min(k.first, epoch), max(k.last, epoch)
			continue
		}
		cred, err := codec.Marshal(&leaf.Credential)
		if err != nil {
			continue
		}
		found := false
		for _, k := range list {
			// Widened only across adjacent epochs: the same key met
			// again after a gap may have had another key between
			// (churn, flapping: a removed member re-added at its old
			// leaf), and one span over both would make that other
			// key's epochs ambiguous (simulator flapping seed 65).
			if bytes.Equal(k.key, leaf.SignatureKey) && bytes.Equal(k.credential, cred) && k.touches(epoch) {
				k.first, k.last = min(k.first, epoch), max(k.last, epoch)
				found = true
				break
			}
		}
		if found {
			continue
		}
		b.byLeaf[i] = append(list, &authorKey{leaf: i, key: bytes.Clone(leaf.SignatureKey), credential: cred,
			identity: bytes.Clone(leaf.Credential.Identity), id: IdentityOf(&leaf.Credential),
			first: epoch, last: epoch})
		b.entries++
	}
	for b.entries > maxAuthorKeys {
		b.evictOldest()
	}
}

func (b *keyBook) evictOldest() {
	var oldLeaf uint32
	oldIdx := -1
	var oldLast uint64
	for leaf, list := range b.byLeaf {
		for i, k := range list {
			if oldIdx < 0 || k.last < oldLast || k.last == oldLast && leaf < oldLeaf {
				oldLeaf, oldIdx, oldLast = leaf, i, k.last
			}
		}
	}
	if oldIdx < 0 {
		b.entries = 0
		return
	}
	list := b.byLeaf[oldLeaf]
	b.byLeaf[oldLeaf] = append(list[:oldIdx:oldIdx], list[oldIdx+1:]...)
	if len(b.byLeaf[oldLeaf]) == 0 {
		delete(b.byLeaf, oldLeaf)
	}
	b.entries--
}

// lookup is the member seen at leaf in epoch number epoch, when only one
// key qualifies. Branches share epoch numbers, so two keys may: two
// commits racing on one parent that each add a member fill the same free
// leaf with different keys (simulator commit-storm seed 64). Callers that
// know the epoch's id use authorIn, which tells them apart.
func (b *keyBook) lookup(leaf uint32, epoch uint64) (*authorKey, bool) {
	c := b.candidates(leaf, epoch)
	if len(c) != 1 {
		return nil, false
	}
	return c[0], true
}

// candidates are the distinct (key, credential) pairs seen at leaf in an
// epoch numbered epoch, on any branch.
func (b *keyBook) candidates(leaf uint32, epoch uint64) []*authorKey {
	var found []*authorKey
	for _, k := range b.byLeaf[leaf] {
		if k.first > epoch || epoch > k.last {
			continue
		}
		if !slices.ContainsFunc(found, func(f *authorKey) bool {
			return bytes.Equal(f.key, k.key) && bytes.Equal(f.credential, k.credential)
		}) {
			found = append(found, k)
		}
	}
	return found
}

// authorIn is the member at leaf in the epoch sealed (number and id), for
// checking a signature made in it after its state may be released. The
// key book is by epoch number; when more than one key sat at that leaf in
// epochs of that number (rival branches), the epoch's own records decide:
// its tree while the core holds it, else its roster (kept for the epochs
// this member merged, rosterOf). Every key that sat at leaf in sealed is
// among the candidates (noteEpochRecords noted its tree), and its
// identity is in sealed's roster; so when exactly one candidate's
// identity is in that roster, it is the one. Two candidates in the roster
// (the same member at another leaf there, or one identity under two keys)
// leave it undecided, and nothing is trusted.
func (m *Member) authorIn(leaf uint32, sealed EpochRef) (*authorKey, bool) {
	c := m.keys.candidates(leaf, sealed.Epoch)
	if len(c) <= 1 {
		return m.keys.lookup(leaf, sealed.Epoch)
	}
	if tree := m.core.TreeOf(sealed.ID); tree != nil {
		l := leafAt(tree, leaf)
		if l == nil {
			return nil, false
		}
		for _, k := range c {
			if bytes.Equal(k.key, l.SignatureKey) {
				return k, true
			}
		}
		return nil, false
	}
	roster, ok := m.rosters.byEpoch[sealed.ID]
	if !ok {
		return nil, false
	}
	var found *authorKey
	for _, k := range c {
		if _, in := slices.BinarySearchFunc(roster, k.id, compareIdentity); !in {
			continue
		}
		if found != nil {
			return nil, false
		}
		found = k
	}
	return found, found != nil
}

// noteEpochRecords records the merged epoch ev (or, with a zero event, the
// head) for relayed contents.
func (m *Member) noteEpochRecords(ref EpochRef, ctxHash [32]byte) {
	m.contexts.add(ref.ID, ctxHash)
	tree := m.core.TreeOf(ref.ID)
	m.keys.note(tree, ref.Epoch)
	if tree != nil {
		// The roster too (shared with the identity memo): a message of
		// this epoch can reach us later, point to point with the
		// author's proof, when the tree is released, and is relayed
		// only to members of the epoch (sealedproof.go).
		m.rosterOf(ref.ID, tree)
	}
}

// noteHeadRecords records the head epoch (a new core: at start, or after
// a rejoin, which merges no epoch event for the epoch it starts in).
func (m *Member) noteHeadRecords() {
	if m.outside() {
		return
	}
	head := m.core.Head()
	m.noteEpochRecords(m.core.HeadRef(), consensus.ContextHash(head.Context()))
}

// rosterOf is the roster of epoch id (tree), shared by the relay entries
// of that epoch.
func (m *Member) rosterOf(id EpochID, tree *ratchettree.Tree) []Identity {
	if r, ok := m.rosters.byEpoch[id]; ok {
		return r
	}
	if m.rosters.byEpoch == nil {
		m.rosters.byEpoch = map[EpochID][]Identity{}
	}
	r := m.roster(tree) // shared with the memo; read only
	m.rosters.byEpoch[id] = r
	m.rosters.order = append(m.rosters.order, id)
	if len(m.rosters.order) > maxRosterCache {
		delete(m.rosters.byEpoch, m.rosters.order[0])
		m.rosters.order = m.rosters.order[1:]
	}
	return r
}

type rosterCache struct {
	byEpoch map[EpochID][]Identity
	order   []EpochID
}
