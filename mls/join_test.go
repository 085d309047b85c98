package mls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

type hx = testvectors.Hex

type externalPSK struct {
	ID  hx `json:"psk_id"`
	PSK hx `json:"psk"`
}

type passiveClientCase struct {
	CipherSuite               suite.ID       `json:"cipher_suite"`
	ExternalPSKs              []externalPSK  `json:"external_psks"`
	KeyPackage                hx             `json:"key_package"`
	SignaturePriv             hx             `json:"signature_priv"`
	EncryptionPriv            hx             `json:"encryption_priv"`
	InitPriv                  hx             `json:"init_priv"`
	Welcome                   hx             `json:"welcome"`
	RatchetTree               hx             `json:"ratchet_tree"`
	InitialEpochAuthenticator hx             `json:"initial_epoch_authenticator"`
	Epochs                    []passiveEpoch `json:"epochs"`
}

type passiveEpoch struct {
	Proposals          []hx `json:"proposals"`
	Commit             hx   `json:"commit"`
	EpochAuthenticator hx   `json:"epoch_authenticator"`
}

// mapPSKs is a PSKStore of external PSKs by id.
type mapPSKs map[string][]byte

func (m mapPSKs) PSK(id *wire.PreSharedKeyID) ([]byte, error) {
	if id.PSKType != wire.PSKTypeExternal {
		return nil, fmt.Errorf("resumption PSK not held")
	}
	if psk, ok := m[hex.EncodeToString(id.PSKID)]; ok {
		return psk, nil
	}
	return nil, fmt.Errorf("no external PSK %x", id.PSKID)
}

func joinPassive(t *testing.T, c *passiveClientCase) *Group {
	t.Helper()
	return joinPassiveAs(t, c, nil)
}

// joinPassiveAs joins a passive-client case; with a signing key the member
// can also send.
func joinPassiveAs(t *testing.T, c *passiveClientCase, key *suite.SigningKey) *Group {
	t.Helper()
	cs, err := suite.Lookup(c.CipherSuite)
	if err != nil {
		t.Fatal(err)
	}
	kpMsg, err := wire.ParseMLSMessage(c.KeyPackage)
	if err != nil || kpMsg.KeyPackage == nil {
		t.Fatalf("key_package: %v", err)
	}
	wMsg, err := wire.ParseMLSMessage(c.Welcome)
	if err != nil || wMsg.Welcome == nil {
		t.Fatalf("welcome: %v", err)
	}
	cfg := JoinConfig{
		KeyPackage: &KeyPackageBundle{KeyPackage: kpMsg.KeyPackage, InitPrivate: c.InitPriv, EncryptionPrivate: c.EncryptionPriv},
		PSKs:       mapPSKs{},
		SigningKey: key,
	}
	for _, p := range c.ExternalPSKs {
		cfg.PSKs.(mapPSKs)[hex.EncodeToString(p.ID)] = p.PSK
	}
	if c.RatchetTree != nil {
		if err := codec.Unmarshal(c.RatchetTree, &cfg.RatchetTree); err != nil {
			t.Fatalf("ratchet_tree: %v", err)
		}
	}
	g, err := JoinFromWelcome(cs, wMsg.Welcome, cfg)
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	return g
}

// TestPassiveClient runs every passive-client-*.json file: join from the
// Welcome, then process each epoch's proposals and commit, staging and
// merging; the epoch authenticator must match after the join and after
// every epoch. Any epoch not processed is counted loudly, never hidden.
func TestPassiveClient(t *testing.T) {
	files := testvectors.Glob(t, "passive-client-*.json")
	if len(files) == 0 {
		t.Fatal("no passive-client-*.json files in the vector folder")
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			var cases []passiveClientCase
			testvectors.Load(t, name, &cases)
			pending, processed := 0, 0
			for i := range cases {
				c := &cases[i]
				g := joinPassive(t, c)
				if !bytes.Equal(g.EpochAuthenticator(), c.InitialEpochAuthenticator) {
					t.Errorf("case %d (suite %d): epoch authenticator %x, want %x", i, c.CipherSuite, g.EpochAuthenticator(), []byte(c.InitialEpochAuthenticator))
				}
				n, err := processEpochs(t, g, c.Epochs)
				processed += n
				pending += len(c.Epochs) - n
				if err != nil && !errors.Is(err, ErrUnsupportedMessage) {
					t.Errorf("case %d (suite %d) epoch %d: %v", i, c.CipherSuite, n, err)
				}
			}
			if processed > 0 {
				t.Logf("%s: %d epochs after the join processed and matched", name, processed)
				fmt.Printf("mls-vectors: %s: %d epochs after the join processed and matched\n", name, processed)
			}
			label := name
			if pending > 0 {
				// Loud, so that nobody reads the count as full conformance.
				label = fmt.Sprintf("%s (%d later epochs NOT YET PROCESSED: commits with an UpdatePath need TreeKEM, issue 4)", name, pending)
			}
			testvectors.Report(t, label, len(cases))
		})
	}
}

