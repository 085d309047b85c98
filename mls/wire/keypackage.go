package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// KeyPackage is a client's signed offer to be added to a group (RFC 9420
// §10). Version must be mls10, the only version this package speaks:
// decoding rejects any other with ErrUnsupportedVersion and encoding
// refuses it (§10.1 requires it to match the group's version).
type KeyPackage struct {
	Version     ProtocolVersion
	CipherSuite CipherSuite
	InitKey     []byte // HPKEPublicKey
	LeafNode    LeafNode
	Extensions  Extensions
	Signature   []byte
}

// KeyPackageTBS is what a KeyPackage's signature covers (RFC 9420 §10).
// Version must be mls10, as for KeyPackage.
type KeyPackageTBS struct {
	Version     ProtocolVersion
	CipherSuite CipherSuite
	InitKey     []byte
	LeafNode    LeafNode
	Extensions  Extensions
}

// TBS encodes the KeyPackageTBS of kp, for signing with label
// "KeyPackageTBS".
func (kp *KeyPackage) TBS() ([]byte, error) {
	return codec.Marshal(&KeyPackageTBS{
		Version:     kp.Version,
		CipherSuite: kp.CipherSuite,
		InitKey:     kp.InitKey,
		LeafNode:    kp.LeafNode,
		Extensions:  kp.Extensions,
	})
}

func (t *KeyPackageTBS) MarshalMLS(w *codec.Writer) {
	writeVersion(w, "KeyPackageTBS", t.Version)
	w.Uint16(uint16(t.CipherSuite))
	w.Opaque(t.InitKey)
	w.Write(&t.LeafNode)
	w.Write(&t.Extensions)
}

func (t *KeyPackageTBS) UnmarshalMLS(r *codec.Reader) {
	t.unmarshal(r, "KeyPackageTBS")
}

func (t *KeyPackageTBS) unmarshal(r *codec.Reader, struc string) {
	readVersion(r, struc+".version", &t.Version)
	r.Uint16(struc+".cipher_suite", (*uint16)(&t.CipherSuite))
	r.Opaque(struc+".init_key", &t.InitKey)
	r.Read(&t.LeafNode)
	t.Extensions.unmarshal(r, struc+".extensions")
}

func (kp *KeyPackage) MarshalMLS(w *codec.Writer) {
	writeVersion(w, "KeyPackage", kp.Version)
	w.Uint16(uint16(kp.CipherSuite))
	w.Opaque(kp.InitKey)
	w.Write(&kp.LeafNode)
	w.Write(&kp.Extensions)
	w.Opaque(kp.Signature)
}

func (kp *KeyPackage) UnmarshalMLS(r *codec.Reader) {
	var t KeyPackageTBS
	t.unmarshal(r, "KeyPackage")
	*kp = KeyPackage{
		Version:     t.Version,
		CipherSuite: t.CipherSuite,
		InitKey:     t.InitKey,
		LeafNode:    t.LeafNode,
		Extensions:  t.Extensions,
	}
	r.Opaque("KeyPackage.signature", &kp.Signature)
}
