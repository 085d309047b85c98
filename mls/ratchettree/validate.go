package ratchettree

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// CredentialValidator is the application's check of a member's credential
// and its binding to the signature key (RFC 9420 §5.3.1).
type CredentialValidator interface {
	Validate(cred *wire.Credential, signatureKey []byte) error
}

// ValidateOptions parameterizes Validate.
type ValidateOptions struct {
	// TreeHash is the expected tree hash (the tree_hash of the GroupInfo's
	// GroupContext). Nil skips the comparison.
	TreeHash []byte
	// Credentials validates the credential of every leaf. Nil skips
	// credential validation (for tests only: a joiner must validate them).
	Credentials CredentialValidator
	// Now is the current time in seconds since the Unix epoch; when
	// non-zero, the lifetime of every key_package leaf must contain it.
	// §7.3 only recommends this check for received trees.
	Now uint64
	// MaxLifetime, when non-zero, is the longest total lifetime
	// (not_after - not_before) accepted for a key_package leaf (§7.2).
	MaxLifetime uint64
	// RequiredCapabilities, when set, is the group's
	// required_capabilities extension; every leaf must support it.
	RequiredCapabilities *wire.RequiredCapabilities
}

// Validate performs the checks of RFC 9420 §12.4.3.1 that concern the
// ratchet tree a new member receives:
//
//   - the tree hash equals opts.TreeHash (ErrTreeHashMismatch);
//   - every non-blank parent node is parent-hash valid (ErrInvalidParentHash);
//   - every unmerged leaf of a parent node is a non-blank leaf below it,
//     listed once, and listed by every non-blank node between them
//     (ErrInvalidUnmergedLeaves);
//   - every leaf node is valid per §7.3: its signature over LeafNodeTBS
//     (with groupID and the leaf index for the update and commit sources)
//     (ErrInvalidSignature), its credential (ErrInvalidCredential), its
//     source, lifetime, capabilities and extensions, and support for every
//     credential type in use (ErrInvalidLeafNode);
//   - encryption keys are unique among all non-blank nodes and signature
//     keys among the leaves (ErrDuplicateKey).
//
// Checks that need no cryptography run first, so that a malformed tree is
// rejected cheaply; leaf signatures are checked before parent hashes, so
// that a tampered leaf is reported as such rather than as the parent-hash
// failure it also causes.
func (t *Tree) Validate(groupID []byte, opts ValidateOptions) error {
	if t.MemberCount() == 0 {
		return fmt.Errorf("%w: no member", ErrMalformedTree)
	}
	if err := t.VerifyUnmergedLeaves(); err != nil {
		return err
	}
	if err := t.verifyUniqueKeys(); err != nil {
		return err
	}
	if err := t.verifyLeafRules(opts); err != nil {
		return err
	}
	if opts.TreeHash != nil {
		th, err := t.TreeHash()
		if err != nil {
			return err
		}
		if !bytes.Equal(th, opts.TreeHash) {
			return fmt.Errorf("%w: computed %x, expected %x", ErrTreeHashMismatch, th, opts.TreeHash)
		}
	}
	if err := t.VerifyLeafSignatures(groupID, opts.Credentials); err != nil {
		return err
	}
	return t.VerifyParentHashes()
}

// VerifyUnmergedLeaves checks the unmerged_leaves of every non-blank
// parent node P (RFC 9420 §12.4.3.1): each entry is a non-blank leaf in
// P's subtree, appears once, and every non-blank node between the leaf and
// P lists it too.
func (t *Tree) VerifyUnmergedLeaves() error {
	sorted := make(map[NodeIndex][]LeafIndex) // sorted lists, built on demand
	sortedAt := func(q NodeIndex, qn *wire.ParentNode) []LeafIndex {
		s, ok := sorted[q]
		if !ok {
			s = sortedLeaves(qn.UnmergedLeaves)
			sorted[q] = s
		}
		return s
	}
	var err error
	t.eachNonBlankParent(func(p NodeIndex, pn *wire.ParentNode) bool {
		ps := sortedAt(p, pn)
		for i := 1; i < len(ps); i++ {
			if ps[i] == ps[i-1] {
				err = fmt.Errorf("%w: node %d: leaf %d listed twice", ErrInvalidUnmergedLeaves, p, ps[i])
				return false
			}
		}
		for _, u := range pn.UnmergedLeaves {
			l := LeafIndex(u)
			switch {
			case uint64(u) >= uint64(t.n):
				err = fmt.Errorf("%w: node %d: leaf %d outside the tree", ErrInvalidUnmergedLeaves, p, u)
			case !treemath.IsInSubtree(p, l.Node()):
				err = fmt.Errorf("%w: node %d: leaf %d is not below it", ErrInvalidUnmergedLeaves, p, u)
			case t.Leaf(l) == nil:
				err = fmt.Errorf("%w: node %d: leaf %d is blank", ErrInvalidUnmergedLeaves, p, u)
			}
			if err != nil {
				return false
			}
			for q, ok := treemath.Parent(l.Node(), t.n); ok && q != p; q, ok = treemath.Parent(q, t.n) {
				qn := t.Parent(q)
				if qn == nil {
					continue
				}
				if _, in := slices.BinarySearch(sortedAt(q, qn), l); !in {
					err = fmt.Errorf("%w: node %d: leaf %d is unmerged at node %d but not at node %d between them",
						ErrInvalidUnmergedLeaves, p, u, p, q)
					return false
				}
			}
		}
		return true
	})
	return err
}

