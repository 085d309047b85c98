package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// GroupContext summarizes the shared state of a group in one epoch (RFC
// 9420 §8.1). Version must be mls10.
type GroupContext struct {
	Version                 ProtocolVersion
	CipherSuite             CipherSuite
	GroupID                 []byte
	Epoch                   uint64
	TreeHash                []byte
	ConfirmedTranscriptHash []byte
	Extensions              Extensions
}

func (gc *GroupContext) MarshalMLS(w *codec.Writer) {
	writeVersion(w, "GroupContext", gc.Version)
	w.Uint16(uint16(gc.CipherSuite))
	w.Opaque(gc.GroupID)
	w.Uint64(gc.Epoch)
	w.Opaque(gc.TreeHash)
	w.Opaque(gc.ConfirmedTranscriptHash)
	w.Write(&gc.Extensions)
}

func (gc *GroupContext) UnmarshalMLS(r *codec.Reader) {
	readVersion(r, "GroupContext.version", &gc.Version)
	r.Uint16("GroupContext.cipher_suite", (*uint16)(&gc.CipherSuite))
	r.Opaque("GroupContext.group_id", &gc.GroupID)
	r.Uint64("GroupContext.epoch", &gc.Epoch)
	r.Opaque("GroupContext.tree_hash", &gc.TreeHash)
	r.Opaque("GroupContext.confirmed_transcript_hash", &gc.ConfirmedTranscriptHash)
	gc.Extensions.unmarshal(r, "GroupContext.extensions")
}

// ConfirmedTranscriptHashInput is the part of a commit's
// AuthenticatedContent that the confirmed transcript hash covers (RFC 9420
// §8.2). Content must carry a commit.
type ConfirmedTranscriptHashInput struct {
	WireFormat WireFormat
	Content    FramedContent
	Signature  []byte
}

func (c *ConfirmedTranscriptHashInput) MarshalMLS(w *codec.Writer) {
	if c.Content.ContentType != ContentTypeCommit {
		encodeErr(w, "ConfirmedTranscriptHashInput with content type %v", c.Content.ContentType)
		return
	}
	writeFramedWireFormat(w, c.WireFormat)
	w.Write(&c.Content)
	w.Opaque(c.Signature)
}

func (c *ConfirmedTranscriptHashInput) UnmarshalMLS(r *codec.Reader) {
	readFramedWireFormat(r, "ConfirmedTranscriptHashInput.wire_format", &c.WireFormat)
	r.Read(&c.Content)
	if r.OK() && c.Content.ContentType != ContentTypeCommit {
		failf(r, "ConfirmedTranscriptHashInput.content", ErrWrongContentType, "%v", c.Content.ContentType)
		return
	}
	r.Opaque("ConfirmedTranscriptHashInput.signature", &c.Signature)
}

// InterimTranscriptHashInput is the part of a commit's
// AuthenticatedContent that the interim transcript hash adds (RFC 9420
// §8.2).
type InterimTranscriptHashInput struct {
	ConfirmationTag []byte
}

func (c *InterimTranscriptHashInput) MarshalMLS(w *codec.Writer) { w.Opaque(c.ConfirmationTag) }

func (c *InterimTranscriptHashInput) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("InterimTranscriptHashInput.confirmation_tag", &c.ConfirmationTag)
}
