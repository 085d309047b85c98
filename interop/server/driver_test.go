package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/interop/server"
)

// The driver runs scripts in the step vocabulary of the harness's
// test-runner (createGroup, fullCommit, externalJoin, reinit, branch, ...)
// against real gRPC servers on the loopback interface, between two
// independent instances of our client: every actor of a script is
// assigned to one of the two, so each RPC crosses from one process state
// to another exactly as in a harness run. The scripts in
// testdata/scripts are ours, written in the harness's vocabulary.

type extension struct {
	Type uint32 `json:"extension_type"`
	Data []byte `json:"extension_data"`
}

func (e extension) proto() *pb.Extension {
	return &pb.Extension{ExtensionType: e.Type, ExtensionData: e.Data}
}

func protoExts(in []extension) []*pb.Extension {
	var out []*pb.Extension
	for _, e := range in {
		out = append(out, e.proto())
	}
	return out
}

// description is a proposal by value, as in the harness's scripts.
type description struct {
	ProposalType      string      `json:"proposalType"`
	KeyPackage        int         `json:"keyPackage"`
	Removed           string      `json:"removed"`
	PskID             int         `json:"pskID"`
	EpochID           uint64      `json:"epochID"`
	Extensions        []extension `json:"extensions"`
	ChangeGroupID     bool        `json:"changeGroupID"`
	ChangeCipherSuite bool        `json:"changeCipherSuite"`
}

type step struct {
	Action      string        `json:"action"`
	Actor       string        `json:"actor"`
	Members     []string      `json:"members"`
	Joiners     []string      `json:"joiners"`
	Joiner      string        `json:"joiner"`
	Clients     []string      `json:"clients"`
	KeyPackage  int           `json:"keyPackage"`
	Removed     string        `json:"removed"`
	PskID       int           `json:"pskID"`
	PSKs        []int         `json:"psks"`
	EpochID     uint64        `json:"epochID"`
	Extensions  []extension   `json:"extensions"`
	ByReference []int         `json:"byReference"`
	ByValue     []description `json:"byValue"`
	RemovePrior bool          `json:"removePrior"`
	// The runner spells these two flags differently per action:
	// force_path and external_tree for fullCommit, commit and branch;
	// forcePath and externalTree for reinit, externalJoin and groupInfo.
	// A flag under the other spelling is silently ignored by the runner,
	// so checkVocabulary rejects it.
	ForcePathSnake    bool `json:"force_path"`
	ExternalTreeSnake bool `json:"external_tree"`
	ForcePath         bool `json:"forcePath"`
	ExternalTree      bool `json:"externalTree"`
	// joinGroup and handleCommit name the step that made the message.
	Welcome int `json:"welcome"`
	Commit  int `json:"commit"`
	// protect / unprotect
	AuthenticatedData string `json:"authenticatedData"`
	Plaintext         string `json:"plaintext"`
	Ciphertext        int    `json:"ciphertext"`
	// reinit
	Proposer               string `json:"proposer"`
	Committer              string `json:"committer"`
	Welcomer               string `json:"welcomer"`
	ChangeCipherSuite      bool   `json:"changeCipherSuite"`
	ChangeGroupID          bool   `json:"changeGroupID"`
	ExternalReinitProposal int    `json:"externalReinitProposal"`
	// external proposals
	Signer      string      `json:"signer"`
	Member      string      `json:"member"`
	Description description `json:"description"`
}

// run is one execution of a script: suite, handshake mode and the
// assignment of actors to clients.
type run struct {
	t       *testing.T
	suite   uint32
	encrypt bool
	// suiteStep (1 to 6) is how far a ciphersuite-changing ReInit moves
	// along the suites 1..7: it varies across the matrix so that more
	// (old, new) pairs are tried. The official runner picks the new
	// suite at random and, run here, went through all 42 pairs.
	suiteStep uint32
	clients   map[string]pb.MLSClientClient

	stateID map[string]uint32
	txID    map[string]uint32
	signer  map[string]uint32
	cache   []map[string][]byte
	// inGroup is who is in the group the script is about, for the
	// exporter check after each step.
	inGroup map[string]bool
}

