package mls

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// StateFormat is the version of the encoding MarshalState writes. A state
// of another version is refused with ErrStateFormat rather than misread.
const StateFormat = 1

// ErrStateFormat: the state was written by another format version.
var ErrStateFormat = errors.New("mls: unsupported group state format")

// MarshalState encodes everything the member needs to continue in this
// epoch after a restart: GroupContext, tree, own leaf and private path
// keys, the epoch secrets still needed (the joiner and welcome secrets are
// consumed and not kept), transcript hash, the secret tree exactly as far
// as it has been consumed, the retained past epochs, resumption PSKs,
// received proposals, pending Update keys and a committed ReInit. The signing key, the PSK
// store and the validation policy are not part of it; LoadGroup takes them
// again. Maps are written in sorted order, so equal states encode to
// equal bytes. The encoding holds secrets: store it encrypted.
func (g *Group) MarshalState() ([]byte, error) {
	w := codec.NewWriter(nil)
	w.Uint16(StateFormat)
	w.Uint16(uint16(g.suite.ID()))
	w.Write(&g.context)
	rt := g.tree.ToWire()
	w.Write(&rt)
	w.Uint32(uint32(g.ownLeaf))
	nodes := make([]treemath.NodeIndex, 0, len(g.pathKeys))
	for x := range g.pathKeys {
		nodes = append(nodes, x)
	}
	slices.Sort(nodes)
	w.Vector(func(w *codec.Writer) {
		for _, x := range nodes {
			w.Uint32(uint32(x))
			w.Opaque(g.pathKeys[x])
		}
	})
	for _, s := range epochSecrets(g.epoch) {
		w.Opaque(*s)
	}
	w.Opaque(g.interimTranscriptHash)
	g.framing.SecretTree.MarshalState(w)
	w.Vector(func(w *codec.Writer) {
		for _, p := range g.past {
			w.Write(p.framing.Context)
			prt := p.tree.ToWire()
			w.Write(&prt)
			w.Opaque(p.framing.MembershipKey)
			w.Opaque(p.framing.SenderDataSecret)
			p.framing.SecretTree.MarshalState(w)
		}
	})
	epochs := make([]uint64, 0, len(g.resumption))
	for e := range g.resumption {
		epochs = append(epochs, e)
	}
	slices.Sort(epochs)
	w.Vector(func(w *codec.Writer) {
		for _, e := range epochs {
			w.Uint64(e)
			w.Opaque(g.resumption[e])
		}
	})
	w.Vector(func(w *codec.Writer) {
		for _, ref := range sortedKeys(g.proposals) {
			qp := g.proposals[ref]
			w.Opaque([]byte(ref))
			w.Write(&qp.Sender)
			w.Write(qp.Proposal)
		}
	})
	w.Vector(func(w *codec.Writer) {
		for _, pub := range sortedKeys(g.pendingUpdates) {
			w.Opaque([]byte(pub))
			w.Opaque(g.pendingUpdates[pub])
		}
	})
	w.Uint32(g.window.MaxForward)
	w.Uint32(uint32(g.window.MaxRetained))
	w.Uint32(uint32(g.pastEpochs))
	w.Optional(g.reinit != nil, func(w *codec.Writer) { w.Write(g.reinit) })
	return w.Bytes()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, strings.Compare)
	return keys
}

// epochSecrets lists the epoch secrets a stored state keeps, in order.
func epochSecrets(e *keyschedule.Epoch) []*[]byte {
	return []*[]byte{&e.SenderDataSecret, &e.EncryptionSecret, &e.ExporterSecret, &e.ExternalSecret,
		&e.ConfirmationKey, &e.MembershipKey, &e.ResumptionPSK, &e.EpochAuthenticator, &e.InitSecret}
}

// LoadConfig is what LoadGroup needs besides the stored state.
type LoadConfig struct {
	// SigningKey must match the member's leaf; nil loads a passive member.
	SigningKey *suite.SigningKey
	PSKs       PSKStore
	// Policy for proposals and commits processed after loading.
	Credentials      CredentialValidator
	Now, MaxLifetime uint64
}

