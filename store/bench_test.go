package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/syndtr/goleveldb/leveldb/util"
)

var (
	benchStateOnce sync.Once
	benchState     []byte
	benchStateErr  error
)

// groupState1000 is a real MarshalState of a 1,000-member group (suite 1):
// created by one commit adding 999 members, then a commit with a path, so
// that the creator holds path secrets. Built once, only when a benchmark
// asks for it.
func groupState1000(b *testing.B) []byte {
	benchStateOnce.Do(func() { benchState, benchStateErr = buildGroupState(1000) })
	if benchStateErr != nil {
		b.Fatal(benchStateErr)
	}
	return benchState
}

func buildGroupState(n int) ([]byte, error) {
	cs, err := suite.Lookup(1)
	if err != nil {
		return nil, err
	}
	rng := rand.NewChaCha8([32]byte{'s', 't', 'o', 'r', 'e'})
	member := func(name string) (*mls.KeyPackageBundle, *suite.SigningKey, error) {
		priv, _, err := cs.GenerateSignatureKey(rng)
		if err != nil {
			return nil, nil, err
		}
		key, err := cs.NewSigningKey(priv)
		if err != nil {
			return nil, nil, err
		}
		kp, err := mls.NewKeyPackage(rng, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(name)}, key,
			mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
		return kp, key, err
	}
	kp, key, err := member("creator")
	if err != nil {
		return nil, err
	}
	g, err := mls.CreateGroup(rng, cs, mls.CreateConfig{KeyPackage: kp, SigningKey: key})
	if err != nil {
		return nil, err
	}
	var adds []*wire.Proposal
	for i := 1; i < n; i++ {
		kp, _, err := member(fmt.Sprint("member-", i))
		if err != nil {
			return nil, err
		}
		adds = append(adds, &wire.Proposal{Type: wire.ProposalTypeAdd, Add: &wire.Add{KeyPackage: *kp.KeyPackage}})
	}
	for _, opts := range []mls.CommitOptions{{Proposals: adds, PublicMessage: true}, {ForcePath: true, PublicMessage: true}} {
		res, err := g.Commit(rng, opts)
		if err != nil {
			return nil, err
		}
		if err := g.Merge(res.Staged); err != nil {
			return nil, err
		}
	}
	return g.MarshalState()
}

// benchStores are the configurations measured: leveldb with purging (the
// default), leveldb encrypted, leveldb with deferred purging (Purge every
// 10 transitions, included in the time), leveldb without the purge (what
// purging costs), and memory.
func benchStores(b *testing.B) map[string]func(b *testing.B, dir string) *Store {
	ctx := context.Background()
	return map[string]func(b *testing.B, dir string) *Store{
		"leveldb": func(b *testing.B, dir string) *Store {
			s, err := OpenDir(ctx, dir)
			must(b, err)
			return s
		},
		"leveldb-encrypted": func(b *testing.B, dir string) *Store {
			s, err := OpenDir(ctx, dir, WithPassphrase([]byte("pw")), WithKDFParams(fastKDF))
			must(b, err)
			return s
		},
		"leveldb-deferred": func(b *testing.B, dir string) *Store {
			s, err := OpenDir(ctx, dir, WithDeferredPurge())
			must(b, err)
			return s
		},
		"leveldb-nopurge": func(b *testing.B, dir string) *Store {
			s, err := OpenDir(ctx, dir)
			must(b, err)
			s.purger = nil // measure the batch alone
			return s
		},
		"memory": func(b *testing.B, dir string) *Store {
			s, err := OpenMemory()
			must(b, err)
			return s
		},
	}
}

