package framing

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

var (
	// ErrWrongGroup: the message names another group.
	ErrWrongGroup = errors.New("mls/framing: message for another group")
	// ErrWrongEpoch: the message names another epoch.
	ErrWrongEpoch = errors.New("mls/framing: message for another epoch")
	// ErrMembershipTag: a member's PublicMessage has a wrong or missing
	// membership tag.
	ErrMembershipTag = errors.New("mls/framing: invalid membership tag")
	// ErrMalformed: the message breaks a framing rule (a content type the
	// sender may not use, a PrivateMessage from a non-member, a wire format
	// that does not match, a commit without confirmation tag).
	ErrMalformed = errors.New("mls/framing: malformed message")
	// ErrDecrypt: the sender data or content did not decrypt.
	ErrDecrypt = errors.New("mls/framing: decryption failed")
	// ErrUnknownSender: the sender's leaf is outside the tree or blank.
	ErrUnknownSender = errors.New("mls/framing: unknown sender")
)

// signLabel is the SignWithLabel label of FramedContentTBS (§6.1).
const signLabel = "FramedContentTBS"

// Epoch holds what framing needs from one epoch of a group.
type Epoch struct {
	Suite            *suite.Suite
	Context          *wire.GroupContext
	MembershipKey    []byte
	SenderDataSecret []byte
	SecretTree       *secrettree.Tree
	// IsMember reports whether a leaf is non-blank (§6.3.2). Nil accepts
	// every leaf inside the tree.
	IsMember func(leaf uint32) bool
}

// Sign signs content for sending as wireFormat and returns the
// AuthenticatedContent (§6.1). ctx must be the current GroupContext for
// member and new_member_commit senders, and is ignored for others. A
// commit's confirmation tag is set by the caller afterwards, since it
// depends on the new epoch.
func Sign(key *suite.SigningKey, wireFormat wire.WireFormat, content *wire.FramedContent, ctx *wire.GroupContext) (*wire.AuthenticatedContent, error) {
	ac := &wire.AuthenticatedContent{
		WireFormat: wireFormat,
		Content:    *content,
		Auth:       wire.FramedContentAuthData{ContentType: content.ContentType},
	}
	tbs, err := ac.TBS(contextFor(content.Sender, ctx))
	if err != nil {
		return nil, err
	}
	if ac.Auth.Signature, err = key.SignWithLabel(signLabel, tbs); err != nil {
		return nil, err
	}
	return ac, nil
}

// Verify checks the signature of an AuthenticatedContent with the sender's
// signature public key.
func Verify(s *suite.Suite, signaturePublicKey []byte, ac *wire.AuthenticatedContent, ctx *wire.GroupContext) error {
	tbs, err := ac.TBS(contextFor(ac.Content.Sender, ctx))
	if err != nil {
		return err
	}
	return s.VerifyWithLabel(signaturePublicKey, signLabel, tbs, ac.Auth.Signature)
}

// contextFor returns ctx when FramedContentTBS includes the GroupContext.
func contextFor(sender wire.Sender, ctx *wire.GroupContext) *wire.GroupContext {
	switch sender.SenderType {
	case wire.SenderTypeMember, wire.SenderTypeNewMemberCommit:
		return ctx
	}
	return nil
}

func (e *Epoch) checkTarget(groupID []byte, epoch uint64) error {
	if !bytes.Equal(groupID, e.Context.GroupID) {
		return ErrWrongGroup
	}
	if epoch != e.Context.Epoch {
		return fmt.Errorf("%w: message epoch %d, group epoch %d", ErrWrongEpoch, epoch, e.Context.Epoch)
	}
	return nil
}

