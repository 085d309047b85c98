package wire

import (
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// Reasons a decode fails beyond those of mls/codec. Each wraps
// codec.ErrInvalidValue and appears inside a *codec.DecodeError that names
// the field, so callers may test for either with errors.Is.
var (
	// ErrUnknownValue: an enumeration value that the RFC does not define
	// where no unknown value is allowed, or a proposal or credential type
	// whose body this package cannot parse.
	ErrUnknownValue = fmt.Errorf("%w: unknown value", codec.ErrInvalidValue)
	// ErrUnsupportedVersion: a protocol version other than mls10 where the
	// RFC requires mls10.
	ErrUnsupportedVersion = fmt.Errorf("%w: unsupported protocol version", codec.ErrInvalidValue)
	// ErrDuplicateExtension: an extension list holds two extensions of one
	// type (RFC 9420 §13.4).
	ErrDuplicateExtension = fmt.Errorf("%w: duplicate extension type", codec.ErrInvalidValue)
	// ErrNonZeroPadding: the padding of a PrivateMessageContent holds a
	// non-zero byte (RFC 9420 §6.3.1).
	ErrNonZeroPadding = fmt.Errorf("%w: non-zero padding", codec.ErrInvalidValue)
	// ErrBlankLastNode: a ratchet_tree is empty or ends in a blank node
	// (RFC 9420 §12.4.3.3).
	ErrBlankLastNode = fmt.Errorf("%w: ratchet tree empty or ending in a blank node", codec.ErrInvalidValue)
	// ErrWrongContentType: a struct that allows only some content types,
	// such as ConfirmedTranscriptHashInput (commit only), holds another.
	ErrWrongContentType = fmt.Errorf("%w: content type not allowed here", codec.ErrInvalidValue)
	// ErrWrongWireFormat: a wire format not allowed in this struct, such
	// as mls_welcome in an AuthenticatedContent.
	ErrWrongWireFormat = fmt.Errorf("%w: wire format not allowed here", codec.ErrInvalidValue)
)

// ErrCannotEncode is wrapped by the *codec.EncodeError of a value that has
// no encoding: a union whose tag names an unknown variant or whose variant
// field is nil, a FramedContentTBS without the GroupContext it needs, a
// version other than mls10 where the RFC fixes it, and the like.
var ErrCannotEncode = errors.New("mls/wire: value cannot be encoded")

// encodeErr records an ErrCannotEncode with detail on w.
func encodeErr(w *codec.Writer, format string, args ...any) {
	w.SetError(fmt.Errorf("%w: "+format, append([]any{ErrCannotEncode}, args...)...))
}

// failf records err with detail for field on r.
func failf(r *codec.Reader, field string, err error, format string, args ...any) {
	r.Fail(field, fmt.Errorf("%w: "+format, append([]any{err}, args...)...))
}
