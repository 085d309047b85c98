package wire

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// roundTrip decodes data into v strictly and checks that it re-encodes to
// data.
func roundTrip(t *testing.T, what string, data []byte, v codec.Unmarshaler) bool {
	t.Helper()
	if err := codec.Unmarshal(data, v); err != nil {
		t.Errorf("%s: %v", what, err)
		return false
	}
	enc, err := codec.Marshal(v.(codec.Marshaler))
	if err != nil {
		t.Errorf("%s: re-encode: %v", what, err)
		return false
	}
	if !bytes.Equal(enc, data) {
		t.Errorf("%s: re-encoding differs\n got %x\nwant %x", what, enc, data)
		return false
	}
	return true
}

// The other vector files carry encoded structs too; they must all
// round-trip.

func TestTranscriptHashesVectors(t *testing.T) {
	var cases []struct {
		AuthenticatedContent testvectors.Hex `json:"authenticated_content"`
	}
	testvectors.Load(t, "transcript-hashes.json", &cases)
	for i, c := range cases {
		var ac AuthenticatedContent
		if !roundTrip(t, "authenticated_content", c.AuthenticatedContent, &ac) {
			continue
		}
		if ac.Content.ContentType != ContentTypeCommit || ac.Auth.ConfirmationTag == nil {
			t.Errorf("case %d: not a commit with a confirmation tag", i)
		}
		in, err := ac.ConfirmedTranscriptHashInput()
		if err != nil {
			t.Errorf("case %d: %v", i, err)
			continue
		}
		// The transcript input is the AuthenticatedContent minus the
		// confirmation tag.
		tag, _ := ac.InterimTranscriptHashInput()
		if !bytes.Equal(append(in, tag...), c.AuthenticatedContent) {
			t.Errorf("case %d: transcript inputs do not split the AuthenticatedContent", i)
		}
	}
	testvectors.Report(t, "transcript-hashes.json (struct round trip only)", len(cases))
}

func TestMessageProtectionVectors(t *testing.T) {
	var cases []struct {
		Proposal        testvectors.Hex `json:"proposal"`
		ProposalPub     testvectors.Hex `json:"proposal_pub"`
		ProposalPriv    testvectors.Hex `json:"proposal_priv"`
		Commit          testvectors.Hex `json:"commit"`
		CommitPub       testvectors.Hex `json:"commit_pub"`
		CommitPriv      testvectors.Hex `json:"commit_priv"`
		ApplicationPriv testvectors.Hex `json:"application_priv"`
	}
	testvectors.Load(t, "message-protection.json", &cases)
	for _, c := range cases {
		roundTrip(t, "proposal", c.Proposal, new(Proposal))
		roundTrip(t, "commit", c.Commit, new(Commit))
		for _, m := range [][]byte{c.ProposalPub, c.ProposalPriv, c.CommitPub, c.CommitPriv, c.ApplicationPriv} {
			roundTrip(t, "message", m, new(MLSMessage))
		}
	}
	testvectors.Report(t, "message-protection.json (struct round trip only)", len(cases))
}

func TestWelcomeVectors(t *testing.T) {
	var cases []struct {
		KeyPackage testvectors.Hex `json:"key_package"`
		Welcome    testvectors.Hex `json:"welcome"`
	}
	testvectors.Load(t, "welcome.json", &cases)
	for _, c := range cases {
		roundTrip(t, "key_package", c.KeyPackage, new(MLSMessage))
		roundTrip(t, "welcome", c.Welcome, new(MLSMessage))
	}
	testvectors.Report(t, "welcome.json (struct round trip only)", len(cases))
}

func TestTreeVectors(t *testing.T) {
	var validation []struct {
		Tree testvectors.Hex `json:"tree"`
	}
	testvectors.Load(t, "tree-validation.json", &validation)
	for _, c := range validation {
		roundTrip(t, "tree-validation tree", c.Tree, new(RatchetTree))
	}
	testvectors.Report(t, "tree-validation.json (struct round trip only)", len(validation))

	var ops []struct {
		Proposal   testvectors.Hex `json:"proposal"`
		TreeBefore testvectors.Hex `json:"tree_before"`
		TreeAfter  testvectors.Hex `json:"tree_after"`
	}
	testvectors.Load(t, "tree-operations.json", &ops)
	for _, c := range ops {
		roundTrip(t, "tree-operations proposal", c.Proposal, new(Proposal))
		roundTrip(t, "tree_before", c.TreeBefore, new(RatchetTree))
		roundTrip(t, "tree_after", c.TreeAfter, new(RatchetTree))
	}
	testvectors.Report(t, "tree-operations.json (struct round trip only)", len(ops))

	var kem []struct {
		RatchetTree testvectors.Hex `json:"ratchet_tree"`
		UpdatePaths []struct {
			UpdatePath testvectors.Hex `json:"update_path"`
		} `json:"update_paths"`
	}
	testvectors.Load(t, "treekem.json", &kem)
	for _, c := range kem {
		roundTrip(t, "treekem ratchet_tree", c.RatchetTree, new(RatchetTree))
		for _, p := range c.UpdatePaths {
			roundTrip(t, "treekem update_path", p.UpdatePath, new(UpdatePath))
		}
	}
	testvectors.Report(t, "treekem.json (struct round trip only)", len(kem))
}

type passiveCase struct {
	KeyPackage  testvectors.Hex `json:"key_package"`
	Welcome     testvectors.Hex `json:"welcome"`
	RatchetTree testvectors.Hex `json:"ratchet_tree"`
	Epochs      []struct {
		Proposals []testvectors.Hex `json:"proposals"`
		Commit    testvectors.Hex   `json:"commit"`
	} `json:"epochs"`
}

func TestPassiveClientVectors(t *testing.T) {
	for _, file := range []string{"passive-client-welcome.json", "passive-client-handling-commit.json"} {
		var cases []passiveCase
		testvectors.Load(t, file, &cases)
		for _, c := range cases {
			roundTrip(t, file+" key_package", c.KeyPackage, new(MLSMessage))
			roundTrip(t, file+" welcome", c.Welcome, new(MLSMessage))
			if c.RatchetTree != nil {
				roundTrip(t, file+" ratchet_tree", c.RatchetTree, new(RatchetTree))
			}
			for _, e := range c.Epochs {
				for _, p := range e.Proposals {
					roundTrip(t, file+" proposal", p, new(MLSMessage))
				}
				roundTrip(t, file+" commit", e.Commit, new(MLSMessage))
			}
		}
		testvectors.Report(t, file+" (struct round trip only)", len(cases))
	}
}
