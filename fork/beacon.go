package fork

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

// Errors of beacon verification. Each is a rejection of peer input: the
// beacon changes nothing.
var (
	// ErrBadBeacon: the signature does not verify with the sender's leaf
	// key, or the sender is not a member of the named epoch.
	ErrBadBeacon = errors.New("fork: beacon signature invalid")
	// ErrReplayedBeacon: the sender already signed a beacon with this or
	// a higher sequence number.
	ErrReplayedBeacon = errors.New("fork: replayed or stale beacon")
	// ErrUnknownGroup: a message names a group this member is not in.
	ErrUnknownGroup = errors.New("fork: message for another group")
)

// SignBeacon fills b.Signature with the member's MLS signature key.
func SignBeacon(key *suite.SigningKey, b *Beacon) error {
	tbs, err := b.TBS()
	if err != nil {
		return err
	}
	b.Signature, err = key.SignWithLabel(BeaconLabel, tbs)
	return err
}

// VerifyBeacon checks b's signature against the key of leaf b.Sender in
// tree, the ratchet tree of the epoch b names (or, for a beacon of another
// branch, of that branch's head).
func VerifyBeacon(cs *suite.Suite, tree *ratchettree.Tree, b *Beacon) error {
	if b.Sender >= tree.LeafCount() {
		return fmt.Errorf("%w: sender %d outside the tree", ErrBadBeacon, b.Sender)
	}
	leaf := tree.Leaf(treemath.LeafIndex(b.Sender))
	if leaf == nil {
		return fmt.Errorf("%w: sender %d is a blank leaf", ErrBadBeacon, b.Sender)
	}
	tbs, err := b.TBS()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadBeacon, err)
	}
	if err := cs.VerifyWithLabel(leaf.SignatureKey, BeaconLabel, tbs, b.Signature); err != nil {
		return fmt.Errorf("%w: %w", ErrBadBeacon, err)
	}
	return nil
}

// sameBeacon reports whether two beacons are the same statement.
func sameBeacon(a, b *Beacon) bool {
	return a.Epoch == b.Epoch && a.EpochID == b.EpochID && a.Sender == b.Sender &&
		a.Seq == b.Seq && bytes.Equal(a.GroupID, b.GroupID) && bytes.Equal(a.Signature, b.Signature)
}
