package consensus

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// MessageIDOf is the id of the message a member with the given encoded
// credential sealed under nonce (see Send): receivers of a copy that did
// not come through the core (fork's point-to-point re-sends) compute it
// the same way.
func MessageIDOf(credential []byte, nonce [16]byte) MessageID { return messageID(credential, nonce) }

// ContextHash is SHA-256 of the encoded GroupContext (zero if it does not
// encode, which a context the engine built always does).
func ContextHash(gc *wire.GroupContext) [32]byte {
	enc, err := codec.Marshal(gc)
	if err != nil {
		return [32]byte{}
	}
	return sha256.Sum256(enc)
}

// messageID names a message by its sender's credential and nonce.
func messageID(credential []byte, nonce [16]byte) MessageID {
	h := sha256.New()
	h.Write([]byte("mlsnode message id"))
	h.Write(credential)
	h.Write(nonce[:])
	var id MessageID
	copy(id[:], h.Sum(nil))
	return id
}

func (c *Core) ownKey() string {
	return string(c.head.Tree().Leaf(c.head.OwnLeaf()).SignatureKey)
}

func (c *Core) ownCredential() []byte {
	leaf := c.head.Tree().Leaf(c.head.OwnLeaf())
	b, _ := codec.Marshal(&leaf.Credential)
	return b
}

// Send seals application data in the head epoch and queues it for
// broadcast. The message stays in the outbox until its epoch is final and
// is re-sent with the same MessageID if its epoch loses a race.
func (c *Core) Send(data []byte) (MessageID, error) {
	var nonce [16]byte
	if _, err := io.ReadFull(c.cfg.Rand, nonce[:]); err != nil {
		return MessageID{}, err
	}
	return c.SendWithNonce(nonce, data)
}

// SendWithNonce is Send with the caller's nonce. The MessageID is a
// function of the sender's credential and the nonce, so sending the same
// data again with the same nonce (package fork re-sends messages after a
// heal this way) is delivered at most once by each receiver. A nonce must
// not be reused for different data: receivers would drop the second.
func (c *Core) SendWithNonce(nonce [16]byte, data []byte) (MessageID, error) {
	if c.head == nil {
		return MessageID{}, ErrRemoved
	}
	if len(c.outbox) >= c.cfg.MaxOutbox {
		return MessageID{}, ErrOutboxFull
	}
	o := &OutboxEntry{ID: messageID(c.ownCredential(), nonce), Nonce: nonce, Data: append([]byte{}, data...)}
	if err := c.sealApp(o); err != nil {
		return MessageID{}, err
	}
	if !c.headNode.final {
		// A message sent in a final epoch can never need re-sending.
		c.outbox = append(c.outbox, o)
	}
	c.builtOn(c.headNode, c.ownKey())
	// The sender delivers its own message to its application too, once.
	c.delivered.add(o.ID)
	return o.ID, nil
}

// sealApp encrypts an outbox entry in the head and queues the envelope.
func (c *Core) sealApp(o *OutboxEntry) error {
	payload, err := codec.Marshal(&ApplicationPayload{Nonce: o.Nonce, Data: o.Data})
	if err != nil {
		return err
	}
	m, err := c.head.SealApplication(c.cfg.Rand, payload, nil, 0)
	if err != nil {
		return err
	}
	body, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	o.EpochID = c.headNode.ref.ID
	o.Sealed = Envelope{Kind: KindApplication, GroupID: c.groupID, Epoch: c.headNode.ref.Epoch, EpochID: o.EpochID, Body: body}
	c.broadcast(o.Sealed)
	c.dirty = true
	return nil
}

// Unsettled returns what a peer that missed messages needs to reach this
// member's head: the commit envelopes on the head chain after the oldest
// epoch whose race is still open, oldest first, then the application
// messages of the outbox as last sent. Gossip loses what crosses a
// partition; the caller (package fork, on a heal or a fetch) sends these
// again. Receivers drop what they already have as duplicates.
func (c *Core) Unsettled() []Envelope {
	var out []Envelope
	for _, n := range pathFrom(nil, c.headNode) {
		if n.parent != nil && !n.parent.closed {
			out = append(out, n.env)
		}
	}
	for _, o := range c.outbox {
		out = append(out, o.Sealed)
	}
	return out
}

