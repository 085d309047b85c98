package server

import (
	"bytes"
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// newSigner draws a signature key pair for cs.
func (s *Server) newSigner(cs *suite.Suite) (*suite.SigningKey, []byte, error) {
	priv, _, err := cs.GenerateSignatureKey(s.rand)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "signature key: %v", err)
	}
	key, err := cs.NewSigningKey(priv)
	if err != nil {
		return nil, nil, status.Errorf(codes.Internal, "signature key: %v", err)
	}
	return key, priv, nil
}

// newMember makes what every new client state starts from: a fresh
// signature key (and its private bytes) and a KeyPackage for identity.
func (s *Server) newMember(cs *suite.Suite, identity []byte) (*suite.SigningKey, []byte, *mls.KeyPackageBundle, error) {
	key, priv, err := s.newSigner(cs)
	if err != nil {
		return nil, nil, nil, err
	}
	bundle, err := s.newKeyPackage(cs, identity, key)
	if err != nil {
		return nil, nil, nil, err
	}
	return key, priv, bundle, nil
}

// newKeyPackage makes a KeyPackage with a basic credential for identity.
// The engine's default capabilities are kept: mls10, the suite, and
// basic and X.509 credentials.
func (s *Server) newKeyPackage(cs *suite.Suite, identity []byte, key *suite.SigningKey) (*mls.KeyPackageBundle, error) {
	now := s.now()
	bundle, err := mls.NewKeyPackage(s.rand, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: identity}, key,
		mls.KeyPackageOptions{Lifetime: wire.Lifetime{
			NotBefore: uint64(now.Add(-keyPackageLifetime).Unix()),
			NotAfter:  uint64(now.Add(keyPackageLifetime).Unix()),
		}})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "KeyPackage: %v", err)
	}
	return bundle, nil
}

// marshal encodes a wire struct for the harness.
func marshal(v codec.Marshaler) ([]byte, error) {
	b, err := codec.Marshal(v)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding: %v", err)
	}
	return b, nil
}

// parseMessage decodes an MLSMessage and checks it has the wanted body.
func parseMessage(what string, data []byte, want wire.WireFormat) (*wire.MLSMessage, error) {
	m, err := wire.ParseMLSMessage(data)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "%s: %v", what, err)
	}
	if want != 0 && m.WireFormat != want {
		return nil, status.Errorf(codes.InvalidArgument, "%s: wire format %v, want %v", what, m.WireFormat, want)
	}
	return m, nil
}

// parseHandshake decodes a proposal or commit message: a PublicMessage or
// a PrivateMessage.
func parseHandshake(what string, data []byte) (*wire.MLSMessage, error) {
	m, err := parseMessage(what, data, 0)
	if err != nil {
		return nil, err
	}
	if m.WireFormat != wire.WireFormatPublicMessage && m.WireFormat != wire.WireFormatPrivateMessage {
		return nil, status.Errorf(codes.InvalidArgument, "%s: wire format %v is not a handshake message", what, m.WireFormat)
	}
	return m, nil
}

// parseTree decodes an out-of-band ratchet tree; empty means none.
func parseTree(data []byte) (wire.RatchetTree, error) {
	if len(data) == 0 {
		return nil, nil
	}
	var rt wire.RatchetTree
	if err := codec.Unmarshal(data, &rt); err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "ratchet_tree: %v", err)
	}
	return rt, nil
}

// CreateGroup starts a one-member group with the requested id and suite.
func (s *Server) CreateGroup(_ context.Context, req *pb.CreateGroupRequest) (*pb.CreateGroupResponse, error) {
	cs, err := lookupSuite(req.CipherSuite)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, _, bundle, err := s.newMember(cs, req.Identity)
	if err != nil {
		return nil, err
	}
	psks := newPSKStore()
	g, err := mls.CreateGroup(s.rand, cs, mls.CreateConfig{GroupID: req.GroupId, KeyPackage: bundle, SigningKey: key, PSKs: psks, Now: s.nowUnix()})
	if err != nil {
		return nil, engineErr("CreateGroup", err)
	}
	id := s.newID()
	s.states[id] = &member{group: g, signingKey: key, identity: req.Identity, encrypt: req.EncryptHandshake, psks: psks}
	return &pb.CreateGroupResponse{StateId: id}, nil
}

