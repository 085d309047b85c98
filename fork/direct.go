package fork

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Point-to-point re-sends. A re-send sealed in the group's head is readable
// by every current member, including members who joined after the message
// was first sent; MLS cannot encrypt a PrivateMessage to a subset. When such
// a member is in the group, the author re-sends a message a member lacks to
// that member alone: HPKE (RFC 9180, through the suite's EncryptWithLabel,
// RFC 9420 §5.1.3) to the encryption key of the recipient's leaf in the
// author's head tree, signed with the author's MLS signature key. See
// docs/ordering.md, "Point-to-point re-sends".

// Errors of point-to-point re-sends. Each is a rejection of peer input: the
// envelope changes nothing.
var (
	// ErrBadResend: the signature does not verify with the sender's leaf
	// key, the sender is not a member of the named epoch, or the
	// ciphertext does not open.
	ErrBadResend = errors.New("fork: point-to-point re-send does not verify")
	// ErrWrongRecipient: the re-send is addressed to another leaf, or to
	// a leaf key this member no longer holds.
	ErrWrongRecipient = errors.New("fork: point-to-point re-send for another member")
	// ErrReplayedResend: the message it carries was delivered already.
	ErrReplayedResend = errors.New("fork: point-to-point re-send of a delivered message")
)

// ResendLabel labels both the HPKE encryption and the signature of a
// DirectResend; no MLS structure uses it.
const ResendLabel = "mlsnode resend"

// Wire limits of a DirectResend.
const (
	// MaxKEMOutputSize bounds kem_output (133 bytes for P-521, the
	// largest of the suites).
	MaxKEMOutputSize = 256
	// MaxResendCiphertext bounds the ciphertext: an application message
	// of up to 1 MiB plus framing and tag, and the sealed proof.
	MaxResendCiphertext = 1<<20 + 1024 + MaxRelayedContext + MaxSignatureSize + 64
)

// DirectResend is an own application message sent again to one member:
//
//	struct {
//	    opaque group_id<V>;
//	    uint64 epoch;
//	    opaque epoch_id[32];     // the author's head: its tree names both leaves
//	    uint32 sender;           // the author's leaf
//	    uint32 recipient;        // the recipient's leaf
//	    opaque kem_output<V>;    // <= 256
//	    opaque ciphertext<V>;    // EncryptWithLabel(recipient's encryption_key,
//	                             //   "mlsnode resend", ResendContext, ResendPlaintext)
//	    opaque signature<V>;     // SignWithLabel(author, "mlsnode resend", ResendTBS)
//	} DirectResend;
//	ResendContext = the struct up to and including recipient;
//	ResendTBS     = the struct without the signature;
//	struct {
//	    opaque nonce[16];
//	    opaque data<V>;
//	    optional<SealedProof> proof;
//	} ResendPlaintext;
//	struct {
//	    EpochRef sealed;         // E: the epoch the message was first sealed in
//	    uint32 sender;           // the author's leaf in E
//	    opaque context<V>;       // E's GroupContext, encoded
//	    opaque signature<V>;     // the author's FramedContent signature in E
//	} SealedProof;
//
// The receiver derives the message id from the author's credential and the
// nonce (consensus.MessageIDOf), so the id cannot be chosen by anyone else.
//
// The proof is what a relay needs to pass the message on verifiably
// (relaycontent.go): the author's signature over the FramedContent of the
// message as sealed in E (application_data the ApplicationPayload of nonce
// and data, empty authenticated_data, PrivateMessage wire format) with E's
// GroupContext. A DirectResend itself is signed for its one recipient
// only; without the proof a member that got the message only that way
// could not relay it, and a member of E that was away while the author
// re-sent lost it when the author was removed before it came back
// (simulator churn seed 69).
type DirectResend struct {
	GroupID    []byte
	Epoch      uint64
	EpochID    EpochID
	Sender     uint32
	Recipient  uint32
	KEMOutput  []byte
	Ciphertext []byte
	Signature  []byte
}

func (d *DirectResend) marshalContext(w *codec.Writer) {
	w.Opaque(d.GroupID)
	w.Uint64(d.Epoch)
	w.Raw(d.EpochID[:])
	w.Uint32(d.Sender)
	w.Uint32(d.Recipient)
}

func (d *DirectResend) context() ([]byte, error) {
	w := codec.NewWriter(nil)
	d.marshalContext(w)
	return w.Bytes()
}

func (d *DirectResend) tbs() ([]byte, error) {
	w := codec.NewWriter(nil)
	d.marshalContext(w)
	w.Opaque(d.KEMOutput)
	w.Opaque(d.Ciphertext)
	return w.Bytes()
}

