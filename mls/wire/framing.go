package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// Sender identifies who sent a FramedContent (RFC 9420 §6). LeafIndex is
// set for SenderTypeMember, SenderIndex (an index into the
// external_senders extension) for SenderTypeExternal.
type Sender struct {
	SenderType  SenderType
	LeafIndex   uint32 // member
	SenderIndex uint32 // external
}

func (s *Sender) MarshalMLS(w *codec.Writer) {
	w.Uint8(uint8(s.SenderType))
	switch s.SenderType {
	case SenderTypeMember:
		w.Uint32(s.LeafIndex)
	case SenderTypeExternal:
		w.Uint32(s.SenderIndex)
	case SenderTypeNewMemberProposal, SenderTypeNewMemberCommit:
	default:
		encodeErr(w, "sender type %v", s.SenderType)
	}
}

func (s *Sender) UnmarshalMLS(r *codec.Reader) {
	*s = Sender{}
	if !readEnum8(r, "Sender.sender_type", &s.SenderType) {
		return
	}
	switch s.SenderType {
	case SenderTypeMember:
		r.Uint32("Sender.leaf_index", &s.LeafIndex)
	case SenderTypeExternal:
		r.Uint32("Sender.sender_index", &s.SenderIndex)
	}
}

// signsWithContext reports whether a FramedContentTBS for this sender
// includes the GroupContext (RFC 9420 §6.1).
func (s *Sender) signsWithContext() bool {
	return s.SenderType == SenderTypeMember || s.SenderType == SenderTypeNewMemberCommit
}

// FramedContent is the content of a handshake or application message with
// its group, epoch and sender (RFC 9420 §6). ApplicationData, Proposal or
// Commit is set according to ContentType.
type FramedContent struct {
	GroupID           []byte
	Epoch             uint64
	Sender            Sender
	AuthenticatedData []byte
	ContentType       ContentType
	ApplicationData   []byte    // application
	Proposal          *Proposal // proposal
	Commit            *Commit   // commit
}

func (fc *FramedContent) MarshalMLS(w *codec.Writer) {
	w.Opaque(fc.GroupID)
	w.Uint64(fc.Epoch)
	w.Write(&fc.Sender)
	w.Opaque(fc.AuthenticatedData)
	w.Uint8(uint8(fc.ContentType))
	writeContent(w, fc.ContentType, fc.ApplicationData, fc.Proposal, fc.Commit)
}

func (fc *FramedContent) UnmarshalMLS(r *codec.Reader) {
	*fc = FramedContent{}
	r.Opaque("FramedContent.group_id", &fc.GroupID)
	r.Uint64("FramedContent.epoch", &fc.Epoch)
	r.Read(&fc.Sender)
	r.Opaque("FramedContent.authenticated_data", &fc.AuthenticatedData)
	if !readEnum8(r, "FramedContent.content_type", &fc.ContentType) {
		return
	}
	readContent(r, "FramedContent", fc.ContentType, &fc.ApplicationData, &fc.Proposal, &fc.Commit)
}

// writeContent writes the select on content_type shared by FramedContent
// and PrivateMessageContent.
func writeContent(w *codec.Writer, ct ContentType, app []byte, p *Proposal, c *Commit) {
	switch {
	case ct == ContentTypeApplication:
		w.Opaque(app)
	case ct == ContentTypeProposal && p != nil:
		w.Write(p)
	case ct == ContentTypeCommit && c != nil:
		w.Write(c)
	default:
		encodeErr(w, "content type %v without its content", ct)
	}
}

// readContent reads the select on content_type shared by FramedContent
// and PrivateMessageContent.
func readContent(r *codec.Reader, struc string, ct ContentType, app *[]byte, p **Proposal, c **Commit) {
	switch ct {
	case ContentTypeApplication:
		r.Opaque(struc+".application_data", app)
	case ContentTypeProposal:
		*p = new(Proposal)
		r.Read(*p)
	case ContentTypeCommit:
		*c = new(Commit)
		r.Read(*c)
	default:
		failf(r, struc+".content_type", ErrUnknownValue, "%v", ct)
	}
}

// writeFramedWireFormat writes the wire format of a framed message, which
// must be mls_public_message or mls_private_message.
func writeFramedWireFormat(w *codec.Writer, f WireFormat) {
	if f != WireFormatPublicMessage && f != WireFormatPrivateMessage {
		encodeErr(w, "wire format %v for framed content", f)
		return
	}
	w.Uint16(uint16(f))
}

