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

// ErrInvalidProposals is wrapped by every failure of proposal list
// validation (§12.1, §12.2); the message names the rule.
var ErrInvalidProposals = errors.New("mls: invalid proposal list")

// QueuedProposal is a proposal a commit covers, with who proposed it.
type QueuedProposal struct {
	Proposal *wire.Proposal
	Sender   wire.Sender
}

// pathRequired lists the proposal types that force a commit to carry an
// UpdatePath (§12.4); unknown types require one too, to be safe.
func pathRequired(t wire.ProposalType) bool {
	switch t {
	case wire.ProposalTypeAdd, wire.ProposalTypePSK, wire.ProposalTypeReInit:
		return false
	}
	return true
}

// PathRequired reports whether a commit of these proposals must carry an
// UpdatePath: when it covers none, or any of a path-required type.
func PathRequired(proposals []QueuedProposal) bool {
	if len(proposals) == 0 {
		return true
	}
	for _, p := range proposals {
		if pathRequired(p.Proposal.Type) {
			return true
		}
	}
	return false
}

// ProposalCheck carries what validating proposals needs beyond the group.
type ProposalCheck struct {
	// Now (Unix seconds) and MaxLifetime bound KeyPackage lifetimes.
	Now, MaxLifetime uint64
	// Credentials validates credentials of added and updated members.
	Credentials CredentialValidator
	// External is set for an external commit (§12.2, second list).
	External bool
	// resumeUsage, set only by Resume, allows the one resumption PSK of
	// usage reinit or branch that starts a new group (§11.2, §11.3).
	resumeUsage wire.ResumptionPSKUsage
}

// ValidateProposals checks a committed list against §12.2 and each
// proposal against §12.1, for a commit by committer (a member's leaf, or
// the joiner of an external commit). It does not change the group.
func (g *Group) ValidateProposals(committer wire.Sender, proposals []QueuedProposal, c ProposalCheck) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidProposals}, args...)...)
	}
	if c.External {
		return g.validateExternalList(proposals, bad)
	}
	touched := map[uint32]bool{} // leaves updated or removed
	removed := map[uint32]bool{} // leaves removed
	addKeys := map[string]bool{} // signature keys of added clients
	pskIDs := map[string]bool{}  // encoded PreSharedKeyIDs
	counts := map[wire.ProposalType]int{}
	for i, qp := range proposals {
		p := qp.Proposal
		counts[p.Type]++
		switch p.Type {
		case wire.ProposalTypeUpdate:
			if qp.Sender.SenderType != wire.SenderTypeMember {
				return bad("proposal %d: Update from a non-member", i)
			}
			if qp.Sender == committer {
				return bad("proposal %d: Update by the committer", i)
			}
			if touched[qp.Sender.LeafIndex] {
				return bad("proposal %d: second Update/Remove for leaf %d", i, qp.Sender.LeafIndex)
			}
			touched[qp.Sender.LeafIndex] = true
			if err := g.validateUpdate(qp.Sender.LeafIndex, &p.Update.LeafNode, c); err != nil {
				return bad("proposal %d: %w", i, err)
			}
		case wire.ProposalTypeRemove:
			r := p.Remove.Removed
			if committer.SenderType == wire.SenderTypeMember && r == committer.LeafIndex {
				return bad("proposal %d: Remove of the committer", i)
			}
			if touched[r] {
				return bad("proposal %d: second Update/Remove for leaf %d", i, r)
			}
			if r >= g.tree.LeafCount() || g.tree.Leaf(treemath.LeafIndex(r)) == nil {
				return bad("proposal %d: Remove of blank or absent leaf %d", i, r)
			}
			touched[r], removed[r] = true, true
		case wire.ProposalTypeAdd:
			kp := &p.Add.KeyPackage
			if err := ValidateKeyPackage(kp, KeyPackageCheck{Suite: g.suite, Now: c.Now, MaxLifetime: c.MaxLifetime, Credentials: c.Credentials}); err != nil {
				return bad("proposal %d: %w", i, err)
			}
			key := string(kp.LeafNode.SignatureKey)
			if addKeys[key] {
				return bad("proposal %d: two Adds of the same client", i)
			}
			addKeys[key] = true
		case wire.ProposalTypePSK:
			id := &p.PreSharedKey.PSK
			if len(id.PSKNonce) != g.suite.HashSize() {
				return bad("proposal %d: psk_nonce of %d bytes, want %d", i, len(id.PSKNonce), g.suite.HashSize())
			}
			if id.PSKType == wire.PSKTypeResumption && id.Usage != wire.ResumptionPSKUsageApplication && id.Usage != c.resumeUsage {
				return bad("proposal %d: resumption PSK with usage %v outside ReInit/branching", i, id.Usage)
			}
			enc, err := codec.Marshal(id)
			if err != nil {
				return bad("proposal %d: %w", i, err)
			}
			if pskIDs[string(enc)] {
				return bad("proposal %d: PreSharedKeyID proposed twice", i)
			}
			pskIDs[string(enc)] = true
		case wire.ProposalTypeReInit:
			if p.ReInit.Version < g.context.Version {
				return bad("proposal %d: ReInit to older version %v", i, p.ReInit.Version)
			}
		case wire.ProposalTypeExternalInit:
			return bad("proposal %d: ExternalInit in a regular commit", i)
		case wire.ProposalTypeGroupContextExtensions:
			// Checked below once the membership after the commit is known.
		default:
			return bad("proposal %d: unsupported proposal type %v", i, p.Type)
		}
	}
	if counts[wire.ProposalTypeGroupContextExtensions] > 1 {
		return bad("%d GroupContextExtensions proposals", counts[wire.ProposalTypeGroupContextExtensions])
	}
	if counts[wire.ProposalTypeReInit] > 0 && len(proposals) > 1 {
		return bad("ReInit together with other proposals")
	}
	// An Add of a client already in the group, unless it is removed in
	// the same commit; "the same client" is judged by the signature key.
	// (Only walked when the commit adds someone: O(members).)
	if len(addKeys) > 0 {
		for _, m := range g.tree.Members() {
			if addKeys[string(g.tree.Leaf(m).SignatureKey)] && !removed[uint32(m)] {
				return bad("Add of a client already in the group at leaf %d", m)
			}
		}
	}
	return g.validateRequiredCapabilities(proposals, removed, bad)
}

