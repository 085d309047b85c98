package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// ProposalOrRef is a proposal in a Commit, by value or by reference (RFC
// 9420 §12.4). Proposal is set for ProposalOrRefTypeProposal, Reference
// (a ProposalRef, §5.2) for ProposalOrRefTypeReference.
type ProposalOrRef struct {
	Type      ProposalOrRefType
	Proposal  *Proposal
	Reference []byte
}

func (p *ProposalOrRef) MarshalMLS(w *codec.Writer) {
	switch {
	case p.Type == ProposalOrRefTypeProposal && p.Proposal != nil:
		w.Uint8(uint8(p.Type))
		w.Write(p.Proposal)
	case p.Type == ProposalOrRefTypeReference:
		w.Uint8(uint8(p.Type))
		w.Opaque(p.Reference)
	default:
		encodeErr(w, "ProposalOrRef type %v without its value", p.Type)
	}
}

func (p *ProposalOrRef) UnmarshalMLS(r *codec.Reader) {
	*p = ProposalOrRef{}
	if !readEnum8(r, "ProposalOrRef.type", &p.Type) {
		return
	}
	switch p.Type {
	case ProposalOrRefTypeProposal:
		p.Proposal = new(Proposal)
		r.Read(p.Proposal)
	case ProposalOrRefTypeReference:
		r.Opaque("ProposalOrRef.reference", &p.Reference)
	}
}

// Commit moves the group to a new epoch by applying proposals and,
// optionally, an UpdatePath (RFC 9420 §12.4). Path is nil when absent.
type Commit struct {
	Proposals []ProposalOrRef
	Path      *UpdatePath
}

func (c *Commit) MarshalMLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for i := range c.Proposals {
			w.Write(&c.Proposals[i])
		}
	})
	w.Optional(c.Path != nil, func(w *codec.Writer) { w.Write(c.Path) })
}

func (c *Commit) UnmarshalMLS(r *codec.Reader) {
	c.Proposals = nil
	r.Each("Commit.proposals", func(r *codec.Reader) {
		var p ProposalOrRef
		if r.Read(&p) {
			c.Proposals = append(c.Proposals, p)
		}
	})
	c.Path = nil
	r.Optional("Commit.path", func(r *codec.Reader) {
		c.Path = new(UpdatePath)
		r.Read(c.Path)
	})
}
