package sim

import (
	"encoding/binary"
	"hash/fnv"
	"io"
	"math/rand/v2"
)

// Seed is the one number every run replays from.
type Seed uint64

// purposeKey hashes a purpose name to the second half of a PCG state, so
// each purpose has its own stream and adding a draw for one purpose never
// shifts another.
func purposeKey(purpose string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(purpose))
	return h.Sum64()
}

// Stream returns the pseudo-random stream of one purpose ("net", "faults",
// "workload", ...). Two calls with the same purpose return equal streams.
func (s Seed) Stream(purpose string) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(s), purposeKey(purpose)))
}

// Reader returns a deterministic byte stream for one purpose, used as the
// io.Reader that the MLS engine draws keys and nonces from. It is ChaCha8
// keyed by the seed and the purpose: not a secret in a simulation, but a
// stream with no visible structure, like the real randomness it stands for.
func (s Seed) Reader(purpose string) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], uint64(s))
	binary.LittleEndian.PutUint64(key[8:], purposeKey(purpose))
	binary.LittleEndian.PutUint64(key[16:], purposeKey("mlsnode sim "+purpose))
	binary.LittleEndian.PutUint64(key[24:], ^uint64(s))
	return rand.NewChaCha8(key)
}
