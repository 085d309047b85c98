package server

import (
	"bytes"
	"context"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// describer turns the harness's ProposalDescription into an RFC 9420
// proposal for a group whose context and tree it knows.
type describer struct {
	cs   *suite.Suite
	rand io.Reader
	ctx  *wire.GroupContext
	tree *ratchettree.Tree
}

func (d describer) nonce() ([]byte, error) {
	n := make([]byte, d.cs.HashSize()) // §8.4: psk_nonce is KDF.Nh bytes
	if _, err := io.ReadFull(d.rand, n); err != nil {
		return nil, status.Errorf(codes.Internal, "nonce: %v", err)
	}
	return n, nil
}

func (d describer) add(kpMessage []byte) (*wire.Proposal, error) {
	msg, err := parseMessage("key_package", kpMessage, wire.WireFormatKeyPackage)
	if err != nil {
		return nil, err
	}
	return mls.NewAdd(msg.KeyPackage), nil
}

// remove names a member by the identity of its basic credential, as the
// harness does.
func (d describer) remove(identity []byte) (*wire.Proposal, error) {
	leaf, ok := d.tree.FindLeaf(func(_ ratchettree.LeafIndex, l *wire.LeafNode) bool {
		return bytes.Equal(l.Credential.Identity, identity)
	})
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "no member with identity %q", identity)
	}
	return mls.NewRemove(uint32(leaf)), nil
}

func (d describer) externalPSK(id []byte) (*wire.Proposal, error) {
	n, err := d.nonce()
	if err != nil {
		return nil, err
	}
	return &wire.Proposal{Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{PSK: wire.PreSharedKeyID{
		PSKType: wire.PSKTypeExternal, PSKID: id, PSKNonce: n}}}, nil
}

func (d describer) resumptionPSK(epoch uint64) (*wire.Proposal, error) {
	n, err := d.nonce()
	if err != nil {
		return nil, err
	}
	return &wire.Proposal{Type: wire.ProposalTypePSK, PreSharedKey: &wire.PreSharedKey{PSK: wire.PreSharedKeyID{
		PSKType: wire.PSKTypeResumption, Usage: wire.ResumptionPSKUsageApplication,
		PSKGroupID: d.ctx.GroupID, PSKEpoch: epoch, PSKNonce: n}}}, nil
}

func extensions(in []*pb.Extension) (wire.Extensions, error) {
	out := wire.Extensions{}
	for _, e := range in {
		if e.ExtensionType > 0xffff {
			return nil, status.Errorf(codes.InvalidArgument, "extension type %d is not a uint16", e.ExtensionType)
		}
		out = append(out, wire.Extension{ExtensionType: wire.ExtensionType(e.ExtensionType), ExtensionData: e.ExtensionData})
	}
	return out, nil
}

func groupContextExtensions(in []*pb.Extension) (*wire.Proposal, error) {
	exts, err := extensions(in)
	if err != nil {
		return nil, err
	}
	return &wire.Proposal{Type: wire.ProposalTypeGroupContextExtensions, GroupContextExtensions: &wire.GroupContextExtensions{Extensions: exts}}, nil
}

func reInit(groupID []byte, cipherSuite uint32, in []*pb.Extension) (*wire.Proposal, error) {
	if _, err := lookupSuite(cipherSuite); err != nil {
		return nil, err
	}
	exts, err := extensions(in)
	if err != nil {
		return nil, err
	}
	return &wire.Proposal{Type: wire.ProposalTypeReInit, ReInit: &wire.ReInit{
		GroupID: groupID, Version: wire.ProtocolVersionMLS10, CipherSuite: wire.CipherSuite(cipherSuite), Extensions: exts}}, nil
}

// describe builds the proposal a ProposalDescription names.
func (d describer) describe(pd *pb.ProposalDescription) (*wire.Proposal, error) {
	if pd == nil {
		return nil, status.Error(codes.InvalidArgument, "missing proposal description")
	}
	switch string(pd.ProposalType) {
	case "add":
		return d.add(pd.KeyPackage)
	case "remove":
		return d.remove(pd.RemovedId)
	case "externalPSK":
		return d.externalPSK(pd.PskId)
	case "resumptionPSK":
		return d.resumptionPSK(pd.EpochId)
	case "groupContextExtensions":
		return groupContextExtensions(pd.Extensions)
	case "reinit":
		return reInit(pd.GroupId, pd.CipherSuite, pd.Extensions)
	}
	return nil, status.Errorf(codes.InvalidArgument, "unknown proposal type %q", pd.ProposalType)
}

func (m *member) describer(r io.Reader) describer {
	return describer{cs: m.group.Suite(), rand: r, ctx: m.group.Context(), tree: m.group.Tree()}
}

// propose sends p from the member in the member's handshake wire format.
func (s *Server) propose(stateID uint32, build func(m *member) (*wire.Proposal, error)) (*pb.ProposalResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(stateID)
	if err != nil {
		return nil, err
	}
	p, err := build(m)
	if err != nil {
		return nil, err
	}
	msg, _, err := m.group.Propose(s.rand, p, mls.ProposeOptions{PublicMessage: !m.encrypt})
	if err != nil {
		return nil, engineErr("Propose", err)
	}
	out, err := marshal(msg)
	if err != nil {
		return nil, err
	}
	return &pb.ProposalResponse{Proposal: out}, nil
}

// AddProposal proposes adding a KeyPackage's owner.
func (s *Server) AddProposal(_ context.Context, req *pb.AddProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) (*wire.Proposal, error) { return m.describer(s.rand).add(req.KeyPackage) })
}

// UpdateProposal proposes a fresh leaf key for the member.
func (s *Server) UpdateProposal(_ context.Context, req *pb.UpdateProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) (*wire.Proposal, error) {
		p, err := m.group.NewUpdate(s.rand)
		return p, engineErr("NewUpdate", err)
	})
}

// RemoveProposal proposes removing the member with the given identity.
func (s *Server) RemoveProposal(_ context.Context, req *pb.RemoveProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) (*wire.Proposal, error) { return m.describer(s.rand).remove(req.RemovedId) })
}

// ExternalPSKProposal proposes injecting an installed external PSK.
func (s *Server) ExternalPSKProposal(_ context.Context, req *pb.ExternalPSKProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) (*wire.Proposal, error) { return m.describer(s.rand).externalPSK(req.PskId) })
}

// ResumptionPSKProposal proposes injecting the resumption PSK of an
// earlier epoch of this group.
func (s *Server) ResumptionPSKProposal(_ context.Context, req *pb.ResumptionPSKProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(m *member) (*wire.Proposal, error) {
		return m.describer(s.rand).resumptionPSK(req.EpochId)
	})
}

// GroupContextExtensionsProposal proposes replacing the group's extensions.
func (s *Server) GroupContextExtensionsProposal(_ context.Context, req *pb.GroupContextExtensionsProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(*member) (*wire.Proposal, error) { return groupContextExtensions(req.Extensions) })
}

// ReInitProposal proposes reinitialising the group (§12.1.5).
func (s *Server) ReInitProposal(_ context.Context, req *pb.ReInitProposalRequest) (*pb.ProposalResponse, error) {
	return s.propose(req.StateId, func(*member) (*wire.Proposal, error) {
		return reInit(req.GroupId, req.CipherSuite, req.Extensions)
	})
}
