package consensus

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ProposedCommit is what a MembershipPolicy judges: a commit staged on a
// parent epoch, before any member accepts it.
type ProposedCommit struct {
	// Parent is the state of the epoch the commit is made on; read only.
	Parent *mls.Group
	// Staged is the processed commit; read only.
	Staged *mls.StagedCommit
	// External is set for an external commit (new_member_commit).
	External bool
	// Message is the commit as received (nil for this member's own,
	// which are judged before they are sent).
	Message *wire.MLSMessage
}

// MembershipPolicy is a rule every member applies identically before it
// accepts a commit, its own included. It must be a pure function of the
// parent epoch and the commit, so that all members agree: a commit it
// refuses is refused everywhere and can never win a race.
type MembershipPolicy interface {
	Name() string
	Check(c *ProposedCommit) error
}

// AllowAll accepts every commit the MLS engine accepts.
type AllowAll struct{}

func (AllowAll) Name() string                { return "allow-all" }
func (AllowAll) Check(*ProposedCommit) error { return nil }

// ExtensionTypeAdmins is the GroupContext extension holding the admin
// list, from the private-use range of RFC 9420 §17.3. Members must list it
// in their capabilities (§7.2) for a group to use it.
const ExtensionTypeAdmins wire.ExtensionType = 0xF0A0

// Admins is the data of the admins extension: the identities of the
// members who may add and remove.
//
//	struct {
//	    opaque identities<V><V>;   // basic credential identities, or the
//	                               // first certificate of an X.509 chain
//	} Admins;
type Admins struct {
	Identities [][]byte
}

// MaxAdmins bounds the admin list a decoder accepts.
const MaxAdmins = 1024

func (a *Admins) MarshalMLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for _, id := range a.Identities {
			w.Opaque(id)
		}
	})
}

func (a *Admins) UnmarshalMLS(r *codec.Reader) {
	*a = Admins{}
	r.Each("Admins.identities", func(r *codec.Reader) {
		var id []byte
		if r.Opaque("Admins.identity", &id) {
			if len(a.Identities) >= MaxAdmins {
				r.Fail("Admins.identities", ErrTooLarge)
				return
			}
			a.Identities = append(a.Identities, id)
		}
	})
}

// AdminsExtension encodes an admin list as a GroupContext extension.
func AdminsExtension(identities ...[]byte) (wire.Extension, error) {
	b, err := codec.Marshal(&Admins{Identities: identities})
	if err != nil {
		return wire.Extension{}, err
	}
	return wire.Extension{ExtensionType: ExtensionTypeAdmins, ExtensionData: b}, nil
}

// ErrNotAdmin is wrapped by AdminPolicy refusals.
var ErrNotAdmin = errors.New("consensus: only admins may change membership")

// AdminPolicy lets only admins add and remove members or change the
// GroupContext extensions (the admin list included). The list is the
// admins extension of the parent epoch's GroupContext; a group without
// the extension uses Bootstrap, and with neither every member is an admin.
// Any member may leave (a Remove it proposes of itself), and a
// GroupContextExtensions change must leave at least one admin. External
// commits are refused unless AllowExternalJoin is set; even then they may
// add only the joiner and remove only an old leaf of the same identity.
type AdminPolicy struct {
	Bootstrap         [][]byte
	AllowExternalJoin bool
}

func (AdminPolicy) Name() string { return "admin" }

// Identity is the identity a credential names: a basic credential's
// identity, or the first certificate of an X.509 chain.
func Identity(c *wire.Credential) []byte {
	if c.CredentialType == wire.CredentialTypeX509 && len(c.Certificates) > 0 {
		return c.Certificates[0].CertData
	}
	return c.Identity
}

// admins reads the list in force in an epoch.
func (p AdminPolicy) admins(ctx *wire.GroupContext) ([][]byte, error) {
	ext := ctx.Extensions.Find(ExtensionTypeAdmins)
	if ext == nil {
		return p.Bootstrap, nil
	}
	var a Admins
	if err := codec.Unmarshal(ext.ExtensionData, &a); err != nil {
		return nil, fmt.Errorf("%w: admins extension: %w", ErrNotAdmin, err)
	}
	return a.Identities, nil
}

func contains(list [][]byte, id []byte) bool {
	for _, x := range list {
		if bytes.Equal(x, id) {
			return true
		}
	}
	return false
}

func (p AdminPolicy) Check(c *ProposedCommit) error {
	admins, err := p.admins(c.Parent.Context())
	if err != nil {
		return err
	}
	if len(admins) == 0 {
		return nil
	}
	tree := c.Parent.Tree()
	identityAt := func(leaf uint32) []byte {
		if leaf >= tree.LeafCount() {
			return nil
		}
		if ln := tree.Leaf(leafIndex(leaf)); ln != nil {
			return Identity(&ln.Credential)
		}
		return nil
	}
	if c.External {
		if !p.AllowExternalJoin {
			return fmt.Errorf("%w: external commits are not allowed", ErrNotAdmin)
		}
		var joiner []byte
		if c.Message != nil && c.Message.PublicMessage != nil {
			if cm := c.Message.PublicMessage.Content.Commit; cm != nil && cm.Path != nil {
				joiner = Identity(&cm.Path.LeafNode.Credential)
			}
		}
		for _, qp := range c.Staged.Proposals {
			switch qp.Proposal.Type {
			case wire.ProposalTypeRemove:
				if joiner == nil || !bytes.Equal(identityAt(qp.Proposal.Remove.Removed), joiner) {
					return fmt.Errorf("%w: an external joiner may only remove its own old leaf", ErrNotAdmin)
				}
			case wire.ProposalTypeAdd, wire.ProposalTypeGroupContextExtensions:
				return fmt.Errorf("%w: an external joiner may not %v", ErrNotAdmin, qp.Proposal.Type)
			}
		}
		return nil
	}
	for _, qp := range c.Staged.Proposals {
		t := qp.Proposal.Type
		if t != wire.ProposalTypeAdd && t != wire.ProposalTypeRemove && t != wire.ProposalTypeGroupContextExtensions {
			continue
		}
		if qp.Sender.SenderType != wire.SenderTypeMember {
			return fmt.Errorf("%w: %v from a %v sender", ErrNotAdmin, t, qp.Sender.SenderType)
		}
		if t == wire.ProposalTypeRemove && qp.Proposal.Remove.Removed == qp.Sender.LeafIndex {
			continue // leaving
		}
		if !contains(admins, identityAt(qp.Sender.LeafIndex)) {
			return fmt.Errorf("%w: %v proposed by %q", ErrNotAdmin, t, identityAt(qp.Sender.LeafIndex))
		}
		if t == wire.ProposalTypeGroupContextExtensions {
			next := AdminPolicy{}
			list, err := next.admins(&wire.GroupContext{Extensions: qp.Proposal.GroupContextExtensions.Extensions})
			if err != nil {
				return err
			}
			if qp.Proposal.GroupContextExtensions.Extensions.Find(ExtensionTypeAdmins) != nil && len(list) == 0 {
				return fmt.Errorf("%w: the admin list may not become empty", ErrNotAdmin)
			}
		}
	}
	return nil
}
