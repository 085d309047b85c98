package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ds "github.com/ipfs/go-datastore"
)

// twoGroups writes groups "A" and "B", each with a head whose state holds
// a distinctive secret, an outbox entry and a received message.
func twoGroups(t *testing.T, s *Store, stateSize int) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"A", "B"} {
		g := s.Group([]byte(name))
		tx := g.Begin()
		st := append(secretBytes("group", int(name[0])), bytes.Repeat([]byte(name), stateSize)...)
		tx.PutEpoch(Epoch{ID: eid(name, 1), Number: 1, State: st})
		tx.SetHead(eid(name, 1))
		tx.AddOutbox(eid(name, 1), []byte("out "+name), []byte("ct "+name))
		tx.PutReceived(Received{Epoch: eid(name, 1), Data: []byte("in " + name)})
		must(t, tx.Commit(ctx))
	}
}

// readGroup reads every record of a group and returns the first error.
func readGroup(s *Store, name string) error {
	ctx := context.Background()
	g := s.Group([]byte(name))
	if _, err := g.Head(ctx); err != nil {
		return err
	}
	if _, err := g.Outbox(ctx); err != nil {
		return err
	}
	if _, err := g.Received(ctx); err != nil {
		return err
	}
	_, err := g.CommitsSeen(ctx)
	return err
}

func wantRecordError(t *testing.T, err error, group string, kind Kind) {
	t.Helper()
	var re *RecordError
	if !errors.As(err, &re) || !errors.Is(err, ErrCorrupt) {
		t.Fatalf("want a *RecordError for %s %s, got %v", group, kind, err)
	}
	if string(re.Group) != group || re.Kind != kind {
		t.Fatalf("error names group %q kind %s, want %q %s: %v", re.Group, re.Kind, group, kind, err)
	}
	if !strings.Contains(err.Error(), kind.String()) {
		t.Fatalf("message does not name the kind: %v", err)
	}
}

// TestDamagedRecords damages single values in place (flipped byte, cut
// value, value copied under another key, garbage) and checks that reading
// names the record and that the other group still reads.
func TestDamagedRecords(t *testing.T) {
	ctx := context.Background()
	damage := map[string]func(d ds.Datastore, key ds.Key, val []byte){
		"flipped byte": func(d ds.Datastore, key ds.Key, val []byte) {
			v := bytes.Clone(val)
			v[len(v)/2] ^= 0x40
			must(t, d.Put(ctx, key, v))
		},
		"truncated": func(d ds.Datastore, key ds.Key, val []byte) { must(t, d.Put(ctx, key, val[:len(val)-3])) },
		"empty":     func(d ds.Datastore, key ds.Key, val []byte) { must(t, d.Put(ctx, key, nil)) },
		"moved from group B": func(d ds.Datastore, key ds.Key, _ []byte) {
			other := ds.NewKey(strings.Replace(key.String(), hexName([]byte("A")), hexName([]byte("B")), 1))
			other = ds.NewKey(strings.Replace(other.String(), hexName(eidSlice("A", 1)), hexName(eidSlice("B", 1)), 1))
			v, err := d.Get(ctx, other)
			must(t, err)
			must(t, d.Put(ctx, key, v))
		},
	}
	records := map[Kind]ds.Key{
		KindHead:     keyHead([]byte("A")),
		KindEpoch:    keyEpoch([]byte("A"), eid("A", 1)),
		KindOutbox:   keyOutbox([]byte("A"), 0),
		KindReceived: keyReceived([]byte("A"), 0),
	}
	for name, open := range backends(t) {
		for how, dmg := range damage {
			for kind, key := range records {
				t.Run(name+"/"+how+"/"+kind.String(), func(t *testing.T) {
					s := open(t)
					twoGroups(t, s, 64)
					val, err := s.Datastore().Get(ctx, key)
					must(t, err)
					dmg(s.Datastore(), key, val)
					wantRecordError(t, readGroup(s, "A"), "A", kind)
					if err := readGroup(s, "B"); err != nil {
						t.Fatalf("group B: %v", err)
					}
					// A transaction over damaged records fails cleanly.
					tx := s.Group([]byte("A")).Begin()
					tx.SetHead(eid("A", 1))
					tx.MoveOutbox(0, eid("A", 1), []byte("x"))
					if err := tx.Commit(ctx); err == nil && (kind == KindEpoch || kind == KindOutbox) {
						t.Fatal("a transaction read a damaged record without error")
					}
				})
			}
		}
	}
}

func eidSlice(s string, n int) []byte { e := eid(s, n); return e[:] }