// Propose sends a proposal in the head epoch, as a PublicMessage.
func (c *Core) Propose(p *wire.Proposal) error {
	if c.head == nil {
		return ErrRemoved
	}
	m, ref, err := c.head.Propose(c.cfg.Rand, p, mls.ProposeOptions{PublicMessage: true})
	if err != nil {
		return err
	}
	body, err := codec.Marshal(m)
	if err != nil {
		return err
	}
	c.headNode.proposalRefs = append(c.headNode.proposalRefs, ref)
	c.headNode.byRef = append(c.headNode.byRef, p)
	c.builtOn(c.headNode, c.ownKey())
	c.broadcast(c.seal(c.headNode, Envelope{Kind: KindProposal, GroupID: c.groupID, Epoch: c.headNode.ref.Epoch, EpochID: c.headNode.ref.ID, Body: body}))
	c.dirty = true
	return nil
}

// Commit commits the given proposals by value together with the proposals
// received in the head epoch, with an UpdatePath when they require one or
// when there are none. The commit is a candidate like any other: it is
// applied when the fork choice picks it.
func (c *Core) Commit(proposals ...*wire.Proposal) error {
	return c.CommitWithData(nil, proposals...)
}

// CommitWithData is Commit with authenticated data (RFC 9420 §6.1): bytes
// signed with the commit and readable by everyone who sees it.
func (c *Core) CommitWithData(authenticatedData []byte, proposals ...*wire.Proposal) error {
	if c.head == nil {
		return ErrRemoved
	}
	parent := c.headNode
	switch {
	case c.cfg.CommitHookRefs != nil:
		proposals = c.cfg.CommitHookRefs(c.head, proposals, parent.byRef)
	case c.cfg.CommitHook != nil:
		proposals = c.cfg.CommitHook(c.head, proposals)
	}
	me := string(c.head.Tree().Leaf(c.head.OwnLeaf()).SignatureKey)
	if parent.equivocators[me] {
		return fmt.Errorf("%w: this member", ErrEquivocator)
	}
	if parent.bySigner[me] != nil {
		return fmt.Errorf("%w: epoch %v", ErrAlreadyCommitted, parent.ref.ID)
	}
	opts := mls.CommitOptions{Proposals: proposals, References: parent.proposalRefs, PublicMessage: true, AuthenticatedData: authenticatedData}
	opts.ForcePath = len(proposals)+len(parent.proposalRefs) == 0
	res, err := c.head.Commit(c.cfg.Rand, opts)
	if err != nil && len(parent.proposalRefs) > 0 {
		// A received proposal may conflict with the given ones; commit
		// the given ones alone.
		opts.References, opts.ForcePath = nil, len(proposals) == 0
		res, err = c.head.Commit(c.cfg.Rand, opts)
	}
	if err != nil {
		return err
	}
	if err := c.cfg.Membership.Check(&ProposedCommit{Parent: c.head, Staged: res.Staged}); err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	body, err := codec.Marshal(&CommitBody{Commit: res.Commit, Welcome: res.Welcome})
	if err != nil {
		return err
	}
	digest, _, err := digestOf(res.Commit)
	if err != nil {
		return err
	}
	env := c.seal(parent, Envelope{Kind: KindCommit, GroupID: c.groupID, Epoch: parent.ref.Epoch, EpochID: parent.ref.ID, Body: body})
	n := c.newChild(parent, env, res.Commit, digest, res.Staged, c.head, false)
	n.signer = me
	if err := c.admit(parent, n); err != nil {
		return err
	}
	c.builtOn(parent, me)
	c.broadcast(env)
	c.updateHead()
	c.releaseKnown()
	return nil
}

