package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// PrivateMessage is a signed and encrypted message (RFC 9420 §6.3).
type PrivateMessage struct {
	GroupID             []byte
	Epoch               uint64
	ContentType         ContentType
	AuthenticatedData   []byte
	EncryptedSenderData []byte
	Ciphertext          []byte
}

func (pm *PrivateMessage) MarshalMLS(w *codec.Writer) {
	if !pm.ContentType.known() {
		encodeErr(w, "PrivateMessage content type %v", pm.ContentType)
		return
	}
	w.Opaque(pm.GroupID)
	w.Uint64(pm.Epoch)
	w.Uint8(uint8(pm.ContentType))
	w.Opaque(pm.AuthenticatedData)
	w.Opaque(pm.EncryptedSenderData)
	w.Opaque(pm.Ciphertext)
}

func (pm *PrivateMessage) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("PrivateMessage.group_id", &pm.GroupID)
	r.Uint64("PrivateMessage.epoch", &pm.Epoch)
	readEnum8(r, "PrivateMessage.content_type", &pm.ContentType)
	r.Opaque("PrivateMessage.authenticated_data", &pm.AuthenticatedData)
	r.Opaque("PrivateMessage.encrypted_sender_data", &pm.EncryptedSenderData)
	r.Opaque("PrivateMessage.ciphertext", &pm.Ciphertext)
}

// SenderDataAAD returns the AAD of pm's sender data encryption.
func (pm *PrivateMessage) SenderDataAAD() *SenderDataAAD {
	return &SenderDataAAD{GroupID: pm.GroupID, Epoch: pm.Epoch, ContentType: pm.ContentType}
}

// PrivateContentAAD returns the AAD of pm's content encryption.
func (pm *PrivateMessage) PrivateContentAAD() *PrivateContentAAD {
	return &PrivateContentAAD{
		GroupID:           pm.GroupID,
		Epoch:             pm.Epoch,
		ContentType:       pm.ContentType,
		AuthenticatedData: pm.AuthenticatedData,
	}
}

// PrivateMessageContent is the plaintext of PrivateMessage.ciphertext (RFC
// 9420 §6.3.1): the content, its authentication and PaddingLength zero
// bytes.
//
// The struct selects on PrivateMessage.content_type, which it does not
// contain: ContentType holds it and is not encoded. Set it before
// decoding, or use UnmarshalPrivateMessageContent. Decoding takes every
// remaining byte as padding and rejects a non-zero one
// (ErrNonZeroPadding), so the struct can only be the whole input.
type PrivateMessageContent struct {
	ContentType     ContentType
	ApplicationData []byte    // application
	Proposal        *Proposal // proposal
	Commit          *Commit   // commit
	Auth            FramedContentAuthData
	PaddingLength   int
}

// UnmarshalPrivateMessageContent decodes the plaintext of a PrivateMessage
// whose content_type is ct.
func UnmarshalPrivateMessageContent(data []byte, ct ContentType) (*PrivateMessageContent, error) {
	pmc := &PrivateMessageContent{ContentType: ct}
	if err := codec.Unmarshal(data, pmc); err != nil {
		return nil, err
	}
	return pmc, nil
}

var zeros [256]byte

func (c *PrivateMessageContent) MarshalMLS(w *codec.Writer) {
	if c.PaddingLength < 0 {
		encodeErr(w, "negative padding length %d", c.PaddingLength)
		return
	}
	writeContent(w, c.ContentType, c.ApplicationData, c.Proposal, c.Commit)
	c.Auth.MarshalAuth(w, c.ContentType)
	for n := c.PaddingLength; n > 0; {
		k := min(n, len(zeros))
		w.Raw(zeros[:k])
		n -= k
	}
}

func (c *PrivateMessageContent) UnmarshalMLS(r *codec.Reader) {
	*c = PrivateMessageContent{ContentType: c.ContentType}
	readContent(r, "PrivateMessageContent", c.ContentType, &c.ApplicationData, &c.Proposal, &c.Commit)
	c.Auth.UnmarshalAuth(r, c.ContentType)
	var pad []byte
	if !r.Raw("PrivateMessageContent.padding", r.Remaining(), &pad) {
		return
	}
	for i, b := range pad {
		if b != 0 {
			failf(r, "PrivateMessageContent.padding", ErrNonZeroPadding, "byte %d of %d is 0x%02x", i, len(pad), b)
			return
		}
	}
	c.PaddingLength = len(pad)
}

// AuthenticatedContent returns the AuthenticatedContent that a
// PrivateMessage carries, given its header pm, its decrypted content c and
// the sender from its decrypted SenderData. It shares their slices.
func (c *PrivateMessageContent) AuthenticatedContent(pm *PrivateMessage, sender Sender) *AuthenticatedContent {
	return &AuthenticatedContent{
		WireFormat: WireFormatPrivateMessage,
		Content: FramedContent{
			GroupID:           pm.GroupID,
			Epoch:             pm.Epoch,
			Sender:            sender,
			AuthenticatedData: pm.AuthenticatedData,
			ContentType:       c.ContentType,
			ApplicationData:   c.ApplicationData,
			Proposal:          c.Proposal,
			Commit:            c.Commit,
		},
		Auth: c.Auth,
	}
}

// SenderData is the plaintext of PrivateMessage.encrypted_sender_data
// (RFC 9420 §6.3.2).
type SenderData struct {
	LeafIndex  uint32
	Generation uint32
	ReuseGuard [4]byte
}

func (s *SenderData) MarshalMLS(w *codec.Writer) {
	w.Uint32(s.LeafIndex)
	w.Uint32(s.Generation)
	w.Raw(s.ReuseGuard[:])
}

func (s *SenderData) UnmarshalMLS(r *codec.Reader) {
	r.Uint32("SenderData.leaf_index", &s.LeafIndex)
	r.Uint32("SenderData.generation", &s.Generation)
	var g []byte
	if r.Raw("SenderData.reuse_guard", 4, &g) {
		copy(s.ReuseGuard[:], g)
	}
}

// SenderDataAAD is the AAD of the sender data encryption (RFC 9420
// §6.3.2).
type SenderDataAAD struct {
	GroupID     []byte
	Epoch       uint64
	ContentType ContentType
}

func (a *SenderDataAAD) MarshalMLS(w *codec.Writer) {
	w.Opaque(a.GroupID)
	w.Uint64(a.Epoch)
	w.Uint8(uint8(a.ContentType))
}

func (a *SenderDataAAD) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("SenderDataAAD.group_id", &a.GroupID)
	r.Uint64("SenderDataAAD.epoch", &a.Epoch)
	readEnum8(r, "SenderDataAAD.content_type", &a.ContentType)
}

// PrivateContentAAD is the AAD of the content encryption (RFC 9420
// §6.3.1).
type PrivateContentAAD struct {
	GroupID           []byte
	Epoch             uint64
	ContentType       ContentType
	AuthenticatedData []byte
}

func (a *PrivateContentAAD) MarshalMLS(w *codec.Writer) {
	w.Opaque(a.GroupID)
	w.Uint64(a.Epoch)
	w.Uint8(uint8(a.ContentType))
	w.Opaque(a.AuthenticatedData)
}

func (a *PrivateContentAAD) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("PrivateContentAAD.group_id", &a.GroupID)
	r.Uint64("PrivateContentAAD.epoch", &a.Epoch)
	readEnum8(r, "PrivateContentAAD.content_type", &a.ContentType)
	r.Opaque("PrivateContentAAD.authenticated_data", &a.AuthenticatedData)
}
