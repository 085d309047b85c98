package ratchettree

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// richCase returns a tree-validation case whose tree has at least two
// non-blank parent nodes and three members, for tampering.
func richCase(t *testing.T) (treeValidationCase, *suite.Suite) {
	var cases []treeValidationCase
	testvectors.Load(t, "tree-validation.json", &cases)
	for _, tc := range cases {
		s, err := suite.Lookup(suite.ID(tc.CipherSuite))
		if err != nil {
			continue
		}
		tr := decodeTree(t, s, tc.Tree)
		parents := 0
		tr.eachNonBlankParent(func(NodeIndex, *wire.ParentNode) bool { parents++; return true })
		if parents >= 2 && tr.MemberCount() >= 3 {
			return tc, s
		}
	}
	t.Fatal("no suitable tree-validation case")
	return treeValidationCase{}, nil
}

// freshWire decodes the case's tree again, so that tampering cannot leak
// between tests.
func freshWire(t *testing.T, tc treeValidationCase) wire.RatchetTree {
	var rt wire.RatchetTree
	if err := codec.Unmarshal(tc.Tree, &rt); err != nil {
		t.Fatal(err)
	}
	return rt
}

func firstParent(rt wire.RatchetTree) int {
	for i, nd := range rt {
		if nd != nil && nd.ParentNode != nil {
			return i
		}
	}
	return -1
}

func validateWire(t *testing.T, s *suite.Suite, tc treeValidationCase, rt wire.RatchetTree) error {
	tr, err := FromWire(s, rt)
	if err != nil {
		return err
	}
	return tr.Validate(tc.GroupID, ValidateOptions{})
}

