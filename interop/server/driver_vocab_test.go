package server_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// The official test-runner (mlswg/mls-implementations,
// interop/test-runner/main.go) decodes each step into a struct of its
// action's parameters, so a key that struct does not name is ignored
// without a word: branch.json's "externalTree" in the official configs
// and "forcePath" in our own fullCommit steps both ran as if absent when
// the runner was first run against this client. runnerKeys is the
// parameter set of each action, as the runner's step structs spell them;
// checkVocabulary holds our scripts to it, so that every script here
// means the same to the runner as to the driver.
var runnerKeys = map[string][]string{
	"createGroup":                    {},
	"createKeyPackage":               {},
	"joinGroup":                      {"welcome"},
	"externalJoin":                   {"joiner", "members", "externalTree", "removePrior", "psks"},
	"installExternalPSK":             {"clients"},
	"groupInfo":                      {"externalTree"},
	"addProposal":                    {"keyPackage"},
	"updateProposal":                 {},
	"removeProposal":                 {"removed"},
	"externalPSKProposal":            {"pskID"},
	"resumptionPSKProposal":          {"epochID"},
	"groupContextExtensionsProposal": {"extensions"},
	"fullCommit":                     {"byReference", "byValue", "members", "joiners", "force_path", "external_tree"},
	"commit":                         {"byReference", "byValue", "force_path", "external_tree"},
	"handleCommit":                   {"commit", "byReference"},
	"handlePendingCommit":            {},
	"protect":                        {"authenticatedData", "plaintext"},
	"unprotect":                      {"ciphertext"},
	"reinit": {"proposer", "committer", "welcomer", "members", "changeCipherSuite", "changeGroupID",
		"extensions", "forcePath", "externalTree", "externalReinitProposal"},
	"branch":                 {"members", "force_path", "external_tree", "extensions"},
	"newMemberAddProposal":   {"joiner"},
	"addExternalSigner":      {"signer"},
	"externalSignerProposal": {"member", "description"},
}

// descriptionKeys are the runner's ProposalDescription fields.
var descriptionKeys = []string{"proposalType", "keyPackage", "removed", "pskID", "epochID", "extensions", "changeGroupID", "changeCipherSuite"}

// checkVocabulary reports a step the runner would not run as the driver
// does: an unknown action, or a key its action does not take (the runner
// would drop it). Keys must match exactly; the runner's decoder would
// also accept other capitalisations, which we do not rely on.
func checkVocabulary(raw json.RawMessage) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return err
	}
	var action string
	if err := json.Unmarshal(fields["action"], &action); err != nil {
		return fmt.Errorf("no action: %v", err)
	}
	allowed, ok := runnerKeys[action]
	if !ok {
		return fmt.Errorf("the runner has no action %q", action)
	}
	if err := onlyKeys(fields, append([]string{"action", "actor"}, allowed...)); err != nil {
		return fmt.Errorf("%s: %v", action, err)
	}
	var descs []json.RawMessage
	if d, ok := fields["description"]; ok {
		descs = append(descs, d)
	}
	if v, ok := fields["byValue"]; ok {
		var list []json.RawMessage
		if err := json.Unmarshal(v, &list); err != nil {
			return fmt.Errorf("%s: byValue: %v", action, err)
		}
		descs = append(descs, list...)
	}
	for _, d := range descs {
		var df map[string]json.RawMessage
		if err := json.Unmarshal(d, &df); err != nil {
			return fmt.Errorf("%s: proposal description: %v", action, err)
		}
		if err := onlyKeys(df, descriptionKeys); err != nil {
			return fmt.Errorf("%s: proposal description: %v", action, err)
		}
	}
	return nil
}

func onlyKeys(fields map[string]json.RawMessage, allowed []string) error {
	ok := map[string]bool{}
	for _, k := range allowed {
		ok[k] = true
	}
	var bad []string
	for k := range fields {
		if !ok[k] {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return fmt.Errorf("the runner ignores %s (it takes %s)", strings.Join(bad, ", "), strings.Join(allowed, ", "))
	}
	return nil
}

// checkActors reports a name a script gives a role although the runner
// assigns it no client (see actors): the runner would dereference a nil
// client and panic, as it does on the official reinit.json.
func checkActors(script []step) error {
	has := map[string]bool{}
	for _, a := range actors(script) {
		has[a] = true
	}
	for i, s := range script {
		names := append(append([]string{s.Proposer, s.Committer, s.Welcomer, s.Member, s.Joiner, s.Signer}, s.Members...), s.Joiners...)
		names = append(names, s.Clients...)
		for _, n := range names {
			if n != "" && !has[n] {
				return fmt.Errorf("step %d (%s) names %q, who is no actor to the runner (give them a step of their own first)", i, s.Action, n)
			}
		}
	}
	return nil
}

// TestVocabularyCheck pins what checkVocabulary and checkActors refuse:
// the mistakes the official runner's first run exposed.
func TestVocabularyCheck(t *testing.T) {
	for _, tc := range []struct {
		step string
		ok   bool
	}{
		{`{"action": "fullCommit", "actor": "a", "force_path": true, "external_tree": true}`, true},
		{`{"action": "fullCommit", "actor": "a", "forcePath": true}`, false},
		{`{"action": "branch", "actor": "a", "members": ["b"], "externalTree": true}`, false},
		{`{"action": "reinit", "committer": "a", "welcomer": "a", "forcePath": true, "externalTree": true}`, true},
		{`{"action": "reinit", "committer": "a", "welcomer": "a", "force_path": true}`, false},
		{`{"action": "createGroup", "actor": "a", "members": ["b"]}`, false},
		{`{"action": "preSharedKeyProposal", "actor": "a", "psk": 3}`, false},
		{`{"action": "fullCommit", "actor": "a", "byValue": [{"proposalType": "add", "keyPackage": 1}]}`, true},
		{`{"action": "fullCommit", "actor": "a", "byValue": [{"proposalType": "add", "key_package": 1}]}`, false},
	} {
		err := checkVocabulary(json.RawMessage(tc.step))
		if (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.step, err, tc.ok)
		}
	}
	reinitOnly := []step{{Action: "createGroup", Actor: "alice"}, {Action: "reinit", Proposer: "alice", Committer: "bob", Welcomer: "alice"}}
	if checkActors(reinitOnly) == nil {
		t.Error("a committer named only in the reinit step was accepted")
	}
	withKP := []step{{Action: "createGroup", Actor: "alice"}, {Action: "createKeyPackage", Actor: "bob"},
		{Action: "reinit", Proposer: "alice", Committer: "bob", Welcomer: "alice"}}
	if err := checkActors(withKP); err != nil {
		t.Errorf("bob has a step of his own: %v", err)
	}
}
