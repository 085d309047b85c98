package overlay

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// gossipFrameVersion is the first byte of every group-topic message. The
// topic name carries the version too (TopicPrefix ends in /1/), so a new
// layout goes on new topics and a frame of another version on a version-1
// topic is garbage: Reject. (Answering Ignore would let garbage that
// happens not to start with 1 escape scoring.)
const gossipFrameVersion = 1

// maxGroupIDLen bounds a group id: MLS allows group ids of any length, but
// the overlay names a topic after it, and an id longer than this is not one
// the node makes.
const maxGroupIDLen = 255

// gossipFrame is what the overlay publishes on a group's topic, in the TLS
// presentation language of RFC 9420 §2.1:
//
//	struct {
//	    uint8 version = 1;
//	    opaque group_id<V>;
//	    opaque payload<V>;     // a consensus Envelope, opaque here
//	} GossipFrame;
//
// The group id repeats the topic's group so that a message copied from one
// topic to another is rejected before the caller's validator sees it.
type gossipFrame struct {
	Group   []byte
	Payload []byte
}

func (f *gossipFrame) MarshalMLS(w *codec.Writer) {
	w.Uint8(gossipFrameVersion)
	w.Opaque(f.Group)
	w.Opaque(f.Payload)
}

func encodeGossipFrame(group, payload []byte) ([]byte, error) {
	w := codec.NewWriter(make([]byte, 0, len(group)+len(payload)+9))
	(&gossipFrame{Group: group, Payload: payload}).MarshalMLS(w)
	return w.Bytes()
}

// decodeGossipFrame parses a group-topic message without copying: Group
// and Payload are slices of b (gossipsub never changes a message's bytes
// after it arrives). It runs at every hop for every message, hence by hand
// rather than through codec.Reader, which copies opaque fields. Errors wrap
// ErrMalformed; decoding is canonical (minimal varints, no trailing bytes).
func decodeGossipFrame(b []byte) (*gossipFrame, error) {
	if len(b) == 0 {
		return nil, malformed("gossip frame: empty", nil)
	}
	if b[0] != gossipFrameVersion {
		return nil, malformed(fmt.Sprintf("gossip frame: version %d on a version-%d topic", b[0], gossipFrameVersion), nil)
	}
	group, rest, err := cutOpaque(b[1:], "group_id")
	if err != nil {
		return nil, err
	}
	payload, rest, err := cutOpaque(rest, "payload")
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, malformed(fmt.Sprintf("gossip frame: %d trailing bytes", len(rest)), nil)
	}
	if len(group) == 0 || len(group) > maxGroupIDLen {
		return nil, malformed(fmt.Sprintf("gossip frame: group id of %d bytes", len(group)), nil)
	}
	if len(payload) == 0 {
		return nil, malformed("gossip frame: empty payload", nil)
	}
	return &gossipFrame{Group: group, Payload: payload}, nil
}

// cutOpaque splits an opaque<V> off the front of b.
func cutOpaque(b []byte, field string) (value, rest []byte, err error) {
	n, size, err := codec.ParseVarint(b)
	if err != nil {
		return nil, nil, malformed("gossip frame: "+field+" length", err)
	}
	b = b[size:]
	if uint64(n) > uint64(len(b)) {
		return nil, nil, malformed("gossip frame: "+field+" truncated", nil)
	}
	return b[:n:n], b[n:], nil
}

// Stream protocols (sync, KeyPackage directory, mailbox) exchange frames:
// an unsigned LEB128 length followed by that many bytes. The reader refuses
// a length over its limit before reading the body, so a peer cannot make us
// allocate more than the limit.

// writeFrame writes one length-prefixed frame.
func writeFrame(w io.Writer, b []byte) error {
	var hdr [binary.MaxVarintLen64]byte
	n := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := w.Write(hdr[:n]); err != nil {
		return err
	}
	_, err := w.Write(b)
	return err
}

// readFrame reads one frame of at most max bytes. A longer announced length
// gives ErrTooLarge; a bad length or a body cut short gives ErrMalformed;
// a failure of the stream itself (reset, deadline) is returned as it is, so
// that callers charge peers only for what they sent.
func readFrame(r *bufio.Reader, max int) ([]byte, error) {
	var n uint64
	for i := 0; ; i++ {
		c, err := r.ReadByte()
		if err != nil {
			return nil, streamErr("frame length", err)
		}
		// Ten bytes carry 64 bits; a longer or overflowing varint is garbage.
		if i == binary.MaxVarintLen64 || (i == binary.MaxVarintLen64-1 && c > 1) {
			return nil, malformed("frame length overflows", nil)
		}
		if c == 0 && i > 0 {
			// A trailing zero group: a longer encoding of a shorter number.
			return nil, malformed("frame length not minimal", nil)
		}
		n |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			break
		}
	}
	if n > uint64(max) {
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, n, max)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, streamErr("frame body", err)
	}
	return b, nil
}

// streamErr classifies a read error: the peer ending the stream early is
// malformed input, anything else is the stream failing.
func streamErr(what string, err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return malformed(what+": truncated", io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("overlay: read %s: %w", what, err)
}