func ctx() context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	_ = cancel // released when the deadline passes; each call is short
	return c
}

func (r *run) get(i int, key string) []byte {
	b, ok := r.cache[i][key]
	if !ok {
		r.t.Fatalf("script refers to %s of step %d, which has none", key, i)
	}
	return b
}

func (r *run) nextSuite() uint32 { return (r.suite-1+r.suiteStep)%7 + 1 }

func (r *run) groupID(change bool) []byte {
	id := append([]byte(nil), r.get(0, "group_id")...)
	if change {
		id = append(id, "++"...)
	}
	return id
}

func (r *run) describe(d description) *pb.ProposalDescription {
	pd := &pb.ProposalDescription{ProposalType: []byte(d.ProposalType)}
	switch d.ProposalType {
	case "add":
		pd.KeyPackage = r.get(d.KeyPackage, "key_package")
	case "remove":
		pd.RemovedId = []byte(d.Removed)
	case "externalPSK":
		pd.PskId = r.get(d.PskID, "psk_id")
	case "resumptionPSK":
		pd.EpochId = d.EpochID
	case "groupContextExtensions":
		pd.Extensions = protoExts(d.Extensions)
	case "reinit":
		pd.Extensions = protoExts(d.Extensions)
		pd.CipherSuite = r.suite
		if d.ChangeCipherSuite {
			pd.CipherSuite = r.nextSuite()
		}
		pd.GroupId = r.groupID(d.ChangeGroupID)
	default:
		r.t.Fatalf("unknown proposal type %q", d.ProposalType)
	}
	return pd
}

func (r *run) keyPackage(actor string, suite uint32) []byte {
	resp, err := r.clients[actor].CreateKeyPackage(ctx(), &pb.CreateKeyPackageRequest{CipherSuite: suite, Identity: []byte(actor)})
	if err != nil {
		r.t.Fatalf("%s CreateKeyPackage: %v", actor, err)
	}
	r.txID[actor] = resp.TransactionId
	return resp.KeyPackage
}

// agree checks that everyone in the group has one epoch authenticator
// and one exporter secret.
func (r *run) agree(where string) {
	var names []string
	for a := range r.inGroup {
		names = append(names, a)
	}
	sort.Strings(names)
	var auth, exp []byte
	for i, a := range names {
		sa, err := r.clients[a].StateAuth(ctx(), &pb.StateAuthRequest{StateId: r.stateID[a]})
		if err != nil {
			r.t.Fatalf("%s: %s StateAuth: %v", where, a, err)
		}
		ex, err := r.clients[a].Export(ctx(), &pb.ExportRequest{StateId: r.stateID[a], Label: "interop", Context: []byte(where), KeyLength: 32})
		if err != nil {
			r.t.Fatalf("%s: %s Export: %v", where, a, err)
		}
		if len(ex.ExportedSecret) != 32 {
			r.t.Fatalf("%s: %s exported %d bytes, want 32", where, a, len(ex.ExportedSecret))
		}
		if i == 0 {
			auth, exp = sa.StateAuthSecret, ex.ExportedSecret
			continue
		}
		if !bytes.Equal(auth, sa.StateAuthSecret) || !bytes.Equal(exp, ex.ExportedSecret) {
			r.t.Fatalf("%s: %s disagrees with %s on the epoch authenticator or exporter", where, a, names[0])
		}
	}
}