// validateUpdate applies §12.1.2 and §7.3 to an Update's LeafNode.
func (g *Group) validateUpdate(leaf uint32, ln *wire.LeafNode, c ProposalCheck) error {
	old := g.tree.Leaf(treemath.LeafIndex(leaf))
	if old == nil {
		return fmt.Errorf("Update from blank leaf %d", leaf)
	}
	if ln.LeafNodeSource != wire.LeafNodeSourceUpdate {
		return fmt.Errorf("Update leaf node source %v", ln.LeafNodeSource)
	}
	if bytes.Equal(ln.EncryptionKey, old.EncryptionKey) {
		return fmt.Errorf("Update keeps the old encryption key")
	}
	tbs, err := ln.TBS(g.context.GroupID, leaf)
	if err != nil {
		return err
	}
	if err := g.suite.VerifyWithLabel(ln.SignatureKey, "LeafNodeTBS", tbs, ln.Signature); err != nil {
		return fmt.Errorf("Update leaf signature: %w", err)
	}
	if c.Credentials != nil {
		if err := c.Credentials.Validate(&ln.Credential, ln.SignatureKey); err != nil {
			return fmt.Errorf("Update credential: %w", err)
		}
	}
	return nil
}

// validateRequiredCapabilities checks a GroupContextExtensions proposal's
// required_capabilities against every member after the commit (§12.1.7):
// current members not removed, and members being added.
func (g *Group) validateRequiredCapabilities(proposals []QueuedProposal, removed map[uint32]bool, bad func(string, ...any) error) error {
	var rc *wire.RequiredCapabilities
	for _, qp := range proposals {
		if qp.Proposal.Type != wire.ProposalTypeGroupContextExtensions {
			continue
		}
		ext := wire.Extensions(qp.Proposal.GroupContextExtensions.Extensions).Find(wire.ExtensionTypeRequiredCapabilities)
		if ext == nil {
			return nil
		}
		rc = new(wire.RequiredCapabilities)
		if err := codec.Unmarshal(ext.ExtensionData, rc); err != nil {
			return bad("required_capabilities: %w", err)
		}
	}
	if rc == nil {
		return nil
	}
	supports := func(caps *wire.Capabilities) bool {
		for _, e := range rc.ExtensionTypes {
			if !isDefaultExtension(e) && !slices.Contains(caps.Extensions, e) {
				return false
			}
		}
		for _, p := range rc.ProposalTypes {
			if p > wire.ProposalTypeGroupContextExtensions && !slices.Contains(caps.Proposals, p) {
				return false
			}
		}
		for _, ct := range rc.CredentialTypes {
			if !slices.Contains(caps.Credentials, ct) {
				return false
			}
		}
		return true
	}
	for _, m := range g.tree.Members() {
		if !removed[uint32(m)] && !supports(&g.tree.Leaf(m).Capabilities) {
			return bad("member at leaf %d lacks the required capabilities", m)
		}
	}
	for _, qp := range proposals {
		if qp.Proposal.Type == wire.ProposalTypeAdd && !supports(&qp.Proposal.Add.KeyPackage.LeafNode.Capabilities) {
			return bad("added member lacks the required capabilities")
		}
	}
	return nil
}

