// Package codec implements the TLS presentation language as RFC 9420 uses
// it (§2.1): fixed-width big-endian integers, opaque byte strings and
// vectors prefixed by the MLS variable-length integer of §2.1.2, and
// optional values.
//
// The encoder, Writer, keeps a sticky error so that a marshal function can
// write a whole struct and check once at the end. The decoder, Reader, does
// the same: every read names the field it reads, and the first failure is
// kept as a *DecodeError that names that field, the byte offset and the
// reason (ErrTruncated, ErrNonMinimalVarint, ErrVarintTooLarge,
// ErrInvalidValue, ErrTrailingData). After a failure every further read is a
// no-op, so decoders need not check each call.
//
// Decoding is strict: variable-length integers must use their shortest
// encoding, lengths are limited to 2^30-1, and Unmarshal rejects any bytes
// left after the value. Nothing in this package panics on input.
package codec