func (d *DirectResend) MarshalMLS(w *codec.Writer) {
	if len(d.KEMOutput) > MaxKEMOutputSize || len(d.Ciphertext) > MaxResendCiphertext || len(d.Signature) > MaxSignatureSize {
		w.SetError(&codec.EncodeError{Err: ErrTooLarge})
		return
	}
	d.marshalContext(w)
	w.Opaque(d.KEMOutput)
	w.Opaque(d.Ciphertext)
	w.Opaque(d.Signature)
}

func (d *DirectResend) UnmarshalMLS(r *codec.Reader) {
	*d = DirectResend{}
	readBounded(r, "DirectResend.group_id", MaxGroupIDSize, &d.GroupID)
	r.Uint64("DirectResend.epoch", &d.Epoch)
	readID(r, "DirectResend.epoch_id", &d.EpochID)
	r.Uint32("DirectResend.sender", &d.Sender)
	r.Uint32("DirectResend.recipient", &d.Recipient)
	readBounded(r, "DirectResend.kem_output", MaxKEMOutputSize, &d.KEMOutput)
	readBounded(r, "DirectResend.ciphertext", MaxResendCiphertext, &d.Ciphertext)
	readBounded(r, "DirectResend.signature", MaxSignatureSize, &d.Signature)
}

// resendPlaintext is what a DirectResend encrypts.
type resendPlaintext struct {
	Nonce [16]byte
	Data  []byte
	Proof *sealedProof
}

// sealedProof is the author's signature of a message as sealed in epoch
// Sealed (see DirectResend).
type sealedProof struct {
	Sealed    EpochRef
	Sender    uint32
	Context   []byte
	Signature []byte
}

func (p *resendPlaintext) MarshalMLS(w *codec.Writer) {
	w.Raw(p.Nonce[:])
	w.Opaque(p.Data)
	w.Optional(p.Proof != nil, func(w *codec.Writer) {
		if len(p.Proof.Context) > MaxRelayedContext || len(p.Proof.Signature) > MaxSignatureSize {
			w.SetError(&codec.EncodeError{Err: ErrTooLarge})
			return
		}
		w.Uint64(p.Proof.Sealed.Epoch)
		w.Raw(p.Proof.Sealed.ID[:])
		w.Uint32(p.Proof.Sender)
		w.Opaque(p.Proof.Context)
		w.Opaque(p.Proof.Signature)
	})
}

func (p *resendPlaintext) UnmarshalMLS(r *codec.Reader) {
	var raw []byte
	if r.Raw("ResendPlaintext.nonce", len(p.Nonce), &raw) {
		copy(p.Nonce[:], raw)
	}
	r.Opaque("ResendPlaintext.data", &p.Data)
	p.Proof = nil
	r.Optional("ResendPlaintext.proof", func(r *codec.Reader) {
		pr := &sealedProof{}
		r.Uint64("SealedProof.sealed.epoch", &pr.Sealed.Epoch)
		readID(r, "SealedProof.sealed.id", &pr.Sealed.ID)
		r.Uint32("SealedProof.sender", &pr.Sender)
		readBounded(r, "SealedProof.context", MaxRelayedContext, &pr.Context)
		readBounded(r, "SealedProof.signature", MaxSignatureSize, &pr.Signature)
		p.Proof = pr
	})
}

// sendDirect re-sends own logged message e to the member at leaf recipient
// of our head, through peer to.
func (m *Member) sendDirect(to PeerID, recipient uint32, e consensus.OutboxEntry) error {
	head := m.core.Head()
	tree := head.Tree()
	leaf := tree.Leaf(treemath.LeafIndex(recipient))
	if recipient >= tree.LeafCount() || leaf == nil {
		return fmt.Errorf("%w: no leaf %d", ErrWrongRecipient, recipient)
	}
	d := DirectResend{GroupID: m.groupID, Epoch: head.Epoch(), EpochID: m.core.HeadID(),
		Sender: uint32(head.OwnLeaf()), Recipient: recipient}
	ctx, err := d.context()
	if err != nil {
		return err
	}
	pt, err := codec.Marshal(&resendPlaintext{Nonce: e.Nonce, Data: e.Data, Proof: m.sealedProofOf(e)})
	if err != nil {
		return err
	}
	d.KEMOutput, d.Ciphertext, err = m.suite.EncryptWithLabel(m.cfg.Core.Rand, leaf.EncryptionKey, ResendLabel, ctx, pt)
	if err != nil {
		return err
	}
	tbs, err := d.tbs()
	if err != nil {
		return err
	}
	if d.Signature, err = m.cfg.Core.SigningKey.SignWithLabel(ResendLabel, tbs); err != nil {
		return err
	}
	body, err := codec.Marshal(&d)
	if err != nil {
		return err
	}
	m.out.Direct = append(m.out.Direct, Directed{To: to, Envelope: consensus.Envelope{Kind: consensus.KindResend,
		GroupID: m.groupID, Epoch: d.Epoch, EpochID: d.EpochID, Body: body}})
	return nil
}

