package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// PreSharedKeyID names a pre-shared key (RFC 9420 §8.4). PSKID is set for
// PSKTypeExternal; Usage, PSKGroupID and PSKEpoch for PSKTypeResumption.
type PreSharedKeyID struct {
	PSKType    PSKType
	PSKID      []byte             // external
	Usage      ResumptionPSKUsage // resumption
	PSKGroupID []byte             // resumption
	PSKEpoch   uint64             // resumption
	PSKNonce   []byte
}

func (p *PreSharedKeyID) MarshalMLS(w *codec.Writer) {
	w.Uint8(uint8(p.PSKType))
	switch p.PSKType {
	case PSKTypeExternal:
		w.Opaque(p.PSKID)
	case PSKTypeResumption:
		if !p.Usage.known() {
			encodeErr(w, "resumption PSK usage %v", p.Usage)
			return
		}
		w.Uint8(uint8(p.Usage))
		w.Opaque(p.PSKGroupID)
		w.Uint64(p.PSKEpoch)
	default:
		encodeErr(w, "PSK type %v", p.PSKType)
		return
	}
	w.Opaque(p.PSKNonce)
}

func (p *PreSharedKeyID) UnmarshalMLS(r *codec.Reader) {
	*p = PreSharedKeyID{}
	if !readEnum8(r, "PreSharedKeyID.psktype", &p.PSKType) {
		return
	}
	switch p.PSKType {
	case PSKTypeExternal:
		r.Opaque("PreSharedKeyID.psk_id", &p.PSKID)
	case PSKTypeResumption:
		readEnum8(r, "PreSharedKeyID.usage", &p.Usage)
		r.Opaque("PreSharedKeyID.psk_group_id", &p.PSKGroupID)
		r.Uint64("PreSharedKeyID.psk_epoch", &p.PSKEpoch)
	}
	r.Opaque("PreSharedKeyID.psk_nonce", &p.PSKNonce)
}

// PSKLabel is the context of one PSK in the psk_secret derivation (RFC
// 9420 §8.4): its ID, its index in the list and the list length.
type PSKLabel struct {
	ID    PreSharedKeyID
	Index uint16
	Count uint16
}

func (l *PSKLabel) MarshalMLS(w *codec.Writer) {
	w.Write(&l.ID)
	w.Uint16(l.Index)
	w.Uint16(l.Count)
}

func (l *PSKLabel) UnmarshalMLS(r *codec.Reader) {
	r.Read(&l.ID)
	r.Uint16("PSKLabel.index", &l.Index)
	r.Uint16("PSKLabel.count", &l.Count)
}
