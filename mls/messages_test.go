package mls

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// TestApplicationMessagesAfterJoin joins the same passive-client case
// twice (two independent states of one member) and sends application
// messages from one to the other, in every suite: the full send path
// (sign, secret tree, PrivateMessage, encoding) against the full receive
// path (decode, decrypt, signature against the tree, key deletion).
func TestApplicationMessagesAfterJoin(t *testing.T) {
	var cases []passiveClientCase
	testvectors.Load(t, "passive-client-welcome.json", &cases)
	seen := map[suite.ID]bool{}
	for i := range cases {
		c := &cases[i]
		if seen[c.CipherSuite] {
			continue
		}
		seen[c.CipherSuite] = true
		cs, _ := suite.Lookup(c.CipherSuite)
		key, err := cs.NewSigningKey(c.SignaturePriv)
		if err != nil {
			t.Fatal(err)
		}
		sender := joinPassiveAs(t, c, key)
		receiver := joinPassive(t, c)
		if _, err := receiver.SealApplication(rand.NewChaCha8([32]byte{}), []byte("x"), nil, 0); !errors.Is(err, ErrPassive) {
			t.Fatalf("passive member sent: %v", err)
		}
		rng := rand.NewChaCha8([32]byte{byte(c.CipherSuite)})
		var wireMsgs [][]byte
		for n := 0; n < 5; n++ {
			m, err := sender.SealApplication(rng, []byte{byte(n), 'h', 'i'}, []byte("ad"), n*8)
			if err != nil {
				t.Fatal(err)
			}
			b, err := codec.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			wireMsgs = append(wireMsgs, b)
		}
		// Deliver out of order; every message opens once.
		for _, n := range []int{3, 0, 4, 1, 2} {
			m, err := wire.ParseMLSMessage(wireMsgs[n])
			if err != nil {
				t.Fatal(err)
			}
			got, err := receiver.OpenMessage(m)
			if err != nil {
				t.Fatalf("suite %d message %d: %v", c.CipherSuite, n, err)
			}
			if got.Sender != sender.OwnLeaf() || !bytes.Equal(got.ApplicationData, []byte{byte(n), 'h', 'i'}) || !bytes.Equal(got.AuthenticatedData, []byte("ad")) {
				t.Fatalf("suite %d message %d: got %+v", c.CipherSuite, n, got)
			}
			if _, err := receiver.OpenMessage(m); !errors.Is(err, secrettree.ErrGenerationConsumed) {
				t.Fatalf("suite %d replay of %d: err = %v", c.CipherSuite, n, err)
			}
		}
	}
	if len(seen) != 7 {
		t.Fatalf("covered %d suites, want 7", len(seen))
	}
}
