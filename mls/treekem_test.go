package mls

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

type treekemCase struct {
	CipherSuite             suite.ID `json:"cipher_suite"`
	GroupID                 hx       `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	ConfirmedTranscriptHash hx       `json:"confirmed_transcript_hash"`
	RatchetTree             hx       `json:"ratchet_tree"`
	LeavesPrivate           []struct {
		Index          uint32 `json:"index"`
		EncryptionPriv hx     `json:"encryption_priv"`
		SignaturePriv  hx     `json:"signature_priv"`
		PathSecrets    []struct {
			Node       uint32 `json:"node"`
			PathSecret hx     `json:"path_secret"`
		} `json:"path_secrets"`
	} `json:"leaves_private"`
	UpdatePaths []struct {
		Sender        uint32 `json:"sender"`
		UpdatePath    hx     `json:"update_path"`
		PathSecrets   []hx   `json:"path_secrets"`
		CommitSecret  hx     `json:"commit_secret"`
		TreeHashAfter hx     `json:"tree_hash_after"`
	} `json:"update_paths"`
}

// treekemMember builds the state of one member of a treekem.json case:
// the tree, its leaf key, and the keys of the path secrets it holds.
func treekemMember(t *testing.T, cs *suite.Suite, c *treekemCase, i int) *Group {
	t.Helper()
	var rt wire.RatchetTree
	if err := codec.Unmarshal(c.RatchetTree, &rt); err != nil {
		t.Fatal(err)
	}
	tree, err := ratchettree.FromWire(cs, rt)
	if err != nil {
		t.Fatal(err)
	}
	lp := c.LeavesPrivate[i]
	own := treemath.LeafIndex(lp.Index)
	keys := map[treemath.NodeIndex][]byte{own.Node(): lp.EncryptionPriv}
	for _, ps := range lp.PathSecrets {
		nodeSecret, _ := cs.DeriveSecret(ps.PathSecret, "node")
		priv, _, err := cs.DeriveKeyPair(nodeSecret)
		if err != nil {
			t.Fatal(err)
		}
		keys[treemath.NodeIndex(ps.Node)] = priv
	}
	key, err := cs.NewSigningKey(lp.SignaturePriv)
	if err != nil {
		t.Fatal(err)
	}
	return &Group{suite: cs, tree: tree, ownLeaf: own, pathKeys: keys, signingKey: key,
		context: wire.GroupContext{Version: wire.ProtocolVersionMLS10, CipherSuite: wire.CipherSuite(c.CipherSuite),
			GroupID: c.GroupID, Epoch: c.Epoch, ConfirmedTranscriptHash: c.ConfirmedTranscriptHash}}
}

// TestTreeKEMVectors: every member holding private state processes every
// UpdatePath of treekem.json and must reach the given path secret, commit
// secret and tree hash; then every member creates a fresh UpdatePath and
// every other member must process it to the same commit secret and tree.
func TestTreeKEMVectors(t *testing.T) {
	var cases []treekemCase
	testvectors.Load(t, "treekem.json", &cases)
	paths := 0
	for ci := range cases {
		c := &cases[ci]
		cs, err := suite.Lookup(c.CipherSuite)
		if err != nil {
			t.Fatal(err)
		}
		for _, up := range c.UpdatePaths {
			var path wire.UpdatePath
			if err := codec.Unmarshal(up.UpdatePath, &path); err != nil {
				t.Fatal(err)
			}
			paths++
			for i := range c.LeavesPrivate {
				g := treekemMember(t, cs, c, i)
				if uint32(g.ownLeaf) == up.Sender {
					continue
				}
				tree := g.tree.Clone()
				keys, commitSecret, err := g.applyUpdatePath(tree, treemath.LeafIndex(up.Sender), &path, nil, g.context, g.pathKeys)
				if err != nil {
					t.Fatalf("case %d: leaf %d processing sender %d: %v", ci, g.ownLeaf, up.Sender, err)
				}
				if !bytes.Equal(commitSecret, up.CommitSecret) {
					t.Errorf("case %d: leaf %d: commit secret differs", ci, g.ownLeaf)
				}
				if th, _ := tree.TreeHash(); !bytes.Equal(th, up.TreeHashAfter) {
					t.Errorf("case %d: leaf %d: tree hash after differs", ci, g.ownLeaf)
				}
				// The path secret the member decrypted sits at the common
				// ancestor with the sender; its key must be among the new keys.
				if want := up.PathSecrets[g.ownLeaf]; want != nil {
					lca := treemath.CommonAncestor(g.ownLeaf.Node(), treemath.LeafIndex(up.Sender).Node())
					ns, _ := cs.DeriveSecret(want, "node")
					priv, _, _ := cs.DeriveKeyPair(ns)
					if !bytes.Equal(keys[lca], priv) {
						t.Errorf("case %d: leaf %d: path secret at node %d differs", ci, g.ownLeaf, lca)
					}
				}
			}
		}
		// Fresh paths from every member with private state.
		rng := rand.NewChaCha8([32]byte{byte(ci)})
		for s := range c.LeavesPrivate {
			sender := treekemMember(t, cs, c, s)
			tree := sender.tree.Clone()
			newKeys, secrets := map[treemath.NodeIndex][]byte{}, map[treemath.NodeIndex][]byte{}
			path, commitSecret, err := sender.generatePath(rng, tree, nil, sender.context, newKeys, secrets)
			if err != nil {
				t.Fatalf("case %d: leaf %d creating a path: %v", ci, sender.ownLeaf, err)
			}
			wantHash, _ := tree.TreeHash()
			for r := range c.LeavesPrivate {
				if r == s {
					continue
				}
				g := treekemMember(t, cs, c, r)
				rtree := g.tree.Clone()
				_, got, err := g.applyUpdatePath(rtree, sender.ownLeaf, path, nil, g.context, g.pathKeys)
				if err != nil {
					t.Fatalf("case %d: leaf %d processing fresh path of %d: %v", ci, g.ownLeaf, sender.ownLeaf, err)
				}
				if h, _ := rtree.TreeHash(); !bytes.Equal(got, commitSecret) || !bytes.Equal(h, wantHash) {
					t.Fatalf("case %d: leaf %d disagrees with sender %d", ci, g.ownLeaf, sender.ownLeaf)
				}
			}
		}
	}
	t.Logf("treekem.json: %d update paths", paths)
	testvectors.Report(t, "treekem.json", len(cases))
}
