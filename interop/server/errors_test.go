package server

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
)

// TestMisuseAnswersClientErrors: requests the harness could get wrong get
// the gRPC code that says whose fault it is, and change nothing.
func TestMisuseAnswersClientErrors(t *testing.T) {
	fx := newFixture(t)
	ctx := context.Background()
	before, err := fx.s.StateAuth(ctx, &pb.StateAuthRequest{StateId: fx.alice})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		want codes.Code
		call func() error
	}{
		{"unknown state", codes.NotFound, func() error {
			_, err := fx.s.Protect(ctx, &pb.ProtectRequest{StateId: 9999, Plaintext: []byte("x")})
			return err
		}},
		{"unknown transaction", codes.NotFound, func() error {
			_, err := fx.s.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: 9999, Welcome: fx.welcome})
			return err
		}},
		{"StorePSK for nobody", codes.NotFound, func() error {
			_, err := fx.s.StorePSK(ctx, &pb.StorePSKRequest{StateOrTransactionId: 9999, PskId: []byte("id"), PskSecret: []byte("s")})
			return err
		}},
		{"unknown suite", codes.InvalidArgument, func() error {
			_, err := fx.s.CreateGroup(ctx, &pb.CreateGroupRequest{CipherSuite: 99, Identity: []byte("x")})
			return err
		}},
		{"suite beyond uint16", codes.InvalidArgument, func() error {
			_, err := fx.s.CreateKeyPackage(ctx, &pb.CreateKeyPackageRequest{CipherSuite: 1 << 16, Identity: []byte("x")})
			return err
		}},
		{"no pending commit", codes.FailedPrecondition, func() error {
			_, err := fx.s.HandlePendingCommit(ctx, &pb.HandlePendingCommitRequest{StateId: fx.alice})
			return err
		}},
		{"exporter length beyond the KDF's", codes.FailedPrecondition, func() error {
			_, err := fx.s.Export(ctx, &pb.ExportRequest{StateId: fx.alice, Label: "x", KeyLength: 1 << 20})
			return err
		}},
		{"remove of a stranger", codes.InvalidArgument, func() error {
			_, err := fx.s.RemoveProposal(ctx, &pb.RemoveProposalRequest{StateId: fx.alice, RemovedId: []byte("mallory")})
			return err
		}},
		{"unknown proposal type", codes.InvalidArgument, func() error {
			_, err := fx.s.Commit(ctx, &pb.CommitRequest{StateId: fx.alice, ByValue: []*pb.ProposalDescription{{ProposalType: []byte("frobnicate")}}})
			return err
		}},
		{"missing description", codes.InvalidArgument, func() error {
			_, err := fx.s.ExternalSignerProposal(ctx, &pb.ExternalSignerProposalRequest{SignerId: fx.signer, GroupInfo: fx.gi, RatchetTree: fx.tree})
			return err
		}},
		{"signer the group does not list", codes.FailedPrecondition, func() error {
			_, err := fx.s.ExternalSignerProposal(ctx, &pb.ExternalSignerProposalRequest{SignerId: fx.signer, GroupInfo: fx.gi, RatchetTree: fx.tree,
				Description: &pb.ProposalDescription{ProposalType: []byte("remove"), RemovedId: []byte("bob")}})
			return err
		}},
		{"welcome for another KeyPackage", codes.FailedPrecondition, func() error {
			_, err := fx.s.JoinGroup(ctx, &pb.JoinGroupRequest{TransactionId: fx.carolTx, Welcome: fx.welcome})
			return err
		}},
		{"a key package where a commit belongs", codes.InvalidArgument, func() error {
			_, err := fx.s.HandleCommit(ctx, &pb.HandleCommitRequest{StateId: fx.bob, Commit: fx.keyPackage})
			return err
		}},
	}
	for _, c := range cases {
		if got := status.Code(c.call()); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	after, err := fx.s.StateAuth(ctx, &pb.StateAuthRequest{StateId: fx.alice})
	if err != nil {
		t.Fatal(err)
	}
	if string(after.StateAuthSecret) != string(before.StateAuthSecret) {
		t.Fatal("a refused request moved alice's epoch")
	}
}
