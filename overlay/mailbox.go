package overlay

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Welcome delivery. An inviter hands the Welcome straight to the invitee
// when it can reach it. Otherwise it keeps the Welcome in its own mailbox
// and deposits copies at a few connected peers; whoever holds mail for a
// peer hands it over when that peer connects (and the invitee may ask with
// CollectWelcomes). A holder deletes an item once the invitee answered for
// it, whether the invitee's handler accepted it or not; it keeps the item
// if the hand-over failed in transit. Several holders may deliver the same
// Welcome, so the invitee drops repeats by hash.
//
// Wire (TLS presentation language), one request frame:
//
//	enum { deliver(1), deposit(2), collect(3) } MailOp;
//	struct {
//	    MailOp op;
//	    select (op) {
//	        case deliver: opaque welcome<V>;                     // for you
//	        case deposit: opaque recipient<V>; opaque welcome<V>; // keep it
//	        case collect: struct {};                             // my mail
//	    };
//	} MailRequest;
//
// deliver and deposit are answered with a status byte (and an error text);
// collect with a status byte and opaque welcomes<V><V>, after which the
// collector sends one more frame, a single zero byte, to say it has them,
// and only then are they deleted.

const (
	mailOpDeliver = 1
	mailOpDeposit = 2
	mailOpCollect = 3
)

// depositReplicas is how many peers an undeliverable Welcome is deposited
// at, besides the inviter's own mailbox.
const depositReplicas = 3

// seenWelcomes bounds the invitee's memory of handled Welcomes.
const seenWelcomes = 1024

type mailRequest struct {
	Op        uint8
	Recipient []byte
	Welcome   []byte
}

func (q *mailRequest) MarshalMLS(w *codec.Writer) {
	w.Uint8(q.Op)
	switch q.Op {
	case mailOpDeliver:
		w.Opaque(q.Welcome)
	case mailOpDeposit:
		w.Opaque(q.Recipient)
		w.Opaque(q.Welcome)
	case mailOpCollect:
	default:
		w.SetError(fmt.Errorf("overlay: mail op %d", q.Op))
	}
}

func (q *mailRequest) UnmarshalMLS(r *codec.Reader) {
	if !r.Uint8("op", &q.Op) {
		return
	}
	switch q.Op {
	case mailOpDeliver:
		r.Opaque("welcome", &q.Welcome)
	case mailOpDeposit:
		r.Opaque("recipient", &q.Recipient)
		r.Opaque("welcome", &q.Welcome)
	case mailOpCollect:
	default:
		r.Invalid("op", "unknown op %d", q.Op)
	}
}

func decodeMailRequest(b []byte) (*mailRequest, error) {
	var q mailRequest
	if err := codec.Unmarshal(b, &q); err != nil {
		return nil, malformed("mail request", err)
	}
	return &q, nil
}

// checkWelcome checks that raw is an MLSMessage carrying a Welcome.
func checkWelcome(raw []byte, max int) error {
	if len(raw) > max {
		return fmt.Errorf("%w: Welcome of %d bytes, limit %d", ErrTooLarge, len(raw), max)
	}
	m, err := wire.ParseMLSMessage(raw)
	if err != nil {
		return malformed("Welcome", err)
	}
	if m.WireFormat != wire.WireFormatWelcome || m.Welcome == nil {
		return malformed(fmt.Sprintf("Welcome: wire format %v", m.WireFormat), nil)
	}
	return nil
}

type mailItem struct {
	hash [32]byte
	raw  []byte
	from peer.ID // the depositor
}

type mailbox struct {
	o *Overlay

	mu       sync.Mutex
	boxes    map[peer.ID][]mailItem
	bytes    int
	perFrom  map[peer.ID]int // items held per depositor
	flushing map[peer.ID]bool

	seenMu    sync.Mutex
	seen      map[[32]byte]struct{}
	seenOrder [][32]byte
}