// handle has each member process a commit and checks the authenticator.
func (r *run) handle(members []string, proposals [][]byte, commit, want []byte) {
	for _, m := range members {
		resp, err := r.clients[m].HandleCommit(ctx(), &pb.HandleCommitRequest{StateId: r.stateID[m], Proposal: proposals, Commit: commit})
		if err != nil {
			r.t.Fatalf("%s HandleCommit: %v", m, err)
		}
		if !bytes.Equal(resp.EpochAuthenticator, want) {
			r.t.Fatalf("%s disagrees with the committer on the epoch authenticator", m)
		}
		r.stateID[m] = resp.StateId
	}
}

func (r *run) join(joiners []string, welcome, tree, want []byte) {
	for _, j := range joiners {
		resp, err := r.clients[j].JoinGroup(ctx(), &pb.JoinGroupRequest{TransactionId: r.txID[j], Welcome: welcome,
			EncryptHandshake: r.encrypt, Identity: []byte(j), RatchetTree: tree})
		if err != nil {
			r.t.Fatalf("%s JoinGroup: %v", j, err)
		}
		if !bytes.Equal(resp.EpochAuthenticator, want) {
			r.t.Fatalf("joiner %s disagrees on the epoch authenticator", j)
		}
		r.stateID[j] = resp.StateId
		r.inGroup[j] = true
	}
}

func (r *run) proposal(i int, actor string, resp *pb.ProposalResponse, err error) {
	if err != nil {
		r.t.Fatalf("step %d: %s proposes: %v", i, actor, err)
	}
	r.cache[i]["proposal"] = resp.Proposal
}

