package ratchettree

import "errors"

// Sentinel errors. Every error of this package wraps one of them, with
// detail that names the node or leaf index concerned.
var (
	// ErrMalformedTree: a tree that is structurally impossible: empty,
	// ending in a blank node, too large, or with a leaf at a parent
	// position or the reverse.
	ErrMalformedTree = errors.New("mls/ratchettree: malformed tree")
	// ErrTreeHashMismatch: the tree hash differs from the expected one.
	ErrTreeHashMismatch = errors.New("mls/ratchettree: tree hash mismatch")
	// ErrInvalidParentHash: a non-blank parent node is not parent-hash
	// valid, or is covered by more than one chain (§7.9.2).
	ErrInvalidParentHash = errors.New("mls/ratchettree: invalid parent hash")
	// ErrInvalidSignature: a leaf node's signature does not verify.
	ErrInvalidSignature = errors.New("mls/ratchettree: invalid leaf node signature")
	// ErrDuplicateKey: an encryption key appears twice in the tree, or a
	// signature key in two leaves.
	ErrDuplicateKey = errors.New("mls/ratchettree: duplicate key")
	// ErrInvalidUnmergedLeaves: an unmerged leaf is outside the tree,
	// blank, not below its parent node, listed twice, or missing from a
	// non-blank node between it and the parent node.
	ErrInvalidUnmergedLeaves = errors.New("mls/ratchettree: invalid unmerged leaves")
	// ErrInvalidLeafNode: a leaf node breaks a rule of §7.3 other than its
	// signature and credential (source, lifetime, capabilities,
	// extensions).
	ErrInvalidLeafNode = errors.New("mls/ratchettree: invalid leaf node")
	// ErrInvalidCredential: the CredentialValidator rejected a leaf's
	// credential.
	ErrInvalidCredential = errors.New("mls/ratchettree: invalid credential")
	// ErrLeafIndex: a leaf index outside the tree, or a blank leaf where
	// an operation needs a member.
	ErrLeafIndex = errors.New("mls/ratchettree: bad leaf index")
	// ErrNodeIndex: a node index outside the tree or of the wrong kind.
	ErrNodeIndex = errors.New("mls/ratchettree: bad node index")
	// ErrTreeFull: adding a leaf would exceed MaxLeaves.
	ErrTreeFull = errors.New("mls/ratchettree: tree full")
	// ErrEncode: a node cannot be encoded (it is not a valid RFC 9420
	// value), so it cannot be hashed.
	ErrEncode = errors.New("mls/ratchettree: node cannot be encoded")
)