// reproposal is a proposal of this member's losing commit waiting to be
// committed again: Remove proposals are re-targeted by credential, since
// leaf indexes may differ between branches.
type reproposal struct {
	proposal *wire.Proposal
	removed  []byte // credential of a Remove's target
}

// afterSwitch handles a branch switch: application messages sent in the
// abandoned epochs are re-sent in the head, and this member's proposals in
// abandoned commits are committed again (when the losing commit was its
// own) or proposed again (when another member committed them). Proposals
// are matched to this member by leaf index, which is the same on every
// branch unless the member was removed and re-added.
func (c *Core) afterSwitch(abandoned []*node) {
	lost := map[EpochID]bool{}
	for _, x := range abandoned {
		lost[x.ref.ID] = true
	}
	for _, o := range c.outbox {
		if lost[o.EpochID] {
			if err := c.sealApp(o); err == nil {
				c.emit(Event{Kind: EventResend, MessageID: o.ID, Epoch: c.headNode.ref.Epoch, ID: c.headNode.ref.ID})
			}
		}
	}
	me := c.head.Tree().Leaf(c.head.OwnLeaf()).SignatureKey
	myLeaf := uint32(c.head.OwnLeaf())
	var recommit, repropose []reproposal
	// This member's own commits made on an abandoned epoch but never
	// applied (a better rival of that epoch arrived before the head moved
	// onto the commit) were abandoned too: their proposals come back the
	// same way, or a removal among them would be lost (a Welcome joiner
	// of such a commit still sees it; simulator commit-storm seed 1).
	var unapplied []*node
	for _, x := range abandoned {
		for _, ch := range x.children {
			if ch.signer == string(me) && !lost[ch.ref.ID] && !ch.isAncestorOf(c.headNode) {
				unapplied = append(unapplied, ch)
			}
		}
	}
	for _, x := range append(abandoned, unapplied...) {
		mine := x.signer == string(me)
		if mine && c.cfg.KeepAbandoned != nil && x.msg != nil && x.msg.PublicMessage != nil &&
			c.cfg.KeepAbandoned(x.msg.PublicMessage.Content.AuthenticatedData) {
			continue
		}
		for i, qp := range x.proposals {
			if qp.Proposal.Type == wire.ProposalTypeUpdate {
				continue // the path of the next commit refreshes the leaf
			}
			if qp.Proposal.Type == wire.ProposalTypeGroupContextExtensions && mine &&
				(c.cfg.CommitHook != nil || c.cfg.CommitHookRefs != nil) {
				// With a commit hook, the extensions of this member's
				// commits are the hook's, derived from the parent: it
				// derives them again from the new head. Re-committing
				// the old ones would put stale state (fork's removed
				// set of the losing branch) in the group, and two
				// abandoned commits would give two such proposals, which
				// MLS refuses in one commit (simulator commit-storm, 8
				// members, seed 3: a removal re-commit failed on it).
				continue
			}
			if qp.Sender.SenderType != wire.SenderTypeMember || qp.Sender.LeafIndex != myLeaf {
				continue // its own proposer re-proposes it
			}
			r := reproposal{proposal: qp.Proposal}
			if qp.Proposal.Type == wire.ProposalTypeRemove {
				r.removed = x.removedIDs[indexOfRemove(x.proposals, i)]
			}
			if mine {
				recommit = append(recommit, r)
			} else {
				repropose = append(repropose, r)
			}
		}
	}
	count := 0
	for _, r := range repropose {
		if p := c.retarget(r); p != nil {
			if err := c.Propose(p); err != nil {
				c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("re-proposing: %v", err)})
				continue
			}
			count++
		}
	}
	var list []*wire.Proposal
	for _, r := range recommit {
		if p := c.retarget(r); p != nil {
			list = append(list, p)
		}
	}
	if len(list) > 0 {
		if err := c.Commit(list...); err != nil {
			c.emit(Event{Kind: EventCommitRejected, Reason: fmt.Sprintf("re-committing %d proposals: %v", len(list), err)})
		} else {
			count += len(list)
		}
	}
	if count > 0 {
		c.emit(Event{Kind: EventReproposed, Count: count, Epoch: c.headNode.ref.Epoch, ID: c.headNode.ref.ID})
	}
}

