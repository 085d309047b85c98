package fork

import (
	"bytes"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Sealed proofs in point-to-point re-sends (DirectResend's SealedProof).
//
// An author that re-sends a message point to point (a member added since
// the message is in the group, so a group re-send may not carry it) used
// to give each recipient only the plaintext, under a signature that binds
// that one recipient. A member that got the message only that way could
// not pass it on verifiably, so when the author was removed, a member of
// the sealing epoch E that had been away while the author re-sent lost
// it: nobody held anything it could check (simulator churn seed 69: the
// author, offline, sent in epoch 1; back online it re-sent the message
// point to point to every member present, the original having never left
// it; member 13, offline meanwhile, came back after the author's removal).
//
// So the author adds, inside the HPKE plaintext, its signature over the
// message's FramedContent as sealed in E with E's GroupContext: exactly
// what a relay of the signed content carries (relaycontent.go). The
// recipient checks it like a relayed content, against its own records of
// E (context hash, the author's key at its leaf in E), and keeps it in its
// relay log with E's roster; a nacking member of E that can no longer open
// E then gets it as a RelayedContent. Nothing new is trusted: the proof
// verifies under the author's key and E's context, both from the
// recipient's own records, or it is not kept. What the author signs is
// the content it sent (the same nonce, hence the same message id, and the
// same data), in the epoch it sealed it in.

// maxSealRecords bounds the epochs whose context an author keeps for the
// proofs of its own messages (one per epoch it sent in; a message of an
// epoch forgotten is re-sent without a proof).
const maxSealRecords = 64

// sealRecord is what an author keeps of an epoch it sent messages in.
type sealRecord struct {
	ref  EpochRef
	leaf uint32
	ctx  *wire.GroupContext
	enc  []byte
}

// sealRecords maps epoch ids to their records, oldest first in order.
type sealRecords struct {
	byEpoch map[EpochID]*sealRecord
	order   []EpochID
}

// noteSealed records the head epoch's context before an own message is
// sealed in it.
func (m *Member) noteSealed() {
	id := m.core.HeadID()
	if _, ok := m.seals.byEpoch[id]; ok {
		return
	}
	head := m.core.Head()
	enc, err := codec.Marshal(head.Context())
	if err != nil || len(enc) > MaxRelayedContext {
		return
	}
	// A copy of its own: the engine's context is the live group's.
	gc := new(wire.GroupContext)
	if codec.Unmarshal(enc, gc) != nil {
		return
	}
	if m.seals.byEpoch == nil {
		m.seals.byEpoch = map[EpochID]*sealRecord{}
	}
	m.seals.byEpoch[id] = &sealRecord{ref: m.core.HeadRef(), leaf: uint32(head.OwnLeaf()), ctx: gc, enc: enc}
	m.seals.order = append(m.seals.order, id)
	if len(m.seals.order) > maxSealRecords {
		delete(m.seals.byEpoch, m.seals.order[0])
		m.seals.order = m.seals.order[1:]
	}
}

// provenContent is the message's content as sealed by sender in the
// epoch of ctx, with signature (empty when about to be signed).
func provenContent(groupID []byte, epoch uint64, sender uint32, nonce [16]byte, data []byte, signature []byte) (*wire.AuthenticatedContent, error) {
	payload, err := codec.Marshal(&consensus.ApplicationPayload{Nonce: nonce, Data: data})
	if err != nil {
		return nil, err
	}
	return &wire.AuthenticatedContent{
		WireFormat: wire.WireFormatPrivateMessage,
		Content: wire.FramedContent{GroupID: groupID, Epoch: epoch,
			Sender:      wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: sender},
			ContentType: wire.ContentTypeApplication, ApplicationData: payload},
		Auth: wire.FramedContentAuthData{ContentType: wire.ContentTypeApplication, Signature: signature},
	}, nil
}

// sealedProofOf is the proof for own logged message e, nil when the epoch
// it was first sealed in is no longer recorded.
func (m *Member) sealedProofOf(e consensus.OutboxEntry) *sealedProof {
	first, ok := m.sealedIn[e.ID]
	if !ok {
		return nil
	}
	rec := m.seals.byEpoch[first]
	if rec == nil {
		return nil
	}
	ac, err := provenContent(m.groupID, rec.ref.Epoch, rec.leaf, e.Nonce, e.Data, nil)
	if err != nil {
		return nil
	}
	signed, err := framing.Sign(m.cfg.Core.SigningKey, wire.WireFormatPrivateMessage, &ac.Content, rec.ctx)
	if err != nil {
		return nil
	}
	return &sealedProof{Sealed: rec.ref, Sender: rec.leaf, Context: rec.enc, Signature: signed.Auth.Signature}
}

// noteProvenResend keeps, for relaying, the signed content of a message
// delivered from a DirectResend of author whose plaintext carries a
// proof, when the proof checks against our own records of its epoch and
// we know that epoch's roster (the members it may be relayed to).
func (m *Member) noteProvenResend(author Identity, pt *resendPlaintext) {
	p := pt.Proof
	want, ok := m.contexts.hash[p.Sealed.ID]
	if !ok {
		return // not an epoch we held
	}
	var gc wire.GroupContext
	if codec.Unmarshal(p.Context, &gc) != nil || consensus.ContextHash(&gc) != want ||
		gc.Epoch != p.Sealed.Epoch || !bytes.Equal(gc.GroupID, m.groupID) {
		return
	}
	key, ok := m.authorIn(p.Sender, p.Sealed)
	if !ok || key.id != author {
		return
	}
	ac, err := provenContent(m.groupID, gc.Epoch, p.Sender, pt.Nonce, pt.Data, p.Signature)
	if err != nil || framing.Verify(m.suite, key.key, ac, &gc) != nil {
		return
	}
	roster, ok := m.rosters.byEpoch[p.Sealed.ID]
	if !ok {
		tree := m.core.TreeOf(p.Sealed.ID)
		if tree == nil {
			return
		}
		roster = m.rosterOf(p.Sealed.ID, tree)
	}
	var f appFrame
	if codec.Unmarshal(pt.Data, &f) != nil {
		return
	}
	content, err := codec.Marshal(ac)
	if err != nil || len(content) > MaxRelayedContent {
		return
	}
	// No original envelope: the relay log entry names the epoch only, and
	// relayFor sends the signed content alone.
	m.relays.add(relayKey{author: author, seq: f.Seq}, consensus.Envelope{Epoch: p.Sealed.Epoch, EpochID: p.Sealed.ID},
		&signedCopy{content: content, context: bytes.Clone(p.Context), roster: roster})
}
