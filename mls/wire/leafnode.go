package wire

import "github.com/mlsnode/mlsnode/mls/codec"

// Capabilities lists what a client supports (RFC 9420 §7.2). Unknown
// values, GREASE included, decode and must be ignored by the caller.
type Capabilities struct {
	Versions     []ProtocolVersion
	CipherSuites []CipherSuite
	Extensions   []ExtensionType
	Proposals    []ProposalType
	Credentials  []CredentialType
}

func (c *Capabilities) MarshalMLS(w *codec.Writer) {
	writeUint16s(w, c.Versions)
	writeUint16s(w, c.CipherSuites)
	writeUint16s(w, c.Extensions)
	writeUint16s(w, c.Proposals)
	writeUint16s(w, c.Credentials)
}

func (c *Capabilities) UnmarshalMLS(r *codec.Reader) {
	readUint16s(r, "Capabilities.versions", &c.Versions)
	readUint16s(r, "Capabilities.cipher_suites", &c.CipherSuites)
	readUint16s(r, "Capabilities.extensions", &c.Extensions)
	readUint16s(r, "Capabilities.proposals", &c.Proposals)
	readUint16s(r, "Capabilities.credentials", &c.Credentials)
}

// Lifetime is the validity period of a KeyPackage's LeafNode, in seconds
// since the Unix epoch (RFC 9420 §7.2).
type Lifetime struct {
	NotBefore uint64
	NotAfter  uint64
}

func (l *Lifetime) MarshalMLS(w *codec.Writer) {
	w.Uint64(l.NotBefore)
	w.Uint64(l.NotAfter)
}

func (l *Lifetime) UnmarshalMLS(r *codec.Reader) {
	r.Uint64("Lifetime.not_before", &l.NotBefore)
	r.Uint64("Lifetime.not_after", &l.NotAfter)
}

// LeafNode describes one member in the ratchet tree or a KeyPackage (RFC
// 9420 §7.2). Lifetime is set only for LeafNodeSourceKeyPackage and
// ParentHash only for LeafNodeSourceCommit.
type LeafNode struct {
	EncryptionKey  []byte // HPKEPublicKey
	SignatureKey   []byte // SignaturePublicKey
	Credential     Credential
	Capabilities   Capabilities
	LeafNodeSource LeafNodeSource
	Lifetime       *Lifetime // key_package
	ParentHash     []byte    // commit
	Extensions     Extensions
	Signature      []byte
}

// LeafNodeTBS is what a LeafNode's signature covers (RFC 9420 §7.2): the
// fields before the signature and, for the update and commit sources, the
// group and leaf the node is made for.
type LeafNodeTBS struct {
	EncryptionKey  []byte
	SignatureKey   []byte
	Credential     Credential
	Capabilities   Capabilities
	LeafNodeSource LeafNodeSource
	Lifetime       *Lifetime // key_package
	ParentHash     []byte    // commit
	Extensions     Extensions
	GroupID        []byte // update, commit
	LeafIndex      uint32 // update, commit
}

// tbs returns the LeafNodeTBS of ln for the given group and leaf (ignored
// for the key_package source). The result shares ln's slices.
func (ln *LeafNode) tbs(groupID []byte, leafIndex uint32) *LeafNodeTBS {
	return &LeafNodeTBS{
		EncryptionKey:  ln.EncryptionKey,
		SignatureKey:   ln.SignatureKey,
		Credential:     ln.Credential,
		Capabilities:   ln.Capabilities,
		LeafNodeSource: ln.LeafNodeSource,
		Lifetime:       ln.Lifetime,
		ParentHash:     ln.ParentHash,
		Extensions:     ln.Extensions,
		GroupID:        groupID,
		LeafIndex:      leafIndex,
	}
}

// TBS encodes the LeafNodeTBS that ln's signature covers, for signing
// with label "LeafNodeTBS". groupID and leafIndex are the group and leaf
// for the update and commit sources and are ignored for key_package.
func (ln *LeafNode) TBS(groupID []byte, leafIndex uint32) ([]byte, error) {
	return codec.Marshal(ln.tbs(groupID, leafIndex))
}

// marshalContent writes the fields shared by LeafNode and LeafNodeTBS.
func (t *LeafNodeTBS) marshalContent(w *codec.Writer) {
	w.Opaque(t.EncryptionKey)
	w.Opaque(t.SignatureKey)
	w.Write(&t.Credential)
	w.Write(&t.Capabilities)
	w.Uint8(uint8(t.LeafNodeSource))
	switch t.LeafNodeSource {
	case LeafNodeSourceKeyPackage:
		if t.Lifetime == nil {
			encodeErr(w, "key_package LeafNode without lifetime")
			return
		}
		w.Write(t.Lifetime)
	case LeafNodeSourceUpdate:
	case LeafNodeSourceCommit:
		w.Opaque(t.ParentHash)
	default:
		encodeErr(w, "leaf node source %v", t.LeafNodeSource)
		return
	}
	w.Write(&t.Extensions)
}

// unmarshalContent reads the fields shared by LeafNode and LeafNodeTBS;
// struct names the struct in field names.
func (t *LeafNodeTBS) unmarshalContent(r *codec.Reader, struc string) {
	r.Opaque(struc+".encryption_key", &t.EncryptionKey)
	r.Opaque(struc+".signature_key", &t.SignatureKey)
	r.Read(&t.Credential)
	r.Read(&t.Capabilities)
	if !readEnum8(r, struc+".leaf_node_source", &t.LeafNodeSource) {
		return
	}
	switch t.LeafNodeSource {
	case LeafNodeSourceKeyPackage:
		t.Lifetime = new(Lifetime)
		r.Read(t.Lifetime)
	case LeafNodeSourceCommit:
		r.Opaque(struc+".parent_hash", &t.ParentHash)
	}
	t.Extensions.unmarshal(r, struc+".extensions")
}

func (t *LeafNodeTBS) MarshalMLS(w *codec.Writer) {
	t.marshalContent(w)
	switch t.LeafNodeSource {
	case LeafNodeSourceUpdate, LeafNodeSourceCommit:
		w.Opaque(t.GroupID)
		w.Uint32(t.LeafIndex)
	}
}

func (t *LeafNodeTBS) UnmarshalMLS(r *codec.Reader) {
	t.unmarshalContent(r, "LeafNodeTBS")
	switch t.LeafNodeSource {
	case LeafNodeSourceUpdate, LeafNodeSourceCommit:
		r.Opaque("LeafNodeTBS.group_id", &t.GroupID)
		r.Uint32("LeafNodeTBS.leaf_index", &t.LeafIndex)
	}
}

func (ln *LeafNode) MarshalMLS(w *codec.Writer) {
	ln.tbs(nil, 0).marshalContent(w)
	w.Opaque(ln.Signature)
}

func (ln *LeafNode) UnmarshalMLS(r *codec.Reader) {
	var t LeafNodeTBS
	t.unmarshalContent(r, "LeafNode")
	*ln = LeafNode{
		EncryptionKey:  t.EncryptionKey,
		SignatureKey:   t.SignatureKey,
		Credential:     t.Credential,
		Capabilities:   t.Capabilities,
		LeafNodeSource: t.LeafNodeSource,
		Lifetime:       t.Lifetime,
		ParentHash:     t.ParentHash,
		Extensions:     t.Extensions,
	}
	r.Opaque("LeafNode.signature", &ln.Signature)
}
