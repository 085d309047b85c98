package store

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

func TestTransitions(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			g := s.Group([]byte("group-1"))
			if _, _, err := g.HeadID(ctx); !errors.Is(err, ErrNotFound) {
				t.Fatalf("empty group head: %v", err)
			}
			e0, e1, e2 := eid("a", 0), eid("a", 1), eid("a", 2)

			tx := g.Begin()
			tx.PutEpoch(Epoch{ID: e0, Number: 0, State: []byte("state0")})
			tx.SetHead(e0)
			tx.PutEpochKey(e0, "leaf", []byte("leaf-secret-0"))
			tx.PutGroupKey("sig", []byte("sig-secret"))
			o1 := tx.AddOutbox(e0, []byte("hello"), []byte("ct-hello"))
			o2 := tx.AddOutbox(e0, []byte("world"), []byte("ct-world"))
			must(t, tx.Commit(ctx))
			if o1 != 0 || o2 != 1 {
				t.Fatalf("outbox ids %d %d", o1, o2)
			}

			tx = g.Begin()
			tx.PutEpoch(Epoch{ID: e1, Number: 1, Parent: e0, State: []byte("state1")})
			tx.SetHead(e1)
			tx.PutRival(Rival{Parent: e0, ID: eid("rival", 1), Commit: []byte("rival-commit")})
			tx.PutCommitSeen(CommitSeen{Parent: e0, ID: e1, Number: 1, Commit: []byte("c1")})
			tx.AckOutbox(o1)
			tx.MoveOutbox(o2, e1, []byte("ct-world-e1"))
			seq := tx.PutReceived(Received{Epoch: e1, Sender: 3, Data: []byte("hi"), LosingBranch: true})
			must(t, tx.Commit(ctx))

			h, err := g.Head(ctx)
			must(t, err)
			if h.ID != e1 || h.Number != 1 || h.Parent != e0 || string(h.State) != "state1" {
				t.Fatalf("head %+v", h)
			}
			ob, err := g.Outbox(ctx)
			must(t, err)
			want := []OutboxEntry{{ID: o2, Epoch: e1, Plaintext: []byte("world"), Message: []byte("ct-world-e1")}}
			if !equalOutbox(ob, want) {
				t.Fatalf("outbox %+v", ob)
			}
			rv, err := g.Rivals(ctx, e0)
			must(t, err)
			if len(rv) != 1 || string(rv[0].Commit) != "rival-commit" {
				t.Fatalf("rivals %+v", rv)
			}
			rc, err := g.Received(ctx)
			must(t, err)
			if len(rc) != 1 || rc[0].Seq != seq || rc[0].Sender != 3 || !rc[0].LosingBranch || string(rc[0].Data) != "hi" {
				t.Fatalf("received %+v", rc)
			}
			cs, err := g.CommitsSeen(ctx)
			must(t, err)
			if len(cs) != 1 || cs[0].ID != e1 || cs[0].Number != 1 {
				t.Fatalf("commits seen %+v", cs)
			}

			// Dropping the head is refused and changes nothing.
			tx = g.Begin()
			tx.DropEpoch(e1)
			tx.AckOutbox(o2)
			if err := tx.Commit(ctx); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("dropping the head: %v", err)
			}
			if ob, _ := g.Outbox(ctx); len(ob) != 1 {
				t.Fatal("a refused transaction changed the outbox")
			}
			// A head naming no epoch is refused.
			tx = g.Begin()
			tx.SetHead(e2)
			if err := tx.Commit(ctx); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("head on a missing epoch: %v", err)
			}

			// Move on and drop e0: its state, keys and rivals go.
			tx = g.Begin()
			tx.PutEpoch(Epoch{ID: e2, Number: 2, Parent: e1, State: []byte("state2")})
			tx.SetHead(e2)
			tx.DropEpoch(e0)
			must(t, tx.Commit(ctx))
			if _, err := g.Epoch(ctx, e0); !errors.Is(err, ErrNotFound) {
				t.Fatalf("dropped epoch: %v", err)
			}
			if _, err := g.EpochKey(ctx, e0, "leaf"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("dropped epoch key: %v", err)
			}
			if rv, _ := g.Rivals(ctx, e0); len(rv) != 0 {
				t.Fatal("rival of a dropped epoch survived")
			}
			ids, err := g.EpochIDs(ctx)
			must(t, err)
			if !slices.Contains(ids, e1) || !slices.Contains(ids, e2) || len(ids) != 2 {
				t.Fatalf("epochs %x", ids)
			}
			if k, err := g.GroupKey(ctx, "sig"); err != nil || string(k) != "sig-secret" {
				t.Fatalf("group key %q %v", k, err)
			}

			// Roll back to a retained epoch.
			tx = g.Begin()
			tx.SetHead(e1)
			tx.DropEpoch(e2)
			must(t, tx.Commit(ctx))
			if id, n, err := g.HeadID(ctx); err != nil || id != e1 || n != 1 {
				t.Fatalf("rolled back head %x %d %v", id[:4], n, err)
			}

			// Ids are never reused, also after a restart of the counters.
			tx = g.Begin()
			tx.AckOutbox(o2)
			o3 := tx.AddOutbox(e1, []byte("x"), []byte("y"))
			must(t, tx.Commit(ctx))
			if o3 != 2 {
				t.Fatalf("outbox id after ack: %d", o3)
			}
			groups, err := s.Groups(ctx)
			must(t, err)
			if len(groups) != 1 || string(groups[0]) != "group-1" {
				t.Fatalf("groups %q", groups)
			}
			must(t, s.DeleteGroup(ctx, []byte("group-1")))
			if _, _, err := g.HeadID(ctx); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted group: %v", err)
			}
			if groups, _ := s.Groups(ctx); len(groups) != 0 {
				t.Fatalf("groups after delete %q", groups)
			}
		})
	}
}

