package server

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ReInitCommit commits a ReInit proposal (§11.2); it is an ordinary commit.
func (s *Server) ReInitCommit(_ context.Context, req *pb.CommitRequest) (*pb.CommitResponse, error) {
	return s.commit(req)
}

// startReInit records a member whose group committed a ReInit, with a
// fresh KeyPackage for the new group's suite.
func (s *Server) startReInit(m *member) (*pb.HandleReInitCommitResponse, error) {
	ri := m.group.PendingReInit()
	if ri == nil {
		return nil, status.Error(codes.FailedPrecondition, "the commit did not commit a ReInit")
	}
	cs, err := lookupSuite(uint32(ri.CipherSuite))
	if err != nil {
		return nil, err
	}
	key := m.signingKey
	if cs.ID() != m.group.Suite().ID() {
		// A new suite may use another signature scheme: a new key.
		if key, _, err = s.newSigner(cs); err != nil {
			return nil, err
		}
	}
	bundle, err := s.newKeyPackage(cs, m.identity, key)
	if err != nil {
		return nil, err
	}
	kp, err := marshal(wire.NewMLSMessage(bundle.KeyPackage))
	if err != nil {
		return nil, err
	}
	id := s.newID()
	s.reinits[id] = &reinit{old: m, encrypt: m.encrypt,
		next: &transaction{cs: cs, bundle: bundle, signingKey: key, identity: m.identity, psks: m.psks}}
	return &pb.HandleReInitCommitResponse{ReinitId: id, KeyPackage: kp, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}

// HandlePendingReInitCommit merges the member's own ReInit commit.
func (s *Server) HandlePendingReInitCommit(_ context.Context, req *pb.HandlePendingCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.mergePending(req.StateId)
	if err != nil {
		return nil, err
	}
	return s.startReInit(m)
}

// HandleReInitCommit merges another member's ReInit commit.
func (s *Server) HandleReInitCommit(_ context.Context, req *pb.HandleCommitRequest) (*pb.HandleReInitCommitResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.handleCommit(req)
	if err != nil {
		return nil, err
	}
	return s.startReInit(m)
}

// subgroupResponse registers a resumed group's creator as a new state.
func (s *Server) subgroupResponse(m *member, welcome *wire.Welcome, externalTree bool) (*pb.CreateSubgroupResponse, error) {
	id := s.newID()
	s.states[id] = m
	resp := &pb.CreateSubgroupResponse{StateId: id, EpochAuthenticator: m.group.EpochAuthenticator()}
	var err error
	if resp.Welcome, err = marshal(wire.NewMLSMessage(welcome)); err != nil {
		return nil, err
	}
	if externalTree {
		rt := m.group.Tree().ToWire()
		if resp.RatchetTree, err = marshal(&rt); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

func parseKeyPackages(raw [][]byte) ([]*wire.KeyPackage, error) {
	var kps []*wire.KeyPackage
	for _, b := range raw {
		msg, err := parseMessage("key_package", b, wire.WireFormatKeyPackage)
		if err != nil {
			return nil, err
		}
		kps = append(kps, msg.KeyPackage)
	}
	return kps, nil
}

// ReInitWelcome creates the reinitialised group with the other members'
// KeyPackages and returns its Welcome (§11.2).
func (s *Server) ReInitWelcome(_ context.Context, req *pb.ReInitWelcomeRequest) (*pb.CreateSubgroupResponse, error) {
	kps, err := parseKeyPackages(req.KeyPackage)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reinits[req.ReinitId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no reinit %d", req.ReinitId)
	}
	g, welcome, err := r.old.group.ResumeWith(s.rand, wire.ResumptionPSKUsageReInit, mls.CreateConfig{
		KeyPackage: r.next.bundle, SigningKey: r.next.signingKey, PSKs: r.next.psks, Now: s.nowUnix()}, kps,
		mls.ResumeOptions{ForcePath: req.ForcePath, ExternalTree: req.ExternalTree})
	if err != nil {
		return nil, engineErr("Resume", err)
	}
	delete(s.reinits, req.ReinitId)
	return s.subgroupResponse(&member{group: g, signingKey: r.next.signingKey, identity: r.next.identity, encrypt: r.encrypt, psks: r.next.psks},
		welcome, req.ExternalTree)
}

// HandleReInitWelcome joins the reinitialised group and checks that it
// really continues the old one.
func (s *Server) HandleReInitWelcome(_ context.Context, req *pb.HandleReInitWelcomeRequest) (*pb.JoinGroupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.reinits[req.ReinitId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no reinit %d", req.ReinitId)
	}
	m, err := s.joinWelcome(r.next, req.Welcome, req.RatchetTree, chainPSKs{r.old.group.ResumptionPSKs(), r.next.psks}, r.encrypt)
	if err != nil {
		return nil, err
	}
	if err := m.group.CheckResumption(r.old.group, wire.ResumptionPSKUsageReInit); err != nil {
		return nil, engineErr("CheckResumption", err)
	}
	delete(s.reinits, req.ReinitId)
	id := s.newID()
	s.states[id] = m
	return &pb.JoinGroupResponse{StateId: id, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}

// CreateBranch starts a subgroup of the member's group (§11.3).
func (s *Server) CreateBranch(_ context.Context, req *pb.CreateBranchRequest) (*pb.CreateSubgroupResponse, error) {
	kps, err := parseKeyPackages(req.KeyPackages)
	if err != nil {
		return nil, err
	}
	exts, err := extensions(req.Extensions)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	bundle, err := s.newKeyPackage(m.group.Suite(), m.identity, m.signingKey)
	if err != nil {
		return nil, err
	}
	psks := newPSKStore()
	g, welcome, err := m.group.ResumeWith(s.rand, wire.ResumptionPSKUsageBranch, mls.CreateConfig{
		GroupID: req.GroupId, KeyPackage: bundle, SigningKey: m.signingKey, Extensions: exts, PSKs: psks, Now: s.nowUnix()}, kps,
		mls.ResumeOptions{ForcePath: req.ForcePath, ExternalTree: req.ExternalTree})
	if err != nil {
		return nil, engineErr("Resume", err)
	}
	return s.subgroupResponse(&member{group: g, signingKey: m.signingKey, identity: m.identity, encrypt: m.encrypt, psks: psks},
		welcome, req.ExternalTree)
}

// HandleBranch joins a subgroup of the member's group from its Welcome.
func (s *Server) HandleBranch(_ context.Context, req *pb.HandleBranchRequest) (*pb.HandleBranchResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	tx, ok := s.pending[req.TransactionId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no transaction %d", req.TransactionId)
	}
	m, err := s.joinWelcome(tx, req.Welcome, req.RatchetTree, chainPSKs{old.group.ResumptionPSKs(), tx.psks}, old.encrypt)
	if err != nil {
		return nil, err
	}
	if err := m.group.CheckResumption(old.group, wire.ResumptionPSKUsageBranch); err != nil {
		return nil, engineErr("CheckResumption", err)
	}
	delete(s.pending, req.TransactionId)
	id := s.newID()
	s.states[id] = m
	return &pb.HandleBranchResponse{StateId: id, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}