func newMailbox(o *Overlay) *mailbox {
	return &mailbox{
		o:        o,
		boxes:    map[peer.ID][]mailItem{},
		perFrom:  map[peer.ID]int{},
		flushing: map[peer.ID]bool{},
		seen:     map[[32]byte]struct{}{},
	}
}

// store keeps raw for recipient, deposited by from, refusing it when a
// bound is reached (returns ErrRefused): a full mailbox must not push out
// mail already held. The per-depositor bound keeps one peer (peer ids are
// free, but each needs a connection and passes the rate limit) from taking
// all the room.
func (m *mailbox) store(recipient, from peer.ID, raw []byte) error {
	l := m.o.cfg.Limits
	m.mu.Lock()
	defer m.mu.Unlock()
	h := sha256.Sum256(raw)
	box := m.boxes[recipient]
	for _, it := range box {
		if it.hash == h {
			return nil
		}
	}
	switch {
	case box == nil && len(m.boxes) >= l.MailRecipients:
		return fmt.Errorf("%w: too many mailboxes", ErrRefused)
	case len(box) >= l.MailPerRecipient:
		return fmt.Errorf("%w: mailbox of %s full", ErrRefused, recipient)
	case m.bytes+len(raw) > l.MailBytes:
		return fmt.Errorf("%w: mail storage full", ErrRefused)
	case m.perFrom[from] >= l.MailPerDepositor:
		return fmt.Errorf("%w: %s has %d Welcomes here already", ErrRefused, from, m.perFrom[from])
	}
	m.boxes[recipient] = append(box, mailItem{hash: h, raw: append([]byte(nil), raw...), from: from})
	m.bytes += len(raw)
	m.perFrom[from]++
	return nil
}

func (m *mailbox) has(p peer.ID) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.boxes[p]) > 0
}

func (m *mailbox) snapshot(p peer.ID) []mailItem {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]mailItem(nil), m.boxes[p]...)
}

func (m *mailbox) remove(p peer.ID, h [32]byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	box := m.boxes[p]
	for i, it := range box {
		if it.hash == h {
			m.bytes -= len(it.raw)
			if m.perFrom[it.from]--; m.perFrom[it.from] <= 0 {
				delete(m.perFrom, it.from)
			}
			box = append(box[:i:i], box[i+1:]...)
			break
		}
	}
	if len(box) == 0 {
		delete(m.boxes, p)
	} else {
		m.boxes[p] = box
	}
}

// pending reports how many Welcomes this node holds for p.
func (m *mailbox) pending(p peer.ID) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.boxes[p])
}

// flush hands p its mail, one deliver stream per item.
func (m *mailbox) flush(p peer.ID) {
	m.mu.Lock()
	if m.flushing[p] {
		m.mu.Unlock()
		return
	}
	m.flushing[p] = true
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.flushing, p)
		m.mu.Unlock()
	}()
	for _, it := range m.snapshot(p) {
		err := m.o.deliver(m.o.ctx, p, it.raw)
		var re *RemoteError
		if err != nil && !errors.As(err, &re) {
			m.o.log.Debug("overlay: mail hand-over failed", "peer", p, "err", err)
			return // keep it; try again on the next connection
		}
		m.remove(p, it.hash)
	}
}

// receive runs the WelcomeHandler once per distinct Welcome; fresh says
// whether this one was new.
func (m *mailbox) receive(from peer.ID, raw []byte) (fresh bool, err error) {
	h := sha256.Sum256(raw)
	m.seenMu.Lock()
	_, dup := m.seen[h]
	m.seenMu.Unlock()
	if dup {
		return false, nil
	}
	if m.o.cfg.WelcomeHandler == nil {
		return false, fmt.Errorf("%w: no Welcome handler", ErrRefused)
	}
	err = m.o.cfg.WelcomeHandler(from, raw)
	m.seenMu.Lock()
	if _, dup := m.seen[h]; !dup {
		fresh = true
		m.seen[h] = struct{}{}
		m.seenOrder = append(m.seenOrder, h)
		if len(m.seenOrder) > seenWelcomes {
			delete(m.seen, m.seenOrder[0])
			m.seenOrder = m.seenOrder[1:]
		}
	}
	m.seenMu.Unlock()
	return fresh, err
}

