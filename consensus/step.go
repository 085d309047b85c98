package consensus

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Step processes one envelope from the network. A rejected envelope
// returns an error wrapping one of the sentinels of errors.go and changes
// nothing, with one exception: an envelope for an epoch not yet known
// (ErrUnknownEpoch) or a commit naming a proposal not yet received
// (ErrPendingProposal) is held, within MaxPendingPerEpoch and
// MaxPendingEpochs, and processed again when the epoch or a proposal
// arrives.
func (c *Core) Step(env Envelope) error {
	if !bytes.Equal(env.GroupID, c.groupID) {
		return ErrWrongGroup
	}
	var err error
	switch env.Kind {
	case KindCommit:
		err = c.stepCommit(env)
	case KindProposal:
		err = c.stepProposal(env)
	case KindApplication:
		err = c.stepApplication(env)
	case KindEvidence:
		err = c.stepEvidence(env)
	case KindSealed:
		err = c.stepSealed(env)
	case KindBeacon, KindFetchRequest, KindFetchResponse:
		return fmt.Errorf("%w: %v", ErrNotHandled, env.Kind)
	default:
		return fmt.Errorf("%w: %d", ErrUnknownKind, env.Kind)
	}
	c.updateHead()
	c.finalize()
	c.releaseKnown()
	return err
}

// releaseKnown processes again the messages held for epochs that have
// since entered the tree, once the head has moved (so that a message of
// the new head is not taken for one of a losing branch).
func (c *Core) releaseKnown() {
	for len(c.known) > 0 {
		id := c.known[0]
		c.known = c.known[1:]
		c.release(id)
	}
}

// hold keeps an envelope for later, within the bounds.
func (c *Core) hold(id EpochID, env Envelope) error {
	q := c.pending[id]
	if q == nil {
		if len(c.pending) >= c.cfg.MaxPendingEpochs {
			return fmt.Errorf("%w: %d epochs already have messages held", ErrPendingLimit, len(c.pending))
		}
		q = &pendingQueue{since: c.tick}
		c.pending[id] = q
		c.pendingOrder = append(c.pendingOrder, id)
	}
	for _, e := range q.envs {
		if e.Kind == env.Kind && bytes.Equal(e.Body, env.Body) {
			return ErrDuplicate
		}
	}
	if len(q.envs) >= c.cfg.MaxPendingPerEpoch {
		return fmt.Errorf("%w: epoch %v holds %d", ErrPendingLimit, id, len(q.envs))
	}
	q.envs = append(q.envs, env)
	return nil
}

// release processes again what was held for epoch id.
func (c *Core) release(id EpochID) {
	q := c.pending[id]
	if q == nil {
		return
	}
	c.dropPending(id)
	for _, env := range q.envs {
		_ = c.Step(env) // errors were reported when it first arrived
	}
}

func (c *Core) dropPending(id EpochID) {
	delete(c.pending, id)
	for i, x := range c.pendingOrder {
		if x == id {
			c.pendingOrder = append(c.pendingOrder[:i], c.pendingOrder[i+1:]...)
			break
		}
	}
}

// parentOf resolves an envelope's epoch. An external joiner cannot compute
// the id of the epoch it joins (it lacks the epoch authenticator), so a
// commit from a new member may name its parent by number only (zero id):
// it is then the head chain's epoch of that number.
func (c *Core) parentOf(env Envelope, external bool) (*node, error) {
	if env.EpochID.IsZero() && external {
		for n := c.headNode; n != nil; n = n.parent {
			if n.ref.Epoch == env.Epoch {
				return n, nil
			}
		}
		return nil, fmt.Errorf("%w: epoch %d not on the head chain", ErrUnknownEpoch, env.Epoch)
	}
	n := c.nodes[env.EpochID]
	if n == nil && c.forgotten.has(env.EpochID) {
		return nil, fmt.Errorf("%w: epoch %v is final and forgotten", ErrFinal, env.EpochID)
	}
	if n == nil {
		if err := c.hold(env.EpochID, env); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v (held)", ErrUnknownEpoch, env.EpochID)
	}
	if n.ref.Epoch != env.Epoch {
		return nil, fmt.Errorf("%w: header epoch %d, epoch %v is %d", ErrEpochMismatch, env.Epoch, n.ref.ID, n.ref.Epoch)
	}
	if n.selfRemoved {
		return nil, fmt.Errorf("%w: this member is not in epoch %v", ErrUnknownEpoch, n.ref.ID)
	}
	return n, nil
}