func TestTransactionMisuse(t *testing.T) {
	ctx := context.Background()
	s, err := OpenMemory()
	must(t, err)
	g := s.Group([]byte("g"))
	cases := map[string]func(tx *Transaction){
		"nil state":           func(tx *Transaction) { tx.PutEpoch(Epoch{ID: eid("x", 1)}) },
		"rival on no epoch":   func(tx *Transaction) { tx.PutRival(Rival{Parent: eid("x", 1)}) },
		"key on no epoch":     func(tx *Transaction) { tx.PutEpochKey(eid("x", 1), "k", []byte{1}) },
		"empty key name":      func(tx *Transaction) { tx.PutGroupKey("", []byte{1}) },
		"move missing outbox": func(tx *Transaction) { tx.MoveOutbox(7, eid("x", 1), nil) },
		"put and drop": func(tx *Transaction) {
			tx.PutEpoch(Epoch{ID: eid("x", 1), State: []byte{1}})
			tx.DropEpoch(eid("x", 1))
		},
		"unknown keypackage": func(tx *Transaction) { tx.UseKeyPackage([]byte("nope")) },
	}
	for name, build := range cases {
		tx := g.Begin()
		build(tx)
		tx.AddOutbox(eid("x", 0), []byte("p"), []byte("m"))
		if err := tx.Commit(ctx); err == nil {
			t.Errorf("%s: committed", name)
		}
		if ob, _ := g.Outbox(ctx); len(ob) != 0 {
			t.Errorf("%s: a failed transaction wrote its outbox entry", name)
		}
	}
	tx := g.Begin()
	must(t, tx.Commit(ctx))
	if err := tx.Commit(ctx); !errors.Is(err, ErrTransactionDone) {
		t.Fatalf("second commit: %v", err)
	}
	if err := s.Group(nil).Begin().Commit(ctx); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("empty group id: %v", err)
	}
}