// BenchmarkEpochTransition measures one epoch transition of a 1,000-member
// group: the new head's state (a real 1,000-member MarshalState with a
// few bytes changed per epoch) and a path key, the head moved, the epoch
// that leaves the 3-epoch window dropped and purged, one outbox entry
// added and one acknowledged, one commit seen recorded.
func BenchmarkEpochTransition(b *testing.B) {
	state := groupState1000(b)
	ctx := context.Background()
	for _, name := range []string{"leveldb", "leveldb-encrypted", "leveldb-deferred", "leveldb-nopurge", "memory"} {
		open := benchStores(b)[name]
		b.Run(fmt.Sprintf("%s/members=1000", name), func(b *testing.B) {
			s := open(b, b.TempDir())
			defer s.Close()
			g := s.Group([]byte("bench"))
			st := append([]byte(nil), state...)
			n := 0
			step := func() {
				tx := g.Begin()
				st[len(st)/2] = byte(n) // each epoch's state differs
				id := eid("bench", n)
				var parent EpochID
				if n > 0 {
					parent = eid("bench", n-1)
				}
				tx.PutEpoch(Epoch{ID: id, Number: uint64(n), Parent: parent, State: st})
				tx.PutEpochKey(id, "path", secretBytes("bench", n))
				tx.SetHead(id)
				if n >= 3 {
					tx.DropEpoch(eid("bench", n-3))
				}
				out := tx.AddOutbox(id, []byte("hello"), []byte("ciphertext"))
				if out >= 1 {
					tx.AckOutbox(out - 1)
				}
				tx.PutCommitSeen(CommitSeen{Parent: parent, ID: id, Number: uint64(n)})
				must(b, tx.Commit(ctx))
				n++
				if s.deferPurge && n%10 == 0 {
					must(b, s.Purge(ctx)) // the amortised cost of purging
				}
			}
			for range 3 { // fill the window first
				step()
			}
			b.SetBytes(int64(len(state)))
			b.ResetTimer()
			for b.Loop() {
				step()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
		})
	}
}

// BenchmarkRetainedEpochBytes measures the disk space one retained epoch
// of a 1,000-member group takes on leveldb: the store is filled with 16
// retained epochs, fully compacted, and its size compared with the same
// store holding one epoch.
func BenchmarkRetainedEpochBytes(b *testing.B) {
	state := groupState1000(b)
	ctx := context.Background()
	for _, enc := range []bool{false, true} {
		name := "plain"
		if enc {
			name = "encrypted"
		}
		b.Run(name+"/members=1000", func(b *testing.B) {
			var perEpoch float64
			for b.Loop() {
				size := func(epochs int) int64 {
					dir := b.TempDir()
					var s *Store
					var err error
					if enc {
						s, err = OpenDir(ctx, dir, WithPassphrase([]byte("pw")), WithKDFParams(fastKDF))
					} else {
						s, err = OpenDir(ctx, dir)
					}
					must(b, err)
					g := s.Group([]byte("bench"))
					st := append([]byte(nil), state...)
					for n := 0; n < epochs; n++ {
						tx := g.Begin()
						st[len(st)/2] = byte(n)
						tx.PutEpoch(Epoch{ID: eid("r", n), Number: uint64(n), State: st})
						tx.PutEpochKey(eid("r", n), "path", secretBytes("r", n))
						tx.SetHead(eid("r", n))
						must(b, tx.Commit(ctx))
					}
					must(b, s.purger.(*levelDB).DB.CompactRange(util.Range{}))
					must(b, s.Close())
					return dirSize(b, dir)
				}
				one, many := size(1), size(16)
				perEpoch = float64(many-one) / 15
			}
			b.ReportMetric(perEpoch, "disk-bytes/epoch")
			b.ReportMetric(float64(len(state)), "state-bytes")
		})
	}
}

func dirSize(b *testing.B, dir string) int64 {
	var total int64
	entries, err := os.ReadDir(dir)
	must(b, err)
	for _, e := range entries {
		if e.Name() == "LOG" || e.Name() == "LOG.old" {
			continue // leveldb's text log of its own activity
		}
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		must(b, err)
		total += info.Size()
	}
	return total
}
