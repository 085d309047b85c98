package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// ParentNode is an interior node of the ratchet tree (RFC 9420 §7.1).
// UnmergedLeaves holds leaf indices; their order (increasing) is a tree
// validity rule left to the caller.
type ParentNode struct {
	EncryptionKey  []byte // HPKEPublicKey
	ParentHash     []byte
	UnmergedLeaves []uint32
}

func (p *ParentNode) MarshalMLS(w *codec.Writer) {
	w.Opaque(p.EncryptionKey)
	w.Opaque(p.ParentHash)
	w.Vector(func(w *codec.Writer) {
		for _, l := range p.UnmergedLeaves {
			w.Uint32(l)
		}
	})
}

func (p *ParentNode) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("ParentNode.encryption_key", &p.EncryptionKey)
	r.Opaque("ParentNode.parent_hash", &p.ParentHash)
	p.UnmergedLeaves = nil
	r.Vector("ParentNode.unmerged_leaves", func(r *codec.Reader) {
		n := r.Remaining()
		if n == 0 {
			return
		}
		if n%4 != 0 {
			failf(r, "ParentNode.unmerged_leaves", codec.ErrTruncated, "vector of uint32 has %d bytes", n)
			return
		}
		out := make([]uint32, 0, n/4)
		for !r.Empty() {
			var l uint32
			if !r.Uint32("ParentNode.unmerged_leaves", &l) {
				return
			}
			out = append(out, l)
		}
		p.UnmergedLeaves = out
	})
}

// Node is a non-blank node of a ratchet tree (RFC 9420 §7.8, §12.4.3.3):
// LeafNode is set for NodeTypeLeaf, ParentNode for NodeTypeParent.
type Node struct {
	NodeType   NodeType
	LeafNode   *LeafNode
	ParentNode *ParentNode
}

func (n *Node) MarshalMLS(w *codec.Writer) {
	w.Uint8(uint8(n.NodeType))
	switch {
	case n.NodeType == NodeTypeLeaf && n.LeafNode != nil:
		w.Write(n.LeafNode)
	case n.NodeType == NodeTypeParent && n.ParentNode != nil:
		w.Write(n.ParentNode)
	default:
		encodeErr(w, "node type %v without its node", n.NodeType)
	}
}

func (n *Node) UnmarshalMLS(r *codec.Reader) {
	*n = Node{}
	if !readEnum8(r, "Node.node_type", &n.NodeType) {
		return
	}
	switch n.NodeType {
	case NodeTypeLeaf:
		n.LeafNode = new(LeafNode)
		r.Read(n.LeafNode)
	case NodeTypeParent:
		n.ParentNode = new(ParentNode)
		r.Read(n.ParentNode)
	}
}

// RatchetTree is the content of a ratchet_tree extension,
// "optional<Node> ratchet_tree<V>" (RFC 9420 §12.4.3.3): the nodes in
// array order (leaf L at index 2L), nil for a blank node. The last node
// must not be blank; the receiver pads the array with blanks to 2^(d+1)-1
// nodes (see treemath).
type RatchetTree []*Node

func (t *RatchetTree) MarshalMLS(w *codec.Writer) {
	if len(*t) == 0 || (*t)[len(*t)-1] == nil {
		encodeErr(w, "ratchet tree empty or ending in a blank node")
		return
	}
	w.Vector(func(w *codec.Writer) {
		for _, n := range *t {
			w.Optional(n != nil, func(w *codec.Writer) { w.Write(n) })
		}
	})
}

func (t *RatchetTree) UnmarshalMLS(r *codec.Reader) {
	*t = nil
	r.Each("ratchet_tree", func(r *codec.Reader) {
		var n *Node
		r.Optional("ratchet_tree[]", func(r *codec.Reader) {
			n = new(Node)
			r.Read(n)
		})
		*t = append(*t, n)
	})
	if r.OK() && (len(*t) == 0 || (*t)[len(*t)-1] == nil) {
		failf(r, "ratchet_tree", ErrBlankLastNode, "%d nodes", len(*t))
	}
}

// HPKECiphertext is the output of EncryptWithLabel (RFC 9420 §7.6).
type HPKECiphertext struct {
	KEMOutput  []byte
	Ciphertext []byte
}

func (c *HPKECiphertext) MarshalMLS(w *codec.Writer) {
	w.Opaque(c.KEMOutput)
	w.Opaque(c.Ciphertext)
}

func (c *HPKECiphertext) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("HPKECiphertext.kem_output", &c.KEMOutput)
	r.Opaque("HPKECiphertext.ciphertext", &c.Ciphertext)
}

// UpdatePathNode is one node of an UpdatePath: the new public key and the
// path secret encrypted to each node of the copath child's resolution
// (RFC 9420 §7.6).
type UpdatePathNode struct {
	EncryptionKey       []byte // HPKEPublicKey
	EncryptedPathSecret []HPKECiphertext
}

func (n *UpdatePathNode) MarshalMLS(w *codec.Writer) {
	w.Opaque(n.EncryptionKey)
	w.Vector(func(w *codec.Writer) {
		for i := range n.EncryptedPathSecret {
			w.Write(&n.EncryptedPathSecret[i])
		}
	})
}

func (n *UpdatePathNode) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("UpdatePathNode.encryption_key", &n.EncryptionKey)
	n.EncryptedPathSecret = nil
	r.Each("UpdatePathNode.encrypted_path_secret", func(r *codec.Reader) {
		var c HPKECiphertext
		if r.Read(&c) {
			n.EncryptedPathSecret = append(n.EncryptedPathSecret, c)
		}
	})
}

// UpdatePath is the committer's new leaf and the new keys of its filtered
// direct path (RFC 9420 §7.6).
type UpdatePath struct {
	LeafNode LeafNode
	Nodes    []UpdatePathNode
}

func (p *UpdatePath) MarshalMLS(w *codec.Writer) {
	w.Write(&p.LeafNode)
	w.Vector(func(w *codec.Writer) {
		for i := range p.Nodes {
			w.Write(&p.Nodes[i])
		}
	})
}

func (p *UpdatePath) UnmarshalMLS(r *codec.Reader) {
	r.Read(&p.LeafNode)
	p.Nodes = nil
	r.Each("UpdatePath.nodes", func(r *codec.Reader) {
		var n UpdatePathNode
		if r.Read(&n) {
			p.Nodes = append(p.Nodes, n)
		}
	})
}
