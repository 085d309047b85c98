package consensus

import "errors"

// Errors for input from the network. Step returns them wrapped (match with
// errors.Is); a rejected envelope changes nothing in the Core.
var (
	// ErrMalformed: the envelope or its body does not decode.
	ErrMalformed = errors.New("consensus: malformed envelope")
	// ErrUnknownKind: an envelope kind this version does not know.
	ErrUnknownKind = errors.New("consensus: unknown envelope kind")
	// ErrTooLarge: a field over its wire limit.
	ErrTooLarge = errors.New("consensus: value over the wire limit")
	// ErrWrongGroup: the envelope is for another group.
	ErrWrongGroup = errors.New("consensus: envelope for another group")
	// ErrUnknownEpoch: the envelope names an epoch this member does not
	// retain (too old, final and released, or on a branch it never saw).
	// Package fork turns unknown ids into fetch requests.
	ErrUnknownEpoch = errors.New("consensus: unknown epoch")
	// ErrPendingProposal: a commit refers to a proposal this member has
	// not received yet; the commit is held (bounded) and processed again
	// when a proposal arrives in its epoch. Like ErrUnknownEpoch it is
	// not evidence of a bad peer: gossip reorders.
	ErrPendingProposal = errors.New("consensus: commit refers to a proposal not received yet (held)")
	// ErrEpochMismatch: the header's epoch number or id disagrees with
	// the MLS message it carries.
	ErrEpochMismatch = errors.New("consensus: envelope header disagrees with its message")
	// ErrInvalidMessage: the MLS engine rejected the message.
	ErrInvalidMessage = errors.New("consensus: message rejected by the MLS engine")
	// ErrPrivateHandshake: commits and proposals must travel as
	// PublicMessage so that equivocation evidence verifies (see
	// docs/ordering.md).
	ErrPrivateHandshake = errors.New("consensus: handshake message is not a PublicMessage")
	// ErrPolicy: the membership policy refused the commit.
	ErrPolicy = errors.New("consensus: commit refused by the membership policy")
	// ErrDuplicate: the message was seen before (a replay); ignored.
	ErrDuplicate = errors.New("consensus: duplicate message")
	// ErrRivalLimit: the parent epoch already holds MaxRivalsPerParent
	// candidate commits and this one ranks below all of them.
	ErrRivalLimit = errors.New("consensus: too many rival commits on one parent")
	// ErrPendingLimit: the buffer of messages for an epoch not yet
	// known is full.
	ErrPendingLimit = errors.New("consensus: too many pending messages")
	// ErrBadEvidence: equivocation evidence that proves nothing.
	ErrBadEvidence = errors.New("consensus: evidence does not prove equivocation")
	// ErrEquivocator: a commit from a member already proven to
	// equivocate on this parent.
	ErrEquivocator = errors.New("consensus: commit from a proven equivocator")
	// ErrFinal: a commit or proposal for an epoch whose race is closed
	// (its successor is final). After a partition longer than the window
	// this is how the other branch shows up; package fork heals it.
	ErrFinal = errors.New("consensus: epoch already decided")
	// ErrReleased: an application message of an epoch whose keys were
	// released when it became final (or that the engine no longer keeps):
	// it arrived too late to be opened. Not a fault of the sender.
	ErrReleased = errors.New("consensus: epoch keys released; message too late")
	// ErrNotHandled: an envelope kind the Core does not process (beacons
	// and fetches belong to package fork).
	ErrNotHandled = errors.New("consensus: envelope kind handled by another layer")
)

// Errors for wrong use of the API.
var (
	// ErrRemoved: this member is no longer in the group on the head branch.
	ErrRemoved = errors.New("consensus: this member was removed from the group")
	// ErrConfig: the configuration is unusable.
	ErrConfig = errors.New("consensus: invalid configuration")
	// ErrAlreadyCommitted: this member already has a commit on the head
	// epoch; a second one would be equivocation.
	ErrAlreadyCommitted = errors.New("consensus: this member already committed in this epoch")
	// ErrOutboxFull: MaxOutbox messages await finality; Send refuses
	// more until epochs become final (back-pressure).
	ErrOutboxFull = errors.New("consensus: outbox full")
	// ErrUnknownRule: RankByName or ApplyByName got an unknown name.
	ErrUnknownRule = errors.New("consensus: unknown rule name")
)
