package secrettree

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

type hx = testvectors.Hex

type secretTreeCase struct {
	CipherSuite      suite.ID `json:"cipher_suite"`
	EncryptionSecret hx       `json:"encryption_secret"`
	SenderData       struct {
		SenderDataSecret hx `json:"sender_data_secret"`
		Ciphertext       hx `json:"ciphertext"`
		Key              hx `json:"key"`
		Nonce            hx `json:"nonce"`
	} `json:"sender_data"`
	Leaves [][]struct {
		Generation       uint32 `json:"generation"`
		ApplicationKey   hx     `json:"application_key"`
		ApplicationNonce hx     `json:"application_nonce"`
		HandshakeKey     hx     `json:"handshake_key"`
		HandshakeNonce   hx     `json:"handshake_nonce"`
	} `json:"leaves"`
}

func TestSecretTreeVectors(t *testing.T) {
	var cases []secretTreeCase
	testvectors.Load(t, "secret-tree.json", &cases)
	for i, c := range cases {
		s, err := suite.Lookup(c.CipherSuite)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		key, nonce, err := SenderDataKeyNonce(s, c.SenderData.SenderDataSecret, c.SenderData.Ciphertext)
		if err != nil || !bytes.Equal(key, c.SenderData.Key) || !bytes.Equal(nonce, c.SenderData.Nonce) {
			t.Errorf("case %d: sender data key/nonce mismatch (%v)", i, err)
		}
		tree, err := New(s, c.EncryptionSecret, uint32(len(c.Leaves)), DefaultWindow)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		for leaf, gens := range c.Leaves {
			for _, g := range gens {
				for _, want := range []struct {
					kind       ContentKind
					key, nonce []byte
				}{{Application, g.ApplicationKey, g.ApplicationNonce}, {Handshake, g.HandshakeKey, g.HandshakeNonce}} {
					kn, err := tree.Key(treemath.LeafIndex(leaf), want.kind, g.Generation)
					if err != nil {
						t.Fatalf("case %d leaf %d %v gen %d: %v", i, leaf, want.kind, g.Generation, err)
					}
					if !bytes.Equal(kn.Key, want.key) || !bytes.Equal(kn.Nonce, want.nonce) {
						t.Errorf("case %d leaf %d %v gen %d: key/nonce mismatch", i, leaf, want.kind, g.Generation)
					}
					if err := tree.Consume(treemath.LeafIndex(leaf), want.kind, g.Generation); err != nil {
						t.Fatalf("consume: %v", err)
					}
				}
			}
		}
	}
	testvectors.Report(t, "secret-tree.json", len(cases))
}