func (m *mailbox) maxRequest() int { return m.o.cfg.Limits.MaxWelcomeSize + 128 }

func (m *mailbox) handle(s network.Stream, r *bufio.Reader) error {
	b, err := readFrame(r, m.maxRequest())
	if err != nil {
		return err
	}
	q, err := decodeMailRequest(b)
	if err != nil {
		return err
	}
	from := s.Conn().RemotePeer()
	switch q.Op {
	case mailOpDeliver:
		if err := checkWelcome(q.Welcome, m.o.cfg.Limits.MaxWelcomeSize); err != nil {
			return err
		}
		if _, err := m.receive(from, q.Welcome); err != nil {
			return writeFrame(s, errorResponse(err))
		}
		return writeFrame(s, []byte{statusOK})
	case mailOpDeposit:
		if err := checkWelcome(q.Welcome, m.o.cfg.Limits.MaxWelcomeSize); err != nil {
			return err
		}
		recipient, err := peer.IDFromBytes(q.Recipient)
		if err != nil {
			return malformed("mail deposit: recipient", err)
		}
		if recipient == m.o.host.ID() {
			if _, err := m.receive(from, q.Welcome); err != nil {
				return writeFrame(s, errorResponse(err))
			}
			return writeFrame(s, []byte{statusOK})
		}
		if err := m.store(recipient, from, q.Welcome); err != nil {
			return writeFrame(s, errorResponse(err))
		}
		if m.o.host.Network().Connectedness(recipient) == network.Connected {
			m.o.goTracked(func() { m.flush(recipient) })
		}
		return writeFrame(s, []byte{statusOK})
	case mailOpCollect:
		items := m.snapshot(from)
		w := codec.NewWriter(nil)
		w.Uint8(statusOK)
		w.Vector(func(w *codec.Writer) {
			for _, it := range items {
				w.Opaque(it.raw)
			}
		})
		out, err := w.Bytes()
		if err != nil {
			return err
		}
		if err := writeFrame(s, out); err != nil {
			return err
		}
		ack, err := readFrame(r, 1)
		if err != nil {
			return err
		}
		if len(ack) != 1 || ack[0] != 0 {
			return malformed("mail collect: ack", nil)
		}
		for _, it := range items {
			m.remove(from, it.hash)
		}
		return nil
	}
	return malformed("mail request: op", nil)
}

// deliver sends one Welcome straight to p.
func (o *Overlay) deliver(ctx context.Context, p peer.ID, raw []byte) error {
	req, err := codec.Marshal(&mailRequest{Op: mailOpDeliver, Welcome: raw})
	if err != nil {
		return err
	}
	resp, err := o.request(ctx, p, MailboxProtocol, req, maxErrorText+1)
	if err != nil {
		return err
	}
	_, err = decodeStatus(resp)
	return err
}

// WelcomeResult says how SendWelcome got a Welcome on its way.
type WelcomeResult struct {
	// Delivered: the invitee's handler accepted it.
	Delivered bool
	// DepositedAt lists the peers that keep it for the invitee (this node
	// keeps a copy too whenever Delivered is false).
	DepositedAt []peer.ID
}