// stepDirect opens a point-to-point re-send addressed to us and delivers
// the message it carries, unless it was delivered already.
func (m *Member) stepDirect(env *consensus.Envelope) error {
	var d DirectResend
	if err := codec.Unmarshal(env.Body, &d); err != nil {
		return fmt.Errorf("%w: %w", consensus.ErrMalformed, err)
	}
	if !bytes.Equal(d.GroupID, m.groupID) {
		return fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	}
	if d.Epoch != env.Epoch || d.EpochID != env.EpochID {
		return fmt.Errorf("%w (%w)", ErrBadResend, consensus.ErrEpochMismatch)
	}
	if m.outside() {
		// Removed (the core has no head state, hence no leaf key).
		return consensus.ErrRemoved
	}
	tree := m.core.TreeOf(d.EpochID)
	if tree == nil {
		return fmt.Errorf("%w: %x", consensus.ErrUnknownEpoch, d.EpochID[:4])
	}
	head := m.core.Head()
	own := head.Tree().Leaf(head.OwnLeaf())
	rcpt := leafAt(tree, d.Recipient)
	// A member just re-added by a batch may have replaced the leaf key
	// of its KeyPackage (its first commit) before the survivors' re-sends
	// to that leaf arrive; it keeps the KeyPackage's key a while.
	var kpLeafKey []byte
	if pj := m.pj; pj != nil && pj.joined && rcpt != nil &&
		bytes.Equal(rcpt.EncryptionKey, pj.bundle.KeyPackage.LeafNode.EncryptionKey) && len(pj.bundle.EncryptionPrivate) > 0 {
		kpLeafKey = pj.bundle.EncryptionPrivate
	}
	if rcpt == nil || !bytes.Equal(rcpt.EncryptionKey, own.EncryptionKey) && kpLeafKey == nil {
		return fmt.Errorf("%w: leaf %d", ErrWrongRecipient, d.Recipient)
	}
	author := leafAt(tree, d.Sender)
	if author == nil {
		return fmt.Errorf("%w: sender %d is not a member", ErrBadResend, d.Sender)
	}
	tbs, err := d.tbs()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadResend, err)
	}
	if err := m.suite.VerifyWithLabel(author.SignatureKey, ResendLabel, tbs, d.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrBadResend, err)
	}
	ctx, err := d.context()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadResend, err)
	}
	var raw []byte
	if kpLeafKey != nil && !bytes.Equal(rcpt.EncryptionKey, own.EncryptionKey) {
		raw, err = m.suite.DecryptWithLabel(kpLeafKey, ResendLabel, ctx, d.KEMOutput, d.Ciphertext)
	} else {
		raw, err = head.DecryptWithLeafKey(ResendLabel, ctx, d.KEMOutput, d.Ciphertext)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadResend, err)
	}
	var pt resendPlaintext
	if err := codec.Unmarshal(raw, &pt); err != nil {
		return fmt.Errorf("%w: plaintext: %w", ErrBadResend, err)
	}
	cred, err := codec.Marshal(&author.Credential)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadResend, err)
	}
	id := consensus.MessageIDOf(cred, pt.Nonce)
	if m.seen.set[id] {
		return ErrReplayedResend
	}
	dl := m.unframe(consensus.Delivered{ID: id, Sender: d.Sender, Identity: author.Credential.Identity,
		Epoch: d.Epoch, EpochID: d.EpochID, Data: pt.Data})
	m.seen.add(id)
	m.out.Delivered = append(m.out.Delivered, dl)
	if pt.Proof != nil {
		m.noteProvenResend(m.leafIdentity(author), &pt)
	}
	return nil
}

// leafAt is the leaf at index i of tree, nil if blank or outside.
func leafAt(tree *ratchettree.Tree, i uint32) *wire.LeafNode {
	if i >= tree.LeafCount() {
		return nil
	}
	return tree.Leaf(treemath.LeafIndex(i))
}
