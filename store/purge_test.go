package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	leveldbds "github.com/ipfs/go-ds-leveldb"
)

// secretBytes is a distinctive 32-byte secret for epoch n.
func secretBytes(tag string, n int) []byte {
	s := sha256.Sum256(fmt.Appendf(nil, "secret %s %d", tag, n))
	return s[:]
}

// dirContains reports which of needles occur in any file under dir.
func dirContains(t testing.TB, dir string, needles [][]byte) []bool {
	t.Helper()
	found := make([]bool, len(needles))
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, n := range needles {
			if !found[i] && bytes.Contains(data, n) {
				found[i] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

// TestDeletedSecretsLeaveFiles checks that a dropped epoch's state and
// keys, a deleted KeyPackage's private key, a deleted PSK and an
// overwritten epoch state are no longer in any file of the leveldb
// directory, while live secrets still are (the check can see them).
func TestDeletedSecretsLeaveFiles(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenDir(context.Background(), dir)
	must(t, err)
	defer s.Close()
	gone, live := writeAndDelete(t, s)
	for i, f := range dirContains(t, dir, gone.secrets) {
		if f {
			t.Errorf("deleted %s is still in the files", gone.names[i])
		}
	}
	for i, f := range dirContains(t, dir, live.secrets) {
		if !f {
			t.Errorf("live %s not found in the files: the check is blind", live.names[i])
		}
	}
}

// TestWithoutPurgeSecretsRemain is the control: the same deletions on
// go-ds-leveldb without the purge leave secrets in the files, which is why
// the store compacts.
func TestWithoutPurgeSecretsRemain(t *testing.T) {
	dir := t.TempDir()
	o := leveldbds.Options(*levelDBOptions())
	d, err := leveldbds.NewDatastore(dir, &o)
	must(t, err)
	s, err := Open(context.Background(), d)
	must(t, err)
	defer s.Close()
	gone, _ := writeAndDelete(t, s)
	n := 0
	for _, f := range dirContains(t, dir, gone.secrets) {
		if f {
			n++
		}
	}
	if n == 0 {
		t.Fatal("no deleted secret found without purging: the file check cannot tell")
	}
	t.Logf("%d of %d deleted secrets remain in the files without purging", n, len(gone.secrets))
}

type namedSecrets struct {
	secrets [][]byte
	names   []string
}

func (n *namedSecrets) add(name string, s []byte) {
	n.secrets, n.names = append(n.secrets, s), append(n.names, name)
}

// writeAndDelete runs 12 epoch transitions with a window of 3 and deletes
// node secrets; it returns the secrets that must be gone and those that
// must still be there.
func writeAndDelete(t *testing.T, s *Store) (gone, live namedSecrets) {
	ctx := context.Background()
	g := s.Group([]byte("purge"))
	const window = 3
	var prev EpochID
	for n := 0; n < 12; n++ {
		tx := g.Begin()
		state := append([]byte("state:"), secretBytes("state", n)...)
		tx.PutEpoch(Epoch{ID: eid("p", n), Number: uint64(n), Parent: prev, State: state})
		tx.PutEpochKey(eid("p", n), "path", secretBytes("key", n))
		tx.SetHead(eid("p", n))
		if n >= window {
			tx.DropEpoch(eid("p", n-window))
		}
		must(t, tx.Commit(ctx))
		prev = eid("p", n)
	}
	// Overwrite the head's state in place (as after consuming a ratchet key).
	tx := g.Begin()
	tx.PutEpoch(Epoch{ID: eid("p", 11), Number: 11, Parent: eid("p", 10), State: []byte("rewritten")})
	must(t, tx.Commit(ctx))
	must(t, s.PutKeyPackage(ctx, KeyPackage{Ref: []byte("kp"), InitPrivate: secretBytes("kp", 0)}))
	must(t, s.PutPSK(ctx, PSK{ID: []byte("psk"), Secret: secretBytes("psk", 0)}))
	must(t, s.DeleteKeyPackage(ctx, []byte("kp")))
	must(t, s.DeletePSK(ctx, []byte("psk")))

	for n := 0; n < 12-window; n++ {
		gone.add(fmt.Sprintf("state of epoch %d", n), secretBytes("state", n))
		gone.add(fmt.Sprintf("key of epoch %d", n), secretBytes("key", n))
	}
	gone.add("overwritten state of epoch 11", secretBytes("state", 11))
	gone.add("KeyPackage private key", secretBytes("kp", 0))
	gone.add("PSK", secretBytes("psk", 0))
	for n := 12 - window; n < 11; n++ {
		live.add(fmt.Sprintf("state of epoch %d", n), secretBytes("state", n))
		live.add(fmt.Sprintf("key of epoch %d", n), secretBytes("key", n))
	}
	live.add("key of epoch 11", secretBytes("key", 11))
	return gone, live
}

// TestDeletedSealedValuesLeaveFiles is the same check for an encrypted
// store, where the plaintext is never in the files: the sealed bytes of a
// dropped epoch must be gone too, while those of a live epoch are found.
func TestDeletedSealedValuesLeaveFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDir(ctx, dir, WithPassphrase([]byte("pw")), WithKDFParams(fastKDF))
	must(t, err)
	defer s.Close()
	g := s.Group([]byte("sealed"))
	sealedChunk := func(id EpochID) []byte {
		v, err := s.Datastore().Get(ctx, keyEpoch(g.id, id))
		must(t, err)
		return bytes.Clone(v[len(v)/2 : len(v)/2+32])
	}
	for n := 0; n < 2; n++ {
		tx := g.Begin()
		tx.PutEpoch(Epoch{ID: eid("s", n), Number: uint64(n), State: bytes.Repeat(secretBytes("s", n), 64)})
		tx.SetHead(eid("s", n))
		must(t, tx.Commit(ctx))
	}
	dropped, live := sealedChunk(eid("s", 0)), sealedChunk(eid("s", 1))
	tx := g.Begin()
	tx.DropEpoch(eid("s", 0))
	must(t, tx.Commit(ctx))
	found := dirContains(t, dir, [][]byte{dropped, live, secretBytes("s", 1)})
	if found[0] {
		t.Error("the sealed state of a dropped epoch is still in the files")
	}
	if !found[1] {
		t.Error("the sealed state of the live epoch is not found: the check is blind")
	}
	if found[2] {
		t.Error("plaintext of an encrypted store found in the files")
	}
}

// TestDeferredPurge: with WithDeferredPurge a dropped epoch stays in the
// files until Purge (or the next Open), and is gone after it.
func TestDeferredPurge(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDir(ctx, dir, WithDeferredPurge())
	must(t, err)
	g := s.Group([]byte("deferred"))
	for n := 0; n < 6; n++ {
		tx := g.Begin()
		tx.PutEpoch(Epoch{ID: eid("d", n), Number: uint64(n), State: secretBytes("d", n)})
		tx.SetHead(eid("d", n))
		if n >= 2 {
			tx.DropEpoch(eid("d", n-2))
		}
		must(t, tx.Commit(ctx))
	}
	if _, err := g.Epoch(ctx, eid("d", 0)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped epoch reads back: %v", err)
	}
	if !dirContains(t, dir, [][]byte{secretBytes("d", 0)})[0] {
		t.Fatal("deferred: the dropped epoch is already gone from the files, so this test shows nothing")
	}
	must(t, s.Purge(ctx))
	found := dirContains(t, dir, [][]byte{secretBytes("d", 0), secretBytes("d", 3), secretBytes("d", 5)})
	if found[0] || found[1] {
		t.Fatal("dropped epochs still in the files after Purge")
	}
	if !found[2] {
		t.Fatal("the head's state is not found: the check is blind")
	}
	// Deferred purges left at Close are done by the next Open.
	tx := g.Begin()
	tx.PutEpoch(Epoch{ID: eid("d", 6), Number: 6, State: secretBytes("d", 6)})
	tx.SetHead(eid("d", 6))
	tx.DropEpoch(eid("d", 4))
	must(t, tx.Commit(ctx))
	must(t, s.Close())
	if !dirContains(t, dir, [][]byte{secretBytes("d", 4)})[0] {
		t.Fatal("deferred: epoch 4 already gone before reopening")
	}
	s, err = OpenDir(ctx, dir)
	must(t, err)
	defer s.Close()
	if dirContains(t, dir, [][]byte{secretBytes("d", 4)})[0] {
		t.Fatal("Open did not finish the deferred purge")
	}
}