// ProtectPublic wraps an AuthenticatedContent in a PublicMessage, adding
// the membership tag for member senders (§6.2).
func (e *Epoch) ProtectPublic(ac *wire.AuthenticatedContent) (*wire.PublicMessage, error) {
	if ac.WireFormat != wire.WireFormatPublicMessage {
		return nil, fmt.Errorf("%w: signed for %v, not a PublicMessage", ErrMalformed, ac.WireFormat)
	}
	pm := &wire.PublicMessage{Content: ac.Content, Auth: ac.Auth}
	if ac.Content.Sender.SenderType == wire.SenderTypeMember {
		tbm, err := pm.TBM(e.Context)
		if err != nil {
			return nil, err
		}
		pm.MembershipTag = e.Suite.MAC(e.MembershipKey, tbm)
	}
	return pm, nil
}

// UnprotectPublic checks a PublicMessage's group, epoch and (for members)
// membership tag and returns its AuthenticatedContent. The caller verifies
// the signature (Verify) with the sender's key.
func (e *Epoch) UnprotectPublic(pm *wire.PublicMessage) (*wire.AuthenticatedContent, error) {
	if err := e.checkTarget(pm.Content.GroupID, pm.Content.Epoch); err != nil {
		return nil, err
	}
	if pm.Content.Sender.SenderType == wire.SenderTypeMember {
		tbm, err := pm.TBM(e.Context)
		if err != nil {
			return nil, err
		}
		if !e.Suite.VerifyMAC(e.MembershipKey, tbm, pm.MembershipTag) {
			return nil, ErrMembershipTag
		}
	}
	if pm.Content.ContentType == wire.ContentTypeApplication {
		// §6: application messages MUST be PrivateMessages.
		return nil, fmt.Errorf("%w: application data in a PublicMessage", ErrMalformed)
	}
	return pm.AuthenticatedContent(), nil
}

func kindOf(ct wire.ContentType) secrettree.ContentKind {
	if ct == wire.ContentTypeApplication {
		return secrettree.Application
	}
	return secrettree.Handshake
}

// ProtectPrivate encrypts an AuthenticatedContent from a member into a
// PrivateMessage (§6.3), using the sender's next key generation and a
// reuse guard read from rand, and appending padding zero bytes.
func (e *Epoch) ProtectPrivate(rand io.Reader, ac *wire.AuthenticatedContent, padding int) (*wire.PrivateMessage, error) {
	c := &ac.Content
	if ac.WireFormat != wire.WireFormatPrivateMessage {
		return nil, fmt.Errorf("%w: signed for %v, not a PrivateMessage", ErrMalformed, ac.WireFormat)
	}
	if c.Sender.SenderType != wire.SenderTypeMember {
		return nil, fmt.Errorf("%w: PrivateMessage from a %v sender", ErrMalformed, c.Sender.SenderType)
	}
	if err := e.checkTarget(c.GroupID, c.Epoch); err != nil {
		return nil, err
	}
	if padding < 0 {
		return nil, fmt.Errorf("mls/framing: negative padding %d", padding)
	}
	var guard [4]byte
	if _, err := io.ReadFull(rand, guard[:]); err != nil {
		return nil, fmt.Errorf("mls/framing: reading reuse guard: %w", err)
	}
	kn, err := e.SecretTree.Next(treemath.LeafIndex(c.Sender.LeafIndex), kindOf(c.ContentType))
	if err != nil {
		return nil, err
	}
	defer clear(kn.Key)
	defer clear(kn.Nonce)
	content, err := codec.Marshal(&wire.PrivateMessageContent{
		ContentType:     c.ContentType,
		ApplicationData: c.ApplicationData,
		Proposal:        c.Proposal,
		Commit:          c.Commit,
		Auth:            ac.Auth,
		PaddingLength:   padding,
	})
	if err != nil {
		return nil, err
	}
	pm := &wire.PrivateMessage{
		GroupID:           c.GroupID,
		Epoch:             c.Epoch,
		ContentType:       c.ContentType,
		AuthenticatedData: c.AuthenticatedData,
	}
	aad, err := codec.Marshal(pm.PrivateContentAAD())
	if err != nil {
		return nil, err
	}
	if pm.Ciphertext, err = e.Suite.Seal(kn.Key, guarded(kn.Nonce, guard), aad, content); err != nil {
		return nil, err
	}
	senderData, err := codec.Marshal(&wire.SenderData{LeafIndex: c.Sender.LeafIndex, Generation: kn.Generation, ReuseGuard: guard})
	if err != nil {
		return nil, err
	}
	sdKey, sdNonce, err := secrettree.SenderDataKeyNonce(e.Suite, e.SenderDataSecret, pm.Ciphertext)
	if err != nil {
		return nil, err
	}
	sdAAD, err := codec.Marshal(pm.SenderDataAAD())
	if err != nil {
		return nil, err
	}
	if pm.EncryptedSenderData, err = e.Suite.Seal(sdKey, sdNonce, sdAAD, senderData); err != nil {
		return nil, err
	}
	return pm, nil
}

