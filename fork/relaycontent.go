package fork

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Relays of the author's signed content. A relay of the original envelope
// (relay.go) opens only for a member that still holds the keys of the
// epoch E the message was sealed in. A member of E that released them
// before any copy reached it (cut off by a partition or offline until E
// was final, and the author removed meanwhile) can still be given the
// message by a member that delivered it, without resting on the relay's
// word: the relay forwards what the author signed, the FramedContent and
// its FramedContentAuthData, with E's GroupContext, HPKE-encrypted to the
// recipient's leaf key. The recipient
//
//   - recognises E's GroupContext: its SHA-256 is the one it recorded when
//     it merged E (so E is an epoch it held, of this group);
//   - finds the author's signature key in E from its own record of the
//     trees it merged (leaf index and key seen in E's epoch number);
//   - verifies the author's signature over FramedContentTBS (RFC 9420
//     §6.1: wire format, content, and E's GroupContext);
//   - derives the message id from the author's credential and the nonce
//     in the content (consensus.MessageIDOf), so a copy that arrived
//     otherwise is a duplicate.
//
// So nobody but the author can make a relayed content verify, and only
// for an epoch the recipient held. Confidentiality is the relay's duty, as
// for any member holding the plaintext: it sends only to an identity of
// E's roster (recorded when it delivered the message), to that member's
// leaf key in the relay's head, so a member who joined after E never gets
// it. See docs/ordering.md, "Delivery guarantee".

// Errors of relayed contents. Each is a rejection of peer input: the
// envelope changes nothing.
var (
	// ErrBadRelay: the relayed content does not open, is not of the
	// epoch it names, names a context or author this member does not
	// recognise, or its signature does not verify.
	ErrBadRelay = errors.New("fork: relayed content does not verify")
	// ErrReplayedRelay: the message it carries was delivered already.
	ErrReplayedRelay = errors.New("fork: relayed content of a delivered message")
)

// RelayLabel labels the HPKE encryption of a RelayedContent.
const RelayLabel = "mlsnode relayed content"

// Wire limits of a RelayedContent's plaintext parts.
const (
	// MaxRelayedContext bounds the encoded GroupContext (its removed set
	// extension is at most MaxRemoved identities).
	MaxRelayedContext = 32*MaxRemoved + 4096
	// MaxRelayedContent bounds the encoded AuthenticatedContent.
	MaxRelayedContent = 1<<20 + 4096
)

// RelayedContent is another member's application message, as its author
// signed it, sent by a relay to one member:
//
//	struct {
//	    opaque group_id<V>;      // <= 256
//	    EpochRef sealed;         // E: the epoch the author sealed it in
//	    EpochRef head;           // the relay's head: its tree names the recipient's leaf
//	    uint32 recipient;        // the recipient's leaf in head
//	    opaque kem_output<V>;    // <= 256
//	    opaque ciphertext<V>;    // EncryptWithLabel(recipient's encryption_key,
//	                             //   "mlsnode relayed content", RelayContext, RelayedPlaintext)
//	} RelayedContent;            // KindRelayed (21), point to point
//	RelayContext = the struct up to and including recipient;
//	struct {
//	    opaque context<V>;       // E's GroupContext, encoded
//	    opaque content<V>;       // the author's AuthenticatedContent (PrivateMessage wire format)
//	} RelayedPlaintext;
type RelayedContent struct {
	GroupID    []byte
	Sealed     EpochRef
	Head       EpochRef
	Recipient  uint32
	KEMOutput  []byte
	Ciphertext []byte
}

func (d *RelayedContent) marshalContext(w *codec.Writer) {
	w.Opaque(d.GroupID)
	w.Uint64(d.Sealed.Epoch)
	w.Raw(d.Sealed.ID[:])
	w.Uint64(d.Head.Epoch)
	w.Raw(d.Head.ID[:])
	w.Uint32(d.Recipient)
}

func (d *RelayedContent) context() ([]byte, error) {
	w := codec.NewWriter(nil)
	d.marshalContext(w)
	return w.Bytes()
}