// handshake decodes a commit or proposal and checks it against the header.
func (c *Core) handshake(env Envelope, m *wire.MLSMessage, want wire.ContentType) error {
	pm := m.PublicMessage
	if pm == nil {
		return ErrPrivateHandshake
	}
	if pm.Content.ContentType != want {
		return fmt.Errorf("%w: %v in a %v envelope", ErrMalformed, pm.Content.ContentType, env.Kind)
	}
	if pm.Content.Epoch != env.Epoch || !bytes.Equal(pm.Content.GroupID, c.groupID) {
		return fmt.Errorf("%w: message for epoch %d", ErrEpochMismatch, pm.Content.Epoch)
	}
	return nil
}

func (c *Core) stepCommit(env Envelope) error { return c.stepCommitAs(env, env) }

// stepCommitAs processes the commit in env; received is the envelope as it
// came from the network (env itself, or the KindSealed envelope env was
// opened from): that is what the Core keeps, holds and serves again.
func (c *Core) stepCommitAs(env, received Envelope) error {
	var body CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := c.handshake(env, body.Commit, wire.ContentTypeCommit); err != nil {
		return err
	}
	digest, _, err := digestOf(body.Commit)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if c.seenCommits[digest] != nil {
		return ErrDuplicate
	}
	sender := body.Commit.PublicMessage.Content.Sender
	external := sender.SenderType == wire.SenderTypeNewMemberCommit
	parent, err := c.parentOf(received, external)
	if err != nil {
		return err
	}
	if parent.closed {
		return fmt.Errorf("%w: the race on epoch %v is closed", ErrFinal, parent.ref.ID)
	}
	var signer string
	if external {
		if c := body.Commit.PublicMessage.Content.Commit; c != nil && c.Path != nil {
			signer = string(c.Path.LeafNode.SignatureKey)
		}
	} else if parent.tree != nil && sender.LeafIndex < parent.tree.LeafCount() {
		if leaf := parent.tree.Leaf(leafIndex(sender.LeafIndex)); leaf != nil {
			signer = string(leaf.SignatureKey)
		}
	}
	if signer != "" && parent.equivocators[signer] {
		return fmt.Errorf("%w: leaf %d on epoch %v", ErrEquivocator, sender.LeafIndex, parent.ref.ID)
	}
	g, err := c.groupAt(parent)
	if err != nil {
		return err
	}
	p, err := g.ProcessHandshake(body.Commit)
	if err != nil {
		if errors.Is(err, mls.ErrUnknownProposal) {
			if herr := c.hold(parent.ref.ID, received); herr != nil {
				return herr
			}
			return fmt.Errorf("%w: %w", ErrPendingProposal, err)
		}
		return c.reject(fmt.Sprintf("invalid commit on %v: %v", parent.ref.ID, err), fmt.Errorf("%w: %w", ErrInvalidMessage, err))
	}
	if p.Commit == nil {
		return fmt.Errorf("%w: not a commit", ErrMalformed)
	}
	sc := p.Commit
	if err := c.cfg.Membership.Check(&ProposedCommit{Parent: g, Staged: sc, External: external, Message: body.Commit}); err != nil {
		return c.reject(fmt.Sprintf("policy %s refused commit by %d on %v: %v", c.cfg.Membership.Name(), sc.Committer, parent.ref.ID, err),
			fmt.Errorf("%w: %w", ErrPolicy, err))
	}
	if signer == "" {
		if leaf := g.Tree().Leaf(sc.Committer); leaf != nil {
			signer = string(leaf.SignatureKey)
		}
		if parent.equivocators[signer] {
			return fmt.Errorf("%w: leaf %d on epoch %v", ErrEquivocator, sc.Committer, parent.ref.ID)
		}
	}
	if prev := parent.bySigner[signer]; prev != nil {
		c.penalise(parent, signer, prev.msg, body.Commit)
		return nil
	}
	n := c.newChild(parent, received, body.Commit, digest, sc, g, external)
	n.signer = signer
	if err := c.admit(parent, n); err != nil {
		return err
	}
	c.builtOn(parent, signer)
	return nil
}

// builtOn records that the member with signature key signer sent
// something in epoch n, so it accepted n and every ancestor of n.
func (c *Core) builtOn(n *node, signer string) {
	for ; n != nil; n = n.parent {
		if n.builders[signer] {
			return
		}
		n.builders[signer] = true
	}
}

