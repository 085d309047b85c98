package store

import (
	"github.com/mlsnode/mlsnode/mls/codec"
)

// EpochID names an epoch by its secrets, not its number: two branches of
// a group can share an epoch number. It has the shape of consensus.EpochID;
// callers convert with store.EpochID(id).
type EpochID [32]byte

// Epoch is the stored state of one epoch of a group: the head or a
// retained earlier epoch the ordering layer may roll back to.
type Epoch struct {
	ID     EpochID
	Number uint64
	Parent EpochID // the epoch this one was committed on; zero if unknown
	State  []byte  // mls.Group.MarshalState output; it holds secrets
}

// Rival is a commit staged on Parent that the ordering layer is still
// weighing against the one it applied.
type Rival struct {
	Parent EpochID // the epoch the commit applies to
	ID     EpochID // the epoch it would create
	Commit []byte  // the commit as received (an encoded MLSMessage)
}

// OutboxEntry is a message this member sent that is not yet final. If the
// epoch it was sent in loses, the ordering layer re-encrypts Plaintext in
// the winning epoch and moves the entry (Transaction.MoveOutbox).
type OutboxEntry struct {
	ID        uint64  // assigned by Transaction.AddOutbox, increasing per group
	Epoch     EpochID // the epoch Message was encrypted in
	Plaintext []byte  // the application data, kept for re-encryption
	Message   []byte  // the encoded MLSMessage as sent
}

// Received is an application message delivered to this member.
type Received struct {
	Seq            uint64  // assigned by Transaction.PutReceived, increasing per group
	ID             []byte  // the ordering layer's message id, stable across re-sends; may be nil
	Epoch          EpochID // the epoch it was decrypted in
	EpochNumber    uint64
	Sender         uint32 // the sender's leaf index in Epoch
	SenderIdentity []byte // the sender's credential identity
	Data           []byte
	LosingBranch   bool // it came from an epoch that later lost
}

// CommitSeen is one edge of the local view of the epoch tree.
type CommitSeen struct {
	Parent EpochID
	ID     EpochID
	Number uint64 // epoch number of ID
	Commit []byte // the commit as received; may be nil
}

// Identity is the node's long-term identity.
type Identity struct {
	Suite            uint16 // cipher suite of the signature key
	Credential       []byte // encoded MLS Credential
	SignaturePublic  []byte
	SignaturePrivate []byte
}

// KeyPackage is a KeyPackage this node published, with the private keys it
// needs when someone uses it.
type KeyPackage struct {
	Ref               []byte // KeyPackageRef (RFC 9420 §5.2)
	Encoded           []byte // the encoded KeyPackage
	InitPrivate       []byte
	EncryptionPrivate []byte
	LastResort        bool // kept after use (RFC 9420 §16.8)
}

// PSK is an external pre-shared key.
type PSK struct {
	ID     []byte
	Secret []byte
}

// head points at the epoch record that is the group's current head.
type head struct {
	ID     EpochID
	Number uint64
}

// sequences keeps the next outbox id and received sequence number, so
// that ids are never reused after their entries are deleted.
type sequences struct {
	NextOutbox   uint64
	NextReceived uint64
}

// secret is a key stored by name (epoch keys, group keys).
type secret struct {
	Value []byte
}

type groupIndex struct {
	Group []byte
}

type schemaRecord struct {
	Version uint32
}

// cryptoRecord holds what opening an encrypted store needs: the Argon2id
// parameters and salt, and a check value sealed under the derived key so
// that a wrong passphrase is told apart from a damaged record.
type cryptoRecord struct {
	Salt      []byte
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
	Check     []byte
}

// shredRecord lists key prefixes whose deleted values a transaction still
// has to purge from the backend's files.
type shredRecord struct {
	Prefixes []string
}

// record is implemented by every stored body.
type record interface {
	encode(w *codec.Writer)
	decode(r *codec.Reader)
}

