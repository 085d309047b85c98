package ratchettree

import (
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// FuzzTree feeds arbitrary ratchet_tree encodings through every read path
// and a few mutations: none may panic.
func FuzzTree(f *testing.F) {
	var cases []treeValidationCase
	testvectors.Load(f, "tree-validation.json", &cases)
	for i, tc := range cases {
		if i%8 == 0 {
			f.Add(uint8(tc.CipherSuite), []byte(tc.Tree))
		}
	}
	f.Fuzz(func(t *testing.T, cs uint8, data []byte) {
		s, err := suite.Lookup(suite.ID(cs%7 + 1))
		if err != nil {
			t.Skip()
		}
		var rt wire.RatchetTree
		if codec.Unmarshal(data, &rt) != nil {
			return
		}
		tr, err := FromWire(s, rt)
		if err != nil {
			return
		}
		_ = tr.Validate([]byte("g"), ValidateOptions{TreeHash: []byte{1}, Now: 1})
		_ = tr.VerifyParentHashes()
		_ = tr.VerifyUnmergedLeaves()
		for x := uint32(0); x < tr.Width(); x++ {
			tr.Resolution(NodeIndex(x))
			if !NodeIndex(x).IsLeaf() {
				l, _ := leafRange(NodeIndex(x))
				tr.ParentHash(NodeIndex(x), l.Node())
			}
		}
		for _, m := range tr.Members() {
			tr.FilteredDirectPath(m)
			tr.SetPathParentHashes(m)
		}
		tr.TreeHash()
		c := tr.Clone()
		if ms := c.Members(); len(ms) > 0 {
			c.RemoveLeaf(ms[0])
			c.UpdateLeaf(ms[len(ms)-1], tr.Leaf(ms[len(ms)-1]))
		}
		if ln := tr.Leaf(0); ln != nil {
			c.AddLeaf(ln)
		}
		c.TreeHash()
		c.ToWire()
	})
}