// CreateKeyPackage makes a KeyPackage and keeps its private keys for the
// JoinGroup that names the returned transaction.
func (s *Server) CreateKeyPackage(_ context.Context, req *pb.CreateKeyPackageRequest) (*pb.CreateKeyPackageResponse, error) {
	cs, err := lookupSuite(req.CipherSuite)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, sigPriv, bundle, err := s.newMember(cs, req.Identity)
	if err != nil {
		return nil, err
	}
	kp, err := marshal(wire.NewMLSMessage(bundle.KeyPackage))
	if err != nil {
		return nil, err
	}
	id := s.newID()
	s.pending[id] = &transaction{cs: cs, bundle: bundle, signingKey: key, identity: req.Identity, psks: newPSKStore()}
	return &pb.CreateKeyPackageResponse{
		TransactionId: id, KeyPackage: kp,
		InitPriv: bundle.InitPrivate, EncryptionPriv: bundle.EncryptionPrivate, SignaturePriv: sigPriv,
	}, nil
}

// JoinGroup joins from a Welcome made for the transaction's KeyPackage.
func (s *Server) JoinGroup(_ context.Context, req *pb.JoinGroupRequest) (*pb.JoinGroupResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, ok := s.pending[req.TransactionId]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no transaction %d", req.TransactionId)
	}
	m, err := s.joinWelcome(tx, req.Welcome, req.RatchetTree, tx.psks, req.EncryptHandshake)
	if err != nil {
		return nil, err
	}
	delete(s.pending, req.TransactionId)
	id := s.newID()
	s.states[id] = m
	return &pb.JoinGroupResponse{StateId: id, EpochAuthenticator: m.group.EpochAuthenticator()}, nil
}

// joinWelcome opens a Welcome for tx's KeyPackage into a new member.
func (s *Server) joinWelcome(tx *transaction, welcome, tree []byte, psks mls.PSKStore, encrypt bool) (*member, error) {
	msg, err := parseMessage("welcome", welcome, wire.WireFormatWelcome)
	if err != nil {
		return nil, err
	}
	rt, err := parseTree(tree)
	if err != nil {
		return nil, err
	}
	if msg.Welcome.CipherSuite != wire.CipherSuite(tx.cs.ID()) {
		return nil, status.Errorf(codes.InvalidArgument, "Welcome of suite %v for a KeyPackage of suite %v", msg.Welcome.CipherSuite, tx.cs.ID())
	}
	g, err := mls.JoinFromWelcome(tx.cs, msg.Welcome, mls.JoinConfig{
		KeyPackage: tx.bundle, RatchetTree: rt, PSKs: psks, SigningKey: tx.signingKey, Now: s.nowUnix(),
	})
	if err != nil {
		return nil, engineErr("JoinFromWelcome", err)
	}
	tx.bundle.Wipe()
	return &member{group: g, signingKey: tx.signingKey, identity: tx.identity, encrypt: encrypt, psks: tx.psks}, nil
}

// ExternalJoin joins by external commit from a GroupInfo (§12.4.3.2),
// optionally removing the joiner's earlier leaf (found by identity) and
// injecting PSKs.
func (s *Server) ExternalJoin(_ context.Context, req *pb.ExternalJoinRequest) (*pb.ExternalJoinResponse, error) {
	msg, err := parseMessage("group_info", req.GroupInfo, wire.WireFormatGroupInfo)
	if err != nil {
		return nil, err
	}
	gi := msg.GroupInfo
	cs, err := lookupSuite(uint32(gi.GroupContext.CipherSuite))
	if err != nil {
		return nil, err
	}
	rt, err := parseTree(req.RatchetTree)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, _, bundle, err := s.newMember(cs, req.Identity)
	if err != nil {
		return nil, err
	}
	psks := newPSKStore()
	cfg := mls.ExternalJoinConfig{GroupInfo: gi, RatchetTree: rt, KeyPackage: bundle, SigningKey: key, PSKs: psks, Now: s.nowUnix()}
	// The PSKs the harness hands over are injected by the external commit
	// (§12.2) and kept for later epochs.
	d := describer{cs: cs, rand: s.rand}
	for _, p := range req.Psks {
		psks.put(p.PskId, p.PskSecret)
		prop, err := d.externalPSK(p.PskId)
		if err != nil {
			return nil, err
		}
		cfg.InjectPSKs = append(cfg.InjectPSKs, prop.PreSharedKey.PSK)
	}
	if req.RemovePrior {
		leaf, err := priorLeaf(cs, gi, rt, req.Identity)
		if err != nil {
			return nil, err
		}
		cfg.RemoveOld = &leaf
	}
	g, commit, err := mls.JoinExternal(s.rand, cs, cfg)
	if err != nil {
		return nil, engineErr("JoinExternal", err)
	}
	out, err := marshal(commit)
	if err != nil {
		return nil, err
	}
	id := s.newID()
	s.states[id] = &member{group: g, signingKey: key, identity: req.Identity, encrypt: req.EncryptHandshake, psks: psks}
	return &pb.ExternalJoinResponse{StateId: id, Commit: out, EpochAuthenticator: g.EpochAuthenticator()}, nil
}

