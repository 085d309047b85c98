package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// PathSecret is the path secret a Welcome gives a new member (RFC 9420
// §12.4.3.1).
type PathSecret struct {
	PathSecret []byte
}

func (p *PathSecret) MarshalMLS(w *codec.Writer) { w.Opaque(p.PathSecret) }

func (p *PathSecret) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("PathSecret.path_secret", &p.PathSecret)
}

// GroupSecrets is what a Welcome encrypts to each new member (RFC 9420
// §12.4.3.1). PathSecret is nil when absent.
type GroupSecrets struct {
	JoinerSecret []byte
	PathSecret   *PathSecret
	PSKs         []PreSharedKeyID
}

func (g *GroupSecrets) MarshalMLS(w *codec.Writer) {
	w.Opaque(g.JoinerSecret)
	w.Optional(g.PathSecret != nil, func(w *codec.Writer) { w.Write(g.PathSecret) })
	w.Vector(func(w *codec.Writer) {
		for i := range g.PSKs {
			w.Write(&g.PSKs[i])
		}
	})
}

func (g *GroupSecrets) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("GroupSecrets.joiner_secret", &g.JoinerSecret)
	g.PathSecret = nil
	r.Optional("GroupSecrets.path_secret", func(r *codec.Reader) {
		g.PathSecret = new(PathSecret)
		r.Read(g.PathSecret)
	})
	g.PSKs = nil
	r.Each("GroupSecrets.psks", func(r *codec.Reader) {
		var p PreSharedKeyID
		if r.Read(&p) {
			g.PSKs = append(g.PSKs, p)
		}
	})
}

// EncryptedGroupSecrets is the GroupSecrets for the new member whose
// KeyPackageRef is NewMember, encrypted to its init key (RFC 9420
// §12.4.3.1).
type EncryptedGroupSecrets struct {
	NewMember             []byte // KeyPackageRef
	EncryptedGroupSecrets HPKECiphertext
}

func (e *EncryptedGroupSecrets) MarshalMLS(w *codec.Writer) {
	w.Opaque(e.NewMember)
	w.Write(&e.EncryptedGroupSecrets)
}

func (e *EncryptedGroupSecrets) UnmarshalMLS(r *codec.Reader) {
	r.Opaque("EncryptedGroupSecrets.new_member", &e.NewMember)
	r.Read(&e.EncryptedGroupSecrets)
}

// Welcome brings new members into a group (RFC 9420 §12.4.3.1).
type Welcome struct {
	CipherSuite        CipherSuite
	Secrets            []EncryptedGroupSecrets
	EncryptedGroupInfo []byte
}

func (wc *Welcome) MarshalMLS(w *codec.Writer) {
	w.Uint16(uint16(wc.CipherSuite))
	w.Vector(func(w *codec.Writer) {
		for i := range wc.Secrets {
			w.Write(&wc.Secrets[i])
		}
	})
	w.Opaque(wc.EncryptedGroupInfo)
}

func (wc *Welcome) UnmarshalMLS(r *codec.Reader) {
	r.Uint16("Welcome.cipher_suite", (*uint16)(&wc.CipherSuite))
	wc.Secrets = nil
	r.Each("Welcome.secrets", func(r *codec.Reader) {
		var s EncryptedGroupSecrets
		if r.Read(&s) {
			wc.Secrets = append(wc.Secrets, s)
		}
	})
	r.Opaque("Welcome.encrypted_group_info", &wc.EncryptedGroupInfo)
}

// Find returns the EncryptedGroupSecrets for the KeyPackageRef ref, or
// nil.
func (wc *Welcome) Find(ref []byte) *EncryptedGroupSecrets {
	for i := range wc.Secrets {
		if string(wc.Secrets[i].NewMember) == string(ref) {
			return &wc.Secrets[i]
		}
	}
	return nil
}