// step runs one step and returns the error of its RPCs.
func (r *run) step(i int, s step) error {
	c := r.clients[s.Actor]
	switch s.Action {
	case "createGroup":
		gid := make([]byte, 16)
		rand.Read(gid)
		resp, err := c.CreateGroup(ctx(), &pb.CreateGroupRequest{GroupId: gid, CipherSuite: r.suite, EncryptHandshake: r.encrypt, Identity: []byte(s.Actor)})
		if err != nil {
			return err
		}
		r.stateID[s.Actor] = resp.StateId
		r.cache[i]["group_id"] = gid
		r.inGroup[s.Actor] = true

	case "createKeyPackage":
		r.cache[i]["key_package"] = r.keyPackage(s.Actor, r.suite)

	case "installExternalPSK":
		id, secret := make([]byte, 32), make([]byte, 32)
		rand.Read(id)
		rand.Read(secret)
		r.cache[i]["psk_id"], r.cache[i]["psk_secret"] = id, secret
		for _, who := range s.Clients {
			target, ok := r.stateID[who]
			if !ok {
				target = r.txID[who]
			}
			if _, err := r.clients[who].StorePSK(ctx(), &pb.StorePSKRequest{StateOrTransactionId: target, PskId: id, PskSecret: secret}); err != nil {
				return err
			}
		}

	case "addProposal":
		resp, err := c.AddProposal(ctx(), &pb.AddProposalRequest{StateId: r.stateID[s.Actor], KeyPackage: r.get(s.KeyPackage, "key_package")})
		r.proposal(i, s.Actor, resp, err)
		r.cache[i]["add"] = nil
	case "updateProposal":
		resp, err := c.UpdateProposal(ctx(), &pb.UpdateProposalRequest{StateId: r.stateID[s.Actor]})
		r.proposal(i, s.Actor, resp, err)
	case "removeProposal":
		resp, err := c.RemoveProposal(ctx(), &pb.RemoveProposalRequest{StateId: r.stateID[s.Actor], RemovedId: []byte(s.Removed)})
		r.proposal(i, s.Actor, resp, err)
		r.cache[i]["removed"] = []byte(s.Removed)
	case "externalPSKProposal":
		resp, err := c.ExternalPSKProposal(ctx(), &pb.ExternalPSKProposalRequest{StateId: r.stateID[s.Actor], PskId: r.get(s.PskID, "psk_id")})
		r.proposal(i, s.Actor, resp, err)
	case "resumptionPSKProposal":
		resp, err := c.ResumptionPSKProposal(ctx(), &pb.ResumptionPSKProposalRequest{StateId: r.stateID[s.Actor], EpochId: s.EpochID})
		r.proposal(i, s.Actor, resp, err)
	case "groupContextExtensionsProposal":
		resp, err := c.GroupContextExtensionsProposal(ctx(), &pb.GroupContextExtensionsProposalRequest{StateId: r.stateID[s.Actor], Extensions: protoExts(s.Extensions)})
		r.proposal(i, s.Actor, resp, err)

	case "fullCommit":
		byRef, cr, err := r.commit(i, s)
		if err != nil {
			return err
		}
		pr, err := c.HandlePendingCommit(ctx(), &pb.HandlePendingCommitRequest{StateId: r.stateID[s.Actor]})
		if err != nil {
			return err
		}
		r.stateID[s.Actor] = pr.StateId
		r.handle(s.Members, byRef, cr.Commit, pr.EpochAuthenticator)
		r.join(s.Joiners, cr.Welcome, cr.RatchetTree, pr.EpochAuthenticator)

	// The runner's step-by-step actions. Between them the group is in
	// transition (the committer may be an epoch ahead), so execute checks
	// agreement only after the other actions.
	case "commit":
		_, _, err := r.commit(i, s)
		return err
	case "handlePendingCommit":
		pr, err := c.HandlePendingCommit(ctx(), &pb.HandlePendingCommitRequest{StateId: r.stateID[s.Actor]})
		if err != nil {
			return err
		}
		r.stateID[s.Actor] = pr.StateId
	case "handleCommit":
		var byRef [][]byte
		for _, j := range s.ByReference {
			byRef = append(byRef, r.get(j, "proposal"))
		}
		resp, err := c.HandleCommit(ctx(), &pb.HandleCommitRequest{StateId: r.stateID[s.Actor], Proposal: byRef, Commit: r.get(s.Commit, "commit")})
		if err != nil {
			return err
		}
		r.stateID[s.Actor] = resp.StateId
	case "joinGroup":
		// As in the runner: no ratchet tree beside the Welcome.
		resp, err := c.JoinGroup(ctx(), &pb.JoinGroupRequest{TransactionId: r.txID[s.Actor], Welcome: r.get(s.Welcome, "welcome"),
			EncryptHandshake: r.encrypt, Identity: []byte(s.Actor)})
		if err != nil {
			return err
		}
		r.stateID[s.Actor] = resp.StateId
		r.inGroup[s.Actor] = true
	case "groupInfo":
		gi, err := c.GroupInfo(ctx(), &pb.GroupInfoRequest{StateId: r.stateID[s.Actor], ExternalTree: s.ExternalTree})
		if err != nil {
			return err
		}
		if s.ExternalTree != (len(gi.RatchetTree) > 0) {
			r.t.Fatalf("step %d: externalTree %v but ratchet_tree of %d bytes", i, s.ExternalTree, len(gi.RatchetTree))
		}
		r.cache[i]["group_info"], r.cache[i]["ratchet_tree"] = gi.GroupInfo, gi.RatchetTree

	case "externalJoin":
		gi, err := c.GroupInfo(ctx(), &pb.GroupInfoRequest{StateId: r.stateID[s.Actor], ExternalTree: s.ExternalTree})
		if err != nil {
			return err
		}
		if s.ExternalTree != (len(gi.RatchetTree) > 0) {
			r.t.Fatalf("step %d: external_tree %v but ratchet_tree of %d bytes", i, s.ExternalTree, len(gi.RatchetTree))
		}
		var psks []*pb.PreSharedKey
		for _, j := range s.PSKs {
			psks = append(psks, &pb.PreSharedKey{PskId: r.get(j, "psk_id"), PskSecret: r.get(j, "psk_secret")})
		}
		jr, err := r.clients[s.Joiner].ExternalJoin(ctx(), &pb.ExternalJoinRequest{GroupInfo: gi.GroupInfo, RatchetTree: gi.RatchetTree,
			EncryptHandshake: r.encrypt, Identity: []byte(s.Joiner), RemovePrior: s.RemovePrior, Psks: psks})
		if err != nil {
			return err
		}
		r.stateID[s.Joiner] = jr.StateId
		r.inGroup[s.Joiner] = true
		r.handle(append(append([]string(nil), s.Members...), s.Actor), nil, jr.Commit, jr.EpochAuthenticator)

	case "protect":
		resp, err := c.Protect(ctx(), &pb.ProtectRequest{StateId: r.stateID[s.Actor], AuthenticatedData: []byte(s.AuthenticatedData), Plaintext: []byte(s.Plaintext)})
		if err != nil {
			return err
		}
		r.cache[i]["ciphertext"] = resp.Ciphertext
		r.cache[i]["authenticated_data"] = []byte(s.AuthenticatedData)
		r.cache[i]["plaintext"] = []byte(s.Plaintext)
	case "unprotect":
		resp, err := c.Unprotect(ctx(), &pb.UnprotectRequest{StateId: r.stateID[s.Actor], Ciphertext: r.get(s.Ciphertext, "ciphertext")})
		if err != nil {
			return err
		}
		if !bytes.Equal(resp.Plaintext, r.get(s.Ciphertext, "plaintext")) || !bytes.Equal(resp.AuthenticatedData, r.get(s.Ciphertext, "authenticated_data")) {
			r.t.Fatalf("step %d: %s opened other data than was sent", i, s.Actor)
		}

	case "reinit":
		return r.reinit(i, s)
	case "branch":
		return r.branch(s)

	case "newMemberAddProposal":
		gi, err := c.GroupInfo(ctx(), &pb.GroupInfoRequest{StateId: r.stateID[s.Actor]})
		if err != nil {
			return err
		}
		resp, err := r.clients[s.Joiner].NewMemberAddProposal(ctx(), &pb.NewMemberAddProposalRequest{GroupInfo: gi.GroupInfo, Identity: []byte(s.Joiner)})
		if err != nil {
			return err
		}
		r.txID[s.Joiner] = resp.TransactionId
		r.cache[i]["proposal"] = resp.Proposal
		r.cache[i]["add"] = nil
	case "addExternalSigner":
		es, err := r.clients[s.Signer].CreateExternalSigner(ctx(), &pb.CreateExternalSignerRequest{CipherSuite: r.suite, Identity: []byte(s.Signer)})
		if err != nil {
			return err
		}
		r.signer[s.Signer] = es.SignerId
		resp, err := c.AddExternalSigner(ctx(), &pb.AddExternalSignerRequest{StateId: r.stateID[s.Actor], ExternalSender: es.ExternalSender})
		r.proposal(i, s.Actor, resp, err)
	case "externalSignerProposal":
		gi, err := r.clients[s.Member].GroupInfo(ctx(), &pb.GroupInfoRequest{StateId: r.stateID[s.Member], ExternalTree: true})
		if err != nil {
			return err
		}
		resp, err := c.ExternalSignerProposal(ctx(), &pb.ExternalSignerProposalRequest{SignerId: r.signer[s.Actor],
			GroupInfo: gi.GroupInfo, RatchetTree: gi.RatchetTree, Description: r.describe(s.Description)})
		r.proposal(i, s.Actor, resp, err)
		switch s.Description.ProposalType {
		case "remove":
			r.cache[i]["removed"] = []byte(s.Description.Removed)
		case "add":
			r.cache[i]["add"] = nil
		}
	default:
		r.t.Fatalf("unknown action %q", s.Action)
	}
	return nil
}