// readFramedWireFormat reads the wire format of a framed message, which
// must be mls_public_message or mls_private_message.
func readFramedWireFormat(r *codec.Reader, field string, f *WireFormat) bool {
	if !readEnum16(r, field, f) {
		return false
	}
	if *f != WireFormatPublicMessage && *f != WireFormatPrivateMessage {
		failf(r, field, ErrWrongWireFormat, "%v", *f)
		return false
	}
	return true
}

// FramedContentTBS is what the signature of a FramedContent covers (RFC
// 9420 §6.1). Context is the GroupContext of the current epoch: it must be
// set when the sender is a member or a new_member_commit and is ignored
// (and decodes as nil) otherwise. Version must be mls10.
type FramedContentTBS struct {
	Version    ProtocolVersion
	WireFormat WireFormat
	Content    FramedContent
	Context    *GroupContext // member, new_member_commit
}

func (t *FramedContentTBS) MarshalMLS(w *codec.Writer) {
	writeVersion(w, "FramedContentTBS", t.Version)
	writeFramedWireFormat(w, t.WireFormat)
	w.Write(&t.Content)
	if t.Content.Sender.signsWithContext() {
		if t.Context == nil {
			encodeErr(w, "FramedContentTBS for a %v sender needs the GroupContext", t.Content.Sender.SenderType)
			return
		}
		w.Write(t.Context)
	}
}

func (t *FramedContentTBS) UnmarshalMLS(r *codec.Reader) {
	readVersion(r, "FramedContentTBS.version", &t.Version)
	readFramedWireFormat(r, "FramedContentTBS.wire_format", &t.WireFormat)
	r.Read(&t.Content)
	t.Context = nil
	if r.OK() && t.Content.Sender.signsWithContext() {
		t.Context = new(GroupContext)
		r.Read(t.Context)
	}
}

// FramedContentAuthData authenticates a FramedContent (RFC 9420 §6.1):
// the signature and, for a commit, the confirmation tag.
//
// ContentType is the content_type of the FramedContent it belongs to. It
// is not encoded; it selects whether ConfirmationTag is. The enclosing
// structs (AuthenticatedContent, PublicMessage, PrivateMessageContent,
// AuthenticatedContentTBM) use their content's type and set this field
// when decoding; encoding or decoding a FramedContentAuthData on its own
// needs it set.
type FramedContentAuthData struct {
	ContentType     ContentType
	Signature       []byte
	ConfirmationTag []byte // commit
}

// MarshalAuth writes a for a FramedContent of content type ct (RFC 9420
// §6.1): the signature and, for a commit, the confirmation tag.
// a.ContentType is ignored.
func (a *FramedContentAuthData) MarshalAuth(w *codec.Writer, ct ContentType) {
	if !ct.known() {
		encodeErr(w, "FramedContentAuthData for content type %v", ct)
		return
	}
	w.Opaque(a.Signature)
	if ct == ContentTypeCommit {
		w.Opaque(a.ConfirmationTag)
	}
}

// UnmarshalAuth reads a for a FramedContent of content type ct (RFC 9420
// §6.1) and sets a.ContentType to ct. An unknown ct fails with
// ErrUnknownValue.
func (a *FramedContentAuthData) UnmarshalAuth(r *codec.Reader, ct ContentType) {
	if !r.OK() {
		return
	}
	if !ct.known() {
		failf(r, "FramedContentAuthData", ErrUnknownValue, "content type %v", ct)
		return
	}
	*a = FramedContentAuthData{ContentType: ct}
	r.Opaque("FramedContentAuthData.signature", &a.Signature)
	if ct == ContentTypeCommit {
		r.Opaque("FramedContentAuthData.confirmation_tag", &a.ConfirmationTag)
	}
}

func (a *FramedContentAuthData) MarshalMLS(w *codec.Writer) { a.MarshalAuth(w, a.ContentType) }

// UnmarshalMLS decodes a FramedContentAuthData for the content type
// already in a.ContentType.
func (a *FramedContentAuthData) UnmarshalMLS(r *codec.Reader) { a.UnmarshalAuth(r, a.ContentType) }

// AuthenticatedContent is a FramedContent with its authentication, the
// form in which the protocol handles messages (RFC 9420 §6). WireFormat
// is mls_public_message or mls_private_message.
type AuthenticatedContent struct {
	WireFormat WireFormat
	Content    FramedContent
	Auth       FramedContentAuthData
}

func (ac *AuthenticatedContent) MarshalMLS(w *codec.Writer) {
	writeFramedWireFormat(w, ac.WireFormat)
	w.Write(&ac.Content)
	ac.Auth.MarshalAuth(w, ac.Content.ContentType)
}