func TestNodeRecords(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			if _, err := s.Identity(ctx); !errors.Is(err, ErrNotFound) {
				t.Fatalf("identity before put: %v", err)
			}
			id := Identity{Suite: 1, Credential: []byte("alice"), SignaturePublic: []byte("pub"), SignaturePrivate: []byte("priv")}
			must(t, s.PutIdentity(ctx, id))
			got, err := s.Identity(ctx)
			must(t, err)
			if got.Suite != 1 || string(got.SignaturePrivate) != "priv" || string(got.Credential) != "alice" {
				t.Fatalf("identity %+v", got)
			}
			must(t, s.PutKeyPackage(ctx, KeyPackage{Ref: []byte("kp1"), Encoded: []byte("e1"), InitPrivate: []byte("i1"), EncryptionPrivate: []byte("x1")}))
			must(t, s.PutKeyPackage(ctx, KeyPackage{Ref: []byte("kp2"), Encoded: []byte("e2"), InitPrivate: []byte("i2"), LastResort: true}))
			kps, err := s.KeyPackages(ctx)
			must(t, err)
			if len(kps) != 2 {
				t.Fatalf("keypackages %d", len(kps))
			}
			// Joining consumes the KeyPackage in the same batch as the head.
			for _, ref := range []string{"kp1", "kp2"} {
				g := s.Group([]byte("joined-" + ref))
				tx := g.Begin()
				tx.PutEpoch(Epoch{ID: eid(ref, 5), Number: 5, State: []byte("s")})
				tx.SetHead(eid(ref, 5))
				tx.UseKeyPackage([]byte(ref))
				must(t, tx.Commit(ctx))
			}
			if _, err := s.KeyPackage(ctx, []byte("kp1")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("used KeyPackage kept: %v", err)
			}
			if kp, err := s.KeyPackage(ctx, []byte("kp2")); err != nil || !kp.LastResort || string(kp.InitPrivate) != "i2" {
				t.Fatalf("last-resort KeyPackage: %+v %v", kp, err)
			}
			must(t, s.DeleteKeyPackage(ctx, []byte("kp2")))
			if _, err := s.KeyPackage(ctx, []byte("kp2")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted KeyPackage: %v", err)
			}
			must(t, s.PutPSK(ctx, PSK{ID: []byte("psk"), Secret: []byte("shh")}))
			if p, err := s.PSK(ctx, []byte("psk")); err != nil || !bytes.Equal(p, []byte("shh")) {
				t.Fatalf("psk %q %v", p, err)
			}
			must(t, s.DeletePSK(ctx, []byte("psk")))
			if _, err := s.PSK(ctx, []byte("psk")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted psk: %v", err)
			}
		})
	}
}

func equalOutbox(a, b []OutboxEntry) bool {
	return slices.EqualFunc(a, b, func(x, y OutboxEntry) bool {
		return x.ID == y.ID && x.Epoch == y.Epoch && bytes.Equal(x.Plaintext, y.Plaintext) && bytes.Equal(x.Message, y.Message)
	})
}

func TestReceivedFrom(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			g := s.Group([]byte("r"))
			tx := g.Begin()
			for i := 0; i < 20; i++ {
				tx.PutReceived(Received{Data: []byte{byte(i)}})
			}
			must(t, tx.Commit(ctx))
			page, err := g.ReceivedFrom(ctx, 7, 5)
			must(t, err)
			if len(page) != 5 || page[0].Seq != 7 || page[4].Seq != 11 || page[0].Data[0] != 7 {
				t.Fatalf("page %+v", page)
			}
			rest, err := g.ReceivedFrom(ctx, 18, 0)
			must(t, err)
			if len(rest) != 2 || rest[1].Seq != 19 {
				t.Fatalf("rest %+v", rest)
			}
		})
	}
}

// TestConcurrentTransactions runs transactions on several groups and on
// one shared group from many goroutines, with readers alongside (run it
// with -race), and checks that no transaction was lost.
func TestConcurrentTransactions(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			const workers, steps = 4, 15
			errs := make(chan error, workers*2)
			var wg sync.WaitGroup
			for w := 0; w < workers; w++ {
				wg.Add(2)
				go func() { // own group: epoch transitions
					defer wg.Done()
					g := s.Group([]byte{'w', byte(w)})
					for n := 0; n < steps; n++ {
						tx := g.Begin()
						tx.PutEpoch(Epoch{ID: eid("w", w*100+n), Number: uint64(n), State: []byte{byte(n)}})
						tx.SetHead(eid("w", w*100+n))
						if n >= 2 {
							tx.DropEpoch(eid("w", w*100+n-2))
						}
						if err := tx.Commit(ctx); err != nil {
							errs <- err
							return
						}
						if _, err := g.Head(ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
				go func() { // shared group: outbox entries
					defer wg.Done()
					g := s.Group([]byte("shared"))
					for n := 0; n < steps; n++ {
						tx := g.Begin()
						tx.AddOutbox(EpochID{}, []byte{byte(w)}, nil)
						if err := tx.Commit(ctx); err != nil {
							errs <- err
							return
						}
						if _, err := g.Outbox(ctx); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			ob, err := s.Group([]byte("shared")).Outbox(ctx)
			must(t, err)
			if len(ob) != workers*steps {
				t.Fatalf("%d outbox entries, want %d", len(ob), workers*steps)
			}
			for w := 0; w < workers; w++ {
				g := s.Group([]byte{'w', byte(w)})
				if _, n, err := g.HeadID(ctx); err != nil || n != steps-1 {
					t.Fatalf("worker %d head %d %v", w, n, err)
				}
				if ids, _ := g.EpochIDs(ctx); len(ids) != 2 {
					t.Fatalf("worker %d keeps %d epochs", w, len(ids))
				}
			}
		})
	}
}

// TestDeleteGroupLeavesOthers deletes a group whose id (in hex) is a
// string prefix of another group's: the other must be untouched.
func TestDeleteGroupLeavesOthers(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			for _, gid := range []string{"ab", "abcd"} {
				tx := s.Group([]byte(gid)).Begin()
				tx.PutEpoch(Epoch{ID: eid(gid, 0), State: []byte(gid)})
				tx.SetHead(eid(gid, 0))
				tx.AddOutbox(eid(gid, 0), []byte(gid), nil)
				must(t, tx.Commit(ctx))
			}
			must(t, s.DeleteGroup(ctx, []byte("ab")))
			h, err := s.Group([]byte("abcd")).Head(ctx)
			if err != nil || string(h.State) != "abcd" {
				t.Fatalf("other group after delete: %v", err)
			}
			if ob, err := s.Group([]byte("abcd")).Outbox(ctx); err != nil || len(ob) != 1 {
				t.Fatalf("other group's outbox: %d %v", len(ob), err)
			}
			if _, err := s.Group([]byte("ab")).Head(ctx); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted group: %v", err)
			}
		})
	}
}

