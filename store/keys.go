package store

import (
	"encoding/hex"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
)

// Kind is the type of a stored record. It is written inside every stored
// value and checked against the key on read, so a value copied under
// another key is caught.
type Kind uint8

const (
	KindSchema     Kind = 1  // /meta/schema
	KindCrypto     Kind = 2  // /meta/crypto
	KindShred      Kind = 3  // /meta/shred/<id>: a purge still to finish
	KindIdentity   Kind = 10 // /n/identity
	KindKeyPackage Kind = 11 // /n/kp/<ref>
	KindPSK        Kind = 12 // /n/psk/<id>
	KindGroupIndex Kind = 20 // /gi/<group>
	KindHead       Kind = 21 // /g/<group>/head
	KindSequence   Kind = 22 // /g/<group>/seq
	KindEpoch      Kind = 23 // /g/<group>/e/<epoch>/state
	KindEpochKey   Kind = 24 // /g/<group>/e/<epoch>/k/<name>
	KindRival      Kind = 25 // /g/<group>/e/<parent>/r/<id>
	KindGroupKey   Kind = 26 // /g/<group>/k/<name>
	KindOutbox     Kind = 27 // /g/<group>/o/<id>
	KindReceived   Kind = 28 // /g/<group>/m/<seq>
	KindCommitSeen Kind = 29 // /g/<group>/c/<epoch>
	KindReceivedID Kind = 30 // /g/<group>/mi/<message id>: index to the seq
	KindGroupMeta  Kind = 31 // /g/<group>/x/<name>
	KindNodeMeta   Kind = 13 // /n/meta/<name>
)

