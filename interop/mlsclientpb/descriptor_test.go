package mlsclientpb

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// The harness talks to clients by service, method, message and field
// names and numbers; these tests keep the generated descriptor to the
// harness's interface (mlswg/mls-implementations,
// interop/proto/mls_client.proto) so that an edit of the .proto cannot
// silently break the wire contract.

// harnessRPCs is the harness's service, method by method, with request
// and response types.
const harnessRPCs = `Name NameRequest NameResponse
SupportedCiphersuites SupportedCiphersuitesRequest SupportedCiphersuitesResponse
CreateGroup CreateGroupRequest CreateGroupResponse
CreateKeyPackage CreateKeyPackageRequest CreateKeyPackageResponse
JoinGroup JoinGroupRequest JoinGroupResponse
ExternalJoin ExternalJoinRequest ExternalJoinResponse
GroupInfo GroupInfoRequest GroupInfoResponse
StateAuth StateAuthRequest StateAuthResponse
Export ExportRequest ExportResponse
Protect ProtectRequest ProtectResponse
Unprotect UnprotectRequest UnprotectResponse
StorePSK StorePSKRequest StorePSKResponse
AddProposal AddProposalRequest ProposalResponse
UpdateProposal UpdateProposalRequest ProposalResponse
RemoveProposal RemoveProposalRequest ProposalResponse
ExternalPSKProposal ExternalPSKProposalRequest ProposalResponse
ResumptionPSKProposal ResumptionPSKProposalRequest ProposalResponse
GroupContextExtensionsProposal GroupContextExtensionsProposalRequest ProposalResponse
Commit CommitRequest CommitResponse
HandleCommit HandleCommitRequest HandleCommitResponse
HandlePendingCommit HandlePendingCommitRequest HandleCommitResponse
ReInitProposal ReInitProposalRequest ProposalResponse
ReInitCommit CommitRequest CommitResponse
HandlePendingReInitCommit HandlePendingCommitRequest HandleReInitCommitResponse
HandleReInitCommit HandleCommitRequest HandleReInitCommitResponse
ReInitWelcome ReInitWelcomeRequest CreateSubgroupResponse
HandleReInitWelcome HandleReInitWelcomeRequest JoinGroupResponse
CreateBranch CreateBranchRequest CreateSubgroupResponse
HandleBranch HandleBranchRequest HandleBranchResponse
NewMemberAddProposal NewMemberAddProposalRequest NewMemberAddProposalResponse
CreateExternalSigner CreateExternalSignerRequest CreateExternalSignerResponse
AddExternalSigner AddExternalSignerRequest ProposalResponse
ExternalSignerProposal ExternalSignerProposalRequest ProposalResponse`

func TestServiceMatchesHarness(t *testing.T) {
	fd := File_mls_client_proto
	if fd.Package() != "mls_client" {
		t.Fatalf("package %q, want mls_client", fd.Package())
	}
	svc := fd.Services().ByName("MLSClient")
	if svc == nil {
		t.Fatal("no service MLSClient")
	}
	want := strings.Split(harnessRPCs, "\n")
	if svc.Methods().Len() != len(want) {
		t.Fatalf("%d methods, want %d", svc.Methods().Len(), len(want))
	}
	for i, line := range want {
		m := svc.Methods().Get(i)
		got := fmt.Sprintf("%s %s %s", m.Name(), m.Input().Name(), m.Output().Name())
		if got != line {
			t.Errorf("method %d: %q, want %q", i, got, line)
		}
		if m.IsStreamingClient() || m.IsStreamingServer() {
			t.Errorf("%s streams; the harness's RPCs are unary", m.Name())
		}
	}
}

// TestFieldsNumberedInOrder: every message of the harness numbers its
// fields 1, 2, 3, ... in declaration order, in proto3 with no options;
// a renumbered or reordered field shows here.
func TestFieldsNumberedInOrder(t *testing.T) {
	msgs := File_mls_client_proto.Messages()
	if msgs.Len() != 54 {
		t.Fatalf("%d messages, want the harness's 54", msgs.Len())
	}
	for i := range msgs.Len() {
		m := msgs.Get(i)
		for j := range m.Fields().Len() {
			f := m.Fields().Get(j)
			if f.Number() != protoreflect.FieldNumber(j+1) {
				t.Errorf("%s.%s is field %d, want %d", m.Name(), f.Name(), f.Number(), j+1)
			}
		}
	}
	if f := msgs.ByName("CommitRequest").Fields().ByName("external_tree"); f == nil || f.Number() != 5 || f.Kind() != protoreflect.BoolKind {
		t.Error("CommitRequest.external_tree is not bool field 5")
	}
	if f := msgs.ByName("ProposalDescription").Fields().ByName("proposal_type"); f == nil || f.Kind() != protoreflect.BytesKind {
		t.Error("ProposalDescription.proposal_type is not bytes (the harness sends it as bytes)")
	}
}
