package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// MLSMessage is the outer envelope of everything MLS sends (RFC 9420 §6):
// the version, mls10, and one body chosen by WireFormat. Exactly the
// field for WireFormat is set. NewMLSMessage and Body treat the body as
// one value.
type MLSMessage struct {
	Version        ProtocolVersion
	WireFormat     WireFormat
	PublicMessage  *PublicMessage  // mls_public_message
	PrivateMessage *PrivateMessage // mls_private_message
	Welcome        *Welcome        // mls_welcome
	GroupInfo      *GroupInfo      // mls_group_info
	KeyPackage     *KeyPackage     // mls_key_package
}

// MessageBody is the body of an MLSMessage: *PublicMessage,
// *PrivateMessage, *Welcome, *GroupInfo or *KeyPackage (RFC 9420 §6).
type MessageBody interface {
	codec.Marshaler
	codec.Unmarshaler
	wireFormat() WireFormat
}

func (*PublicMessage) wireFormat() WireFormat  { return WireFormatPublicMessage }
func (*PrivateMessage) wireFormat() WireFormat { return WireFormatPrivateMessage }
func (*Welcome) wireFormat() WireFormat        { return WireFormatWelcome }
func (*GroupInfo) wireFormat() WireFormat      { return WireFormatGroupInfo }
func (*KeyPackage) wireFormat() WireFormat     { return WireFormatKeyPackage }

// NewMLSMessage wraps body in an mls10 MLSMessage of the matching wire
// format. A nil body gives a message that does not encode.
func NewMLSMessage(body MessageBody) *MLSMessage {
	m := &MLSMessage{Version: ProtocolVersionMLS10}
	switch b := body.(type) {
	case *PublicMessage:
		m.WireFormat, m.PublicMessage = WireFormatPublicMessage, b
	case *PrivateMessage:
		m.WireFormat, m.PrivateMessage = WireFormatPrivateMessage, b
	case *Welcome:
		m.WireFormat, m.Welcome = WireFormatWelcome, b
	case *GroupInfo:
		m.WireFormat, m.GroupInfo = WireFormatGroupInfo, b
	case *KeyPackage:
		m.WireFormat, m.KeyPackage = WireFormatKeyPackage, b
	}
	return m
}

// Body returns the body named by m.WireFormat, or nil if that field is
// not set.
func (m *MLSMessage) Body() MessageBody {
	switch m.WireFormat {
	case WireFormatPublicMessage:
		if m.PublicMessage != nil {
			return m.PublicMessage
		}
	case WireFormatPrivateMessage:
		if m.PrivateMessage != nil {
			return m.PrivateMessage
		}
	case WireFormatWelcome:
		if m.Welcome != nil {
			return m.Welcome
		}
	case WireFormatGroupInfo:
		if m.GroupInfo != nil {
			return m.GroupInfo
		}
	case WireFormatKeyPackage:
		if m.KeyPackage != nil {
			return m.KeyPackage
		}
	}
	return nil
}

// ParseMLSMessage decodes one MLSMessage that fills data.
func ParseMLSMessage(data []byte) (*MLSMessage, error) {
	m := new(MLSMessage)
	if err := codec.Unmarshal(data, m); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *MLSMessage) MarshalMLS(w *codec.Writer) {
	writeVersion(w, "MLSMessage", m.Version)
	body := m.Body()
	if body == nil {
		encodeErr(w, "MLSMessage wire format %v without its body", m.WireFormat)
		return
	}
	w.Uint16(uint16(m.WireFormat))
	w.Write(body)
}

func (m *MLSMessage) UnmarshalMLS(r *codec.Reader) {
	*m = MLSMessage{}
	readVersion(r, "MLSMessage.version", &m.Version)
	if !readEnum16(r, "MLSMessage.wire_format", &m.WireFormat) {
		return
	}
	var body MessageBody
	switch m.WireFormat {
	case WireFormatPublicMessage:
		m.PublicMessage = new(PublicMessage)
		body = m.PublicMessage
	case WireFormatPrivateMessage:
		m.PrivateMessage = new(PrivateMessage)
		body = m.PrivateMessage
	case WireFormatWelcome:
		m.Welcome = new(Welcome)
		body = m.Welcome
	case WireFormatGroupInfo:
		m.GroupInfo = new(GroupInfo)
		body = m.GroupInfo
	case WireFormatKeyPackage:
		m.KeyPackage = new(KeyPackage)
		body = m.KeyPackage
	}
	r.Read(body)
}