// validateExternalList is the §12.2 rule for external commits: exactly one
// ExternalInit, at most one Remove, any PreSharedKeys, nothing else.
func (g *Group) validateExternalList(proposals []QueuedProposal, bad func(string, ...any) error) error {
	inits, removes := 0, 0
	for i, qp := range proposals {
		switch qp.Proposal.Type {
		case wire.ProposalTypeExternalInit:
			inits++
		case wire.ProposalTypeRemove:
			removes++
			r := qp.Proposal.Remove.Removed
			if r >= g.tree.LeafCount() || g.tree.Leaf(treemath.LeafIndex(r)) == nil {
				return bad("proposal %d: Remove of blank or absent leaf %d", i, r)
			}
		case wire.ProposalTypePSK:
		default:
			return bad("proposal %d: %v not allowed in an external commit", i, qp.Proposal.Type)
		}
	}
	if inits != 1 || removes > 1 {
		return bad("external commit with %d ExternalInit and %d Remove proposals", inits, removes)
	}
	return nil
}

// AppliedProposals is the outcome of applying a proposal list (§12.3).
type AppliedProposals struct {
	Tree         *ratchettree.Tree
	Extensions   wire.Extensions
	Added        []treemath.LeafIndex // leaves of new members, in order
	PSKs         []wire.PreSharedKeyID
	ExternalInit *wire.ExternalInit
	ReInit       *wire.ReInit
}

// ApplyProposals applies a validated list to a clone of the tree and the
// GroupContext extensions in the order of §12.3: extensions, Updates,
// Removes, Adds (in list order), then PSKs, ExternalInit and ReInit are
// noted. The group itself is not changed.
func (g *Group) ApplyProposals(proposals []QueuedProposal) (*AppliedProposals, error) {
	out := &AppliedProposals{Tree: g.tree.Clone(), Extensions: g.context.Extensions}
	byType := func(t wire.ProposalType, f func(qp QueuedProposal) error) error {
		for _, qp := range proposals {
			if qp.Proposal.Type == t {
				if err := f(qp); err != nil {
					return err
				}
			}
		}
		return nil
	}
	steps := []struct {
		t wire.ProposalType
		f func(qp QueuedProposal) error
	}{
		{wire.ProposalTypeGroupContextExtensions, func(qp QueuedProposal) error {
			out.Extensions = qp.Proposal.GroupContextExtensions.Extensions
			return nil
		}},
		{wire.ProposalTypeUpdate, func(qp QueuedProposal) error {
			ln := qp.Proposal.Update.LeafNode
			return out.Tree.UpdateLeaf(treemath.LeafIndex(qp.Sender.LeafIndex), &ln)
		}},
		{wire.ProposalTypeRemove, func(qp QueuedProposal) error {
			return out.Tree.RemoveLeaf(treemath.LeafIndex(qp.Proposal.Remove.Removed))
		}},
		{wire.ProposalTypeAdd, func(qp QueuedProposal) error {
			ln := qp.Proposal.Add.KeyPackage.LeafNode
			i, err := out.Tree.AddLeaf(&ln)
			out.Added = append(out.Added, i)
			return err
		}},
		{wire.ProposalTypePSK, func(qp QueuedProposal) error {
			out.PSKs = append(out.PSKs, qp.Proposal.PreSharedKey.PSK)
			return nil
		}},
		{wire.ProposalTypeExternalInit, func(qp QueuedProposal) error {
			out.ExternalInit = qp.Proposal.ExternalInit
			return nil
		}},
		{wire.ProposalTypeReInit, func(qp QueuedProposal) error {
			out.ReInit = qp.Proposal.ReInit
			return nil
		}},
	}
	for _, s := range steps {
		if err := byType(s.t, s.f); err != nil {
			return nil, fmt.Errorf("%w: applying %v: %w", ErrInvalidProposals, s.t, err)
		}
	}
	return out, nil
}