// processEpochs feeds each epoch's proposals and commit to g and checks
// the epoch authenticator after the merge. It returns how many epochs
// matched, and the error that stopped it, if any.
func processEpochs(t *testing.T, g *Group, epochs []passiveEpoch) (int, error) {
	t.Helper()
	for n, e := range epochs {
		for _, p := range e.Proposals {
			m, err := wire.ParseMLSMessage(p)
			if err != nil {
				return n, err
			}
			if _, err := g.ProcessHandshake(m); err != nil {
				return n, fmt.Errorf("proposal: %w", err)
			}
		}
		m, err := wire.ParseMLSMessage(e.Commit)
		if err != nil {
			return n, err
		}
		res, err := g.ProcessHandshake(m)
		if err != nil {
			return n, fmt.Errorf("commit: %w", err)
		}
		if res.Commit == nil {
			return n, fmt.Errorf("commit message did not stage a commit")
		}
		if err := g.Merge(res.Commit); err != nil {
			return n, err
		}
		if !bytes.Equal(g.EpochAuthenticator(), e.EpochAuthenticator) {
			return n, fmt.Errorf("epoch authenticator %x, want %x", g.EpochAuthenticator(), []byte(e.EpochAuthenticator))
		}
	}
	return len(epochs), nil
}

// TestStageThenMerge: staging a commit changes nothing; two staged copies
// of one commit are rivals, and once one is merged the other is stale.
func TestStageThenMerge(t *testing.T) {
	var cases []passiveClientCase
	testvectors.Load(t, "passive-client-handling-commit.json", &cases)
	c := &cases[0]
	g := joinPassive(t, c)
	before := append([]byte{}, g.EpochAuthenticator()...)
	e := c.Epochs[0]
	for _, p := range e.Proposals {
		m, _ := wire.ParseMLSMessage(p)
		if _, err := g.ProcessHandshake(m); err != nil {
			t.Fatal(err)
		}
	}
	m, _ := wire.ParseMLSMessage(e.Commit)
	a, err := g.ProcessHandshake(m)
	if err != nil {
		t.Fatal(err)
	}
	b, err := g.ProcessHandshake(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.EpochAuthenticator(), before) || g.Epoch() != a.Commit.Epoch()-1 {
		t.Fatal("staging changed the group")
	}
	if !bytes.Equal(a.Commit.EpochAuthenticator(), e.EpochAuthenticator) {
		t.Fatal("staged commit has the wrong epoch authenticator")
	}
	if err := g.Merge(a.Commit); err != nil {
		t.Fatal(err)
	}
	if err := g.Merge(b.Commit); !errors.Is(err, ErrStaleCommit) {
		t.Fatalf("merging a rival after the merge: err = %v", err)
	}
	// A tampered commit (confirmation tag) is rejected and changes nothing.
	if len(c.Epochs) > 1 {
		m2, _ := wire.ParseMLSMessage(c.Epochs[1].Commit)
		for _, p := range c.Epochs[1].Proposals {
			pm, _ := wire.ParseMLSMessage(p)
			g.ProcessHandshake(pm)
		}
		if m2.PublicMessage != nil {
			tag := m2.PublicMessage.Auth.ConfirmationTag
			tag[0] ^= 1
			if _, err := g.ProcessHandshake(m2); err == nil {
				t.Fatal("tampered confirmation tag accepted")
			}
			tag[0] ^= 1
			if _, err := g.ProcessHandshake(m2); err != nil {
				t.Fatalf("genuine commit after a rejected copy: %v", err)
			}
		}
	}
}
