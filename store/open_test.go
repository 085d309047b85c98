package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
)

func TestEncryptionAtRest(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDir(ctx, dir, WithPassphrase([]byte("correct horse")), WithKDFParams(fastKDF))
	must(t, err)
	twoGroups(t, s, 4096)
	must(t, s.PutIdentity(ctx, Identity{SignaturePrivate: secretBytes("identity", 0)}))
	must(t, s.Close())

	// Neither a state secret nor the identity key is in the files.
	for i, f := range dirContains(t, dir, [][]byte{secretBytes("group", 'A'), secretBytes("identity", 0), []byte("out A")}) {
		if f {
			t.Errorf("plaintext %d found in the files of an encrypted store", i)
		}
	}

	if _, err := OpenDir(ctx, dir, WithPassphrase([]byte("wrong horse"))); !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if _, err := OpenDir(ctx, dir); !errors.Is(err, ErrPassphraseRequired) {
		t.Fatalf("no passphrase: %v", err)
	}
	s, err = OpenDir(ctx, dir, WithPassphrase([]byte("correct horse")))
	must(t, err)
	for _, g := range []string{"A", "B"} {
		must(t, readGroup(s, g))
	}
	if id, err := s.Identity(ctx); err != nil || !bytes.Equal(id.SignaturePrivate, secretBytes("identity", 0)) {
		t.Fatalf("identity: %v", err)
	}
	// A plain value slipped into an encrypted store is refused.
	plain := plainFrame(keyHead([]byte("A")), KindHead, mustEncode(t, &head{ID: eid("B", 1), Number: 1}))
	must(t, s.Datastore().Put(ctx, keyHead([]byte("A")), plain))
	if _, _, err := s.Group([]byte("A")).HeadID(ctx); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("plain value in an encrypted store: %v", err)
	}
	must(t, s.Close())

	plainDir := t.TempDir()
	s, err = OpenDir(ctx, plainDir)
	must(t, err)
	must(t, s.Close())
	if _, err := OpenDir(ctx, plainDir, WithPassphrase([]byte("x"))); !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("passphrase for a plain store: %v", err)
	}
}

// TestDefaultKDFParams opens a store with the default Argon2id cost once,
// so that the defaults are known to work (and what they cost is logged).
func TestDefaultKDFParams(t *testing.T) {
	if os.Getenv("MLSNODE_LONG") == "" {
		t.Skip("SKIPPED: the default Argon2id cost (64 MiB, t=3) takes 2-3 s on the loaded CI machine; run with MLSNODE_LONG=1")
	}
	start := time.Now()
	s, err := OpenMemory(WithPassphrase([]byte("pw")))
	must(t, err)
	t.Logf("creating a store with %+v took %v", DefaultKDFParams, time.Since(start))
	must(t, s.Close())
}

func TestSchemaVersion(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDir(ctx, dir)
	must(t, err)
	twoGroups(t, s, 16)
	// A newer binary wrote the store.
	newer := plainFrame(keySchema, KindSchema, mustEncode(t, &schemaRecord{Version: SchemaVersion + 1}))
	must(t, s.Datastore().Put(ctx, keySchema, newer))
	must(t, s.Close())
	_, err = OpenDir(ctx, dir)
	var se *SchemaError
	if !errors.As(err, &se) || !errors.Is(err, ErrSchemaVersion) || se.Found != SchemaVersion+1 || se.Supported != SchemaVersion {
		t.Fatalf("newer schema: %v", err)
	}
	t.Log(err)
	// Refusing changed nothing: a second open refuses again.
	if _, err := OpenDir(ctx, dir); !errors.As(err, &se) {
		t.Fatalf("second open of a newer schema: %v", err)
	}
}

func TestNotAStore(t *testing.T) {
	ctx := context.Background()
	d := ds.NewMapDatastore()
	must(t, d.Put(ctx, ds.NewKey("/something/else"), []byte("x")))
	if _, err := Open(ctx, d); !errors.Is(err, ErrNotAStore) {
		t.Fatalf("foreign datastore: %v", err)
	}
}

func TestReopenKeepsCounters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := OpenDir(ctx, dir)
	must(t, err)
	g := s.Group([]byte("c"))
	tx := g.Begin()
	tx.PutEpoch(Epoch{ID: eid("c", 0), State: []byte{1}})
	tx.SetHead(eid("c", 0))
	a := tx.AddOutbox(eid("c", 0), nil, nil)
	b := tx.AddOutbox(eid("c", 0), nil, nil)
	tx.AckOutbox(a)
	tx.AckOutbox(b)
	must(t, tx.Commit(ctx))
	must(t, s.Close())
	s, err = OpenDir(ctx, dir)
	must(t, err)
	defer s.Close()
	tx = s.Group([]byte("c")).Begin()
	if c := tx.AddOutbox(eid("c", 0), nil, nil); c != 2 {
		t.Fatalf("outbox id after reopening: %d, want 2", c)
	}
	must(t, tx.Commit(ctx))
}

func mustEncode(t *testing.T, r record) []byte {
	t.Helper()
	b, err := encodeRecord(r)
	must(t, err)
	return b
}
