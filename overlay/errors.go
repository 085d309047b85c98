package overlay

import (
	"errors"
	"fmt"
)

// Sentinel errors. Errors returned by the overlay wrap one of these, so
// callers can match with errors.Is.
var (
	// ErrMalformed: bytes from a peer (or a caller) do not decode.
	ErrMalformed = errors.New("overlay: malformed input")
	// ErrTooLarge: a message, request or item is over its size limit.
	ErrTooLarge = errors.New("overlay: too large")
	// ErrClosed: the overlay has been closed.
	ErrClosed = errors.New("overlay: closed")
	// ErrNotJoined: the group's topic has not been joined.
	ErrNotJoined = errors.New("overlay: group not joined")
	// ErrNoKeyPackage: no peer had a KeyPackage of the requested owner.
	ErrNoKeyPackage = errors.New("overlay: no KeyPackage available")
	// ErrUndeliverable: a Welcome could be neither delivered nor deposited.
	ErrUndeliverable = errors.New("overlay: Welcome could not be delivered or deposited")
	// ErrRefused: the remote peer refused the request (no handler, rate
	// limit, full mailbox, a check failed).
	ErrRefused = errors.New("overlay: refused by peer")
	// ErrBlocked: the peer is banned or blocked.
	ErrBlocked = errors.New("overlay: peer is banned or blocked")
	// ErrBadConfig: the configuration is unusable.
	ErrBadConfig = errors.New("overlay: bad configuration")
)

// RemoteError is an error a remote peer's handler reported. It wraps
// ErrRefused.
type RemoteError struct {
	Message string
}

func (e *RemoteError) Error() string { return fmt.Sprintf("overlay: remote error: %s", e.Message) }

// Unwrap makes errors.Is(err, ErrRefused) hold.
func (e *RemoteError) Unwrap() error { return ErrRefused }

func malformed(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s", ErrMalformed, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrMalformed, what, err)
}