// TestDamagedFiles flips a byte inside group A's state in a leveldb table
// file: reading A names its epoch record, B still reads.
func TestDamagedFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDir(ctx, dir)
	must(t, err)
	twoGroups(t, s, 16<<10) // values larger than a 4 KiB block
	must(t, s.Close())
	// Reopening replays the journal into a table file.
	s, err = OpenDir(ctx, dir)
	must(t, err)
	must(t, s.Close())

	needle := secretBytes("group", 'A')
	flipped := false
	files, _ := filepath.Glob(filepath.Join(dir, "*.ldb"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		must(t, err)
		if i := bytes.Index(data, needle); i >= 0 {
			data[i+100] ^= 0x01
			must(t, os.WriteFile(f, data, 0o644))
			flipped = true
		}
	}
	if !flipped {
		t.Fatal("group A's state is in no table file")
	}
	s, err = OpenDir(ctx, dir)
	must(t, err)
	defer s.Close()
	wantRecordError(t, readGroup(s, "A"), "A", KindEpoch)
	if err := readGroup(s, "B"); err != nil {
		t.Fatalf("group B: %v", err)
	}
}

// TestTruncatedFiles truncates each file of a leveldb store in turn, to
// several lengths, and checks that opening and reading never panics and
// never returns wrong data: either the data is intact, or the error is
// typed (ErrDamagedFiles, ErrCorrupt) or names the file.
func TestTruncatedFiles(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	s, err := OpenDir(ctx, src)
	must(t, err)
	twoGroups(t, s, 16<<10)
	must(t, s.Close())
	s, err = OpenDir(ctx, src) // journal into a table; the new journal is empty
	must(t, err)
	must(t, s.Close())
	entries, err := os.ReadDir(src)
	must(t, err)
	cases := 0
	for _, e := range entries {
		if e.Name() == "LOCK" || e.Name() == "LOG" || strings.HasSuffix(e.Name(), ".bak") {
			continue
		}
		info, _ := e.Info()
		for _, frac := range []int64{0, 1, 2} {
			size := info.Size() * frac / 3
			t.Run(e.Name()+"/"+[]string{"empty", "third", "two-thirds"}[frac], func(t *testing.T) {
				dir := t.TempDir()
				copyDir(t, src, dir)
				must(t, os.Truncate(filepath.Join(dir, e.Name()), size))
				s, err := OpenDir(ctx, dir)
				if err != nil {
					if !errors.Is(err, ErrDamagedFiles) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrNotAStore) {
						t.Fatalf("open: untyped error: %v", err)
					}
					return
				}
				defer s.Close()
				for _, g := range []string{"A", "B"} {
					err := readGroup(s, g)
					if err != nil && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("group %s: untyped error: %v", g, err)
					}
					if err == nil {
						h, _ := s.Group([]byte(g)).Head(ctx)
						if !bytes.HasPrefix(h.State, secretBytes("group", int(g[0]))) {
							t.Fatalf("group %s reads wrong data", g)
						}
					}
				}
			})
			cases++
		}
	}
	if cases < 9 {
		t.Fatalf("only %d truncations tried", cases)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	entries, err := os.ReadDir(src)
	must(t, err)
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644))
	}
}

// TestTruncatedJournal documents what leveldb does with a journal cut
// short: it replays the intact batches and drops the rest, exactly as
// after a crash. The store then holds the state after some earlier
// transaction, whole, never a mix; the loss of the later batches cannot be
// told apart from a crash before they were written (see docs/store.md).
func TestTruncatedJournal(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	s, err := OpenDir(ctx, src)
	must(t, err)
	g := s.Group([]byte("J"))
	const steps = 40
	for n := 0; n < steps; n++ {
		tx := g.Begin()
		tx.PutEpoch(Epoch{ID: eid("J", n), Number: uint64(n), State: bytes.Repeat([]byte{byte(n)}, 1000)})
		tx.SetHead(eid("J", n))
		tx.AddOutbox(eid("J", n), []byte("m"), []byte("c"))
		must(t, tx.Commit(ctx))
	}
	must(t, s.Close())
	logs, _ := filepath.Glob(filepath.Join(src, "*.log"))
	if len(logs) != 1 {
		t.Fatalf("journal files: %v", logs)
	}
	info, err := os.Stat(logs[0])
	must(t, err)
	seen := map[uint64]bool{}
	for _, cut := range []int64{info.Size() - 1, info.Size() * 3 / 4, info.Size() / 2, info.Size() / 5} {
		dir := t.TempDir()
		copyDir(t, src, dir)
		must(t, os.Truncate(filepath.Join(dir, filepath.Base(logs[0])), cut))
		s, err := OpenDir(ctx, dir)
		must(t, err)
		g := s.Group([]byte("J"))
		_, h, err := g.HeadID(ctx)
		must(t, err)
		ob, err := g.Outbox(ctx)
		must(t, err)
		ids, err := g.EpochIDs(ctx)
		must(t, err)
		if len(ob) != int(h+1) || len(ids) != int(h+1) {
			t.Fatalf("cut at %d: head %d with %d outbox entries and %d epochs: a mix of transactions", cut, h, len(ob), len(ids))
		}
		seen[h] = true
		must(t, s.Close())
	}
	if seen[steps-1] {
		t.Fatal("a cut journal still replayed every transaction: the cuts missed the data")
	}
	t.Logf("heads after cutting the journal: %v", seen)
}