// indexOfRemove maps the i-th proposal (a Remove) to its position among
// the Removes, which is how removedIDs is ordered.
func indexOfRemove(list []mls.QueuedProposal, i int) int {
	k := 0
	for j := 0; j < i; j++ {
		if list[j].Proposal.Type == wire.ProposalTypeRemove {
			k++
		}
	}
	return k
}

// retarget adapts a proposal of a losing branch to the head, or drops it
// when the head already has its effect.
func (c *Core) retarget(r reproposal) *wire.Proposal {
	tree := c.head.Tree()
	switch r.proposal.Type {
	case wire.ProposalTypeRemove:
		for i := uint32(0); i < tree.LeafCount(); i++ {
			leaf := tree.Leaf(leafIndex(i))
			if leaf == nil {
				continue
			}
			if b, _ := codec.Marshal(&leaf.Credential); bytes.Equal(b, r.removed) {
				return mls.NewRemove(i)
			}
		}
		return nil // already gone on this branch
	case wire.ProposalTypeAdd:
		key := r.proposal.Add.KeyPackage.LeafNode.SignatureKey
		for i := uint32(0); i < tree.LeafCount(); i++ {
			if leaf := tree.Leaf(leafIndex(i)); leaf != nil && bytes.Equal(leaf.SignatureKey, key) {
				return nil // already in
			}
		}
	}
	return r.proposal
}

func (c *Core) stepApplication(env Envelope) error {
	digest := sha256.Sum256(env.Body)
	if c.seenApp.has(digest) {
		return ErrDuplicate
	}
	m, err := wire.ParseMLSMessage(env.Body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if m.PrivateMessage == nil || m.PrivateMessage.ContentType != wire.ContentTypeApplication {
		return fmt.Errorf("%w: application envelope without an application PrivateMessage", ErrMalformed)
	}
	if m.PrivateMessage.Epoch != env.Epoch || !bytes.Equal(m.PrivateMessage.GroupID, c.groupID) {
		return fmt.Errorf("%w: message for epoch %d", ErrEpochMismatch, m.PrivateMessage.Epoch)
	}
	n, err := c.parentOf(env, false)
	if err != nil {
		return err
	}
	onChain := n.isAncestorOf(c.headNode)
	var rcv *mls.Received
	g := c.head
	if onChain && g != nil {
		// The engine keeps the keys of the last few epochs.
		rcv, err = g.OpenMessage(m)
	}
	if rcv == nil && n != c.headNode {
		if g, err = c.groupCopyAt(n); err != nil {
			return err
		}
		rcv, err = g.OpenMessage(m)
	}
	if rcv == nil && err == nil {
		err = ErrRemoved
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidMessage, err)
	}
	c.seenApp.add(digest)
	var p ApplicationPayload
	if err := codec.Unmarshal(rcv.ApplicationData, &p); err != nil {
		return fmt.Errorf("%w: application payload: %w", ErrMalformed, err)
	}
	tree := c.TreeOf(n.ref.ID)
	if tree == nil {
		tree = g.Tree()
	}
	leaf := tree.Leaf(rcv.Sender)
	if leaf == nil {
		return fmt.Errorf("%w: sender %d unknown", ErrInvalidMessage, rcv.Sender)
	}
	cred, _ := codec.Marshal(&leaf.Credential)
	id := messageID(cred, p.Nonce)
	if c.delivered.has(id) {
		return nil // a re-send of a message already delivered
	}
	c.delivered.add(id)
	c.builtOn(n, string(leaf.SignatureKey))
	c.deliver(Delivered{ID: id, Sender: uint32(rcv.Sender), Identity: leaf.Credential.Identity, Epoch: n.ref.Epoch,
		EpochID: n.ref.ID, Data: p.Data, LosingBranch: !onChain, Envelope: env, Content: rcv.Content, Context: &rcv.Context})
	return nil
}
