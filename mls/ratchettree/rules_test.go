package ratchettree

import (
	"bytes"
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/mls/wire"
)

func TestLeafRules(t *testing.T) {
	s := mustSuite(t)
	k := newKeys(6)
	build := func(edit func(ln *wire.LeafNode)) *Tree {
		tr := New(s)
		for i := 0; i < 3; i++ {
			ln := fakeLeaf(k, wire.LeafNodeSourceKeyPackage)
			if i == 1 && edit != nil {
				edit(ln)
			}
			if _, err := tr.AddLeaf(ln); err != nil {
				t.Fatal(err)
			}
		}
		return tr
	}
	if err := build(nil).verifyLeafRules(ValidateOptions{Now: 5, MaxLifetime: 1 << 62}); err != nil {
		t.Fatalf("good leaves: %v", err)
	}
	bad := map[string]struct {
		edit func(*wire.LeafNode)
		opts ValidateOptions
	}{
		"not yet valid": {func(ln *wire.LeafNode) { ln.Lifetime = &wire.Lifetime{NotBefore: 10, NotAfter: 20} }, ValidateOptions{Now: 5}},
		"too long":      {nil, ValidateOptions{MaxLifetime: 100}},
		"unlisted extension": {func(ln *wire.LeafNode) {
			ln.Extensions = wire.Extensions{{ExtensionType: 0x0a0a, ExtensionData: []byte{}}}
		}, ValidateOptions{}},
		"credential type not supported by all": {func(ln *wire.LeafNode) {
			ln.Capabilities.Credentials = append(ln.Capabilities.Credentials, wire.CredentialTypeX509)
			ln.Credential = wire.Credential{CredentialType: wire.CredentialTypeX509, Certificates: []wire.Certificate{{CertData: []byte{1}}}}
		}, ValidateOptions{}},
		"own credential type not listed": {func(ln *wire.LeafNode) { ln.Capabilities.Credentials = nil }, ValidateOptions{}},
		"required extension":             {nil, ValidateOptions{RequiredCapabilities: &wire.RequiredCapabilities{ExtensionTypes: []wire.ExtensionType{0x0b0b}}}},
		"required proposal":              {nil, ValidateOptions{RequiredCapabilities: &wire.RequiredCapabilities{ProposalTypes: []wire.ProposalType{0x0c0c}}}},
		"required credential": {nil, ValidateOptions{RequiredCapabilities: &wire.RequiredCapabilities{
			CredentialTypes: []wire.CredentialType{wire.CredentialTypeX509}}}},
	}
	for name, c := range bad {
		if err := build(c.edit).verifyLeafRules(c.opts); !errors.Is(err, ErrInvalidLeafNode) {
			t.Errorf("%s: got %v, want ErrInvalidLeafNode", name, err)
		}
	}
	// Default types are never required to be listed.
	ok := ValidateOptions{RequiredCapabilities: &wire.RequiredCapabilities{
		ExtensionTypes: []wire.ExtensionType{wire.ExtensionType(2)},
		ProposalTypes:  []wire.ProposalType{wire.ProposalType(3)},
	}}
	if err := build(func(ln *wire.LeafNode) {
		ln.Extensions = wire.Extensions{{ExtensionType: 1, ExtensionData: []byte("app")}}
	}).verifyLeafRules(ok); err != nil {
		t.Errorf("default types: %v", err)
	}
}

func TestPrimitives(t *testing.T) {
	s := mustSuite(t)
	k := newKeys(7)
	tr := New(s)
	for i := 0; i < 4; i++ {
		tr.AddLeaf(fakeLeaf(k, wire.LeafNodeSourceKeyPackage))
	}
	if err := tr.SetParent(2, &wire.ParentNode{}); !errors.Is(err, ErrNodeIndex) {
		t.Errorf("SetParent at a leaf: %v", err)
	}
	if err := tr.SetParent(99, &wire.ParentNode{}); !errors.Is(err, ErrNodeIndex) {
		t.Errorf("SetParent outside: %v", err)
	}
	if err := tr.SetParent(1, &wire.ParentNode{EncryptionKey: k.key(), UnmergedLeaves: []uint32{9}}); !errors.Is(err, ErrInvalidUnmergedLeaves) {
		t.Errorf("SetParent with a bad unmerged leaf: %v", err)
	}
	if err := tr.SetLeaf(9, fakeLeaf(k, wire.LeafNodeSourceUpdate)); !errors.Is(err, ErrLeafIndex) {
		t.Errorf("SetLeaf outside: %v", err)
	}
	if err := tr.SetLeaf(1, &wire.LeafNode{LeafNodeSource: wire.LeafNodeSourceKeyPackage}); !errors.Is(err, ErrEncode) {
		t.Errorf("SetLeaf with an unencodable leaf: %v", err)
	}
	if err := tr.UpdateLeaf(1, nil); !errors.Is(err, ErrInvalidLeafNode) {
		t.Errorf("UpdateLeaf nil: %v", err)
	}
	if _, err := tr.AddLeaf(nil); !errors.Is(err, ErrInvalidLeafNode) {
		t.Errorf("AddLeaf nil: %v", err)
	}
	want := tr.Leaf(2)
	if l, ok := tr.FindLeaf(func(_ LeafIndex, ln *wire.LeafNode) bool {
		return bytes.Equal(ln.SignatureKey, want.SignatureKey)
	}); !ok || l != 2 {
		t.Errorf("FindLeaf: %d %v", l, ok)
	}
	if !bytes.Equal(tr.EncryptionKey(4), want.EncryptionKey) || tr.EncryptionKey(3) != nil {
		t.Error("EncryptionKey")
	}
	// SetLeaf(nil) blanks a leaf without touching the path.
	commit(t, tr, 0, k)
	if err := tr.SetLeaf(3, nil); err != nil || tr.Leaf(3) != nil || tr.IsBlank(3) {
		t.Errorf("SetLeaf nil: %v", err)
	}
	if tr.MemberCount() != 3 {
		t.Errorf("member count %d", tr.MemberCount())
	}
}