func TestNegative(t *testing.T) {
	tc, s := richCase(t)
	if err := validateWire(t, s, tc, freshWire(t, tc)); err != nil {
		t.Fatalf("untampered tree: %v", err)
	}

	t.Run("tampered parent hash", func(t *testing.T) {
		rt := freshWire(t, tc)
		p := rt[firstParent(rt)].ParentNode
		p.ParentHash = append([]byte(nil), p.ParentHash...)
		if len(p.ParentHash) == 0 {
			p.ParentHash = []byte{1}
		} else {
			p.ParentHash[0] ^= 1
		}
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrInvalidParentHash) {
			t.Fatalf("got %v, want ErrInvalidParentHash", err)
		}
	})
	t.Run("tampered parent key", func(t *testing.T) {
		rt := freshWire(t, tc)
		p := rt[firstParent(rt)].ParentNode
		p.EncryptionKey = append([]byte(nil), p.EncryptionKey...)
		p.EncryptionKey[len(p.EncryptionKey)-1] ^= 1
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrInvalidParentHash) {
			t.Fatalf("got %v, want ErrInvalidParentHash", err)
		}
	})
	t.Run("bad leaf signature", func(t *testing.T) {
		rt := freshWire(t, tc)
		ln := rt[0].LeafNode
		ln.Signature = append([]byte(nil), ln.Signature...)
		ln.Signature[len(ln.Signature)/2] ^= 0x40
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("got %v, want ErrInvalidSignature", err)
		}
	})
	t.Run("wrong group id", func(t *testing.T) {
		tr := decodeTree(t, s, tc.Tree)
		err := tr.VerifyLeafSignatures([]byte("another group"), nil)
		// Trees whose leaves all come from KeyPackages do not sign the
		// group ID; the rich case has commit leaves.
		if !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("got %v, want ErrInvalidSignature", err)
		}
	})
	t.Run("duplicate encryption key", func(t *testing.T) {
		rt := freshWire(t, tc)
		var leaves []*wire.LeafNode
		for _, nd := range rt {
			if nd != nil && nd.LeafNode != nil {
				leaves = append(leaves, nd.LeafNode)
			}
		}
		leaves[1].EncryptionKey = leaves[0].EncryptionKey
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("got %v, want ErrDuplicateKey", err)
		}
	})
	t.Run("parent key equal to a leaf key", func(t *testing.T) {
		rt := freshWire(t, tc)
		rt[firstParent(rt)].ParentNode.EncryptionKey = rt[0].LeafNode.EncryptionKey
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("got %v, want ErrDuplicateKey", err)
		}
	})
	t.Run("duplicate signature key", func(t *testing.T) {
		rt := freshWire(t, tc)
		var leaves []*wire.LeafNode
		for _, nd := range rt {
			if nd != nil && nd.LeafNode != nil {
				leaves = append(leaves, nd.LeafNode)
			}
		}
		leaves[2].SignatureKey = leaves[1].SignatureKey
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrDuplicateKey) {
			t.Fatalf("got %v, want ErrDuplicateKey", err)
		}
	})
	t.Run("unmerged leaf not below its parent", func(t *testing.T) {
		rt := freshWire(t, tc)
		tr, err := FromWire(s, rt)
		if err != nil {
			t.Fatal(err)
		}
		// Pick a non-blank parent that does not cover every leaf and list
		// a member outside it.
		var target NodeIndex
		var outside LeafIndex
		found := false
		tr.eachNonBlankParent(func(p NodeIndex, _ *wire.ParentNode) bool {
			for _, m := range tr.Members() {
				if !isBelow(p, m) {
					target, outside, found = p, m, true
					return false
				}
			}
			return true
		})
		if !found {
			t.Skip("every parent covers every member")
		}
		p := rt[target].ParentNode
		p.UnmergedLeaves = append(append([]uint32(nil), p.UnmergedLeaves...), uint32(outside))
		if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrInvalidUnmergedLeaves) {
			t.Fatalf("got %v, want ErrInvalidUnmergedLeaves", err)
		}
	})
	t.Run("unmerged leaf blank or out of range", func(t *testing.T) {
		rt := freshWire(t, tc)
		tr := decodeTree(t, s, tc.Tree)
		root, _ := tr.Root()
		if rt[root] == nil {
			t.Skip("blank root")
		}
		p := rt[root].ParentNode
		p.UnmergedLeaves = append(append([]uint32(nil), p.UnmergedLeaves...), tr.LeafCount())
		if _, err := FromWire(s, rt); !errors.Is(err, ErrInvalidUnmergedLeaves) {
			t.Fatalf("out of range: got %v, want ErrInvalidUnmergedLeaves", err)
		}
		// A blank leaf inside the tree, if any.
		for l := LeafIndex(0); uint32(l) < tr.LeafCount(); l++ {
			if tr.Leaf(l) == nil {
				p.UnmergedLeaves[len(p.UnmergedLeaves)-1] = uint32(l)
				if err := validateWire(t, s, tc, rt); !errors.Is(err, ErrInvalidUnmergedLeaves) {
					t.Fatalf("blank: got %v, want ErrInvalidUnmergedLeaves", err)
				}
				return
			}
		}
	})
	t.Run("tree hash mismatch", func(t *testing.T) {
		tr := decodeTree(t, s, tc.Tree)
		err := tr.Validate(tc.GroupID, ValidateOptions{TreeHash: make([]byte, 32)})
		if !errors.Is(err, ErrTreeHashMismatch) {
			t.Fatalf("got %v, want ErrTreeHashMismatch", err)
		}
	})
	t.Run("credential rejected", func(t *testing.T) {
		tr := decodeTree(t, s, tc.Tree)
		err := tr.Validate(tc.GroupID, ValidateOptions{Credentials: rejectAll{}})
		if !errors.Is(err, ErrInvalidCredential) {
			t.Fatalf("got %v, want ErrInvalidCredential", err)
		}
		if err := tr.Validate(tc.GroupID, ValidateOptions{Credentials: acceptAll{}}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("expired lifetime", func(t *testing.T) {
		rt := freshWire(t, tc)
		tr, _ := FromWire(s, rt)
		var kp *wire.LeafNode
		for _, m := range tr.Members() {
			if ln := tr.Leaf(m); ln.LeafNodeSource == wire.LeafNodeSourceKeyPackage {
				kp = ln
			}
		}
		if kp == nil {
			t.Skip("no key_package leaf")
		}
		err := tr.Validate(tc.GroupID, ValidateOptions{Now: kp.Lifetime.NotAfter + 1})
		if !errors.Is(err, ErrInvalidLeafNode) {
			t.Fatalf("got %v, want ErrInvalidLeafNode", err)
		}
	})
}

func isBelow(p NodeIndex, l LeafIndex) bool {
	lvl := uint(0)
	for x := uint32(p); x&1 == 1; x >>= 1 {
		lvl++
	}
	lo, hi := uint32(p)-(1<<lvl-1), uint32(p)+(1<<lvl-1)
	return uint32(l.Node()) >= lo && uint32(l.Node()) <= hi
}

type rejectAll struct{}

func (rejectAll) Validate(*wire.Credential, []byte) error { return errors.New("no") }

type acceptAll struct{}

func (acceptAll) Validate(*wire.Credential, []byte) error { return nil }

func TestMalformed(t *testing.T) {
	s := mustSuite(t)
	k := newKeys(3)
	leaf := &wire.Node{NodeType: wire.NodeTypeLeaf, LeafNode: fakeLeaf(k, wire.LeafNodeSourceUpdate)}
	parent := &wire.Node{NodeType: wire.NodeTypeParent, ParentNode: &wire.ParentNode{EncryptionKey: k.key()}}
	bad := []wire.RatchetTree{
		nil,
		{leaf, nil},
		{parent},
		{leaf, leaf, leaf},
		{leaf, parent, parent},
		{leaf, {NodeType: wire.NodeTypeParent}, leaf},
		{{NodeType: wire.NodeTypeLeaf}},
	}
	for i, rt := range bad {
		if _, err := FromWire(s, rt); !errors.Is(err, ErrMalformedTree) {
			t.Errorf("case %d: got %v, want ErrMalformedTree", i, err)
		}
	}
	// A tree with no member.
	tr, err := FromWire(s, wire.RatchetTree{nil, parent})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Validate(nil, ValidateOptions{}); !errors.Is(err, ErrMalformedTree) {
		t.Errorf("memberless tree: got %v", err)
	}
	// Out-of-range accessors never panic.
	tr = New(s)
	if tr.Leaf(5) != nil || tr.Node(9) != nil || tr.Resolution(3) != nil || !tr.IsBlank(0) {
		t.Error("empty tree accessors")
	}
	if _, err := tr.TreeHash(); err == nil {
		t.Error("empty tree has a tree hash")
	}
	if _, err := tr.FilteredDirectPath(0); !errors.Is(err, ErrLeafIndex) {
		t.Error("FilteredDirectPath on empty tree")
	}
	if _, err := tr.ParentHash(1, 0); !errors.Is(err, ErrNodeIndex) {
		t.Error("ParentHash on empty tree")
	}
}
