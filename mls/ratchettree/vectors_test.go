package ratchettree

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

type treeValidationCase struct {
	CipherSuite uint16            `json:"cipher_suite"`
	Tree        testvectors.Hex   `json:"tree"`
	GroupID     testvectors.Hex   `json:"group_id"`
	Resolutions [][]uint32        `json:"resolutions"`
	TreeHashes  []testvectors.Hex `json:"tree_hashes"`
}

func decodeTree(t *testing.T, s *suite.Suite, data []byte) *Tree {
	t.Helper()
	var rt wire.RatchetTree
	if err := codec.Unmarshal(data, &rt); err != nil {
		t.Fatalf("decoding ratchet tree: %v", err)
	}
	tr, err := FromWire(s, rt)
	if err != nil {
		t.Fatalf("FromWire: %v", err)
	}
	return tr
}

func TestTreeValidationVectors(t *testing.T) {
	var cases []treeValidationCase
	testvectors.Load(t, "tree-validation.json", &cases)
	ran, pathChecks := 0, 0
	for i, tc := range cases {
		s, err := suite.Lookup(suite.ID(tc.CipherSuite))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		tr := decodeTree(t, s, tc.Tree)
		if int(tr.Width()) != len(tc.TreeHashes) || len(tc.Resolutions) != len(tc.TreeHashes) {
			t.Fatalf("case %d: width %d, %d tree hashes, %d resolutions", i, tr.Width(), len(tc.TreeHashes), len(tc.Resolutions))
		}
		for x := range tc.Resolutions {
			got := tr.Resolution(NodeIndex(x))
			want := tc.Resolutions[x]
			if len(got) != len(want) {
				t.Fatalf("case %d node %d: resolution %v, want %v", i, x, got, want)
			}
			for j := range got {
				if uint32(got[j]) != want[j] {
					t.Fatalf("case %d node %d: resolution %v, want %v", i, x, got, want)
				}
			}
		}
		for x, want := range tc.TreeHashes {
			got, err := tr.NodeHash(NodeIndex(x))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("case %d node %d: tree hash %x (%v), want %x", i, x, got, err, want)
			}
		}
		if err := tr.VerifyParentHashes(); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if err := tr.VerifyLeafSignatures(tc.GroupID, nil); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		root, _ := tr.Root()
		if err := tr.Validate(tc.GroupID, ValidateOptions{TreeHash: tc.TreeHashes[root]}); err != nil {
			t.Fatalf("case %d: Validate: %v", i, err)
		}
		// SetPathParentHashes recomputes, for the last committer, exactly
		// the parent hashes already in the tree.
		for _, l := range tr.Members() {
			ln := tr.Leaf(l)
			if ln.LeafNodeSource != wire.LeafNodeSourceCommit {
				continue
			}
			c := tr.Clone()
			ph, err := c.SetPathParentHashes(l)
			if err != nil || !bytes.Equal(ph, ln.ParentHash) {
				continue // an earlier committer whose path was overwritten
			}
			h1, _ := tr.TreeHash()
			h2, _ := c.TreeHash()
			if !bytes.Equal(h1, h2) {
				t.Fatalf("case %d: SetPathParentHashes(%d) changed a valid path", i, l)
			}
			pathChecks++
		}
		// Round trip through the wire form.
		enc, err := codec.Marshal(ptr(tr.ToWire()))
		if err != nil || !bytes.Equal(enc, tc.Tree) {
			t.Fatalf("case %d: ToWire does not re-encode to the input (%v)", i, err)
		}
		ran++
	}
	if pathChecks == 0 {
		t.Fatal("no committer path reproduced by SetPathParentHashes")
	}
	t.Logf("SetPathParentHashes reproduced %d committer paths", pathChecks)
	testvectors.Report(t, "tree-validation.json", ran)
}

func ptr(rt wire.RatchetTree) *wire.RatchetTree { return &rt }

type treeOperationsCase struct {
	CipherSuite    uint16          `json:"cipher_suite"`
	TreeBefore     testvectors.Hex `json:"tree_before"`
	Proposal       testvectors.Hex `json:"proposal"`
	ProposalSender uint32          `json:"proposal_sender"`
	TreeHashBefore testvectors.Hex `json:"tree_hash_before"`
	TreeAfter      testvectors.Hex `json:"tree_after"`
	TreeHashAfter  testvectors.Hex `json:"tree_hash_after"`
}

func TestTreeOperationsVectors(t *testing.T) {
	var cases []treeOperationsCase
	testvectors.Load(t, "tree-operations.json", &cases)
	ran := 0
	for i, tc := range cases {
		s, err := suite.Lookup(suite.ID(tc.CipherSuite))
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		tr := decodeTree(t, s, tc.TreeBefore)
		th, err := tr.TreeHash()
		if err != nil || !bytes.Equal(th, tc.TreeHashBefore) {
			t.Fatalf("case %d: tree hash before %x (%v), want %x", i, th, err, tc.TreeHashBefore)
		}
		before := tr.Clone()
		var p wire.Proposal
		if err := codec.Unmarshal(tc.Proposal, &p); err != nil {
			t.Fatalf("case %d: decoding proposal: %v", i, err)
		}
		switch p.Type {
		case wire.ProposalTypeAdd:
			_, err = tr.AddLeaf(&p.Add.KeyPackage.LeafNode)
		case wire.ProposalTypeUpdate:
			err = tr.UpdateLeaf(LeafIndex(tc.ProposalSender), &p.Update.LeafNode)
		case wire.ProposalTypeRemove:
			err = tr.RemoveLeaf(LeafIndex(p.Remove.Removed))
		default:
			t.Fatalf("case %d: unexpected proposal type %v", i, p.Type)
		}
		if err != nil {
			t.Fatalf("case %d: applying %v: %v", i, p.Type, err)
		}
		enc, err := codec.Marshal(ptr(tr.ToWire()))
		if err != nil || !bytes.Equal(enc, tc.TreeAfter) {
			t.Fatalf("case %d (%v): tree after\n got %x (%v)\nwant %x", i, p.Type, enc, err, tc.TreeAfter)
		}
		th, err = tr.TreeHash()
		if err != nil || !bytes.Equal(th, tc.TreeHashAfter) {
			t.Fatalf("case %d: tree hash after %x (%v), want %x", i, th, err, tc.TreeHashAfter)
		}
		// A tree decoded from tree_after has the same hash (cache check).
		if th2, _ := decodeTree(t, s, tc.TreeAfter).TreeHash(); !bytes.Equal(th2, th) {
			t.Fatalf("case %d: incremental hash differs from fresh hash", i)
		}
		// The clone taken before the change is unaffected.
		if th0, _ := before.TreeHash(); !bytes.Equal(th0, tc.TreeHashBefore) {
			t.Fatalf("case %d: clone changed by a mutation of the original", i)
		}
		ran++
	}
	testvectors.Report(t, "tree-operations.json", ran)
}
