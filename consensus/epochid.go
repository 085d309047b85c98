package consensus

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"

	"github.com/mlsnode/mlsnode/mls"
)

// EpochID names one epoch of one group independently of its number: two
// branches of a forked group share epoch numbers but never ids. It is
//
//	SHA-256("mlsnode epoch id" || uint16(len(group_id)) || group_id ||
//	        uint64(epoch) || epoch_authenticator)
//
// The epoch authenticator (RFC 9420 §8.7) is derived from the epoch secret,
// so only members of the epoch can compute the id, nobody can choose it
// without choosing the epoch secret, and the one-way hash lets the id travel
// in the clear without revealing the authenticator.
type EpochID [32]byte

// epochIDLabel separates epoch ids from every other hash the layer makes.
const epochIDLabel = "mlsnode epoch id"

// NewEpochID computes the id of an epoch from its group id, number and
// epoch authenticator.
func NewEpochID(groupID []byte, epoch uint64, authenticator []byte) EpochID {
	h := sha256.New()
	h.Write([]byte(epochIDLabel))
	var n [10]byte
	binary.BigEndian.PutUint16(n[:2], uint16(len(groupID)))
	h.Write(n[:2])
	h.Write(groupID)
	binary.BigEndian.PutUint64(n[2:], epoch)
	h.Write(n[2:])
	h.Write(authenticator)
	var id EpochID
	h.Sum(id[:0])
	return id
}

// EpochIDOf is the id of a group's current epoch.
func EpochIDOf(g *mls.Group) EpochID {
	return NewEpochID(g.GroupID(), g.Epoch(), g.EpochAuthenticator())
}

// StagedEpochID is the id of the epoch a staged commit creates. It is not
// computable by a member the commit removes (ok is false then).
func StagedEpochID(groupID []byte, sc *mls.StagedCommit) (id EpochID, ok bool) {
	auth := sc.EpochAuthenticator()
	if auth == nil {
		return EpochID{}, false
	}
	return NewEpochID(groupID, sc.Epoch(), auth), true
}

// IsZero reports whether id is the zero value (no epoch).
func (id EpochID) IsZero() bool { return id == EpochID{} }

// String is the first 8 hex digits, enough to tell epochs apart in logs and
// golden files.
func (id EpochID) String() string { return hex.EncodeToString(id[:4]) }

// EpochRef names one epoch: its number and its id.
type EpochRef struct {
	Epoch uint64
	ID    EpochID
}
