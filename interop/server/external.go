package server

import (
	"bytes"
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// groupInfoTree decodes a GroupInfo message and its ratchet tree (the
// extension, else the out-of-band one) and checks the GroupInfo's
// signature against the signer's leaf.
func groupInfoTree(giBytes, treeBytes []byte) (*suite.Suite, *wire.GroupInfo, *ratchettree.Tree, error) {
	msg, err := parseMessage("group_info", giBytes, wire.WireFormatGroupInfo)
	if err != nil {
		return nil, nil, nil, err
	}
	gi := msg.GroupInfo
	cs, err := lookupSuite(uint32(gi.GroupContext.CipherSuite))
	if err != nil {
		return nil, nil, nil, err
	}
	rt, err := parseTree(treeBytes)
	if err != nil {
		return nil, nil, nil, err
	}
	if ext := gi.Extensions.Find(wire.ExtensionTypeRatchetTree); ext != nil {
		rt = nil
		if err := codec.Unmarshal(ext.ExtensionData, &rt); err != nil {
			return nil, nil, nil, status.Errorf(codes.InvalidArgument, "ratchet_tree extension: %v", err)
		}
	}
	if rt == nil {
		return nil, nil, nil, status.Error(codes.InvalidArgument, "no ratchet tree in the GroupInfo or beside it")
	}
	tree, err := ratchettree.FromWire(cs, rt)
	if err != nil {
		return nil, nil, nil, status.Errorf(codes.InvalidArgument, "ratchet tree: %v", err)
	}
	signer := tree.Leaf(ratchettree.LeafIndex(gi.Signer))
	if signer == nil {
		return nil, nil, nil, status.Errorf(codes.InvalidArgument, "GroupInfo signer %d is not a member", gi.Signer)
	}
	if err := mls.VerifyGroupInfo(cs, signer.SignatureKey, gi); err != nil {
		return nil, nil, nil, status.Errorf(codes.InvalidArgument, "GroupInfo: %v", err)
	}
	return cs, gi, tree, nil
}

// NewMemberAddProposal makes a would-be member's own Add proposal
// (new_member_proposal, §12.1.8) for the GroupInfo's group; the
// transaction then waits for the Welcome.
func (s *Server) NewMemberAddProposal(_ context.Context, req *pb.NewMemberAddProposalRequest) (*pb.NewMemberAddProposalResponse, error) {
	msg, err := parseMessage("group_info", req.GroupInfo, wire.WireFormatGroupInfo)
	if err != nil {
		return nil, err
	}
	gi := msg.GroupInfo
	cs, err := lookupSuite(uint32(gi.GroupContext.CipherSuite))
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, sigPriv, bundle, err := s.newMember(cs, req.Identity)
	if err != nil {
		return nil, err
	}
	prop, err := mls.NewJoinProposal(key, &gi.GroupContext, bundle.KeyPackage)
	if err != nil {
		return nil, engineErr("NewJoinProposal", err)
	}
	out, err := marshal(prop)
	if err != nil {
		return nil, err
	}
	id := s.newID()
	s.pending[id] = &transaction{cs: cs, bundle: bundle, signingKey: key, identity: req.Identity, psks: newPSKStore()}
	return &pb.NewMemberAddProposalResponse{TransactionId: id, Proposal: out,
		InitPriv: bundle.InitPrivate, EncryptionPriv: bundle.EncryptionPrivate, SignaturePriv: sigPriv}, nil
}

// CreateExternalSigner makes a signature key and the ExternalSender entry
// (§12.1.8.1) a group adds to let it propose.
func (s *Server) CreateExternalSigner(_ context.Context, req *pb.CreateExternalSignerRequest) (*pb.CreateExternalSignerResponse, error) {
	cs, err := lookupSuite(req.CipherSuite)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, _, err := s.newSigner(cs)
	if err != nil {
		return nil, err
	}
	sender := wire.ExternalSender{SignatureKey: key.PublicKey(),
		Credential: wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: req.Identity}}
	out, err := marshal(&sender)
	if err != nil {
		return nil, err
	}
	id := s.newID()
	s.signers[id] = &externalSigner{cs: cs, key: key, sender: sender}
	return &pb.CreateExternalSignerResponse{SignerId: id, ExternalSender: out}, nil
}

// AddExternalSigner proposes the group's extensions with the sender
// appended to external_senders (created if absent).
func (s *Server) AddExternalSigner(_ context.Context, req *pb.AddExternalSignerRequest) (*pb.ProposalResponse, error) {
	var sender wire.ExternalSender
	if err := codec.Unmarshal(req.ExternalSender, &sender); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "external_sender: %v", err)
	}
	return s.propose(req.StateId, func(m *member) (*wire.Proposal, error) {
		exts := wire.Extensions{}
		var senders wire.ExternalSenders
		for _, e := range m.group.Context().Extensions {
			if e.ExtensionType == wire.ExtensionTypeExternalSenders {
				if err := codec.Unmarshal(e.ExtensionData, &senders); err != nil {
					return nil, status.Errorf(codes.FailedPrecondition, "the group's external_senders: %v", err)
				}
				continue
			}
			exts = append(exts, e)
		}
		senders = append(senders, sender)
		data, err := marshal(&senders)
		if err != nil {
			return nil, err
		}
		exts = append(exts, wire.Extension{ExtensionType: wire.ExtensionTypeExternalSenders, ExtensionData: data})
		return &wire.Proposal{Type: wire.ProposalTypeGroupContextExtensions,
			GroupContextExtensions: &wire.GroupContextExtensions{Extensions: exts}}, nil
	})
}

// ExternalSignerProposal signs a proposal as an external sender of the
// GroupInfo's group. The signer's index is looked up in the group's
// external_senders by its key: the harness leaves signer_index unset.
func (s *Server) ExternalSignerProposal(_ context.Context, req *pb.ExternalSignerProposalRequest) (*pb.ProposalResponse, error) {
	if req.Description == nil {
		return nil, status.Error(codes.InvalidArgument, "missing proposal description")
	}
	cs, gi, tree, err := groupInfoTree(req.GroupInfo, req.RatchetTree)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	signer, ok := s.signers[req.SignerId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no external signer %d", req.SignerId)
	}
	if signer.cs.ID() != cs.ID() {
		return nil, status.Errorf(codes.InvalidArgument, "signer of suite %v for a group of suite %v", signer.cs.ID(), cs.ID())
	}
	ext := gi.GroupContext.Extensions.Find(wire.ExtensionTypeExternalSenders)
	if ext == nil {
		return nil, status.Error(codes.FailedPrecondition, "the group has no external_senders extension")
	}
	var senders wire.ExternalSenders
	if err := codec.Unmarshal(ext.ExtensionData, &senders); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "external_senders: %v", err)
	}
	index := -1
	for i, e := range senders {
		if bytes.Equal(e.SignatureKey, signer.sender.SignatureKey) {
			index = i
		}
	}
	if index < 0 {
		return nil, status.Error(codes.FailedPrecondition, "the group does not list this external signer")
	}
	p, err := describer{cs: cs, rand: s.rand, ctx: &gi.GroupContext, tree: tree}.describe(req.Description)
	if err != nil {
		return nil, err
	}
	msg, err := mls.NewExternalProposal(signer.key, uint32(index), &gi.GroupContext, p)
	if err != nil {
		return nil, engineErr("NewExternalProposal", err)
	}
	out, err := marshal(msg)
	if err != nil {
		return nil, err
	}
	return &pb.ProposalResponse{Proposal: out}, nil
}