func newTree(t *testing.T, w Window) *Tree {
	t.Helper()
	s, err := suite.Lookup(suite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := New(s, bytes.Repeat([]byte{7}, s.HashSize()), 8, w)
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// TestSenderMatchesReceiver: keys a sender takes with Next are the keys a
// receiver finds with Key, in any order within the window.
func TestSenderMatchesReceiver(t *testing.T) {
	sender, receiver := newTree(t, DefaultWindow), newTree(t, DefaultWindow)
	var sent []KeyNonce
	for i := 0; i < 20; i++ {
		kn, err := sender.Next(3, Application)
		if err != nil {
			t.Fatal(err)
		}
		if kn.Generation != uint32(i) {
			t.Fatalf("Next gave generation %d, want %d", kn.Generation, i)
		}
		sent = append(sent, kn)
	}
	// Deliver in a scrambled order.
	for _, i := range []int{5, 0, 19, 1, 7, 6, 2, 3, 4, 8, 18, 9, 10, 11, 12, 13, 14, 15, 16, 17} {
		kn, err := receiver.Key(3, Application, uint32(i))
		if err != nil {
			t.Fatalf("gen %d: %v", i, err)
		}
		if !bytes.Equal(kn.Key, sent[i].Key) || !bytes.Equal(kn.Nonce, sent[i].Nonce) {
			t.Fatalf("gen %d: receiver key differs", i)
		}
		if err := receiver.Consume(3, Application, uint32(i)); err != nil {
			t.Fatal(err)
		}
		// A consumed key is gone: a replay cannot be opened.
		if _, err := receiver.Key(3, Application, uint32(i)); !errors.Is(err, ErrGenerationConsumed) {
			t.Fatalf("gen %d after consume: err = %v", i, err)
		}
	}
}

func TestWindowBounds(t *testing.T) {
	tree := newTree(t, Window{MaxForward: 10, MaxRetained: 3})
	if _, err := tree.Key(0, Application, 11); !errors.Is(err, ErrTooFarAhead) {
		t.Fatalf("gen 11 with MaxForward 10: err = %v", err)
	}
	// Peeking does not move the ratchet.
	if _, err := tree.Key(0, Application, 10); err != nil {
		t.Fatal(err)
	}
	if err := tree.Consume(0, Application, 10); err != nil {
		t.Fatal(err)
	}
	// Generations 0..9 were skipped; only the 3 newest (7, 8, 9) are kept.
	for g := uint32(0); g < 10; g++ {
		_, err := tree.Key(0, Application, g)
		if g >= 7 && err != nil {
			t.Fatalf("retained gen %d: %v", g, err)
		}
		if g < 7 && !errors.Is(err, ErrGenerationConsumed) {
			t.Fatalf("evicted gen %d: err = %v", g, err)
		}
	}
	if _, err := tree.Key(8, Application, 0); !errors.Is(err, ErrLeafOutOfRange) {
		t.Fatalf("leaf 8 of 8: err = %v", err)
	}
}

// TestDeletion checks the §9.2 schedule: parent secrets go once their
// children exist, and a wiped tree holds nothing.
func TestDeletion(t *testing.T) {
	tree := newTree(t, DefaultWindow)
	root := treemath.Root(8)
	if _, err := tree.Next(0, Handshake); err != nil {
		t.Fatal(err)
	}
	if _, ok := tree.nodes[root]; ok {
		t.Fatal("root secret kept after deriving a leaf")
	}
	if _, ok := tree.nodes[treemath.LeafIndex(0).Node()]; ok {
		t.Fatal("leaf secret kept after starting its ratchets")
	}
	// The frontier is the copath of leaf 0: three siblings.
	if len(tree.nodes) != 3 {
		t.Fatalf("holding %d node secrets, want 3", len(tree.nodes))
	}
	old := tree.ratchets[ratchetID{0, Handshake}].secret
	if _, err := tree.Next(0, Handshake); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(old, make([]byte, len(old))) {
		t.Fatal("superseded ratchet secret not zeroed")
	}
	tree.Wipe()
	if len(tree.nodes) != 0 || len(tree.ratchets) != 0 {
		t.Fatal("Wipe left secrets behind")
	}
}

func TestCloneIsIndependent(t *testing.T) {
	a := newTree(t, DefaultWindow)
	b := a.Clone()
	ka, _ := a.Next(1, Application)
	kb, _ := b.Next(1, Application)
	if !bytes.Equal(ka.Key, kb.Key) {
		t.Fatal("clone derives different keys")
	}
	if _, err := a.Key(1, Application, 0); !errors.Is(err, ErrGenerationConsumed) {
		t.Fatal("original lost track of its consumption")
	}
}

// TestStateRoundTrip: a restored tree continues exactly where the saved
// one stopped: same next keys, retained keys still open, consumed ones not.
func TestStateRoundTrip(t *testing.T) {
	a := newTree(t, Window{MaxForward: 50, MaxRetained: 4})
	for i := 0; i < 3; i++ {
		a.Next(2, Application)
	}
	a.Consume(5, Handshake, 6) // skips 0..5, retains 2..5
	w := codec.NewWriter(nil)
	a.MarshalState(w)
	enc, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	b := UnmarshalState(a.suite, codec.NewReader(enc))
	if b == nil {
		t.Fatal("state did not decode")
	}
	w2 := codec.NewWriter(nil)
	b.MarshalState(w2)
	if enc2, _ := w2.Bytes(); !bytes.Equal(enc, enc2) {
		t.Fatal("re-encoding the restored state differs")
	}
	ka, _ := a.Next(2, Application)
	kb, _ := b.Next(2, Application)
	if ka.Generation != 3 || kb.Generation != 3 || !bytes.Equal(ka.Key, kb.Key) {
		t.Fatal("restored sender ratchet diverged")
	}
	if _, err := b.Key(5, Handshake, 4); err != nil {
		t.Fatalf("retained key lost: %v", err)
	}
	if _, err := b.Key(5, Handshake, 1); !errors.Is(err, ErrGenerationConsumed) {
		t.Fatalf("evicted key came back: %v", err)
	}
	// Truncated state never panics and fails cleanly.
	for i := 0; i < len(enc); i++ {
		r := codec.NewReader(enc[:i])
		if UnmarshalState(a.suite, r) != nil && r.Finish("state") == nil {
			t.Fatalf("truncated state of %d bytes accepted", i)
		}
	}
}