func (ac *AuthenticatedContent) UnmarshalMLS(r *codec.Reader) {
	readFramedWireFormat(r, "AuthenticatedContent.wire_format", &ac.WireFormat)
	r.Read(&ac.Content)
	ac.Auth.UnmarshalAuth(r, ac.Content.ContentType)
}

// FramedContentTBS returns the FramedContentTBS of ac. ctx is the
// GroupContext of the epoch, needed for member and new_member_commit
// senders (nil otherwise).
func (ac *AuthenticatedContent) FramedContentTBS(ctx *GroupContext) *FramedContentTBS {
	return &FramedContentTBS{
		Version:    ProtocolVersionMLS10,
		WireFormat: ac.WireFormat,
		Content:    ac.Content,
		Context:    ctx,
	}
}

// TBS encodes the FramedContentTBS of ac, for signing with label
// "FramedContentTBS". ctx is as for FramedContentTBS.
func (ac *AuthenticatedContent) TBS(ctx *GroupContext) ([]byte, error) {
	return codec.Marshal(ac.FramedContentTBS(ctx))
}

// ConfirmedTranscriptHashInput encodes the ConfirmedTranscriptHashInput of
// ac, which must carry a commit (RFC 9420 §8.2).
func (ac *AuthenticatedContent) ConfirmedTranscriptHashInput() ([]byte, error) {
	return codec.Marshal(&ConfirmedTranscriptHashInput{
		WireFormat: ac.WireFormat,
		Content:    ac.Content,
		Signature:  ac.Auth.Signature,
	})
}

// InterimTranscriptHashInput encodes the InterimTranscriptHashInput of ac
// (RFC 9420 §8.2).
func (ac *AuthenticatedContent) InterimTranscriptHashInput() ([]byte, error) {
	return codec.Marshal(&InterimTranscriptHashInput{ConfirmationTag: ac.Auth.ConfirmationTag})
}

// AuthenticatedContentTBM is what the membership_tag of a PublicMessage
// covers (RFC 9420 §6.2).
type AuthenticatedContentTBM struct {
	ContentTBS FramedContentTBS
	Auth       FramedContentAuthData
}

func (t *AuthenticatedContentTBM) MarshalMLS(w *codec.Writer) {
	w.Write(&t.ContentTBS)
	t.Auth.MarshalAuth(w, t.ContentTBS.Content.ContentType)
}

func (t *AuthenticatedContentTBM) UnmarshalMLS(r *codec.Reader) {
	r.Read(&t.ContentTBS)
	t.Auth.UnmarshalAuth(r, t.ContentTBS.Content.ContentType)
}

// PublicMessage is a signed, unencrypted message (RFC 9420 §6.2).
// MembershipTag is present exactly when the sender is a member.
type PublicMessage struct {
	Content       FramedContent
	Auth          FramedContentAuthData
	MembershipTag []byte // member
}

func (pm *PublicMessage) MarshalMLS(w *codec.Writer) {
	w.Write(&pm.Content)
	pm.Auth.MarshalAuth(w, pm.Content.ContentType)
	if pm.Content.Sender.SenderType == SenderTypeMember {
		w.Opaque(pm.MembershipTag)
	}
}

func (pm *PublicMessage) UnmarshalMLS(r *codec.Reader) {
	r.Read(&pm.Content)
	pm.Auth.UnmarshalAuth(r, pm.Content.ContentType)
	if r.OK() && pm.Content.Sender.SenderType == SenderTypeMember {
		r.Opaque("PublicMessage.membership_tag", &pm.MembershipTag)
	}
}

// AuthenticatedContent returns the AuthenticatedContent that pm carries.
// It shares pm's slices.
func (pm *PublicMessage) AuthenticatedContent() *AuthenticatedContent {
	return &AuthenticatedContent{
		WireFormat: WireFormatPublicMessage,
		Content:    pm.Content,
		Auth:       pm.Auth,
	}
}

// TBM encodes the AuthenticatedContentTBM of pm, the input of its
// membership_tag MAC. ctx is the GroupContext of the epoch; membership
// tags exist only for member senders, which need it.
func (pm *PublicMessage) TBM(ctx *GroupContext) ([]byte, error) {
	return codec.Marshal(&AuthenticatedContentTBM{
		ContentTBS: FramedContentTBS{
			Version:    ProtocolVersionMLS10,
			WireFormat: WireFormatPublicMessage,
			Content:    pm.Content,
			Context:    ctx,
		},
		Auth: pm.Auth,
	})
}
