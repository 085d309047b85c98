package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// receiveProposals processes proposal messages (the member's own come
// back resolved by the engine) and returns their references.
func (s *Server) receiveProposals(m *member, msgs [][]byte) ([][]byte, error) {
	var refs [][]byte
	for i, raw := range msgs {
		msg, err := parseHandshake("proposal", raw)
		if err != nil {
			return nil, err
		}
		p, err := m.group.ProcessHandshake(msg)
		if err != nil {
			return nil, engineErr("processing proposal", err)
		}
		if p.Proposal == nil {
			return nil, status.Errorf(codes.InvalidArgument, "message %d of the proposal list is not a proposal", i)
		}
		refs = append(refs, p.ProposalRef)
	}
	return refs, nil
}

// commit creates the member's commit and keeps it pending until
// HandlePendingCommit (or HandlePendingReInitCommit) merges it.
func (s *Server) commit(req *pb.CommitRequest) (*pb.CommitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	refs, err := s.receiveProposals(m, req.ByReference)
	if err != nil {
		return nil, err
	}
	d := m.describer(s.rand)
	var byValue []*wire.Proposal
	for _, pd := range req.ByValue {
		p, err := d.describe(pd)
		if err != nil {
			return nil, err
		}
		byValue = append(byValue, p)
	}
	res, err := m.group.Commit(s.rand, mls.CommitOptions{
		Proposals: byValue, References: refs, ForcePath: req.ForcePath, PublicMessage: !m.encrypt,
		ExternalTree: req.ExternalTree,
	})
	if err != nil {
		return nil, engineErr("Commit", err)
	}
	resp := &pb.CommitResponse{}
	if resp.Commit, err = marshal(res.Commit); err != nil {
		return nil, err
	}
	if res.Welcome != nil {
		if resp.Welcome, err = marshal(wire.NewMLSMessage(res.Welcome)); err != nil {
			return nil, err
		}
	}
	if req.ExternalTree {
		rt := res.Staged.Tree().ToWire()
		if resp.RatchetTree, err = marshal(&rt); err != nil {
			return nil, err
		}
	}
	m.pending = res
	return resp, nil
}

// Commit commits proposals by reference and by value.
func (s *Server) Commit(_ context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	return s.commit(req)
}

// handleCommit processes the listed proposals and then the commit, and
// merges it.
func (s *Server) handleCommit(req *pb.HandleCommitRequest) (*member, error) {
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	msg, err := parseHandshake("commit", req.Commit)
	if err != nil {
		return nil, err
	}
	if _, err := s.receiveProposals(m, req.Proposal); err != nil {
		return nil, err
	}
	p, err := m.group.ProcessHandshake(msg)
	if err != nil {
		return nil, engineErr("processing commit", err)
	}
	if p.Commit == nil {
		return nil, status.Error(codes.InvalidArgument, "commit message holds a proposal")
	}
	if p.Commit.SelfRemoved {
		delete(s.states, req.StateId)
		return nil, status.Error(codes.FailedPrecondition, "the commit removes this member; its state is gone")
	}
	if err := m.group.Merge(p.Commit); err != nil {
		return nil, engineErr("Merge", err)
	}
	m.pending = nil // a rival commit won; ours is stale
	return m, nil
}

// HandleCommit moves a member to the epoch of another member's commit.
func (s *Server) HandleCommit(_ context.Context, req *pb.HandleCommitRequest) (*pb.HandleCommitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.handleCommit(req)
	if err != nil {
		return nil, err
	}
	return &pb.HandleCommitResponse{StateId: req.StateId, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}

// mergePending merges the member's own pending commit.
func (s *Server) mergePending(id uint32) (*member, error) {
	m, err := s.state(id)
	if err != nil {
		return nil, err
	}
	if m.pending == nil {
		return nil, status.Errorf(codes.FailedPrecondition, "state %d has no pending commit", id)
	}
	if err := m.group.Merge(m.pending.Staged); err != nil {
		return nil, engineErr("Merge", err)
	}
	m.pending = nil
	return m, nil
}

// HandlePendingCommit merges the member's own commit.
func (s *Server) HandlePendingCommit(_ context.Context, req *pb.HandlePendingCommitRequest) (*pb.HandleCommitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.mergePending(req.StateId)
	if err != nil {
		return nil, err
	}
	return &pb.HandleCommitResponse{StateId: req.StateId, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}
