package codec

// MaxVarint is the largest value the MLS variable-length integer carries
// (RFC 9420 §2.1.2): 2^30-1. The 8-byte form of QUIC's varint is reserved.
const MaxVarint = 1<<30 - 1

// AppendVarint appends the shortest encoding of v. It fails for v > MaxVarint.
func AppendVarint(b []byte, v uint32) ([]byte, error) {
	switch {
	case v < 1<<6:
		return append(b, byte(v)), nil
	case v < 1<<14:
		return append(b, 0x40|byte(v>>8), byte(v)), nil
	case v < 1<<30:
		return append(b, 0x80|byte(v>>24), byte(v>>16), byte(v>>8), byte(v)), nil
	default:
		return b, ErrVarintTooLarge
	}
}

// VarintSize is the number of bytes AppendVarint uses for v (v <= MaxVarint).
func VarintSize(v int) int {
	switch {
	case v < 1<<6:
		return 1
	case v < 1<<14:
		return 2
	default:
		return 4
	}
}

// ParseVarint reads one variable-length integer from the start of b and
// returns its value and size. It rejects the reserved 8-byte prefix and
// non-minimal encodings.
func ParseVarint(b []byte) (v uint32, n int, err error) {
	if len(b) == 0 {
		return 0, 0, ErrTruncated
	}
	prefix := b[0] >> 6
	if prefix == 3 {
		return 0, 0, ErrVarintTooLarge
	}
	n = 1 << prefix
	if len(b) < n {
		return 0, 0, ErrTruncated
	}
	v = uint32(b[0] & 0x3f)
	for i := 1; i < n; i++ {
		v = v<<8 | uint32(b[i])
	}
	if n > 1 && VarintSize(int(v)) != n {
		return 0, 0, ErrNonMinimalVarint
	}
	return v, n, nil
}