var kindNames = map[Kind]string{
	KindSchema: "schema", KindCrypto: "crypto", KindShred: "shred",
	KindIdentity: "identity", KindKeyPackage: "keypackage", KindPSK: "psk",
	KindGroupIndex: "group-index", KindHead: "head", KindSequence: "sequence",
	KindEpoch: "epoch", KindEpochKey: "epoch-key", KindRival: "rival",
	KindGroupKey: "group-key", KindOutbox: "outbox", KindReceived: "received",
	KindCommitSeen: "commit-seen", KindReceivedID: "received-id",
	KindGroupMeta: "group-meta", KindNodeMeta: "node-meta",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Key layout. Binary names are hex so that no name can contain '/';
// sequence numbers are fixed-width hex so that key order is numeric order.
var (
	keySchema   = ds.NewKey("/meta/schema")
	keyCrypto   = ds.NewKey("/meta/crypto")
	keyShred    = ds.NewKey("/meta/shred")
	keyIdentity = ds.NewKey("/n/identity")
	keyKPs      = ds.NewKey("/n/kp")
	keyPSKs     = ds.NewKey("/n/psk")
	keyNodeMeta = ds.NewKey("/n/meta")
	keyGroupIdx = ds.NewKey("/gi")
)

func hexName(b []byte) string { return hex.EncodeToString(b) }
func seqName(n uint64) string { return fmt.Sprintf("%016x", n) }

func groupPrefix(gid []byte) ds.Key { return ds.NewKey("/g/" + hexName(gid)) }

func epochPrefix(gid []byte, id EpochID) ds.Key {
	return groupPrefix(gid).ChildString("e").ChildString(hexName(id[:]))
}

func keyHead(gid []byte) ds.Key              { return groupPrefix(gid).ChildString("head") }
func keySeq(gid []byte) ds.Key               { return groupPrefix(gid).ChildString("seq") }
func keyIndex(gid []byte) ds.Key             { return keyGroupIdx.ChildString(hexName(gid)) }
func keyEpoch(gid []byte, id EpochID) ds.Key { return epochPrefix(gid, id).ChildString("state") }
func keyEpochKey(gid []byte, id EpochID, name string) ds.Key {
	return epochPrefix(gid, id).ChildString("k").ChildString(hexName([]byte(name)))
}
func keyRival(gid []byte, parent, id EpochID) ds.Key {
	return epochPrefix(gid, parent).ChildString("r").ChildString(hexName(id[:]))
}
func keyGroupKey(gid []byte, name string) ds.Key {
	return groupPrefix(gid).ChildString("k").ChildString(hexName([]byte(name)))
}
func keyOutbox(gid []byte, id uint64) ds.Key {
	return groupPrefix(gid).ChildString("o").ChildString(seqName(id))
}
func keyReceived(gid []byte, seq uint64) ds.Key {
	return groupPrefix(gid).ChildString("m").ChildString(seqName(seq))
}
func keyCommitSeen(gid []byte, id EpochID) ds.Key {
	return groupPrefix(gid).ChildString("c").ChildString(hexName(id[:]))
}
func keyReceivedID(gid, id []byte) ds.Key {
	return groupPrefix(gid).ChildString("mi").ChildString(hexName(id))
}
func keyGroupMeta(gid []byte, name string) ds.Key {
	return groupPrefix(gid).ChildString("x").ChildString(hexName([]byte(name)))
}
func keyNodeMetaName(name string) ds.Key { return keyNodeMeta.ChildString(hexName([]byte(name))) }
func keyKeyPackage(ref []byte) ds.Key    { return keyKPs.ChildString(hexName(ref)) }
func keyPSK(id []byte) ds.Key            { return keyPSKs.ChildString(hexName(id)) }

// kindOfKey classifies a datastore key by its layout and returns the group
// it belongs to, if any. It is how a damaged record found by a query is
// named; unknown layouts return ok == false.
func kindOfKey(k ds.Key) (gid []byte, kind Kind, ok bool) {
	parts := strings.Split(strings.TrimPrefix(k.String(), "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "meta" && parts[1] == "schema":
		return nil, KindSchema, true
	case len(parts) == 2 && parts[0] == "meta" && parts[1] == "crypto":
		return nil, KindCrypto, true
	case len(parts) == 3 && parts[0] == "meta" && parts[1] == "shred":
		return nil, KindShred, true
	case len(parts) == 2 && parts[0] == "n" && parts[1] == "identity":
		return nil, KindIdentity, true
	case len(parts) == 3 && parts[0] == "n" && parts[1] == "kp":
		return nil, KindKeyPackage, true
	case len(parts) == 3 && parts[0] == "n" && parts[1] == "psk":
		return nil, KindPSK, true
	case len(parts) == 3 && parts[0] == "n" && parts[1] == "meta":
		return nil, KindNodeMeta, true
	case len(parts) == 2 && parts[0] == "gi":
		g, err := hex.DecodeString(parts[1])
		return g, KindGroupIndex, err == nil
	}
	if len(parts) < 3 || parts[0] != "g" {
		return nil, 0, false
	}
	g, err := hex.DecodeString(parts[1])
	if err != nil {
		return nil, 0, false
	}
	rest := parts[2:]
	switch {
	case len(rest) == 1 && rest[0] == "head":
		return g, KindHead, true
	case len(rest) == 1 && rest[0] == "seq":
		return g, KindSequence, true
	case len(rest) == 3 && rest[0] == "e" && rest[2] == "state":
		return g, KindEpoch, true
	case len(rest) == 4 && rest[0] == "e" && rest[2] == "k":
		return g, KindEpochKey, true
	case len(rest) == 4 && rest[0] == "e" && rest[2] == "r":
		return g, KindRival, true
	case len(rest) == 2 && rest[0] == "k":
		return g, KindGroupKey, true
	case len(rest) == 2 && rest[0] == "o":
		return g, KindOutbox, true
	case len(rest) == 2 && rest[0] == "m":
		return g, KindReceived, true
	case len(rest) == 2 && rest[0] == "c":
		return g, KindCommitSeen, true
	case len(rest) == 2 && rest[0] == "mi":
		return g, KindReceivedID, true
	case len(rest) == 2 && rest[0] == "x":
		return g, KindGroupMeta, true
	}
	return g, 0, false
}
