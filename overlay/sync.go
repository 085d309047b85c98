package overlay

import (
	"bufio"
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// The sync protocol: the requester sends one frame holding the request and
// closes its side; the responder sends one frame, a status byte followed by
// the response (statusOK) or an error text (statusError). Requests and
// responses are opaque here: the caller's SyncHandler and the fork layer
// give them meaning (missing commits by epoch id, beacons, GroupInfo).
const (
	statusOK       = 0
	statusError    = 1
	statusNotFound = 2
	maxErrorText   = 256
)

// Sync sends a catch-up request to p and returns its answer. An error the
// remote handler returned comes back as a *RemoteError (errors.Is
// ErrRefused); a response over Limits.MaxSyncResponse as ErrTooLarge.
func (o *Overlay) Sync(ctx context.Context, p peer.ID, req []byte) ([]byte, error) {
	if len(req) > o.cfg.Limits.MaxSyncRequest {
		return nil, fmt.Errorf("%w: sync request of %d bytes, limit %d", ErrTooLarge, len(req), o.cfg.Limits.MaxSyncRequest)
	}
	resp, err := o.request(ctx, p, SyncProtocol, req, o.cfg.Limits.MaxSyncResponse+1)
	if err != nil {
		return nil, err
	}
	return decodeStatus(resp)
}

// decodeStatus splits a status-prefixed response.
func decodeStatus(resp []byte) ([]byte, error) {
	if len(resp) == 0 {
		return nil, malformed("response: no status", nil)
	}
	switch resp[0] {
	case statusOK:
		return resp[1:], nil
	case statusError:
		return nil, &RemoteError{Message: sanitize(resp[1:])}
	default:
		return nil, malformed(fmt.Sprintf("response: status %d", resp[0]), nil)
	}
}

// sanitize makes a remote error text safe to log: bounded, printable ASCII.
func sanitize(b []byte) string {
	if len(b) > maxErrorText {
		b = b[:maxErrorText]
	}
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out[i] = c
	}
	return string(out)
}

func errorResponse(err error) []byte {
	msg := err.Error()
	if len(msg) > maxErrorText {
		msg = msg[:maxErrorText]
	}
	return append([]byte{statusError}, msg...)
}

func (o *Overlay) handleSync(s network.Stream, r *bufio.Reader) error {
	req, err := readFrame(r, o.cfg.Limits.MaxSyncRequest)
	if err != nil {
		return err
	}
	if o.cfg.SyncHandler == nil {
		return writeFrame(s, errorResponse(fmt.Errorf("%w: no sync handler", ErrRefused)))
	}
	resp, herr := o.cfg.SyncHandler.HandleSync(s.Conn().RemotePeer(), req)
	if herr != nil {
		return writeFrame(s, errorResponse(herr))
	}
	if len(resp) > o.cfg.Limits.MaxSyncResponse {
		return writeFrame(s, errorResponse(fmt.Errorf("%w: response of %d bytes", ErrTooLarge, len(resp))))
	}
	return writeFrame(s, append([]byte{statusOK}, resp...))
}