// commit has the actor commit the step's proposals (Commit, without
// merging), records the commit and Welcome, and takes the removed
// members out of the group.
func (r *run) commit(i int, s step) ([][]byte, *pb.CommitResponse, error) {
	var byRef [][]byte
	for _, j := range s.ByReference {
		byRef = append(byRef, r.get(j, "proposal"))
		if removed, ok := r.cache[j]["removed"]; ok {
			delete(r.inGroup, string(removed))
		}
	}
	var byVal []*pb.ProposalDescription
	for _, d := range s.ByValue {
		byVal = append(byVal, r.describe(d))
		if d.ProposalType == "remove" {
			delete(r.inGroup, d.Removed)
		}
	}
	cr, err := r.clients[s.Actor].Commit(ctx(), &pb.CommitRequest{StateId: r.stateID[s.Actor], ByReference: byRef, ByValue: byVal,
		ForcePath: s.ForcePathSnake, ExternalTree: s.ExternalTreeSnake})
	if err != nil {
		return nil, nil, err
	}
	if s.ExternalTreeSnake != (len(cr.RatchetTree) > 0) {
		r.t.Fatalf("step %d: external_tree %v but ratchet_tree of %d bytes", i, s.ExternalTreeSnake, len(cr.RatchetTree))
	}
	if wantWelcome := len(s.Joiners) > 0 || addsAny(s.ByValue) || r.addsByReference(s.ByReference); wantWelcome != (len(cr.Welcome) > 0) {
		r.t.Fatalf("step %d: Welcome of %d bytes, want one: %v", i, len(cr.Welcome), wantWelcome)
	}
	r.cache[i]["commit"], r.cache[i]["welcome"] = cr.Commit, cr.Welcome
	return byRef, cr, nil
}

