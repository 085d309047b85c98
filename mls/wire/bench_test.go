package wire

import (
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// largest returns the longest value of field over the messages.json cases.
func largest(b *testing.B, field func(c *messagesCase) []byte) []byte {
	var best []byte
	for _, c := range loadMessages(b) {
		if v := field(&c); len(v) > len(best) {
			best = v
		}
	}
	return best
}

func benchDecode(b *testing.B, data []byte, fresh func() codec.Unmarshaler) {
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := codec.Unmarshal(data, fresh()); err != nil {
			b.Fatal(err)
		}
	}
}

func benchEncode(b *testing.B, data []byte, v codec.Unmarshaler) {
	if err := codec.Unmarshal(data, v); err != nil {
		b.Fatal(err)
	}
	m := v.(codec.Marshaler)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := codec.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func newMessage() codec.Unmarshaler { return new(MLSMessage) }

func BenchmarkPrivateMessage(b *testing.B) {
	data := largest(b, func(c *messagesCase) []byte { return c.PrivateMessage })
	b.Run(fmt.Sprintf("decode/%dB", len(data)), func(b *testing.B) { benchDecode(b, data, newMessage) })
	b.Run(fmt.Sprintf("encode/%dB", len(data)), func(b *testing.B) { benchEncode(b, data, newMessage()) })
}

func BenchmarkPublicMessageCommit(b *testing.B) {
	data := largest(b, func(c *messagesCase) []byte { return c.PublicMessageCommit })
	b.Run(fmt.Sprintf("decode/%dB", len(data)), func(b *testing.B) { benchDecode(b, data, newMessage) })
	b.Run(fmt.Sprintf("encode/%dB", len(data)), func(b *testing.B) { benchEncode(b, data, newMessage()) })
}

func BenchmarkKeyPackage(b *testing.B) {
	data := largest(b, func(c *messagesCase) []byte { return c.MLSKeyPackage })
	b.Run(fmt.Sprintf("decode/%dB", len(data)), func(b *testing.B) { benchDecode(b, data, newMessage) })
	b.Run(fmt.Sprintf("encode/%dB", len(data)), func(b *testing.B) { benchEncode(b, data, newMessage()) })
	b.Run("TBS", func(b *testing.B) {
		var m MLSMessage
		if err := codec.Unmarshal(data, &m); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.KeyPackage.TBS(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkWelcome uses the largest Welcome of messages.json and of
// passive-client-welcome.json, whose Welcomes carry whole groups.
func BenchmarkWelcome(b *testing.B) {
	small := largest(b, func(c *messagesCase) []byte { return c.MLSWelcome })
	var passive []passiveCase
	testvectors.Load(b, "passive-client-welcome.json", &passive)
	var big []byte
	for _, c := range passive {
		if len(c.Welcome) > len(big) {
			big = c.Welcome
		}
	}
	for _, data := range [][]byte{small, big} {
		b.Run(fmt.Sprintf("decode/%dB", len(data)), func(b *testing.B) { benchDecode(b, data, newMessage) })
		b.Run(fmt.Sprintf("encode/%dB", len(data)), func(b *testing.B) { benchEncode(b, data, newMessage()) })
	}
}

// syntheticTree builds a full ratchet tree of n leaves (n a power of two)
// with every node set.
func syntheticTree(n int) RatchetTree {
	tree := make(RatchetTree, 2*n-1)
	for i := range tree {
		if i%2 == 0 {
			ln := sampleLeafNode(LeafNodeSourceCommit)
			ln.EncryptionKey = make([]byte, 32)
			ln.SignatureKey = make([]byte, 32)
			ln.Signature = make([]byte, 64)
			ln.ParentHash = make([]byte, 32)
			tree[i] = &Node{NodeType: NodeTypeLeaf, LeafNode: &ln}
		} else {
			tree[i] = &Node{NodeType: NodeTypeParent, ParentNode: &ParentNode{
				EncryptionKey: make([]byte, 32), ParentHash: make([]byte, 32), UnmergedLeaves: []uint32{uint32(i / 2)},
			}}
		}
	}
	return tree
}

// BenchmarkRatchetTree shows how the ratchet_tree extension scales with
// the group size.
func BenchmarkRatchetTree(b *testing.B) {
	for _, n := range []int{2, 32, 1024} {
		tree := syntheticTree(n)
		data, err := codec.Marshal(&tree)
		if err != nil {
			b.Fatal(err)
		}
		fresh := func() codec.Unmarshaler { return new(RatchetTree) }
		b.Run(fmt.Sprintf("decode/leaves=%d", n), func(b *testing.B) { benchDecode(b, data, fresh) })
		b.Run(fmt.Sprintf("encode/leaves=%d", n), func(b *testing.B) { benchEncode(b, data, fresh()) })
	}
}
