package node

import "errors"

// Sentinel errors. Every error a Node returns wraps one of these (or an
// error of a lower layer) with %w, so callers match them with errors.Is.
var (
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("node: closed")
	// ErrUnknownGroup names a group this node is not a member of.
	ErrUnknownGroup = errors.New("node: unknown group")
	// ErrInvalidArgument is a malformed argument from the caller: a bad
	// group id, peer id, empty or oversized message.
	ErrInvalidArgument = errors.New("node: invalid argument")
	// ErrBadCredential is a member credential that is not bound to its
	// libp2p peer id (see identity.go).
	ErrBadCredential = errors.New("node: credential not bound to peer id")
	// ErrNoKeyPackage means the invitee published no usable KeyPackage
	// that this node could fetch.
	ErrNoKeyPackage = errors.New("node: no KeyPackage for peer")
	// ErrNoInvitation means Join found no Welcome for the group.
	ErrNoInvitation = errors.New("node: no invitation for group")
	// ErrNotMember names a peer that is not a member of the group.
	ErrNotMember = errors.New("node: peer is not a member")
	// ErrUnsupportedSuite is a cipher suite whose signature scheme is not
	// the libp2p identity's (see identity.go).
	ErrUnsupportedSuite = errors.New("node: unsupported cipher suite")
)