func encodeRecord(rec record) ([]byte, error) {
	w := codec.NewWriter(nil)
	rec.encode(w)
	return w.Bytes()
}

func decodeRecord(body []byte, rec record) error {
	r := codec.NewReader(body)
	rec.decode(r)
	return r.Finish("record")
}

func readEpochID(r *codec.Reader, field string, id *EpochID) {
	var b []byte
	if r.Raw(field, len(id), &b) {
		copy(id[:], b)
	}
}

func (e *Epoch) encode(w *codec.Writer) {
	w.Raw(e.ID[:])
	w.Uint64(e.Number)
	w.Raw(e.Parent[:])
	w.Opaque(e.State)
}

func (e *Epoch) decode(r *codec.Reader) {
	readEpochID(r, "epoch.id", &e.ID)
	r.Uint64("epoch.number", &e.Number)
	readEpochID(r, "epoch.parent", &e.Parent)
	r.Opaque("epoch.state", &e.State)
}

func (h *head) encode(w *codec.Writer) {
	w.Raw(h.ID[:])
	w.Uint64(h.Number)
}

func (h *head) decode(r *codec.Reader) {
	readEpochID(r, "head.id", &h.ID)
	r.Uint64("head.number", &h.Number)
}

func (v *Rival) encode(w *codec.Writer) {
	w.Raw(v.Parent[:])
	w.Raw(v.ID[:])
	w.Opaque(v.Commit)
}

func (v *Rival) decode(r *codec.Reader) {
	readEpochID(r, "rival.parent", &v.Parent)
	readEpochID(r, "rival.id", &v.ID)
	r.Opaque("rival.commit", &v.Commit)
}

func (o *OutboxEntry) encode(w *codec.Writer) {
	w.Uint64(o.ID)
	w.Raw(o.Epoch[:])
	w.Opaque(o.Plaintext)
	w.Opaque(o.Message)
}

func (o *OutboxEntry) decode(r *codec.Reader) {
	r.Uint64("outbox.id", &o.ID)
	readEpochID(r, "outbox.epoch", &o.Epoch)
	r.Opaque("outbox.plaintext", &o.Plaintext)
	r.Opaque("outbox.message", &o.Message)
}

func (m *Received) encode(w *codec.Writer) {
	w.Uint64(m.Seq)
	w.Opaque(m.ID)
	w.Raw(m.Epoch[:])
	w.Uint64(m.EpochNumber)
	w.Uint32(m.Sender)
	w.Opaque(m.SenderIdentity)
	w.Opaque(m.Data)
	w.Bool(m.LosingBranch)
}

func (m *Received) decode(r *codec.Reader) {
	r.Uint64("received.seq", &m.Seq)
	r.Opaque("received.id", &m.ID)
	readEpochID(r, "received.epoch", &m.Epoch)
	r.Uint64("received.epoch_number", &m.EpochNumber)
	r.Uint32("received.sender", &m.Sender)
	r.Opaque("received.sender_identity", &m.SenderIdentity)
	r.Opaque("received.data", &m.Data)
	r.Bool("received.losing_branch", &m.LosingBranch)
}

// receivedID indexes a received message by its id.
type receivedID struct {
	Seq uint64
}

func (m *receivedID) encode(w *codec.Writer) { w.Uint64(m.Seq) }
func (m *receivedID) decode(r *codec.Reader) { r.Uint64("received_id.seq", &m.Seq) }

// meta is a small application value that is not secret (group or node).
type meta struct {
	Value []byte
}

func (m *meta) encode(w *codec.Writer) { w.Opaque(m.Value) }
func (m *meta) decode(r *codec.Reader) { r.Opaque("meta.value", &m.Value) }

func (c *CommitSeen) encode(w *codec.Writer) {
	w.Raw(c.Parent[:])
	w.Raw(c.ID[:])
	w.Uint64(c.Number)
	w.Opaque(c.Commit)
}

