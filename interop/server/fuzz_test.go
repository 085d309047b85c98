package server

import (
	"bytes"
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
)

// fixture is a two-member group on one Server (alice, bob), a pending
// KeyPackage (carol) and an external signer, built once for the fuzz
// target, with real messages of each kind for seeds.
type fixture struct {
	s                    *Server
	alice, bob, carolTx  uint32
	signer               uint32
	commit, welcome, gi  []byte
	keyPackage, proposal []byte
	ciphertext, tree     []byte
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	ctx := context.Background()
	must := func(err error) {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
	}
	f := &fixture{s: New()}
	cg, err := f.s.CreateGroup(ctx, &pb.CreateGroupRequest{GroupId: []byte("fuzz"), CipherSuite: 1, Identity: []byte("alice")})
	must(err)
	f.alice = cg.StateId
	kp, err := f.s.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("bob")})
	must(err)
	cr, err := f.s.Commit(ctx, &pb.CommitRequest{StateId: f.alice, ByValue: []*pb.ProposalDescription{{ProposalType: []byte("add"), KeyPackage: kp.KeyPackage}}})
	must(err)
	_, err = f.s.HandlePendingCommit(ctx, &pb.HandlePendingCommitRequest{StateId: f.alice})
	must(err)
	jr, err := f.s.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: kp.TransactionId, Welcome: cr.Welcome})
	must(err)
	f.bob = jr.StateId
	f.commit, f.welcome, f.keyPackage = cr.Commit, cr.Welcome, kp.KeyPackage
	carol, err := f.s.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1, Identity: []byte("carol")})
	must(err)
	f.carolTx = carol.TransactionId
	gi, err := f.s.GroupInfo(ctx, &pb.GroupInfoRequest{StateId: f.alice, ExternalTree: true})
	must(err)
	f.gi, f.tree = gi.GroupInfo, gi.RatchetTree
	pr, err := f.s.UpdateProposal(ctx, &pb.UpdateProposalRequest{StateId: f.bob})
	must(err)
	f.proposal = pr.Proposal
	ct, err := f.s.Protect(ctx, &pb.ProtectRequest{StateId: f.bob, Plaintext: []byte("hi")})
	must(err)
	f.ciphertext = ct.Ciphertext
	es, err := f.s.CreateExternalSigner(ctx, &pb.CreateExternalSignerRequest{CipherSuite: 1, Identity: []byte("ds")})
	must(err)
	f.signer = es.SignerId
	return f
}

// FuzzMessageInputs feeds arbitrary bytes to every RPC that decodes MLS
// bytes from the harness. None may panic; each must answer a client
// error (InvalidArgument, NotFound or FailedPrecondition),
// never Internal; and alice's and bob's epochs must not move, since no
// fuzzed input is a valid commit for them.
func FuzzMessageInputs(f *testing.F) {
	fx := newFixture(f)
	for _, seed := range [][]byte{fx.commit, fx.welcome, fx.gi, fx.keyPackage, fx.proposal, fx.ciphertext, fx.tree} {
		f.Add(seed)
		f.Add(seed[:len(seed)/2])
		f.Add(append(append([]byte(nil), seed...), 0))
	}
	f.Add([]byte{})
	ctx := context.Background()
	before := func(id uint32) []byte {
		r, err := fx.s.StateAuth(ctx, &pb.StateAuthRequest{StateId: id})
		if err != nil {
			f.Fatal(err)
		}
		return r.StateAuthSecret
	}
	aliceAuth, bobAuth := before(fx.alice), before(fx.bob)
	f.Fuzz(func(t *testing.T, data []byte) {
		check := func(rpc string, err error) {
			t.Helper()
			if err == nil {
				return
			}
			switch status.Code(err) {
			case codes.InvalidArgument, codes.NotFound, codes.FailedPrecondition:
			default:
				t.Fatalf("%s: %v", rpc, err)
			}
		}
		_, err := fx.s.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: fx.carolTx, Welcome: data})
		check("JoinGroup", err)
		_, err = fx.s.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: fx.carolTx, Welcome: fx.welcome, RatchetTree: data})
		check("JoinGroup tree", err)
		_, err = fx.s.HandleCommit(ctx, &pb.HandleCommitRequest{StateId: fx.bob, Commit: data})
		check("HandleCommit", err)
		_, err = fx.s.HandleCommit(ctx, &pb.HandleCommitRequest{StateId: fx.alice, Proposal: [][]byte{data}, Commit: data})
		check("HandleCommit proposals", err)
		_, err = fx.s.Unprotect(ctx, &pb.UnprotectRequest{StateId: fx.alice, Ciphertext: data})
		check("Unprotect", err)
		_, err = fx.s.ExternalJoin(ctx, &pb.ExternalJoinRequest{GroupInfo: data, Identity: []byte("x")})
		check("ExternalJoin", err)
		_, err = fx.s.ExternalJoin(ctx, &pb.ExternalJoinRequest{GroupInfo: fx.gi, RatchetTree: data, Identity: []byte("x")})
		check("ExternalJoin tree", err)
		_, err = fx.s.AddProposal(ctx, &pb.AddProposalRequest{StateId: fx.alice, KeyPackage: data})
		check("AddProposal", err)
		_, err = fx.s.AddExternalSigner(ctx, &pb.AddExternalSignerRequest{StateId: fx.alice, ExternalSender: data})
		check("AddExternalSigner", err)
		_, err = fx.s.NewMemberAddProposal(ctx, &pb.NewMemberAddProposalRequest{GroupInfo: data, Identity: []byte("x")})
		check("NewMemberAddProposal", err)
		_, err = fx.s.ExternalSignerProposal(ctx, &pb.ExternalSignerProposalRequest{SignerId: fx.signer, GroupInfo: fx.gi, RatchetTree: data,
			Description: &pb.ProposalDescription{ProposalType: []byte("remove"), RemovedId: []byte("bob")}})
		check("ExternalSignerProposal", err)
		_, err = fx.s.Commit(ctx, &pb.CommitRequest{StateId: fx.alice, ByReference: [][]byte{data}})
		check("Commit by reference", err)
		if !bytes.Equal(before(fx.alice), aliceAuth) || !bytes.Equal(before(fx.bob), bobAuth) {
			t.Fatal("a rejected input moved a member's epoch")
		}
	})
}
