package mls

import (
	"errors"

	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Group is one member's state of one epoch of a group: the GroupContext,
// the ratchet tree, the member's own leaf and private keys, and the
// epoch's secrets. It is not safe for concurrent use.
//
// This is the start of the engine's group state machine; commits, proposals
// and application messages are added on top of it.
type Group struct {
	suite   *suite.Suite
	context wire.GroupContext
	tree    *ratchettree.Tree
	ownLeaf treemath.LeafIndex
	// pathKeys holds the HPKE private keys the member knows: its leaf's
	// and those of parent nodes it learned from path secrets.
	pathKeys              map[treemath.NodeIndex][]byte
	epoch                 *keyschedule.Epoch
	interimTranscriptHash []byte
	// signingKey signs what the member sends; nil for a passive member.
	signingKey *suite.SigningKey
	// framing holds the epoch's message keys (secret tree, membership
	// and sender-data keys).
	framing *framing.Epoch
	// framingTree is the tree framing checks senders against.
	framingTree *ratchettree.Tree
	// past keeps the framing of up to pastEpochs earlier epochs, newest
	// last, so that late application messages still open.
	past       []*pastEpoch
	pastEpochs int
	// window bounds out-of-order keys in every epoch's secret tree.
	window secrettree.Window
	// psks resolves PSKs named by commits; policy checks proposals.
	psks   PSKStore
	policy ProposalCheck
	// proposals received in this epoch, by ProposalRef (§12.4).
	proposals map[string]QueuedProposal
	// ownProposals are this member's proposals in this epoch, by message
	// digest; pendingUpdates the private leaf keys of its Update
	// proposals, by public key, until a commit applies one.
	ownProposals   map[string]*Processed
	pendingUpdates map[string][]byte
	// ownCommits are this member's commits in this epoch, by signature,
	// so that its own commit arriving from the network resolves to the
	// state it staged when creating it.
	ownCommits map[string]*StagedCommit
	// joinedPSKs are the PSKs of the Welcome this member joined with.
	joinedPSKs []wire.PreSharedKeyID
	// reinit is the ReInit this group committed; it then sends no more
	// application messages (§11.2).
	reinit *wire.ReInit
	// resumption holds the resumption_psk of recent earlier epochs of
	// this group, by epoch number, for resumption PSKs (§8.6).
	resumption map[uint64][]byte
}

// DefaultPastEpochs is how many earlier epochs' application messages a
// member can still open when its configuration does not say.
const DefaultPastEpochs = 2

// pastEpochsSetting turns a PastEpochs option into a count: zero means the
// default, a negative value keeps none.
func pastEpochsSetting(n int) int {
	switch {
	case n == 0:
		return DefaultPastEpochs
	case n < 0:
		return 0
	}
	return n
}

// ResumptionEpochs is how many past epochs' resumption PSKs a group keeps
// (§8.6 asks applications to bound it).
const ResumptionEpochs = 32

// resumptionPSK returns the resumption_psk of an epoch of this group.
func (g *Group) resumptionPSK(epoch uint64) ([]byte, bool) {
	if epoch == g.context.Epoch {
		return g.epoch.ResumptionPSK, true
	}
	psk, ok := g.resumption[epoch]
	return psk, ok
}

// Suite is the group's cipher suite.
func (g *Group) Suite() *suite.Suite { return g.suite }

// GroupID is the group's identifier.
func (g *Group) GroupID() []byte { return g.context.GroupID }

// Epoch is the number of the current epoch.
func (g *Group) Epoch() uint64 { return g.context.Epoch }

// SetNow sets the time (Unix seconds) against which the lifetimes of
// KeyPackages in later Add proposals are checked. The engine reads no
// clock, so a long-lived member moves it forward; the next epochs inherit
// it.
func (g *Group) SetNow(now uint64) { g.policy.Now = now }

// Context returns the current GroupContext. The caller must not modify it.
func (g *Group) Context() *wire.GroupContext { return &g.context }

// OwnLeaf is the member's own leaf index.
func (g *Group) OwnLeaf() treemath.LeafIndex { return g.ownLeaf }

// Tree returns the ratchet tree of the current epoch. The caller must not
// modify it; Clone it to stage changes.
func (g *Group) Tree() *ratchettree.Tree { return g.tree }

// EpochAuthenticator is the epoch_authenticator of §8.7: members with the
// same value share the same view of the group.
func (g *Group) EpochAuthenticator() []byte { return g.epoch.EpochAuthenticator }

// Export is the MLS exporter of §8.5.
func (g *Group) Export(label string, context []byte, length int) ([]byte, error) {
	return g.epoch.Export(g.suite, label, context, length)
}

// InterimTranscriptHash is the interim transcript hash of the epoch (§8.2).
func (g *Group) InterimTranscriptHash() []byte { return g.interimTranscriptHash }

// HasPrivateKey reports whether the member holds the private key of node x.
func (g *Group) HasPrivateKey(x treemath.NodeIndex) bool {
	_, ok := g.pathKeys[x]
	return ok
}

// DecryptWithLeafKey opens an HPKE ciphertext sealed with EncryptWithLabel
// (RFC 9420 §5.1.3) to the encryption key of this member's own leaf, without
// handing the private key out. It is for protocols layered on the group that
// address one member (mlsnode's point-to-point re-sends).
func (g *Group) DecryptWithLeafKey(label string, context, kemOutput, ciphertext []byte) ([]byte, error) {
	priv, ok := g.pathKeys[g.ownLeaf.Node()]
	if !ok {
		return nil, errors.New("mls: no private key for the own leaf")
	}
	return g.suite.DecryptWithLabel(priv, label, context, kemOutput, ciphertext)
}