// newChild builds the node of a staged commit on parent (whose state is g).
func (c *Core) newChild(parent *node, env Envelope, msg *wire.MLSMessage, digest [32]byte, sc *mls.StagedCommit, g *mls.Group, external bool) *node {
	n := &node{parent: parent, env: env, msg: msg, digest: digest, committer: uint32(sc.Committer), external: external,
		proposals: sc.Proposals, selfRemoved: sc.SelfRemoved, staged: sc, arrived: c.tick}
	n.ref.Epoch = sc.Epoch()
	if id, ok := StagedEpochID(c.groupID, sc); ok {
		n.ref.ID = id
	} else {
		// This member is removed by the commit and cannot compute the
		// new epoch's id; the node gets a local name.
		h := sha256.New()
		h.Write([]byte("mlsnode removed epoch"))
		h.Write(parent.ref.ID[:])
		h.Write(digest[:])
		h.Sum(n.ref.ID[:0])
	}
	for _, a := range sc.Added {
		n.added = append(n.added, uint32(a))
	}
	for _, r := range sc.Removed {
		n.removed = append(n.removed, uint32(r))
		var id []byte
		if leaf := g.Tree().Leaf(r); leaf != nil {
			id, _ = codec.Marshal(&leaf.Credential)
		}
		n.removedIDs = append(n.removedIDs, id)
	}
	n.key = c.cfg.Rank.Key(&Candidate{Parent: parent.ref.ID, Committer: n.committer, Removes: len(n.removed), External: external, Digest: digest})
	return n
}

// admit inserts a candidate into the tree within the bounds.
func (c *Core) admit(parent *node, n *node) error {
	if c.nodes[n.ref.ID] != nil {
		return ErrDuplicate
	}
	if len(parent.children) >= c.cfg.MaxRivalsPerParent {
		// Evict the worst candidate off the head chain if the newcomer
		// ranks above it; otherwise refuse the newcomer.
		var victim *node
		for i := len(parent.children) - 1; i >= 0; i-- {
			if ch := parent.children[i]; !ch.isAncestorOf(c.headNode) {
				victim = ch
				break
			}
		}
		if victim == nil || better(victim, n) {
			return fmt.Errorf("%w: %d on epoch %v", ErrRivalLimit, len(parent.children), parent.ref.ID)
		}
		c.drop(victim)
	}
	if !parent.hadChild {
		parent.hadChild, parent.firstChild = true, c.tick
	}
	parent.insertChild(n)
	parent.bySigner[n.signer] = n
	c.addNode(n)
	c.dirty = true
	if len(c.nodes) > c.cfg.MaxRetainedEpochs {
		c.updateHead()
		c.prune()
		if c.nodes[n.ref.ID] == nil {
			return fmt.Errorf("%w: %d epochs retained", ErrRivalLimit, len(c.nodes))
		}
	}
	c.known = append(c.known, n.ref.ID)
	return nil
}

// drop forgets a node and its subtree.
func (c *Core) drop(n *node) {
	for _, x := range n.subtree() {
		delete(c.nodes, x.ref.ID)
		delete(c.seenCommits, x.digest)
		c.dropPending(x.ref.ID)
		x.setState(nil)
		x.staged = nil
	}
	if p := n.parent; p != nil {
		p.removeChild(n)
		if p.bySigner[n.signer] == n {
			delete(p.bySigner, n.signer)
		}
	}
	c.dirty = true
}

// penalise records that the member with signature key signer signed two
// commits on parent: every candidate of it there is disqualified, later
// ones are refused, and the evidence is broadcast.
func (c *Core) penalise(parent *node, signer string, a, b *wire.MLSMessage) {
	if parent.equivocators[signer] {
		return
	}
	parent.equivocators[signer] = true
	leaf := a.PublicMessage.Content.Sender.LeafIndex
	for _, ch := range parent.children {
		if ch.signer == signer {
			ch.equivocated = true
		}
	}
	ea, _ := codec.Marshal(a)
	eb, _ := codec.Marshal(b)
	if bytes.Compare(ea, eb) > 0 {
		a, b = b, a
	}
	if body, err := codec.Marshal(&Evidence{First: a, Second: b}); err == nil {
		c.broadcast(c.seal(parent, Envelope{Kind: KindEvidence, GroupID: c.groupID, Epoch: parent.ref.Epoch, EpochID: parent.ref.ID, Body: body}))
	}
	c.emit(Event{Kind: EventEquivocation, Parent: parent.ref.ID, Epoch: parent.ref.Epoch, Leaf: leaf})
	c.dirty = true
}

// stepEvidence checks equivocation evidence: two different commits, both
// valid on the named parent epoch, both signed by the same member.
func (c *Core) stepEvidence(env Envelope) error { return c.stepEvidenceAs(env, env) }