// reinit follows the harness: the proposer (or an external signer's
// earlier proposal) proposes, the committer commits, everyone else
// handles the commit, the welcomer creates the new group and the others
// join it.
func (r *run) reinit(i int, s step) error {
	notCommitter, notWelcomer := map[string]bool{s.Welcomer: true}, map[string]bool{s.Committer: true}
	for _, m := range s.Members {
		notCommitter[m], notWelcomer[m] = true, true
	}
	if s.Proposer != "" {
		notCommitter[s.Proposer], notWelcomer[s.Proposer] = true, true
	}
	delete(notCommitter, s.Committer)
	delete(notWelcomer, s.Welcomer)

	var proposal []byte
	if s.Proposer != "" {
		suite := r.suite
		if s.ChangeCipherSuite {
			suite = r.nextSuite()
		}
		resp, err := r.clients[s.Proposer].ReInitProposal(ctx(), &pb.ReInitProposalRequest{StateId: r.stateID[s.Proposer],
			CipherSuite: suite, GroupId: r.groupID(s.ChangeGroupID), Extensions: protoExts(s.Extensions)})
		if err != nil {
			return err
		}
		proposal = resp.Proposal
	} else {
		proposal = r.get(s.ExternalReinitProposal, "proposal")
	}
	committer := r.clients[s.Committer]
	cr, err := committer.ReInitCommit(ctx(), &pb.CommitRequest{StateId: r.stateID[s.Committer], ByReference: [][]byte{proposal}})
	if err != nil {
		return err
	}
	pr, err := committer.HandlePendingReInitCommit(ctx(), &pb.HandlePendingCommitRequest{StateId: r.stateID[s.Committer]})
	if err != nil {
		return err
	}
	reinitIDs := map[string]uint32{s.Committer: pr.ReinitId}
	kps := map[string][]byte{s.Committer: pr.KeyPackage}
	for _, m := range sorted(notCommitter) {
		resp, err := r.clients[m].HandleReInitCommit(ctx(), &pb.HandleCommitRequest{StateId: r.stateID[m], Proposal: [][]byte{proposal}, Commit: cr.Commit})
		if err != nil {
			r.t.Fatalf("%s HandleReInitCommit: %v", m, err)
		}
		if !bytes.Equal(resp.EpochAuthenticator, pr.EpochAuthenticator) {
			r.t.Fatalf("%s disagrees on the ReInit epoch", m)
		}
		reinitIDs[m], kps[m] = resp.ReinitId, resp.KeyPackage
	}
	var list [][]byte
	for _, m := range sorted(notWelcomer) {
		list = append(list, kps[m])
	}
	wr, err := r.clients[s.Welcomer].ReInitWelcome(ctx(), &pb.ReInitWelcomeRequest{ReinitId: reinitIDs[s.Welcomer], KeyPackage: list,
		ForcePath: s.ForcePath, ExternalTree: s.ExternalTree})
	if err != nil {
		return err
	}
	r.stateID[s.Welcomer] = wr.StateId
	for _, m := range sorted(notWelcomer) {
		resp, err := r.clients[m].HandleReInitWelcome(ctx(), &pb.HandleReInitWelcomeRequest{ReinitId: reinitIDs[m], Welcome: wr.Welcome, RatchetTree: wr.RatchetTree})
		if err != nil {
			r.t.Fatalf("%s HandleReInitWelcome: %v", m, err)
		}
		if !bytes.Equal(resp.EpochAuthenticator, wr.EpochAuthenticator) {
			r.t.Fatalf("%s disagrees on the reinitialised group's epoch", m)
		}
		r.stateID[m] = resp.StateId
	}
	if s.ChangeCipherSuite {
		r.suite = r.nextSuite()
	}
	return nil
}

