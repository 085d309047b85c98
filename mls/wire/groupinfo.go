package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// GroupInfo describes a group for joiners, signed by the member at leaf
// index Signer (RFC 9420 §12.4.3).
type GroupInfo struct {
	GroupContext    GroupContext
	Extensions      Extensions
	ConfirmationTag []byte // MAC
	Signer          uint32
	Signature       []byte
}

// GroupInfoTBS is what a GroupInfo's signature covers (RFC 9420 §12.4.3).
type GroupInfoTBS struct {
	GroupContext    GroupContext
	Extensions      Extensions
	ConfirmationTag []byte
	Signer          uint32
}

// TBS encodes the GroupInfoTBS of gi, for signing with label
// "GroupInfoTBS".
func (gi *GroupInfo) TBS() ([]byte, error) {
	return codec.Marshal(&GroupInfoTBS{
		GroupContext:    gi.GroupContext,
		Extensions:      gi.Extensions,
		ConfirmationTag: gi.ConfirmationTag,
		Signer:          gi.Signer,
	})
}

func (t *GroupInfoTBS) MarshalMLS(w *codec.Writer) {
	w.Write(&t.GroupContext)
	w.Write(&t.Extensions)
	w.Opaque(t.ConfirmationTag)
	w.Uint32(t.Signer)
}

func (t *GroupInfoTBS) UnmarshalMLS(r *codec.Reader) { t.unmarshal(r, "GroupInfoTBS") }

func (t *GroupInfoTBS) unmarshal(r *codec.Reader, struc string) {
	r.Read(&t.GroupContext)
	t.Extensions.unmarshal(r, struc+".extensions")
	r.Opaque(struc+".confirmation_tag", &t.ConfirmationTag)
	r.Uint32(struc+".signer", &t.Signer)
}

func (gi *GroupInfo) MarshalMLS(w *codec.Writer) {
	w.Write(&gi.GroupContext)
	w.Write(&gi.Extensions)
	w.Opaque(gi.ConfirmationTag)
	w.Uint32(gi.Signer)
	w.Opaque(gi.Signature)
}

func (gi *GroupInfo) UnmarshalMLS(r *codec.Reader) {
	var t GroupInfoTBS
	t.unmarshal(r, "GroupInfo")
	*gi = GroupInfo{
		GroupContext:    t.GroupContext,
		Extensions:      t.Extensions,
		ConfirmationTag: t.ConfirmationTag,
		Signer:          t.Signer,
	}
	r.Opaque("GroupInfo.signature", &gi.Signature)
}
