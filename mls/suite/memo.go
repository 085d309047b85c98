package suite

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
)

// VerifyMemo remembers the verdicts of signature checks, for a simulator
// that runs many members in one process.
//
// A real node verifies each signature it receives once. A simulator of n
// members in one process verifies the same beacon, commit or leaf n times
// over, once per simulated member, and at 1,000 members that repetition
// is most of the run's CPU. The verdict of a signature check is a pure
// function of the public key, the signed bytes and the signature, so
// members that share a memo get the very answer they would have computed:
// every distinct signature is still checked once with real crypto, and no
// result of a simulation changes.
//
// A memo is keyed by SHA-256 over the suite, the public key, the whole
// SignContent and the signature, with lengths, so a changed byte anywhere
// misses it. It holds at most its limit of verdicts and starts afresh when
// full (which only costs checks done again). It is safe for concurrent use.
// Nodes never use one: it would let a verdict computed for one member
// stand for another, which is only sound when they are one process.
type VerifyMemo struct {
	mu       sync.Mutex
	verdicts map[[sha256.Size]byte]error
	limit    int
	hits     uint64
	misses   uint64
}

// NewVerifyMemo returns a memo holding at most limit verdicts (at least 1).
func NewVerifyMemo(limit int) *VerifyMemo {
	return &VerifyMemo{verdicts: map[[sha256.Size]byte]error{}, limit: max(1, limit)}
}

// WithVerifyMemo returns a copy of s whose VerifyWithLabel consults memo
// first and records what it computes there.
func (s *Suite) WithVerifyMemo(memo *VerifyMemo) *Suite {
	c := *s
	c.memo = memo
	return &c
}

// Stats returns how many checks the memo answered and how many it computed.
func (m *VerifyMemo) Stats() (hits, misses uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.hits, m.misses
}

func (m *VerifyMemo) verify(s *Suite, pub, msg, signature []byte) error {
	key := memoKey(s.id, pub, msg, signature)
	m.mu.Lock()
	verdict, ok := m.verdicts[key]
	if ok {
		m.hits++
	}
	m.mu.Unlock()
	if ok {
		return verdict
	}
	// Computed outside the lock: two members may both compute a verdict
	// the first time, which costs a check and gives the same answer.
	verdict = s.verify(pub, msg, signature)
	m.mu.Lock()
	if len(m.verdicts) >= m.limit {
		clear(m.verdicts)
	}
	m.verdicts[key] = verdict
	m.misses++
	m.mu.Unlock()
	return verdict
}

func memoKey(id ID, pub, msg, signature []byte) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint16(n[:2], uint16(id))
	h.Write(n[:2])
	for _, part := range [][]byte{pub, msg, signature} {
		binary.BigEndian.PutUint64(n[:], uint64(len(part)))
		h.Write(n[:])
		h.Write(part)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	return key
}
