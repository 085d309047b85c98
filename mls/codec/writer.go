package codec

import "fmt"

// Marshaler is a value with an MLS wire encoding.
type Marshaler interface {
	MarshalMLS(w *Writer)
}

// Unmarshaler is a value that decodes itself from an MLS wire encoding.
type Unmarshaler interface {
	UnmarshalMLS(r *Reader)
}

// Marshal encodes v.
func Marshal(v Marshaler) ([]byte, error) {
	var w Writer
	v.MarshalMLS(&w)
	return w.Bytes()
}

// Writer builds an encoding. The first error sticks; later writes are
// ignored. The zero Writer is ready to use.
type Writer struct {
	buf []byte
	err error
}

// NewWriter returns a Writer that appends to buf.
func NewWriter(buf []byte) *Writer { return &Writer{buf: buf} }

// Bytes returns the encoding or the first error.
func (w *Writer) Bytes() ([]byte, error) {
	if w.err != nil {
		return nil, w.err
	}
	return w.buf, nil
}

// Err returns the first error, if any.
func (w *Writer) Err() error { return w.err }

// Len is the number of bytes written so far.
func (w *Writer) Len() int { return len(w.buf) }

// SetError records err (if no error is recorded yet) so that Bytes fails.
// Marshal functions use it for values they cannot encode.
func (w *Writer) SetError(err error) {
	if w.err == nil && err != nil {
		w.err = &EncodeError{Err: err}
	}
}

func (w *Writer) Uint8(v uint8) {
	if w.err == nil {
		w.buf = append(w.buf, v)
	}
}

func (w *Writer) Uint16(v uint16) {
	if w.err == nil {
		w.buf = append(w.buf, byte(v>>8), byte(v))
	}
}

func (w *Writer) Uint32(v uint32) {
	if w.err == nil {
		w.buf = append(w.buf, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

func (w *Writer) Uint64(v uint64) {
	if w.err == nil {
		w.buf = append(w.buf, byte(v>>56), byte(v>>48), byte(v>>40), byte(v>>32),
			byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
	}
}

// Bool writes a boolean as one byte, 0 or 1.
func (w *Writer) Bool(v bool) {
	if v {
		w.Uint8(1)
	} else {
		w.Uint8(0)
	}
}

// Varint writes an MLS variable-length integer.
func (w *Writer) Varint(v uint32) {
	if w.err != nil {
		return
	}
	var err error
	w.buf, err = AppendVarint(w.buf, v)
	w.SetError(err)
}

// Raw writes b as is, with no length prefix (fixed-size fields).
func (w *Writer) Raw(b []byte) {
	if w.err == nil {
		w.buf = append(w.buf, b...)
	}
}

// Opaque writes opaque<V>: a varint length, then b.
func (w *Writer) Opaque(b []byte) {
	if w.err != nil {
		return
	}
	if len(b) > MaxVarint {
		w.SetError(fmt.Errorf("opaque of %d bytes: %w", len(b), ErrVarintTooLarge))
		return
	}
	w.Varint(uint32(len(b)))
	w.Raw(b)
}

// String writes a string as opaque<V>.
func (w *Writer) String(s string) {
	if w.err != nil {
		return
	}
	if len(s) > MaxVarint {
		w.SetError(fmt.Errorf("opaque of %d bytes: %w", len(s), ErrVarintTooLarge))
		return
	}
	w.Varint(uint32(len(s)))
	w.buf = append(w.buf, s...)
}

// Vector writes a vector<V> whose body fn writes. The body is written in
// place and the length prefix moved in front of it afterwards, so no
// temporary buffer is needed.
func (w *Writer) Vector(fn func(w *Writer)) {
	if w.err != nil {
		return
	}
	start := len(w.buf)
	// Reserve the largest prefix, then close the gap if a shorter one fits.
	w.buf = append(w.buf, 0, 0, 0, 0)
	fn(w)
	if w.err != nil {
		return
	}
	n := len(w.buf) - start - 4
	if n > MaxVarint {
		w.SetError(fmt.Errorf("vector of %d bytes: %w", n, ErrVarintTooLarge))
		return
	}
	size := VarintSize(n)
	prefix, _ := AppendVarint(make([]byte, 0, 4), uint32(n))
	if size < 4 {
		copy(w.buf[start+size:], w.buf[start+4:])
		w.buf = w.buf[:len(w.buf)-(4-size)]
	}
	copy(w.buf[start:], prefix)
}

// Optional writes optional<T>: a presence byte, then the value if present.
func (w *Writer) Optional(present bool, fn func(w *Writer)) {
	w.Bool(present)
	if present {
		fn(w)
	}
}

// Write writes a nested value.
func (w *Writer) Write(v Marshaler) {
	if w.err == nil {
		v.MarshalMLS(w)
	}
}
