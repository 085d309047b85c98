package mls

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// fullGroup is a synthesised group in the steady state: every parent
// node set, every leaf signed, parent hashes valid, as in a group where
// every member has committed since joining.
type fullGroup struct {
	cs          *suite.Suite
	tree        *ratchettree.Tree
	leafPriv    [][]byte
	signing     []*suite.SigningKey
	parentPriv  map[treemath.NodeIndex][]byte
	epochSecret []byte
	context     wire.GroupContext
}

// synthesizeFullGroup builds a valid full tree of n members in O(n log n) hashing and O(n) key generation, instead of running n
// commits: each node gets one key pair for good, and a commit by every
// leaf in order is simulated by recomputing only the parent hashes along
// its path and re-signing its leaf. A later committer only touches nodes
// above earlier subtrees, so every parent stays covered by exactly one
// valid parent-hash chain (§7.9.2).
func synthesizeFullGroup(tb testing.TB, n int) *fullGroup {
	tb.Helper()
	cs, _ := suite.Lookup(1)
	rng := rand.NewChaCha8([32]byte{'s', 'y', byte(n), byte(n >> 8), byte(n >> 16)})
	f := &fullGroup{cs: cs, parentPriv: map[treemath.NodeIndex][]byte{}}
	groupID := []byte("synthetic group")
	leaves := make([]*wire.LeafNode, n)
	for i := range n {
		sigPriv, sigPub, err := cs.GenerateSignatureKey(rng)
		if err != nil {
			tb.Fatal(err)
		}
		key, _ := cs.NewSigningKey(sigPriv)
		encPriv, encPub, err := cs.GenerateKeyPair(rng)
		if err != nil {
			tb.Fatal(err)
		}
		f.signing = append(f.signing, key)
		f.leafPriv = append(f.leafPriv, encPriv)
		leaves[i] = &wire.LeafNode{
			EncryptionKey: encPub, SignatureKey: sigPub,
			Credential: wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte{byte(i), byte(i >> 8), byte(i >> 16)}},
			Capabilities: wire.Capabilities{Versions: []wire.ProtocolVersion{wire.ProtocolVersionMLS10},
				CipherSuites: []wire.CipherSuite{1}, Credentials: []wire.CredentialType{wire.CredentialTypeBasic}},
			LeafNodeSource: wire.LeafNodeSourceCommit,
		}
	}
	rt := make(wire.RatchetTree, 2*n-1)
	for i, ln := range leaves {
		rt[2*i] = &wire.Node{NodeType: wire.NodeTypeLeaf, LeafNode: ln}
	}
	for x := 1; x < 2*n-1; x += 2 {
		// A parent whose right subtree holds no member would be in no
		// member's filtered direct path: it stays blank, as in a real group.
		r, _ := treemath.Right(treemath.NodeIndex(x))
		if (int(r)-(1<<treemath.Level(r)-1))/2 >= n {
			continue
		}
		priv, pub, err := cs.GenerateKeyPair(rng)
		if err != nil {
			tb.Fatal(err)
		}
		f.parentPriv[treemath.NodeIndex(x)] = priv
		rt[x] = &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: &wire.ParentNode{EncryptionKey: pub}}
	}
	tree, err := ratchettree.FromWire(cs, rt)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		leaf := treemath.LeafIndex(i)
		ph, err := tree.SetPathParentHashes(leaf)
		if err != nil {
			tb.Fatal(err)
		}
		ln := *tree.Leaf(leaf)
		ln.ParentHash = ph
		tbs, err := ln.TBS(groupID, uint32(i))
		if err != nil {
			tb.Fatal(err)
		}
		if ln.Signature, err = f.signing[i].SignWithLabel("LeafNodeTBS", tbs); err != nil {
			tb.Fatal(err)
		}
		if err := tree.SetLeaf(leaf, &ln); err != nil {
			tb.Fatal(err)
		}
	}
	f.tree = tree
	th, err := tree.TreeHash()
	if err != nil {
		tb.Fatal(err)
	}
	f.epochSecret = make([]byte, cs.HashSize())
	rng.Read(f.epochSecret)
	f.context = wire.GroupContext{Version: wire.ProtocolVersionMLS10, CipherSuite: 1, GroupID: groupID, Epoch: 7,
		TreeHash: th, ConfirmedTranscriptHash: bytes.Repeat([]byte{3}, cs.HashSize())}
	return f
}

// member returns leaf i's state of the synthesised group: its leaf key
// and the private keys of every parent on its direct path.
func (f *fullGroup) member(tb testing.TB, i int) *Group {
	tb.Helper()
	epoch, err := keyschedule.FromEpochSecret(f.cs, f.epochSecret)
	if err != nil {
		tb.Fatal(err)
	}
	own := treemath.LeafIndex(i)
	keys := map[treemath.NodeIndex][]byte{own.Node(): f.leafPriv[i]}
	for _, x := range treemath.DirectPath(own.Node(), f.tree.LeafCount()) {
		if priv, ok := f.parentPriv[x]; ok {
			keys[x] = priv
		}
	}
	g := &Group{suite: f.cs, context: f.context, tree: f.tree.Clone(), ownLeaf: own, pathKeys: keys, epoch: epoch,
		interimTranscriptHash: bytes.Repeat([]byte{4}, f.cs.HashSize()), signingKey: f.signing[i],
		pastEpochs: DefaultPastEpochs}
	if err := g.startFraming(secrettree.Window{}); err != nil {
		tb.Fatal(err)
	}
	return g
}

// TestSynthesizedTreeIsValid: the synthesised tree passes the full
// join-time validation, and its members agree on commits.
func TestSynthesizedTreeIsValid(t *testing.T) {
	for _, n := range []int{10, 64, 100} {
		checkSynthesized(t, n)
	}
}

func checkSynthesized(t *testing.T, n int) {
	f := synthesizeFullGroup(t, n)
	if err := f.tree.Validate(f.context.GroupID, ratchettree.ValidateOptions{TreeHash: f.context.TreeHash}); err != nil {
		t.Fatalf("synthesised tree invalid: %v", err)
	}
	a, b, c := f.member(t, 1), f.member(t, n/2), f.member(t, n-1)
	rng := rand.NewChaCha8([32]byte{9})
	res, err := a.Commit(rng, CommitOptions{ForcePath: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []*Group{b, c} {
		p, err := m.ProcessHandshake(res.Commit)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Commit.EpochAuthenticator(), res.Staged.EpochAuthenticator()) {
			t.Fatal("members disagree on the next epoch")
		}
	}
	// In a full tree a path is encrypted to one node per level.
	if got := len(res.Commit.PrivateMessage.Ciphertext); got > 8*200 {
		t.Fatalf("commit of %d bytes in a full tree of %d", got, n)
	}
}