// guarded XORs the reuse guard into the first four bytes of a copy of the
// nonce (§6.3.1).
func guarded(nonce []byte, guard [4]byte) []byte {
	n := append([]byte{}, nonce...)
	for i := range guard {
		n[i] ^= guard[i]
	}
	return n
}

// UnprotectPrivate decrypts a PrivateMessage (§6.3) and returns its
// AuthenticatedContent. verify, if not nil, is called before the key is
// consumed (typically Verify with the sender leaf's signature key); if it
// fails, the error is returned and the secret tree is unchanged.
func (e *Epoch) UnprotectPrivate(pm *wire.PrivateMessage, verify func(*wire.AuthenticatedContent) error) (*wire.AuthenticatedContent, error) {
	if err := e.checkTarget(pm.GroupID, pm.Epoch); err != nil {
		return nil, err
	}
	sdKey, sdNonce, err := secrettree.SenderDataKeyNonce(e.Suite, e.SenderDataSecret, pm.Ciphertext)
	if err != nil {
		return nil, err
	}
	sdAAD, err := codec.Marshal(pm.SenderDataAAD())
	if err != nil {
		return nil, err
	}
	sdBytes, err := e.Suite.Open(sdKey, sdNonce, sdAAD, pm.EncryptedSenderData)
	if err != nil {
		return nil, fmt.Errorf("%w: sender data", ErrDecrypt)
	}
	var sd wire.SenderData
	if err := codec.Unmarshal(sdBytes, &sd); err != nil {
		return nil, fmt.Errorf("%w: sender data: %w", ErrMalformed, err)
	}
	if sd.LeafIndex >= e.SecretTree.LeafCount() || (e.IsMember != nil && !e.IsMember(sd.LeafIndex)) {
		return nil, fmt.Errorf("%w: leaf %d", ErrUnknownSender, sd.LeafIndex)
	}
	leaf, kind := treemath.LeafIndex(sd.LeafIndex), kindOf(pm.ContentType)
	kn, err := e.SecretTree.Key(leaf, kind, sd.Generation)
	if err != nil {
		return nil, err
	}
	defer clear(kn.Key)
	defer clear(kn.Nonce)
	aad, err := codec.Marshal(pm.PrivateContentAAD())
	if err != nil {
		return nil, err
	}
	plaintext, err := e.Suite.Open(kn.Key, guarded(kn.Nonce, sd.ReuseGuard), aad, pm.Ciphertext)
	if err != nil {
		return nil, fmt.Errorf("%w: content of leaf %d generation %d", ErrDecrypt, sd.LeafIndex, sd.Generation)
	}
	content, err := wire.UnmarshalPrivateMessageContent(plaintext, pm.ContentType)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	ac := content.AuthenticatedContent(pm, wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: sd.LeafIndex})
	if verify != nil {
		if err := verify(ac); err != nil {
			return nil, err
		}
	}
	if err := e.SecretTree.Consume(leaf, kind, sd.Generation); err != nil {
		return nil, err
	}
	return ac, nil
}