// LoadGroup restores a group from MarshalState's encoding. Malformed or
// truncated input returns an error naming the damaged field; it never
// panics.
func LoadGroup(data []byte, cfg LoadConfig) (*Group, error) {
	r := codec.NewReader(data)
	var format, suiteID uint16
	r.Uint16("GroupState.format", &format)
	if r.OK() && format != StateFormat {
		return nil, fmt.Errorf("%w: version %d, this build reads %d", ErrStateFormat, format, StateFormat)
	}
	r.Uint16("GroupState.cipher_suite", &suiteID)
	if !r.OK() {
		return nil, r.Err()
	}
	cs, err := suite.Lookup(suite.ID(suiteID))
	if err != nil {
		return nil, err
	}
	if k := cfg.SigningKey; k != nil && k.Suite().ID() == cs.ID() {
		// The member's own instance of the suite (one with a shared
		// verdict memo in a simulator, say): the same suite, and the one
		// the caller chose for everything else this member does.
		cs = k.Suite()
	}
	g := &Group{suite: cs, epoch: &keyschedule.Epoch{}, pathKeys: map[treemath.NodeIndex][]byte{},
		resumption: map[uint64][]byte{}, proposals: map[string]QueuedProposal{}, pendingUpdates: map[string][]byte{},
		psks: cfg.PSKs, policy: ProposalCheck{Now: cfg.Now, MaxLifetime: cfg.MaxLifetime, Credentials: cfg.Credentials}}
	r.Read(&g.context)
	var rt wire.RatchetTree
	r.Read(&rt)
	var own uint32
	r.Uint32("GroupState.own_leaf", &own)
	g.ownLeaf = treemath.LeafIndex(own)
	r.Each("GroupState.path_keys", func(r *codec.Reader) {
		var x uint32
		var priv []byte
		r.Uint32("GroupState.path_key.node", &x)
		r.Opaque("GroupState.path_key.private", &priv)
		g.pathKeys[treemath.NodeIndex(x)] = priv
	})
	for _, s := range epochSecrets(g.epoch) {
		r.Opaque("GroupState.epoch_secret", s)
	}
	r.Opaque("GroupState.interim_transcript_hash", &g.interimTranscriptHash)
	current := secrettree.UnmarshalState(cs, r)
	type pastRaw struct {
		ctx                   wire.GroupContext
		rt                    wire.RatchetTree
		membership, senderKey []byte
		st                    *secrettree.Tree
	}
	var past []pastRaw
	r.Each("GroupState.past_epochs", func(r *codec.Reader) {
		var p pastRaw
		r.Read(&p.ctx)
		r.Read(&p.rt)
		r.Opaque("GroupState.past.membership_key", &p.membership)
		r.Opaque("GroupState.past.sender_data_secret", &p.senderKey)
		p.st = secrettree.UnmarshalState(cs, r)
		past = append(past, p)
	})
	r.Each("GroupState.resumption", func(r *codec.Reader) {
		var e uint64
		var psk []byte
		r.Uint64("GroupState.resumption.epoch", &e)
		r.Opaque("GroupState.resumption.psk", &psk)
		g.resumption[e] = psk
	})
	r.Each("GroupState.proposals", func(r *codec.Reader) {
		var ref []byte
		qp := QueuedProposal{Proposal: new(wire.Proposal)}
		r.Opaque("GroupState.proposal.ref", &ref)
		r.Read(&qp.Sender)
		r.Read(qp.Proposal)
		g.proposals[string(ref)] = qp
	})
	r.Each("GroupState.pending_updates", func(r *codec.Reader) {
		var pub, priv []byte
		r.Opaque("GroupState.pending_update.public", &pub)
		r.Opaque("GroupState.pending_update.private", &priv)
		g.pendingUpdates[string(pub)] = priv
	})
	var maxRetained, pastEpochs uint32
	r.Uint32("GroupState.window.max_forward", &g.window.MaxForward)
	r.Uint32("GroupState.window.max_retained", &maxRetained)
	r.Uint32("GroupState.past_epochs", &pastEpochs)
	g.window.MaxRetained, g.pastEpochs = int(maxRetained), int(pastEpochs)
	r.Optional("GroupState.reinit", func(r *codec.Reader) {
		g.reinit = new(wire.ReInit)
		r.Read(g.reinit)
	})
	if err := r.Finish("GroupState"); err != nil {
		return nil, err
	}
	if current == nil {
		return nil, fmt.Errorf("mls: group state: secret tree missing")
	}
	if g.tree, err = ratchettree.FromWire(cs, rt); err != nil {
		return nil, fmt.Errorf("mls: group state: %w", err)
	}
	if g.tree.Leaf(g.ownLeaf) == nil {
		return nil, fmt.Errorf("mls: group state: own leaf %d is blank", g.ownLeaf)
	}
	if current.LeafCount() != g.tree.LeafCount() {
		return nil, fmt.Errorf("mls: group state: secret tree of %d leaves for a tree of %d", current.LeafCount(), g.tree.LeafCount())
	}
	if cfg.SigningKey != nil {
		if string(cfg.SigningKey.PublicKey()) != string(g.tree.Leaf(g.ownLeaf).SignatureKey) {
			return nil, fmt.Errorf("mls: signing key does not match the member's leaf")
		}
		g.signingKey = cfg.SigningKey
	}
	g.setFraming(current)
	for _, p := range past {
		tree, err := ratchettree.FromWire(cs, p.rt)
		if err != nil {
			return nil, fmt.Errorf("mls: group state: past epoch %d: %w", p.ctx.Epoch, err)
		}
		ctx, members := p.ctx, tree
		g.past = append(g.past, &pastEpoch{tree: tree, framing: &framing.Epoch{
			Suite: cs, Context: &ctx, MembershipKey: p.membership, SenderDataSecret: p.senderKey, SecretTree: p.st,
			IsMember: func(leaf uint32) bool {
				return leaf < members.LeafCount() && members.Leaf(treemath.LeafIndex(leaf)) != nil
			},
		}})
	}
	return g, nil
}