func (c *Core) stepEvidenceAs(env, received Envelope) error {
	var ev Evidence
	if err := codec.Unmarshal(env.Body, &ev); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	for _, m := range []*wire.MLSMessage{ev.First, ev.Second} {
		if err := c.handshake(env, m, wire.ContentTypeCommit); err != nil {
			return fmt.Errorf("%w: %w", ErrBadEvidence, err)
		}
	}
	sa, sb := ev.First.PublicMessage.Content.Sender, ev.Second.PublicMessage.Content.Sender
	if sa != sb || sa.SenderType != wire.SenderTypeMember {
		return fmt.Errorf("%w: the commits come from different senders", ErrBadEvidence)
	}
	ca, _ := codec.Marshal(&ev.First.PublicMessage.Content)
	cb, _ := codec.Marshal(&ev.Second.PublicMessage.Content)
	if bytes.Equal(ca, cb) {
		return fmt.Errorf("%w: the two commits have the same content", ErrBadEvidence)
	}
	parent, err := c.parentOf(received, false)
	if err != nil {
		return err
	}
	if parent.closed {
		return fmt.Errorf("%w: the race on epoch %v is closed", ErrFinal, parent.ref.ID)
	}
	if parent.tree == nil {
		if _, err := c.groupAt(parent); err != nil {
			return err
		}
	}
	leaf := parent.tree.Leaf(leafIndex(sa.LeafIndex))
	if sa.LeafIndex >= parent.tree.LeafCount() || leaf == nil {
		return fmt.Errorf("%w: no member at leaf %d", ErrBadEvidence, sa.LeafIndex)
	}
	signer := string(leaf.SignatureKey)
	if parent.equivocators[signer] {
		return ErrDuplicate
	}
	for _, m := range []*wire.MLSMessage{ev.First, ev.Second} {
		g, err := c.groupCopyAt(parent)
		if err != nil {
			return err
		}
		if uint32(g.OwnLeaf()) == sa.LeafIndex {
			// Evidence naming this member: its Core never signs two
			// commits on one epoch, so its key signed something it did
			// not make. The engine refuses to stage commits in the
			// member's own name, so only the signatures are checked;
			// they suffice to show the key is used by someone else,
			// and this member's commit then loses like any other
			// equivocator's.
			if err := framing.Verify(g.Suite(), leaf.SignatureKey, m.PublicMessage.AuthenticatedContent(), g.Context()); err != nil {
				return fmt.Errorf("%w: %w", ErrBadEvidence, err)
			}
			continue
		}
		// Both must be commits the engine accepts on the parent:
		// signature, membership tag and the whole commit check.
		if _, err := g.ProcessHandshake(m); err != nil {
			return fmt.Errorf("%w: %w", ErrBadEvidence, err)
		}
	}
	c.penalise(parent, signer, ev.First, ev.Second)
	return nil
}

func (c *Core) stepProposal(env Envelope) error { return c.stepProposalAs(env, env) }

func (c *Core) stepProposalAs(env, received Envelope) error {
	m, err := wire.ParseMLSMessage(env.Body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := c.handshake(env, m, wire.ContentTypeProposal); err != nil {
		return err
	}
	n, err := c.parentOf(received, false)
	if err != nil {
		return err
	}
	if n.closed {
		return fmt.Errorf("%w: epoch %v is decided", ErrFinal, n.ref.ID)
	}
	g, err := c.groupAt(n)
	if err != nil {
		return err
	}
	p, err := g.ProcessHandshake(m)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	for _, r := range n.proposalRefs {
		if bytes.Equal(r, p.ProposalRef) {
			return ErrDuplicate
		}
	}
	if len(n.proposalRefs) >= c.cfg.MaxPendingPerEpoch {
		return fmt.Errorf("%w: %d proposals in epoch %v", ErrPendingLimit, len(n.proposalRefs), n.ref.ID)
	}
	n.proposalRefs = append(n.proposalRefs, p.ProposalRef)
	n.byRef = append(n.byRef, p.Proposal.Proposal)
	if p.Proposal != nil && p.Proposal.Sender.SenderType == wire.SenderTypeMember {
		if leaf := g.Tree().Leaf(leafIndex(p.Proposal.Sender.LeafIndex)); leaf != nil {
			c.builtOn(n, string(leaf.SignatureKey))
		}
		c.noteLeave(n, p.Proposal.Sender.LeafIndex, p.Proposal.Proposal)
	}
	if n != c.headNode {
		st, err := g.MarshalState()
		if err != nil {
			return err
		}
		n.setState(st)
	}
	c.dirty = true
	c.known = append(c.known, n.ref.ID)
	return nil
}
