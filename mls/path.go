package mls

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Errors of UpdatePath processing (§7.5, §12.4.2).
var (
	ErrPathLength        = errors.New("mls: UpdatePath length differs from the filtered direct path")
	ErrPathParentHash    = errors.New("mls: UpdatePath leaf parent_hash does not match the tree")
	ErrPathKeyMismatch   = errors.New("mls: derived path key differs from the UpdatePath")
	ErrNoDecryptionKey   = errors.New("mls: no private key for any node the path secret was encrypted to")
	ErrPathLeafNode      = errors.New("mls: invalid UpdatePath leaf node")
	ErrOwnCommitFromWire = errors.New("mls: a commit in this member's name that it did not make in this epoch")
)

// applyUpdatePath merges a commit's UpdatePath into tree (a clone with the
// commit's proposals applied) and recovers the path secret addressed to
// this member (§7.5, §12.4.2). known holds the private keys still valid in
// tree; provisional is the new GroupContext before its tree hash and
// confirmed transcript hash are final. It returns the private keys of the
// path nodes this member now knows, and the commit secret.
func (g *Group) applyUpdatePath(tree *ratchettree.Tree, committer treemath.LeafIndex, path *wire.UpdatePath,
	added []treemath.LeafIndex, provisional wire.GroupContext, known map[treemath.NodeIndex][]byte) (map[treemath.NodeIndex][]byte, []byte, error) {
	if committer == g.ownLeaf {
		return nil, nil, ErrOwnCommitFromWire
	}
	steps, err := tree.FilteredPath(committer)
	if err != nil {
		return nil, nil, err
	}
	if len(steps) != len(path.Nodes) {
		return nil, nil, fmt.Errorf("%w: %d nodes, want %d", ErrPathLength, len(path.Nodes), len(steps))
	}
	ln := path.LeafNode
	if ln.LeafNodeSource != wire.LeafNodeSourceCommit {
		return nil, nil, fmt.Errorf("%w: source %v", ErrPathLeafNode, ln.LeafNodeSource)
	}
	tbs, err := ln.TBS(provisional.GroupID, uint32(committer))
	if err != nil {
		return nil, nil, err
	}
	if err := g.suite.VerifyWithLabel(ln.SignatureKey, "LeafNodeTBS", tbs, ln.Signature); err != nil {
		return nil, nil, fmt.Errorf("%w: signature: %w", ErrPathLeafNode, err)
	}
	// Decide which node's ciphertext is ours before the merge: the copath
	// child's resolution, less the leaves added by this commit (§7.5).
	own := g.ownLeaf.Node()
	pos, slot := -1, -1
	var ownKey []byte
	for i, st := range steps {
		if !treemath.IsInSubtree(st.Copath, own) {
			continue
		}
		res := slices.DeleteFunc(tree.Resolution(st.Copath), func(x treemath.NodeIndex) bool {
			l, isLeaf := x.Leaf()
			return isLeaf && slices.Contains(added, l)
		})
		for j, x := range res {
			if k, ok := known[x]; ok {
				pos, slot, ownKey = i, j, k
				break
			}
		}
		break
	}
	if pos < 0 {
		return nil, nil, ErrNoDecryptionKey
	}

	// Merge: blank the direct path, install the new public keys with empty
	// unmerged leaves, the new leaf, and recompute parent hashes.
	if err := tree.BlankPath(committer); err != nil {
		return nil, nil, err
	}
	for i, st := range steps {
		if err := tree.SetParent(st.Node, &wire.ParentNode{EncryptionKey: path.Nodes[i].EncryptionKey}); err != nil {
			return nil, nil, err
		}
	}
	leaf := ln
	if err := tree.SetLeaf(committer, &leaf); err != nil {
		return nil, nil, err
	}
	parentHash, err := tree.SetPathParentHashes(committer)
	if err != nil {
		return nil, nil, err
	}
	if !bytes.Equal(parentHash, ln.ParentHash) {
		return nil, nil, ErrPathParentHash
	}
	if provisional.TreeHash, err = tree.TreeHash(); err != nil {
		return nil, nil, err
	}
	ctx, err := codec.Marshal(&provisional)
	if err != nil {
		return nil, nil, err
	}
	cts := path.Nodes[pos].EncryptedPathSecret
	if slot >= len(cts) {
		return nil, nil, fmt.Errorf("%w: %d ciphertexts, need index %d", ErrPathLength, len(cts), slot)
	}
	secret, err := g.suite.DecryptWithLabel(ownKey, "UpdatePathNode", ctx, cts[slot].KEMOutput, cts[slot].Ciphertext)
	if err != nil {
		return nil, nil, fmt.Errorf("path secret: %w", err)
	}
	keys := map[treemath.NodeIndex][]byte{}
	for i := pos; i < len(steps); i++ {
		if i > pos {
			next, err := g.suite.DeriveSecret(secret, "path")
			clear(secret)
			if err != nil {
				return nil, nil, err
			}
			secret = next
		}
		nodeSecret, err := g.suite.DeriveSecret(secret, "node")
		if err != nil {
			return nil, nil, err
		}
		priv, pub, err := g.suite.DeriveKeyPair(nodeSecret)
		clear(nodeSecret)
		if err != nil {
			return nil, nil, err
		}
		if !bytes.Equal(pub, path.Nodes[i].EncryptionKey) {
			clear(priv)
			return nil, nil, fmt.Errorf("%w: node %d", ErrPathKeyMismatch, steps[i].Node)
		}
		keys[steps[i].Node] = priv
	}
	commitSecret, err := g.suite.DeriveSecret(secret, "path")
	clear(secret)
	if err != nil {
		return nil, nil, err
	}
	return keys, commitSecret, nil
}