// SendWelcome gets a Welcome (an encoded MLSMessage) to the invitee: straight
// to it if it is connected, else into mailboxes, as the comment at the top
// of mailbox.go describes. An error from the invitee's handler comes back
// as a *RemoteError. ErrUndeliverable means even this node's own mailbox
// refused it (full).
func (o *Overlay) SendWelcome(ctx context.Context, to peer.ID, welcome []byte) (WelcomeResult, error) {
	if err := checkWelcome(welcome, o.cfg.Limits.MaxWelcomeSize); err != nil {
		return WelcomeResult{}, err
	}
	if o.host.Network().Connectedness(to) == network.Connected {
		err := o.deliver(ctx, to, welcome)
		if err == nil {
			return WelcomeResult{Delivered: true}, nil
		}
		var re *RemoteError
		if errors.As(err, &re) {
			return WelcomeResult{}, err
		}
		o.log.Debug("overlay: direct Welcome delivery failed", "peer", to, "err", err)
	}
	var res WelcomeResult
	ownErr := o.mail.store(to, o.host.ID(), welcome)
	toBytes, err := to.MarshalBinary()
	if err != nil {
		return WelcomeResult{}, fmt.Errorf("%w: recipient id: %w", ErrBadConfig, err)
	}
	req, err := codec.Marshal(&mailRequest{Op: mailOpDeposit, Recipient: toBytes, Welcome: welcome})
	if err != nil {
		return WelcomeResult{}, err
	}
	for _, p := range o.Peers() {
		if len(res.DepositedAt) == depositReplicas {
			break
		}
		if p == to {
			continue
		}
		resp, err := o.request(ctx, p, MailboxProtocol, req, maxErrorText+1)
		if err == nil {
			_, err = decodeStatus(resp)
		}
		if err != nil {
			o.log.Debug("overlay: Welcome deposit failed", "peer", p, "err", err)
			continue
		}
		res.DepositedAt = append(res.DepositedAt, p)
	}
	if ownErr != nil && len(res.DepositedAt) == 0 {
		return res, fmt.Errorf("%w: %w", ErrUndeliverable, ownErr)
	}
	return res, nil
}

// CollectWelcomes asks every connected peer for Welcomes it keeps for this
// node and runs the WelcomeHandler on each new one. It returns how many new
// Welcomes were handled. Holders also push mail on connection, so this is
// for a node that wants its mail now.
func (o *Overlay) CollectWelcomes(ctx context.Context) (int, error) {
	total := 0
	var errs []error
	for _, p := range o.Peers() {
		n, err := o.collectFrom(ctx, p)
		total += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

func (o *Overlay) collectFrom(ctx context.Context, p peer.ID) (int, error) {
	req, err := codec.Marshal(&mailRequest{Op: mailOpCollect})
	if err != nil {
		return 0, err
	}
	s, err := o.openStream(ctx, p, MailboxProtocol)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := writeFrame(s, req); err != nil {
		_ = s.Reset()
		return 0, err
	}
	r := bufio.NewReader(s)
	max := o.cfg.Limits.MailPerRecipient*(o.cfg.Limits.MaxWelcomeSize+4) + 16
	resp, err := readFrame(r, max)
	if err != nil {
		_ = s.Reset()
		return 0, fmt.Errorf("overlay: collect from %s: %w", p, err)
	}
	body, err := decodeStatus(resp)
	if err != nil {
		_ = s.Reset()
		return 0, err
	}
	var items [][]byte
	cr := codec.NewReader(body)
	cr.Each("welcomes", func(r *codec.Reader) {
		var w []byte
		if r.Opaque("welcome", &w) {
			items = append(items, w)
		}
	})
	if err := cr.Finish("mail collect response"); err != nil {
		_ = s.Reset()
		o.pen.charge(p, penaltyMalformed)
		return 0, malformed("mail collect response", err)
	}
	n := 0
	for _, raw := range items {
		if err := checkWelcome(raw, o.cfg.Limits.MaxWelcomeSize); err != nil {
			o.pen.charge(p, penaltyMalformed)
			continue
		}
		fresh, err := o.mail.receive(p, raw)
		if err != nil {
			o.log.Debug("overlay: collected Welcome refused by handler", "from", p, "err", err)
		}
		if fresh {
			n++
		}
	}
	// Everything was handled (or refused for good): tell the holder.
	if err := writeFrame(s, []byte{0}); err != nil {
		return n, err
	}
	_ = s.CloseWrite()
	return n, nil
}

// PendingWelcomes reports how many Welcomes this node keeps for p.
func (o *Overlay) PendingWelcomes(p peer.ID) int { return o.mail.pending(p) }