func (c *CommitSeen) decode(r *codec.Reader) {
	readEpochID(r, "commit_seen.parent", &c.Parent)
	readEpochID(r, "commit_seen.id", &c.ID)
	r.Uint64("commit_seen.number", &c.Number)
	r.Opaque("commit_seen.commit", &c.Commit)
}

func (i *Identity) encode(w *codec.Writer) {
	w.Uint16(i.Suite)
	w.Opaque(i.Credential)
	w.Opaque(i.SignaturePublic)
	w.Opaque(i.SignaturePrivate)
}

func (i *Identity) decode(r *codec.Reader) {
	r.Uint16("identity.suite", &i.Suite)
	r.Opaque("identity.credential", &i.Credential)
	r.Opaque("identity.signature_public", &i.SignaturePublic)
	r.Opaque("identity.signature_private", &i.SignaturePrivate)
}

func (k *KeyPackage) encode(w *codec.Writer) {
	w.Opaque(k.Ref)
	w.Opaque(k.Encoded)
	w.Opaque(k.InitPrivate)
	w.Opaque(k.EncryptionPrivate)
	w.Bool(k.LastResort)
}

func (k *KeyPackage) decode(r *codec.Reader) {
	r.Opaque("keypackage.ref", &k.Ref)
	r.Opaque("keypackage.encoded", &k.Encoded)
	r.Opaque("keypackage.init_private", &k.InitPrivate)
	r.Opaque("keypackage.encryption_private", &k.EncryptionPrivate)
	r.Bool("keypackage.last_resort", &k.LastResort)
}

func (p *PSK) encode(w *codec.Writer) {
	w.Opaque(p.ID)
	w.Opaque(p.Secret)
}

func (p *PSK) decode(r *codec.Reader) {
	r.Opaque("psk.id", &p.ID)
	r.Opaque("psk.secret", &p.Secret)
}

func (s *sequences) encode(w *codec.Writer) {
	w.Uint64(s.NextOutbox)
	w.Uint64(s.NextReceived)
}

func (s *sequences) decode(r *codec.Reader) {
	r.Uint64("sequences.next_outbox", &s.NextOutbox)
	r.Uint64("sequences.next_received", &s.NextReceived)
}

func (s *secret) encode(w *codec.Writer) { w.Opaque(s.Value) }
func (s *secret) decode(r *codec.Reader) { r.Opaque("secret.value", &s.Value) }

func (g *groupIndex) encode(w *codec.Writer) { w.Opaque(g.Group) }
func (g *groupIndex) decode(r *codec.Reader) { r.Opaque("group_index.group", &g.Group) }

func (s *schemaRecord) encode(w *codec.Writer) { w.Uint32(s.Version) }
func (s *schemaRecord) decode(r *codec.Reader) { r.Uint32("schema.version", &s.Version) }

func (c *cryptoRecord) encode(w *codec.Writer) {
	w.Opaque(c.Salt)
	w.Uint32(c.Time)
	w.Uint32(c.MemoryKiB)
	w.Uint8(c.Threads)
	w.Opaque(c.Check)
}

func (c *cryptoRecord) decode(r *codec.Reader) {
	r.Opaque("crypto.salt", &c.Salt)
	r.Uint32("crypto.time", &c.Time)
	r.Uint32("crypto.memory_kib", &c.MemoryKiB)
	r.Uint8("crypto.threads", &c.Threads)
	r.Opaque("crypto.check", &c.Check)
}

func (s *shredRecord) encode(w *codec.Writer) {
	w.Vector(func(w *codec.Writer) {
		for _, p := range s.Prefixes {
			w.String(p)
		}
	})
}

func (s *shredRecord) decode(r *codec.Reader) {
	r.Each("shred.prefixes", func(r *codec.Reader) {
		var p string
		if r.String("shred.prefix", &p) {
			s.Prefixes = append(s.Prefixes, p)
		}
	})
}
