package codec

import (
	"errors"
	"fmt"
)

// Reasons a decode fails. A *DecodeError wraps exactly one of them, so
// callers test with errors.Is.
var (
	// ErrTruncated: the input ended inside a value.
	ErrTruncated = errors.New("truncated input")
	// ErrTrailingData: bytes are left after a complete value.
	ErrTrailingData = errors.New("trailing data after value")
	// ErrNonMinimalVarint: a variable-length integer did not use its
	// shortest encoding (RFC 9420 §2.1.2 requires it).
	ErrNonMinimalVarint = errors.New("variable-length integer not minimally encoded")
	// ErrVarintTooLarge: a variable-length integer used the reserved
	// 8-byte prefix, or a value to encode is 2^30 or more.
	ErrVarintTooLarge = errors.New("variable-length integer exceeds 2^30-1")
	// ErrInvalidValue: a value the RFC forbids, such as an unknown enum
	// member where the RFC allows none, or an optional flag other than 0/1.
	ErrInvalidValue = errors.New("invalid value")
)

// DecodeError reports the first failure of a decode: what was being read,
// where, and why.
type DecodeError struct {
	Field  string // the field being read, e.g. "KeyPackage.init_key"
	Offset int    // byte offset into the outermost input
	Err    error  // one of the Err* reasons, possibly wrapped with detail
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("mls decode: %s at byte %d: %v", e.Field, e.Offset, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// EncodeError reports a value that cannot be encoded, such as a vector
// longer than the varint allows.
type EncodeError struct {
	Err error
}

func (e *EncodeError) Error() string { return "mls encode: " + e.Err.Error() }

func (e *EncodeError) Unwrap() error { return e.Err }