func TestReceivedIndexAndMeta(t *testing.T) {
	ctx := context.Background()
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			g := s.Group([]byte("m"))
			tx := g.Begin()
			a := tx.PutReceived(Received{ID: []byte("msg-a"), EpochNumber: 4, SenderIdentity: []byte("peer-1"), Data: []byte("a")})
			tx.PutReceived(Received{Data: []byte("no id")})
			tx.PutGroupMeta("membership", []byte("log-1"))
			tx.PutNodeMeta("welcome/m", []byte("welcome bytes"))
			must(t, tx.Commit(ctx))

			if ok, err := g.HasReceived(ctx, []byte("msg-a")); err != nil || !ok {
				t.Fatalf("HasReceived(msg-a) = %v, %v", ok, err)
			}
			if ok, err := g.HasReceived(ctx, []byte("msg-b")); err != nil || ok {
				t.Fatalf("HasReceived(msg-b) = %v, %v", ok, err)
			}
			m, err := g.ReceivedByID(ctx, []byte("msg-a"))
			must(t, err)
			if m.Seq != a || m.EpochNumber != 4 || string(m.SenderIdentity) != "peer-1" || string(m.Data) != "a" {
				t.Fatalf("ReceivedByID %+v", m)
			}
			if v, err := g.GroupMeta(ctx, "membership"); err != nil || string(v) != "log-1" {
				t.Fatalf("GroupMeta %q %v", v, err)
			}
			must(t, s.PutNodeMeta(ctx, "welcome/other", []byte("w2")))
			must(t, s.PutNodeMeta(ctx, "settings", []byte("s")))
			names, err := s.NodeMetaNames(ctx, "welcome/")
			must(t, err)
			if !slices.Equal(names, []string{"welcome/m", "welcome/other"}) {
				t.Fatalf("NodeMetaNames %q", names)
			}

			// Joining forgets the pending Welcome in the same batch;
			// dropping a message drops it from the index.
			tx = g.Begin()
			tx.DeleteNodeMeta("welcome/m")
			tx.DropReceived(a)
			tx.PutGroupMeta("membership", []byte("log-2"))
			must(t, tx.Commit(ctx))
			if _, err := s.NodeMeta(ctx, "welcome/m"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("deleted node meta: %v", err)
			}
			if ok, err := g.HasReceived(ctx, []byte("msg-a")); err != nil || ok {
				t.Fatalf("dropped message still indexed: %v %v", ok, err)
			}
			if v, _ := g.GroupMeta(ctx, "membership"); string(v) != "log-2" {
				t.Fatalf("GroupMeta after overwrite %q", v)
			}
			must(t, s.DeleteNodeMeta(ctx, "settings"))
			if v, err := s.NodeMeta(ctx, "welcome/other"); err != nil || string(v) != "w2" {
				t.Fatalf("NodeMeta %q %v", v, err)
			}
		})
	}
}
