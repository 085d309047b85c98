package secrettree

import (
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

var (
	// ErrGenerationConsumed: the key of this generation was already used
	// or evicted from the retention window, and deleted.
	ErrGenerationConsumed = errors.New("mls/secrettree: generation already consumed or evicted")
	// ErrTooFarAhead: the generation is further ahead than the window
	// allows a receiver to ratchet.
	ErrTooFarAhead = errors.New("mls/secrettree: generation too far ahead")
	// ErrLeafOutOfRange: the leaf is not in the tree.
	ErrLeafOutOfRange = errors.New("mls/secrettree: leaf index out of range")
)

// ContentKind selects one of a leaf's two ratchets.
type ContentKind uint8

const (
	Handshake   ContentKind = iota // proposals and commits
	Application                    // application data
)

func (k ContentKind) String() string {
	if k == Handshake {
		return "handshake"
	}
	return "application"
}

// Window bounds out-of-order delivery.
type Window struct {
	// MaxForward is how many generations past the next expected one a
	// receiver will ratchet to open a message.
	MaxForward uint32
	// MaxRetained is how many skipped keys a ratchet keeps for late
	// messages; the oldest is deleted first.
	MaxRetained int
}

// DefaultWindow suits groups on a lossy, reordering gossip network.
var DefaultWindow = Window{MaxForward: 1024, MaxRetained: 256}

// KeyNonce is the AEAD key and nonce of one generation of a ratchet.
type KeyNonce struct {
	Generation uint32
	Key        []byte
	Nonce      []byte
}

func (kn *KeyNonce) wipe() {
	wipe(kn.Key)
	wipe(kn.Nonce)
}

// Tree is the secret tree of one epoch. It is not safe for concurrent use.
type Tree struct {
	suite    *suite.Suite
	leaves   uint32
	window   Window
	nodes    map[treemath.NodeIndex][]byte // unconsumed node secrets
	ratchets map[ratchetID]*ratchet
}

type ratchetID struct {
	leaf treemath.LeafIndex
	kind ContentKind
}

// New starts the secret tree of an epoch with leafCount leaves from its
// encryption_secret. The tree keeps its own copy of the secret.
func New(s *suite.Suite, encryptionSecret []byte, leafCount uint32, w Window) (*Tree, error) {
	if !treemath.IsPowerOfTwo(leafCount) {
		return nil, fmt.Errorf("mls/secrettree: leaf count %d is not a power of two", leafCount)
	}
	if len(encryptionSecret) != s.HashSize() {
		return nil, fmt.Errorf("mls/secrettree: encryption secret of %d bytes, want %d", len(encryptionSecret), s.HashSize())
	}
	t := &Tree{
		suite:    s,
		leaves:   leafCount,
		window:   w,
		nodes:    map[treemath.NodeIndex][]byte{treemath.Root(leafCount): append([]byte{}, encryptionSecret...)},
		ratchets: map[ratchetID]*ratchet{},
	}
	return t, nil
}

// LeafCount is the number of leaves the tree was built for.
func (t *Tree) LeafCount() uint32 { return t.leaves }

// Key returns the key and nonce of generation gen of a leaf's ratchet
// without consuming them; the tree does not change unless the leaf's
// ratchet must be started, which consumes node secrets on its path as §9.2
// requires.
func (t *Tree) Key(leaf treemath.LeafIndex, kind ContentKind, gen uint32) (KeyNonce, error) {
	r, err := t.ratchet(leaf, kind)
	if err != nil {
		return KeyNonce{}, err
	}
	return r.peek(t, gen)
}

// Consume deletes the key and nonce of gen, after they opened a message,
// together with every ratchet secret up to it. Skipped generations stay
// retained within the window.
func (t *Tree) Consume(leaf treemath.LeafIndex, kind ContentKind, gen uint32) error {
	r, err := t.ratchet(leaf, kind)
	if err != nil {
		return err
	}
	return r.consume(t, gen)
}

// Next returns the key and nonce of the next unused generation of a
// sender's own ratchet and consumes them.
func (t *Tree) Next(leaf treemath.LeafIndex, kind ContentKind) (KeyNonce, error) {
	r, err := t.ratchet(leaf, kind)
	if err != nil {
		return KeyNonce{}, err
	}
	gen := r.next
	kn, err := r.derive(t, r.secret, gen)
	if err != nil {
		return KeyNonce{}, err
	}
	if err := r.consume(t, gen); err != nil {
		return KeyNonce{}, err
	}
	return kn, nil
}

// Wipe deletes every secret the tree holds, when its epoch is discarded.
func (t *Tree) Wipe() {
	for i, s := range t.nodes {
		wipe(s)
		delete(t.nodes, i)
	}
	for id, r := range t.ratchets {
		r.wipe()
		delete(t.ratchets, id)
	}
}

// Clone returns an independent copy, so that a caller can keep an epoch's
// tree while staging alternatives.
func (t *Tree) Clone() *Tree {
	c := &Tree{suite: t.suite, leaves: t.leaves, window: t.window,
		nodes: make(map[treemath.NodeIndex][]byte, len(t.nodes)), ratchets: make(map[ratchetID]*ratchet, len(t.ratchets))}
	for i, s := range t.nodes {
		c.nodes[i] = append([]byte{}, s...)
	}
	for id, r := range t.ratchets {
		c.ratchets[id] = r.clone()
	}
	return c
}

// ratchet returns a leaf's ratchet, deriving the leaf secret on first use.
func (t *Tree) ratchet(leaf treemath.LeafIndex, kind ContentKind) (*ratchet, error) {
	if uint32(leaf) >= t.leaves {
		return nil, fmt.Errorf("%w: leaf %d of %d", ErrLeafOutOfRange, leaf, t.leaves)
	}
	if r, ok := t.ratchets[ratchetID{leaf, kind}]; ok {
		return r, nil
	}
	leafSecret, err := t.leafSecret(leaf)
	if err != nil {
		return nil, err
	}
	defer wipe(leafSecret)
	for _, k := range []ContentKind{Handshake, Application} {
		s, err := t.suite.ExpandWithLabel(leafSecret, k.String(), nil, t.suite.HashSize())
		if err != nil {
			return nil, err
		}
		t.ratchets[ratchetID{leaf, k}] = &ratchet{secret: s, past: map[uint32]KeyNonce{}}
	}
	return t.ratchets[ratchetID{leaf, kind}], nil
}

// leafSecret derives the secret of a leaf from the nearest stored ancestor,
// storing the siblings on the way down and deleting each consumed parent.
// The caller owns (and must wipe) the result.
func (t *Tree) leafSecret(leaf treemath.LeafIndex) ([]byte, error) {
	target := leaf.Node()
	path := append([]treemath.NodeIndex{target}, treemath.DirectPath(target, t.leaves)...)
	// Find the lowest node on the path that still holds a secret.
	top := -1
	for i, x := range path {
		if _, ok := t.nodes[x]; ok {
			top = i
			break
		}
	}
	if top < 0 {
		// Unreachable unless the tree was wiped: every leaf's path keeps
		// one secret until its ratchets exist.
		return nil, fmt.Errorf("mls/secrettree: no secret left on the path of leaf %d", leaf)
	}
	for i := top; i > 0; i-- {
		parent := path[i]
		secret := t.nodes[parent]
		left, _ := treemath.Left(parent)
		right, _ := treemath.Right(parent)
		ls, err := t.suite.ExpandWithLabel(secret, "tree", []byte("left"), t.suite.HashSize())
		if err != nil {
			return nil, err
		}
		rs, err := t.suite.ExpandWithLabel(secret, "tree", []byte("right"), t.suite.HashSize())
		if err != nil {
			return nil, err
		}
		t.nodes[left], t.nodes[right] = ls, rs
		wipe(secret)
		delete(t.nodes, parent)
	}
	s := t.nodes[target]
	delete(t.nodes, target)
	return s, nil
}

// ratchet is one hash ratchet of a leaf (§9.1).
type ratchet struct {
	next   uint32              // generation whose key secret derives
	secret []byte              // ratchet_secret_[N]_[next]
	past   map[uint32]KeyNonce // skipped keys retained for late messages
	order  []uint32            // retained generations, oldest first
}

func (r *ratchet) derive(t *Tree, secret []byte, gen uint32) (KeyNonce, error) {
	key, err := t.suite.DeriveTreeSecret(secret, "key", gen, t.suite.AEADKeySize())
	if err != nil {
		return KeyNonce{}, err
	}
	nonce, err := t.suite.DeriveTreeSecret(secret, "nonce", gen, t.suite.AEADNonceSize())
	if err != nil {
		return KeyNonce{}, err
	}
	return KeyNonce{Generation: gen, Key: key, Nonce: nonce}, nil
}

func (r *ratchet) check(t *Tree, gen uint32) error {
	if gen < r.next {
		if _, ok := r.past[gen]; !ok {
			return fmt.Errorf("%w: generation %d (next %d)", ErrGenerationConsumed, gen, r.next)
		}
		return nil
	}
	if gen-r.next > t.window.MaxForward {
		return fmt.Errorf("%w: generation %d, next %d, window %d", ErrTooFarAhead, gen, r.next, t.window.MaxForward)
	}
	return nil
}

// peek derives gen's key on scratch secrets, leaving the ratchet as is.
func (r *ratchet) peek(t *Tree, gen uint32) (KeyNonce, error) {
	if err := r.check(t, gen); err != nil {
		return KeyNonce{}, err
	}
	if gen < r.next {
		kn := r.past[gen]
		return KeyNonce{Generation: gen, Key: append([]byte{}, kn.Key...), Nonce: append([]byte{}, kn.Nonce...)}, nil
	}
	secret := r.secret
	for j := r.next; j < gen; j++ {
		nextSecret, err := t.suite.DeriveTreeSecret(secret, "secret", j, t.suite.HashSize())
		if j > r.next {
			wipe(secret)
		}
		if err != nil {
			return KeyNonce{}, err
		}
		secret = nextSecret
	}
	kn, err := r.derive(t, secret, gen)
	if gen > r.next {
		wipe(secret)
	}
	return kn, err
}

// consume deletes gen's key and advances the ratchet past it, retaining
// skipped keys within the window.
func (r *ratchet) consume(t *Tree, gen uint32) error {
	if err := r.check(t, gen); err != nil {
		return err
	}
	if gen < r.next {
		kn := r.past[gen]
		kn.wipe()
		delete(r.past, gen)
		return nil
	}
	for j := r.next; ; j++ {
		if j < gen {
			kn, err := r.derive(t, r.secret, j)
			if err != nil {
				return err
			}
			r.retain(t, kn)
		}
		nextSecret, err := t.suite.DeriveTreeSecret(r.secret, "secret", j, t.suite.HashSize())
		if err != nil {
			return err
		}
		wipe(r.secret)
		r.secret = nextSecret
		r.next = j + 1
		if j == gen {
			return nil
		}
	}
}

func (r *ratchet) retain(t *Tree, kn KeyNonce) {
	if t.window.MaxRetained <= 0 {
		kn.wipe()
		return
	}
	r.past[kn.Generation] = kn
	r.order = append(r.order, kn.Generation)
	for len(r.past) > t.window.MaxRetained && len(r.order) > 0 {
		oldest := r.order[0]
		r.order = r.order[1:]
		if old, ok := r.past[oldest]; ok {
			old.wipe()
			delete(r.past, oldest)
		}
	}
	// Drop bookkeeping of generations consumed out of order.
	if len(r.order) > 2*t.window.MaxRetained {
		kept := r.order[:0]
		for _, g := range r.order {
			if _, ok := r.past[g]; ok {
				kept = append(kept, g)
			}
		}
		r.order = kept
	}
}

func (r *ratchet) wipe() {
	wipe(r.secret)
	for g, kn := range r.past {
		kn.wipe()
		delete(r.past, g)
	}
	r.order = nil
}

func (r *ratchet) clone() *ratchet {
	c := &ratchet{next: r.next, secret: append([]byte{}, r.secret...),
		past: make(map[uint32]KeyNonce, len(r.past)), order: append([]uint32{}, r.order...)}
	for g, kn := range r.past {
		c.past[g] = KeyNonce{Generation: g, Key: append([]byte{}, kn.Key...), Nonce: append([]byte{}, kn.Nonce...)}
	}
	return c
}

// wipe zeroes a secret before it is dropped, so that deleted key material
// does not linger in memory (§9.2).
func wipe(b []byte) {
	clear(b)
}
