package codec

import "fmt"

// Unmarshal decodes data into v and rejects trailing bytes.
func Unmarshal(data []byte, v Unmarshaler) error {
	r := NewReader(data)
	v.UnmarshalMLS(r)
	return r.Finish(typeName(v))
}

func typeName(v any) string { return fmt.Sprintf("%T", v) }

// Reader decodes an encoding. Each read names the field it reads; the first
// failure sticks as a *DecodeError and makes every later read a no-op that
// returns false and leaves its target untouched.
type Reader struct {
	data []byte
	off  int // offset within data
	base int // offset of data within the outermost input, for errors
	err  *DecodeError
	root *Reader // the outermost reader, which holds the error
}

// NewReader returns a Reader over data.
func NewReader(data []byte) *Reader {
	r := &Reader{data: data}
	r.root = r
	return r
}

// Err returns the first error, or nil.
func (r *Reader) Err() error {
	if r.root.err == nil {
		return nil
	}
	return r.root.err
}

// OK reports whether no error has occurred.
func (r *Reader) OK() bool { return r.root.err == nil }

// Empty reports whether all input of this reader has been consumed.
func (r *Reader) Empty() bool { return r.off >= len(r.data) }

// Remaining is the number of unread bytes of this reader.
func (r *Reader) Remaining() int { return len(r.data) - r.off }

// Offset is the position of the next read within the outermost input.
func (r *Reader) Offset() int { return r.base + r.off }

// Fail records err for field unless an error is already recorded. Decoders
// call it for values the RFC forbids; err should wrap ErrInvalidValue.
func (r *Reader) Fail(field string, err error) {
	if r.root.err == nil {
		r.root.err = &DecodeError{Field: field, Offset: r.Offset(), Err: err}
	}
}

// Invalid records an ErrInvalidValue for field with a formatted detail.
func (r *Reader) Invalid(field string, format string, args ...any) {
	r.Fail(field, fmt.Errorf("%w: "+format, append([]any{ErrInvalidValue}, args...)...))
}

// Finish checks that the whole input was consumed and returns the first
// error. field names the value for a trailing-data error.
func (r *Reader) Finish(field string) error {
	if r.OK() && !r.Empty() {
		r.Fail(field, fmt.Errorf("%w: %d bytes", ErrTrailingData, r.Remaining()))
	}
	return r.Err()
}

func (r *Reader) take(field string, n int) ([]byte, bool) {
	if !r.OK() {
		return nil, false
	}
	if n < 0 || r.Remaining() < n {
		r.Fail(field, fmt.Errorf("%w: need %d bytes, have %d", ErrTruncated, n, r.Remaining()))
		return nil, false
	}
	b := r.data[r.off : r.off+n]
	r.off += n
	return b, true
}

func (r *Reader) Uint8(field string, v *uint8) bool {
	b, ok := r.take(field, 1)
	if ok {
		*v = b[0]
	}
	return ok
}

func (r *Reader) Uint16(field string, v *uint16) bool {
	b, ok := r.take(field, 2)
	if ok {
		*v = uint16(b[0])<<8 | uint16(b[1])
	}
	return ok
}

func (r *Reader) Uint32(field string, v *uint32) bool {
	b, ok := r.take(field, 4)
	if ok {
		*v = uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	}
	return ok
}

func (r *Reader) Uint64(field string, v *uint64) bool {
	b, ok := r.take(field, 8)
	if ok {
		*v = 0
		for _, c := range b {
			*v = *v<<8 | uint64(c)
		}
	}
	return ok
}

// Bool reads a one-byte boolean; values other than 0 and 1 are invalid.
func (r *Reader) Bool(field string, v *bool) bool {
	var b uint8
	if !r.Uint8(field, &b) {
		return false
	}
	if b > 1 {
		r.Invalid(field, "boolean byte %d", b)
		return false
	}
	*v = b == 1
	return true
}

// Varint reads an MLS variable-length integer (RFC 9420 §2.1.2).
func (r *Reader) Varint(field string, v *uint32) bool {
	if !r.OK() {
		return false
	}
	x, n, err := ParseVarint(r.data[r.off:])
	if err != nil {
		r.Fail(field, err)
		return false
	}
	r.off += n
	*v = x
	return true
}

// Raw reads exactly n bytes. The result aliases the input.
func (r *Reader) Raw(field string, n int, v *[]byte) bool {
	b, ok := r.take(field, n)
	if ok {
		*v = b
	}
	return ok
}

// Opaque reads opaque<V> into a fresh copy, so that the decoded value does
// not alias (and keep alive, or change with) the input buffer.
func (r *Reader) Opaque(field string, v *[]byte) bool {
	var n uint32
	if !r.Varint(field, &n) {
		return false
	}
	b, ok := r.take(field, int(n))
	if ok {
		*v = append([]byte{}, b...)
	}
	return ok
}

// String reads opaque<V> as a string.
func (r *Reader) String(field string, v *string) bool {
	var n uint32
	if !r.Varint(field, &n) {
		return false
	}
	b, ok := r.take(field, int(n))
	if ok {
		*v = string(b)
	}
	return ok
}

// Vector reads a vector<V> and hands its body to fn as a sub-reader. After
// fn returns, the body must be consumed exactly.
func (r *Reader) Vector(field string, fn func(r *Reader)) bool {
	var n uint32
	if !r.Varint(field, &n) {
		return false
	}
	start := r.Offset()
	body, ok := r.take(field, int(n))
	if !ok {
		return false
	}
	sub := &Reader{data: body, base: start, root: r.root}
	fn(sub)
	return sub.Finish(field) == nil
}

// Each reads a vector<V> of elements: fn is called once per element until
// the body is consumed or an error occurs.
func (r *Reader) Each(field string, fn func(r *Reader)) bool {
	return r.Vector(field, func(sub *Reader) {
		for sub.OK() && !sub.Empty() {
			before := sub.off
			fn(sub)
			if sub.OK() && sub.off == before {
				// An element that consumes nothing would loop forever.
				sub.Invalid(field, "empty element")
			}
		}
	})
}

// Optional reads optional<T>: a presence byte 0 or 1, then the value via fn
// if present. It reports whether the value was present.
func (r *Reader) Optional(field string, fn func(r *Reader)) (present bool) {
	if !r.Bool(field, &present) || !present {
		return false
	}
	fn(r)
	return r.OK()
}

// Read decodes a nested value.
func (r *Reader) Read(v Unmarshaler) bool {
	if r.OK() {
		v.UnmarshalMLS(r)
	}
	return r.OK()
}
