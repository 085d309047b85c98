package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// Add proposes adding the client of a KeyPackage (RFC 9420 §12.1.1).
type Add struct {
	KeyPackage KeyPackage
}

func (a *Add) MarshalMLS(w *codec.Writer) { w.Write(&a.KeyPackage) }

func (a *Add) UnmarshalMLS(r *codec.Reader) { r.Read(&a.KeyPackage) }

// Update proposes replacing the sender's LeafNode (RFC 9420 §12.1.2).
type Update struct {
	LeafNode LeafNode
}

func (u *Update) MarshalMLS(w *codec.Writer) { w.Write(&u.LeafNode) }

func (u *Update) UnmarshalMLS(r *codec.Reader) { r.Read(&u.LeafNode) }

// Remove proposes removing the member at leaf index Removed (RFC 9420
// §12.1.3).
type Remove struct {
	Removed uint32
}

func (rm *Remove) MarshalMLS(w *codec.Writer) { w.Uint32(rm.Removed) }

func (rm *Remove) UnmarshalMLS(r *codec.Reader) { r.Uint32("Remove.removed", &rm.Removed) }

// PreSharedKey proposes injecting a PSK into the key schedule (RFC 9420
// §12.1.4).
type PreSharedKey struct {
	PSK PreSharedKeyID
}

func (p *PreSharedKey) MarshalMLS(w *codec.Writer) { w.Write(&p.PSK) }

func (p *PreSharedKey) UnmarshalMLS(r *codec.Reader) { r.Read(&p.PSK) }

// ReInit proposes reinitializing the group with new parameters (RFC 9420
// §12.1.5). Version may name any version, including future ones.
type ReInit struct {
	GroupID     []byte
	Version     ProtocolVersion
	CipherSuite CipherSuite
	Extensions  Extensions
}

func (ri *ReInit) MarshalMLS(w *codec.Writer) {
	w.Opaque(ri.GroupID)
	w.Uint16(uint16(ri.Version))
	w.Uint16(uint16(ri.CipherSuite))
	w.Write(&ri.Extensions)
}

func (ri *ReInit) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("ReInit.group_id", &ri.GroupID)
	r.Uint16("ReInit.version", (*uint16)(&ri.Version))
	r.Uint16("ReInit.cipher_suite", (*uint16)(&ri.CipherSuite))
	ri.Extensions.unmarshal(r, "ReInit.extensions")
}

// ExternalInit carries the KEM output of an external join (RFC 9420
// §12.1.6).
type ExternalInit struct {
	KEMOutput []byte
}

func (e *ExternalInit) MarshalMLS(w *codec.Writer) { w.Opaque(e.KEMOutput) }

func (e *ExternalInit) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("ExternalInit.kem_output", &e.KEMOutput)
}

// GroupContextExtensions proposes replacing the GroupContext extensions
// (RFC 9420 §12.1.7).
type GroupContextExtensions struct {
	Extensions Extensions
}

func (g *GroupContextExtensions) MarshalMLS(w *codec.Writer) { w.Write(&g.Extensions) }

func (g *GroupContextExtensions) UnmarshalMLS(r *codec.Reader) {
	g.Extensions.unmarshal(r, "GroupContextExtensions.extensions")
}

// Proposal is a proposed change to the group (RFC 9420 §12.1): Type and
// the one field of that type. Types other than the seven of RFC 9420 do
// not decode (ErrUnknownValue): their bodies carry no length, so they
// cannot be skipped.
type Proposal struct {
	Type                   ProposalType
	Add                    *Add
	Update                 *Update
	Remove                 *Remove
	PreSharedKey           *PreSharedKey
	ReInit                 *ReInit
	ExternalInit           *ExternalInit
	GroupContextExtensions *GroupContextExtensions
}

// body returns the variant named by p.Type, or nil if it is missing or
// the type unknown.
func (p *Proposal) body() codec.Marshaler {
	switch p.Type {
	case ProposalTypeAdd:
		if p.Add != nil {
			return p.Add
		}
	case ProposalTypeUpdate:
		if p.Update != nil {
			return p.Update
		}
	case ProposalTypeRemove:
		if p.Remove != nil {
			return p.Remove
		}
	case ProposalTypePSK:
		if p.PreSharedKey != nil {
			return p.PreSharedKey
		}
	case ProposalTypeReInit:
		if p.ReInit != nil {
			return p.ReInit
		}
	case ProposalTypeExternalInit:
		if p.ExternalInit != nil {
			return p.ExternalInit
		}
	case ProposalTypeGroupContextExtensions:
		if p.GroupContextExtensions != nil {
			return p.GroupContextExtensions
		}
	}
	return nil
}

func (p *Proposal) MarshalMLS(w *codec.Writer) {
	body := p.body()
	if body == nil {
		encodeErr(w, "proposal type %v without its body", p.Type)
		return
	}
	w.Uint16(uint16(p.Type))
	w.Write(body)
}

func (p *Proposal) UnmarshalMLS(r *codec.Reader) {
	*p = Proposal{}
	if !readEnum16(r, "Proposal.proposal_type", &p.Type) {
		return
	}
	switch p.Type {
	case ProposalTypeAdd:
		p.Add = new(Add)
		r.Read(p.Add)
	case ProposalTypeUpdate:
		p.Update = new(Update)
		r.Read(p.Update)
	case ProposalTypeRemove:
		p.Remove = new(Remove)
		r.Read(p.Remove)
	case ProposalTypePSK:
		p.PreSharedKey = new(PreSharedKey)
		r.Read(p.PreSharedKey)
	case ProposalTypeReInit:
		p.ReInit = new(ReInit)
		r.Read(p.ReInit)
	case ProposalTypeExternalInit:
		p.ExternalInit = new(ExternalInit)
		r.Read(p.ExternalInit)
	case ProposalTypeGroupContextExtensions:
		p.GroupContextExtensions = new(GroupContextExtensions)
		r.Read(p.GroupContextExtensions)
	}
}