func (d *RelayedContent) MarshalMLS(w *codec.Writer) {
	if len(d.GroupID) > MaxGroupIDSize || len(d.KEMOutput) > MaxKEMOutputSize || len(d.Ciphertext) > MaxRelayedCiphertext {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	d.marshalContext(w)
	w.Opaque(d.KEMOutput)
	w.Opaque(d.Ciphertext)
}

func (d *RelayedContent) UnmarshalMLS(r *codec.Reader) {
	*d = RelayedContent{}
	readBounded(r, "RelayedContent.group_id", MaxGroupIDSize, &d.GroupID)
	r.Uint64("RelayedContent.sealed.epoch", &d.Sealed.Epoch)
	readID(r, "RelayedContent.sealed.id", &d.Sealed.ID)
	r.Uint64("RelayedContent.head.epoch", &d.Head.Epoch)
	readID(r, "RelayedContent.head.id", &d.Head.ID)
	r.Uint32("RelayedContent.recipient", &d.Recipient)
	readBounded(r, "RelayedContent.kem_output", MaxKEMOutputSize, &d.KEMOutput)
	readBounded(r, "RelayedContent.ciphertext", MaxRelayedCiphertext, &d.Ciphertext)
}

// MaxRelayedCiphertext bounds a RelayedContent's ciphertext: the two
// plaintext parts with their length prefixes, and the AEAD tag.
const MaxRelayedCiphertext = MaxRelayedContext + MaxRelayedContent + 64

// relayedPlaintext is what a RelayedContent encrypts.
type relayedPlaintext struct {
	Context []byte
	Content []byte
}

func (p *relayedPlaintext) MarshalMLS(w *codec.Writer) {
	w.Opaque(p.Context)
	w.Opaque(p.Content)
}

func (p *relayedPlaintext) UnmarshalMLS(r *codec.Reader) {
	readBounded(r, "RelayedPlaintext.context", MaxRelayedContext, &p.Context)
	readBounded(r, "RelayedPlaintext.content", MaxRelayedContent, &p.Content)
}

// signedCopy is what a relay keeps of a delivered message to relay its
// content: the author's AuthenticatedContent and E's GroupContext, both
// encoded, and E's roster (the identities it may be sent to).
type signedCopy struct {
	content, context []byte
	roster           []Identity
}

func (c *signedCopy) size() int { return len(c.content) + len(c.context) + 32*len(c.roster) }

// signedCopyOf encodes a delivered message's signed content, or nil when
// the core gave none (or it does not encode).
func (m *Member) signedCopyOf(d consensus.Delivered) *signedCopy {
	if d.Content == nil || d.Context == nil {
		return nil
	}
	tree := m.core.TreeOf(d.EpochID)
	if tree == nil {
		return nil
	}
	content, err := codec.Marshal(d.Content)
	if err != nil {
		return nil
	}
	ctx, err := codec.Marshal(d.Context)
	if err != nil || len(ctx) > MaxRelayedContext || len(content) > MaxRelayedContent {
		return nil
	}
	return &signedCopy{content: content, context: ctx, roster: m.rosterOf(d.EpochID, tree)}
}

// mayRelayContent reports whether nacker, whose head is at and who opens
// messages from epoch opensFrom on, is to get the signed content of a
// message sealed in e rather than the original: it cannot open the
// original any more (or noOriginal: we hold none to give), it was a
// member of e, and its head is on our chain (so its leaf in our head is
// its own).
func (m *Member) mayRelayContent(c *signedCopy, e, at EpochRef, opensFrom uint64, noOriginal bool, nacker Identity) bool {
	if c == nil || at.Epoch < e.Epoch || !noOriginal && e.Epoch >= opensFrom || !slices.Contains(c.roster, nacker) {
		return false
	}
	return at.ID == m.core.HeadID() || m.inHistory(at.ID)
}

// sendRelayedContent seals c to nacker's leaf in our head and sends it
// through the peer whose beacon asked.
func (m *Member) sendRelayedContent(c *signedCopy, e EpochRef, nacker Identity) {
	head := m.core.Head()
	leafIdx, ok := m.findIdentity(head.Tree(), nacker)
	if !ok {
		return
	}
	leaf := head.Tree().Leaf(leafIdx)
	d := RelayedContent{GroupID: m.groupID, Sealed: e, Head: m.core.HeadRef(), Recipient: uint32(leafIdx)}
	ctx, err := d.context()
	if err != nil {
		return
	}
	pt, err := codec.Marshal(&relayedPlaintext{Context: c.context, Content: c.content})
	if err != nil {
		return
	}
	if d.KEMOutput, d.Ciphertext, err = m.suite.EncryptWithLabel(m.cfg.Core.Rand, leaf.EncryptionKey, RelayLabel, ctx, pt); err != nil {
		return
	}
	body, err := codec.Marshal(&d)
	if err != nil {
		return
	}
	m.out.Direct = append(m.out.Direct, Directed{To: m.beaconFrom, Envelope: consensus.Envelope{Kind: consensus.KindRelayed,
		GroupID: m.groupID, Epoch: d.Head.Epoch, EpochID: d.Head.ID, Body: body}})
}

// stepRelayed opens a relayed content addressed to us, checks it as the
// author's message of an epoch we held, and delivers it unless it was
// delivered already.
func (m *Member) stepRelayed(env *consensus.Envelope) error {
	var d RelayedContent
	if err := codec.Unmarshal(env.Body, &d); err != nil {
		return fmt.Errorf("%w: %w", consensus.ErrMalformed, err)
	}
	if !bytes.Equal(d.GroupID, m.groupID) {
		return fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	}
	if d.Head.Epoch != env.Epoch || d.Head.ID != env.EpochID {
		return fmt.Errorf("%w (%w)", ErrBadRelay, consensus.ErrEpochMismatch)
	}
	if m.outside() {
		return consensus.ErrRemoved
	}
	tree := m.core.TreeOf(d.Head.ID)
	if tree == nil {
		return fmt.Errorf("%w: %x", consensus.ErrUnknownEpoch, d.Head.ID[:4])
	}
	head := m.core.Head()
	own := head.Tree().Leaf(head.OwnLeaf())
	if rcpt := leafAt(tree, d.Recipient); rcpt == nil || !bytes.Equal(rcpt.EncryptionKey, own.EncryptionKey) {
		return fmt.Errorf("%w: leaf %d", ErrWrongRecipient, d.Recipient)
	}
	want, ok := m.contexts.hash[d.Sealed.ID]
	if !ok {
		return fmt.Errorf("%w: epoch %d %x not recorded here", ErrBadRelay, d.Sealed.Epoch, d.Sealed.ID[:4])
	}
	hctx, err := d.context()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRelay, err)
	}
	raw, err := head.DecryptWithLeafKey(RelayLabel, hctx, d.KEMOutput, d.Ciphertext)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadRelay, err)
	}
	var pt relayedPlaintext
	if err := codec.Unmarshal(raw, &pt); err != nil {
		return fmt.Errorf("%w: plaintext: %w", ErrBadRelay, err)
	}
	var gc wire.GroupContext
	if err := codec.Unmarshal(pt.Context, &gc); err != nil {
		return fmt.Errorf("%w: context: %w", ErrBadRelay, err)
	}
	if consensus.ContextHash(&gc) != want || gc.Epoch != d.Sealed.Epoch || !bytes.Equal(gc.GroupID, m.groupID) {
		return fmt.Errorf("%w: not the context of epoch %d", ErrBadRelay, d.Sealed.Epoch)
	}
	var ac wire.AuthenticatedContent
	if err := codec.Unmarshal(pt.Content, &ac); err != nil {
		return fmt.Errorf("%w: content: %w", ErrBadRelay, err)
	}
	c := &ac.Content
	if ac.WireFormat != wire.WireFormatPrivateMessage || c.ContentType != wire.ContentTypeApplication ||
		c.Sender.SenderType != wire.SenderTypeMember || c.Epoch != gc.Epoch || !bytes.Equal(c.GroupID, m.groupID) {
		return fmt.Errorf("%w: not an application message of epoch %d", ErrBadRelay, gc.Epoch)
	}
	author, ok := m.authorIn(c.Sender.LeafIndex, d.Sealed)
	if !ok {
		return fmt.Errorf("%w: no known member at leaf %d in epoch %d", ErrBadRelay, c.Sender.LeafIndex, gc.Epoch)
	}
	if err := framing.Verify(m.suite, author.key, &ac, &gc); err != nil {
		return fmt.Errorf("%w: %w", ErrBadRelay, err)
	}
	var p consensus.ApplicationPayload
	if err := codec.Unmarshal(c.ApplicationData, &p); err != nil {
		return fmt.Errorf("%w: payload: %w", ErrBadRelay, err)
	}
	id := consensus.MessageIDOf(author.credential, p.Nonce)
	if m.seen.set[id] {
		return ErrReplayedRelay
	}
	dl := consensus.Delivered{ID: id, Sender: c.Sender.LeafIndex, Identity: author.identity,
		Epoch: d.Sealed.Epoch, EpochID: d.Sealed.ID, Data: p.Data}
	var f appFrame
	if codec.Unmarshal(p.Data, &f) == nil {
		dl.Data = f.Data
		// Only into a record that exists: a fresh one would start at
		// this number and ask again for those below it.
		if m.authors[author.id] != nil {
			m.noteReceived(author.id, f.Seq, d.Sealed.Epoch)
		}
	}
	m.seen.add(id)
	m.out.Delivered = append(m.out.Delivered, dl)
	return nil
}