// branch has the actor start a subgroup with the members.
func (r *run) branch(s step) error {
	var kps [][]byte
	for _, m := range s.Members {
		kps = append(kps, r.keyPackage(m, r.suite))
	}
	gid := make([]byte, 16)
	rand.Read(gid)
	br, err := r.clients[s.Actor].CreateBranch(ctx(), &pb.CreateBranchRequest{StateId: r.stateID[s.Actor], GroupId: gid,
		Extensions: protoExts(s.Extensions), KeyPackages: kps, ForcePath: s.ForcePathSnake, ExternalTree: s.ExternalTreeSnake})
	if err != nil {
		return err
	}
	for _, m := range s.Members {
		resp, err := r.clients[m].HandleBranch(ctx(), &pb.HandleBranchRequest{StateId: r.stateID[m], TransactionId: r.txID[m],
			Welcome: br.Welcome, RatchetTree: br.RatchetTree})
		if err != nil {
			r.t.Fatalf("%s HandleBranch: %v", m, err)
		}
		if !bytes.Equal(resp.EpochAuthenticator, br.EpochAuthenticator) {
			r.t.Fatalf("%s disagrees on the branch's epoch", m)
		}
		r.stateID[m] = resp.StateId
	}
	r.stateID[s.Actor] = br.StateId
	r.inGroup = map[string]bool{s.Actor: true}
	for _, m := range s.Members {
		r.inGroup[m] = true
	}
	return nil
}

// addsByReference reports whether a proposal of those steps is an Add.
func (r *run) addsByReference(steps []int) bool {
	for _, j := range steps {
		if _, ok := r.cache[j]["add"]; ok {
			return true
		}
	}
	return false
}

