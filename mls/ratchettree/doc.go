// Package ratchettree owns the public ratchet tree of one MLS epoch (RFC 9420
// §4.1, §7): the array of leaf and parent nodes, its resolutions and filtered
// direct paths, its tree hashes (§7.8) and parent hashes (§7.9), the
// validation a joiner performs on a received tree (§12.4.3.1) and the
// structural changes made by Add, Update and Remove proposals (§7.7, §12.1).
//
// # Representation
//
// A Tree holds 2n-1 node slots for n leaves, n a power of two, in the array
// layout of mls/treemath (leaf L at node 2L). FromWire pads a received
// ratchet_tree extension with blanks to a full tree (§12.4.3.3) and ToWire
// trims trailing blanks again.
//
// Each slot keeps, besides its node, the cached tree hash of its subtree and
// two counters (non-blank nodes and non-blank leaves below it). A mutation
// touches one node and walks its ancestors (O(log n)): it invalidates their
// cached hashes and updates their counters, so that TreeHash after a change
// rehashes only the changed paths, and emptiness of a resolution, the
// leftmost free leaf and truncation are answered in O(log n) without
// scanning subtrees. All walks are iterative or recurse only over the tree
// height (at most 32 levels).
//
// Slots live in fixed-size chunks that are shared copy-on-write between
// clones: Clone copies only the chunk table (n/128 pointers), and a write
// copies the one chunk it touches when that chunk is shared. The engine can
// therefore stage several candidate commits on cheap clones of one epoch's
// tree.
//
// Nodes are immutable once in a Tree: methods that change a node store a
// fresh *wire.Node, never modify one in place. The *wire.LeafNode and
// *wire.ParentNode values that accessors return are shared with the tree
// (and with its clones) and must not be modified by the caller.
//
// A Tree is not safe for concurrent use, not even for concurrent reads,
// because hashes are cached lazily. Clones are independent of each other.
//
// # What it does not own
//
// Credentials are the application's: Validate calls a CredentialValidator for
// every leaf. Time is a parameter (ValidateOptions.Now), never read from the
// clock. Private keys, path secrets, UpdatePath encryption and the proposal
// list rules of §12.2 belong to other packages; this package supplies the
// tree primitives they need (BlankPath, SetLeaf, SetParent,
// FilteredDirectPath, SetPathParentHashes).
//
// # Errors
//
// Every failure wraps one of the sentinel errors (ErrMalformedTree,
// ErrTreeHashMismatch, ErrInvalidParentHash, ErrInvalidSignature,
// ErrDuplicateKey, ErrInvalidUnmergedLeaves, ErrInvalidLeafNode, ...) with
// detail naming the node index, so callers test with errors.Is. Nothing here
// panics on a tree received from the network.
package ratchettree
