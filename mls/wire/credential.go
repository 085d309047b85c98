package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// Certificate is one DER-encoded X.509 certificate of an X.509 credential
// (RFC 9420 §5.3).
type Certificate struct {
	CertData []byte
}

func (c *Certificate) MarshalMLS(w *codec.Writer) { w.Opaque(c.CertData) }

func (c *Certificate) UnmarshalMLS(r *codec.Reader) { r.Opaque("Certificate.cert_data", &c.CertData) }

// Credential binds identities to a signature key (RFC 9420 §5.3). Identity
// is set for CredentialTypeBasic, Certificates (end-entity first) for
// CredentialTypeX509.
//
// Credential types other than basic and x509 do not decode: the select has
// no length prefix, so an unknown body cannot be skipped, and the RFC
// (§13.3, §13.5) forbids using a credential type that not every member
// supports, GREASE values included.
type Credential struct {
	CredentialType CredentialType
	Identity       []byte        // basic
	Certificates   []Certificate // x509
}

func (c *Credential) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(c.CredentialType))
	switch c.CredentialType {
	case CredentialTypeBasic:
		w.Opaque(c.Identity)
	case CredentialTypeX509:
		w.Vector(func(w *codec.Writer) {
			for i := range c.Certificates {
				w.Write(&c.Certificates[i])
			}
		})
	default:
		encodeErr(w, "credential type %v", c.CredentialType)
	}
}

func (c *Credential) UnmarshalMLS(r *codec.Reader) {
	*c = Credential{}
	if !readEnum16(r, "Credential.credential_type", &c.CredentialType) {
		return
	}
	switch c.CredentialType {
	case CredentialTypeBasic:
		r.Opaque("Credential.identity", &c.Identity)
	case CredentialTypeX509:
		r.Each("Credential.certificates", func(r *codec.Reader) {
			var cert Certificate
			if r.Read(&cert) {
				c.Certificates = append(c.Certificates, cert)
			}
		})
	}
}
