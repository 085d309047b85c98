package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// Extension is one extension of a KeyPackage, LeafNode, GroupInfo or
// GroupContext (RFC 9420 §7.2, §13.4). Unknown types decode: the data is
// opaque.
type Extension struct {
	ExtensionType ExtensionType
	ExtensionData []byte
}

func (e *Extension) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(e.ExtensionType))
	w.Opaque(e.ExtensionData)
}

func (e *Extension) UnmarshalMLS(r *codec.Reader) {
	r.Uint16("Extension.extension_type", (*uint16)(&e.ExtensionType))
	r.Opaque("Extension.extension_data", &e.ExtensionData)
}

// Extensions is an "Extension extensions<V>" list. No type may appear
// twice (RFC 9420 §13.4); decoding rejects duplicates with
// ErrDuplicateExtension and encoding refuses them.
type Extensions []Extension

// Find returns the extension of type t, or nil.
func (es Extensions) Find(t ExtensionType) *Extension {
	for i := range es {
		if es[i].ExtensionType == t {
			return &es[i]
		}
	}
	return nil
}

// duplicate returns the first extension type that appears twice in es.
func (es Extensions) duplicate() (ExtensionType, bool) {
	if len(es) < 16 {
		for i := range es {
			for j := i + 1; j < len(es); j++ {
				if es[i].ExtensionType == es[j].ExtensionType {
					return es[i].ExtensionType, true
				}
			}
		}
		return 0, false
	}
	seen := make(map[ExtensionType]struct{}, len(es))
	for _, e := range es {
		if _, dup := seen[e.ExtensionType]; dup {
			return e.ExtensionType, true
		}
		seen[e.ExtensionType] = struct{}{}
	}
	return 0, false
}

func (es *Extensions) MarshalMLS(w *codec.Writer) {
	if t, dup := es.duplicate(); dup {
		encodeErr(w, "duplicate extension %v", t)
		return
	}
	w.Vector(func(w *codec.Writer) {
		for i := range *es {
			w.Write(&(*es)[i])
		}
	})
}

// UnmarshalMLS decodes the list; field names it in errors.
func (es *Extensions) UnmarshalMLS(r *codec.Reader) { es.unmarshal(r, "extensions") }

func (es *Extensions) unmarshal(r *codec.Reader, field string) {
	*es = nil
	r.Each(field, func(r *codec.Reader) {
		var e Extension
		if r.Read(&e) {
			*es = append(*es, e)
		}
	})
	if t, dup := es.duplicate(); dup && r.OK() {
		failf(r, field, ErrDuplicateExtension, "%v", t)
	}
}

// RequiredCapabilities is the content of a required_capabilities
// extension (RFC 9420 §11.1).
type RequiredCapabilities struct {
	ExtensionTypes  []ExtensionType
	ProposalTypes   []ProposalType
	CredentialTypes []CredentialType
}

func (rc *RequiredCapabilities) MarshalMLS(w *codec.Writer) {
	writeUint16s(w, rc.ExtensionTypes)
	writeUint16s(w, rc.ProposalTypes)
	writeUint16s(w, rc.CredentialTypes)
}

func (rc *RequiredCapabilities) UnmarshalMLS(r *codec.Reader) {
	readUint16s(r, "RequiredCapabilities.extension_types", &rc.ExtensionTypes)
	readUint16s(r, "RequiredCapabilities.proposal_types", &rc.ProposalTypes)
	readUint16s(r, "RequiredCapabilities.credential_types", &rc.CredentialTypes)
}

// ExternalPub is the content of an external_pub extension (RFC 9420
// §12.4.3.2).
type ExternalPub struct {
	ExternalPub []byte
}

func (e *ExternalPub) MarshalMLS(w *codec.Writer) { w.Opaque(e.ExternalPub) }

func (e *ExternalPub) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("ExternalPub.external_pub", &e.ExternalPub)
}

// ExternalSender is one entry of an external_senders extension (RFC 9420
// §12.1.8.1).
type ExternalSender struct {
	SignatureKey []byte
	Credential   Credential
}

func (e *ExternalSender) MarshalMLS(w *codec.Writer) {
	w.Opaque(e.SignatureKey)
	w.Write(&e.Credential)
}

func (e *ExternalSender) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("ExternalSender.signature_key", &e.SignatureKey)
	r.Read(&e.Credential)
}

// ExternalSenders is the content of an external_senders extension,
// "ExternalSender external_senders<V>" (RFC 9420 §12.1.8.1).
type ExternalSenders []ExternalSender

func (es *ExternalSenders) MarshalMLS(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for i := range *es {
			w.Write(&(*es)[i])
		}
	})
}

func (es *ExternalSenders) UnmarshalMLS(r *codec.Reader) {
	*es = nil
	r.Each("external_senders", func(r *codec.Reader) {
		var e ExternalSender
		if r.Read(&e) {
			*es = append(*es, e)
		}
	})
}

// writeUint16s writes a vector of two-byte values.
func writeUint16s[T ~uint16](w *codec.Writer, vs []T) {
	w.Vector(func(w *codec.Writer) {
		for _, v := range vs {
			w.Uint16(uint16(v))
		}
	})
}

// readUint16s reads a vector of two-byte values; any value is accepted.
func readUint16s[T ~uint16](r *codec.Reader, field string, vs *[]T) {
	*vs = nil
	r.Vector(field, func(r *codec.Reader) {
		n := r.Remaining()
		if n == 0 {
			return
		}
		if n%2 != 0 {
			// The last element would be cut short.
			failf(r, field, codec.ErrTruncated, "vector of 2-byte values has %d bytes", n)
			return
		}
		out := make([]T, 0, n/2)
		for !r.Empty() {
			var v uint16
			if !r.Uint16(field, &v) {
				return
			}
			out = append(out, T(v))
		}
		*vs = out
	})
}