// priorLeaf finds the leaf with a basic credential for identity in the
// GroupInfo's tree (its extension, else the one given out of band).
func priorLeaf(cs *suite.Suite, gi *wire.GroupInfo, outOfBand wire.RatchetTree, identity []byte) (uint32, error) {
	rt := outOfBand
	if ext := gi.Extensions.Find(wire.ExtensionTypeRatchetTree); ext != nil {
		rt = nil
		if err := codec.Unmarshal(ext.ExtensionData, &rt); err != nil {
			return 0, status.Errorf(codes.InvalidArgument, "ratchet_tree extension: %v", err)
		}
	}
	for i := 0; 2*i < len(rt); i++ {
		n := rt[2*i]
		if n != nil && n.LeafNode != nil && bytes.Equal(n.LeafNode.Credential.Identity, identity) {
			return uint32(i), nil
		}
	}
	return 0, status.Errorf(codes.InvalidArgument, "no leaf with identity %q to remove", identity)
}

// GroupInfo returns a signed GroupInfo of the state's epoch. With
// external_tree the ratchet tree travels beside it instead of inside, so
// the GroupInfo is re-signed without the ratchet_tree extension.
func (s *Server) GroupInfo(_ context.Context, req *pb.GroupInfoRequest) (*pb.GroupInfoResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	gi, err := m.group.GroupInfo()
	if err != nil {
		return nil, engineErr("GroupInfo", err)
	}
	resp := &pb.GroupInfoResponse{}
	if req.ExternalTree {
		var kept wire.Extensions
		for _, e := range gi.Extensions {
			if e.ExtensionType != wire.ExtensionTypeRatchetTree {
				kept = append(kept, e)
			}
		}
		gi.Extensions = kept
		if err := mls.SignGroupInfo(m.signingKey, gi); err != nil {
			return nil, engineErr("SignGroupInfo", err)
		}
		rt := m.group.Tree().ToWire()
		if resp.RatchetTree, err = marshal(&rt); err != nil {
			return nil, err
		}
	}
	if resp.GroupInfo, err = marshal(wire.NewMLSMessage(gi)); err != nil {
		return nil, err
	}
	return resp, nil
}

// StateAuth returns the epoch_authenticator (§8.7): members that agree on
// it agree on the whole group state.
func (s *Server) StateAuth(_ context.Context, req *pb.StateAuthRequest) (*pb.StateAuthResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	return &pb.StateAuthResponse{StateAuthSecret: m.group.EpochAuthenticator()}, nil
}

// Export is the MLS exporter (§8.5).
func (s *Server) Export(_ context.Context, req *pb.ExportRequest) (*pb.ExportResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	out, err := m.group.Export(req.Label, req.Context, int(req.KeyLength))
	if err != nil {
		return nil, engineErr("Export", err)
	}
	return &pb.ExportResponse{ExportedSecret: out}, nil
}

// Protect encrypts application data as a PrivateMessage.
func (s *Server) Protect(_ context.Context, req *pb.ProtectRequest) (*pb.ProtectResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	msg, err := m.group.SealApplication(s.rand, req.Plaintext, req.AuthenticatedData, 0)
	if err != nil {
		return nil, engineErr("SealApplication", err)
	}
	out, err := marshal(msg)
	if err != nil {
		return nil, err
	}
	return &pb.ProtectResponse{Ciphertext: out}, nil
}

// Unprotect decrypts and authenticates an application message of the
// current or a retained earlier epoch.
func (s *Server) Unprotect(_ context.Context, req *pb.UnprotectRequest) (*pb.UnprotectResponse, error) {
	msg, err := parseMessage("ciphertext", req.Ciphertext, wire.WireFormatPrivateMessage)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m, err := s.state(req.StateId)
	if err != nil {
		return nil, err
	}
	r, err := m.group.OpenMessage(msg)
	if err != nil {
		return nil, engineErr("OpenMessage", err)
	}
	return &pb.UnprotectResponse{AuthenticatedData: r.AuthenticatedData, Plaintext: r.ApplicationData}, nil
}

// StorePSK installs an external PSK for a state or a pending KeyPackage.
func (s *Server) StorePSK(_ context.Context, req *pb.StorePSKRequest) (*pb.StorePSKResponse, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := req.StateOrTransactionId
	switch {
	case s.states[id] != nil:
		s.states[id].psks.put(req.PskId, req.PskSecret)
	case s.pending[id] != nil:
		s.pending[id].psks.put(req.PskId, req.PskSecret)
	default:
		return nil, status.Errorf(codes.NotFound, "no state or transaction %d", id)
	}
	return &pb.StorePSKResponse{}, nil
}