func addsAny(ds []description) bool {
	for _, d := range ds {
		if d.ProposalType == "add" {
			return true
		}
	}
	return false
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func sorted(set map[string]bool) []string {
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (r *run) execute(script []step) {
	r.cache = make([]map[string][]byte, len(script))
	for i := range r.cache {
		r.cache[i] = map[string][]byte{}
	}
	for i, s := range script {
		if err := r.step(i, s); err != nil {
			r.t.Fatalf("step %d (%s by %s): %v", i, s.Action, s.Actor, err)
		}
		switch s.Action {
		case "reinit": // leaves some members in the old group
		case "commit", "handlePendingCommit", "handleCommit", "joinGroup": // the group is in transition
		default:
			r.agree(fmt.Sprintf("after step %d", i))
		}
	}
}

// startClients starts two interop clients on loopback ports and returns
// a gRPC client for each.
func startClients(t *testing.T) [2]pb.MLSClientClient {
	t.Helper()
	var out [2]pb.MLSClientClient
	for i := range out {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		pb.RegisterMLSClientServer(srv, server.New())
		go srv.Serve(lis)
		t.Cleanup(srv.Stop)
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		out[i] = pb.NewMLSClientClient(conn)
	}
	return out
}

// actors lists a script's actors in order of first appearance, by the
// runner's rule (Script.Actors): the actor of every step that has one,
// plus the joiner of externalJoin and newMemberAddProposal and the signer
// of addExternalSigner. Only these get a client in the runner; a name
// used otherwise (a reinit's committer, a member listed nowhere else)
// has none there, and checkActors rejects the script.
func actors(script []step) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n string) {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, s := range script {
		if s.Actor == "" {
			continue // the runner skips the whole step, joiner included
		}
		add(s.Actor)
		switch s.Action {
		case "externalJoin", "newMemberAddProposal":
			add(s.Joiner)
		case "addExternalSigner":
			add(s.Signer)
		}
	}
	return out
}

func loadScripts(t *testing.T) map[string][]step {
	files, err := filepath.Glob("testdata/scripts/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	out := map[string][]step{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cfg struct {
			Scripts map[string][]step `json:"scripts"`
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cfg); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var raw struct {
			Scripts map[string][]json.RawMessage `json:"scripts"`
		}
		if err := json.Unmarshal(data, &raw); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for name, s := range cfg.Scripts {
			id := strings.TrimSuffix(filepath.Base(f), ".json") + "/" + name
			for i, step := range raw.Scripts[name] {
				if err := checkVocabulary(step); err != nil {
					t.Fatalf("%s step %d: %v", id, i, err)
				}
			}
			if err := checkActors(s); err != nil {
				t.Fatalf("%s: %v", id, err)
			}
			out[id] = s
		}
	}
	return out
}

// TestHarnessScenarios runs every script in every cipher suite, with
// handshakes as PublicMessage and as PrivateMessage. Actors are assigned
// alternately to the two clients; in suite 1 both ways round, so that
// every role is played by each instance, and in the other suites one way
// per handshake mode.
func TestHarnessScenarios(t *testing.T) {
	clients := startClients(t)
	scripts := loadScripts(t)
	var names []string
	for n := range scripts {
		names = append(names, n)
	}
	sort.Strings(names)
	suites, err := clients[0].SupportedCiphersuites(ctx(), &pb.SupportedCiphersuitesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(suites.Ciphersuites) != 7 {
		t.Fatalf("client supports suites %v, want 1 to 7", suites.Ciphersuites)
	}
	for _, name := range names {
		script := scripts[name]
		for _, cs := range suites.Ciphersuites {
			for _, encrypt := range []bool{false, true} {
				for shift := range 2 {
					// Both assignments in suite 1; elsewhere one, alternating
					// with the handshake mode, to keep CI's time down.
					if cs != 1 && shift != (int(cs)+boolInt(encrypt))%2 {
						continue
					}
					mode := "public"
					if encrypt {
						mode = "private"
					}
					t.Run(fmt.Sprintf("%s/suite=%d/%s/shift=%d", name, cs, mode, shift), func(t *testing.T) {
						r := &run{t: t, suite: cs, encrypt: encrypt, suiteStep: 1 + uint32(2*shift+boolInt(encrypt))%6, clients: map[string]pb.MLSClientClient{},
							stateID: map[string]uint32{}, txID: map[string]uint32{}, signer: map[string]uint32{}, inGroup: map[string]bool{}}
						for i, a := range actors(script) {
							r.clients[a] = clients[(i+shift)%2]
						}
						r.execute(script)
					})
				}
			}
		}
	}
}