// verifyUniqueKeys checks that no encryption key appears in two non-blank
// nodes and no signature key in two leaves.
func (t *Tree) verifyUniqueKeys() error {
	enc := make(map[string]NodeIndex)
	sig := make(map[string]NodeIndex)
	w := t.width()
	for i := uint32(0); i < w; i++ {
		x := NodeIndex(i)
		nd := t.get(x).node
		if nd == nil {
			continue
		}
		k := string(t.EncryptionKey(x))
		if prev, dup := enc[k]; dup {
			return fmt.Errorf("%w: encryption key of node %d repeats that of node %d", ErrDuplicateKey, x, prev)
		}
		enc[k] = x
		if ln := nd.LeafNode; ln != nil {
			k := string(ln.SignatureKey)
			if prev, dup := sig[k]; dup {
				return fmt.Errorf("%w: signature key of node %d repeats that of node %d", ErrDuplicateKey, x, prev)
			}
			sig[k] = x
		}
	}
	return nil
}

// Default proposal and extension types (RFC 9420 §7.2): supported by
// every client and never listed in capabilities.
func defaultExtension(e wire.ExtensionType) bool { return e >= 1 && e <= 5 }
func defaultProposal(p wire.ProposalType) bool   { return p >= 1 && p <= 7 }

// verifyLeafRules checks every leaf against the non-cryptographic rules of
// §7.3: leaf_node_source and lifetime, listed extensions and credential
// type, required capabilities, and support of every credential type in
// use by every member.
func (t *Tree) verifyLeafRules(opts ValidateOptions) error {
	var inUse []wire.CredentialType
	t.eachMember(func(l LeafIndex) {
		if ct := t.Leaf(l).Credential.CredentialType; !slices.Contains(inUse, ct) {
			inUse = append(inUse, ct)
		}
	})
	var err error
	t.eachMember(func(l LeafIndex) {
		if err == nil {
			err = checkLeafRules(t.Leaf(l), inUse, opts)
			if err != nil {
				err = fmt.Errorf("%w: leaf %d (node %d): %w", ErrInvalidLeafNode, l, l.Node(), err)
			}
		}
	})
	return err
}

func checkLeafRules(ln *wire.LeafNode, inUse []wire.CredentialType, opts ValidateOptions) error {
	switch ln.LeafNodeSource {
	case wire.LeafNodeSourceKeyPackage:
		lt := ln.Lifetime
		if lt == nil {
			return fmt.Errorf("key_package source without lifetime")
		}
		if opts.Now != 0 && (opts.Now < lt.NotBefore || opts.Now > lt.NotAfter) {
			return fmt.Errorf("lifetime [%d, %d] does not contain %d", lt.NotBefore, lt.NotAfter, opts.Now)
		}
		if opts.MaxLifetime != 0 && (lt.NotAfter < lt.NotBefore || lt.NotAfter-lt.NotBefore > opts.MaxLifetime) {
			return fmt.Errorf("lifetime [%d, %d] longer than %d s", lt.NotBefore, lt.NotAfter, opts.MaxLifetime)
		}
	case wire.LeafNodeSourceUpdate, wire.LeafNodeSourceCommit:
	default:
		return fmt.Errorf("leaf_node_source %v", ln.LeafNodeSource)
	}
	caps := &ln.Capabilities
	for _, ct := range inUse {
		if !slices.Contains(caps.Credentials, ct) {
			return fmt.Errorf("credential type %v in use but not supported", ct)
		}
	}
	for _, e := range ln.Extensions {
		if !defaultExtension(e.ExtensionType) && !slices.Contains(caps.Extensions, e.ExtensionType) {
			return fmt.Errorf("extension %v not listed in capabilities", e.ExtensionType)
		}
	}
	if rc := opts.RequiredCapabilities; rc != nil {
		for _, e := range rc.ExtensionTypes {
			if !defaultExtension(e) && !slices.Contains(caps.Extensions, e) {
				return fmt.Errorf("required extension %v not supported", e)
			}
		}
		for _, p := range rc.ProposalTypes {
			if !defaultProposal(p) && !slices.Contains(caps.Proposals, p) {
				return fmt.Errorf("required proposal %v not supported", p)
			}
		}
		for _, c := range rc.CredentialTypes {
			if !slices.Contains(caps.Credentials, c) {
				return fmt.Errorf("required credential type %v not supported", c)
			}
		}
	}
	return nil
}

// VerifyLeafSignatures verifies the signature of every leaf node over its
// LeafNodeTBS (RFC 9420 §7.2; group_id and leaf index are included for
// the update and commit sources), and, when creds is not nil, the
// credential of every leaf.
func (t *Tree) VerifyLeafSignatures(groupID []byte, creds CredentialValidator) error {
	var err error
	t.eachMember(func(l LeafIndex) {
		if err != nil {
			return
		}
		err = t.VerifyLeaf(l, groupID, creds)
	})
	return err
}

// VerifyLeaf verifies the signature (and, when creds is not nil, the
// credential) of the leaf node at leaf l.
func (t *Tree) VerifyLeaf(l LeafIndex, groupID []byte, creds CredentialValidator) error {
	ln := t.Leaf(l)
	if ln == nil {
		return fmt.Errorf("%w: leaf %d is blank", ErrLeafIndex, l)
	}
	if creds != nil {
		if err := creds.Validate(&ln.Credential, ln.SignatureKey); err != nil {
			return fmt.Errorf("%w: leaf %d (node %d): %w", ErrInvalidCredential, l, l.Node(), err)
		}
	}
	tbs, err := ln.TBS(groupID, uint32(l))
	if err != nil {
		return fmt.Errorf("%w: leaf %d (node %d): %w", ErrEncode, l, l.Node(), err)
	}
	if err := t.suite.VerifyWithLabel(ln.SignatureKey, "LeafNodeTBS", tbs, ln.Signature); err != nil {
		return fmt.Errorf("%w: leaf %d (node %d): %w", ErrInvalidSignature, l, l.Node(), err)
	}
	return nil
}
