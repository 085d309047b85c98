package overlay

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// The KeyPackage directory lets a member be invited while it is offline.
//
// The owner places its KeyPackages at peers (PublishKeyPackages): each
// ordinary KeyPackage goes to ONE peer, round robin over the connected
// peers, so that no two caches hand out the same KeyPackage (RFC 9420
// §16.8: a KeyPackage is used once); a last-resort KeyPackage goes to every
// peer, which may hand it out again and again. KeyPackages no peer took
// stay with the owner, which serves them itself while online. An inviter
// asks its own cache, then the owner, then the other connected peers
// (FetchKeyPackage) for an ordinary KeyPackage, and only when none has one
// asks again for the last-resort one; a peer that returns an ordinary
// KeyPackage deletes it.
//
// Whether a KeyPackage is last-resort is read from the KeyPackage itself
// (its last_resort extension), so a cache cannot be told otherwise. Only the
// owner may place KeyPackages under its own peer id: the owner is the peer
// at the other end of the authenticated stream.
//
// Wire (TLS presentation language, RFC 9420 §2.1), one frame each way:
//
//	enum { put(1), get(2) } KPOp;
//	struct {
//	    KPOp op;
//	    select (op) {
//	        case put: opaque key_packages<V><V>;  // MLSMessages
//	        case get: opaque owner<V>;            // peer id bytes
//	                  bool allow_last_resort;
//	    };
//	} KPRequest;
//
// The response is a status byte, then for put a uint32 (how many were
// kept), for get the KeyPackage's MLSMessage bytes.

const (
	kpOpPut = 1
	kpOpGet = 2
)

type kpRequest struct {
	Op              uint8
	KeyPackages     [][]byte
	Owner           []byte
	AllowLastResort bool
}

func (q *kpRequest) MarshalMLS(w *codec.Writer) {
	w.Uint8(q.Op)
	switch q.Op {
	case kpOpPut:
		w.Vector(func(w *codec.Writer) {
			for _, kp := range q.KeyPackages {
				w.Opaque(kp)
			}
		})
	case kpOpGet:
		w.Opaque(q.Owner)
		w.Bool(q.AllowLastResort)
	default:
		w.SetError(fmt.Errorf("overlay: kp op %d", q.Op))
	}
}

func (q *kpRequest) UnmarshalMLS(r *codec.Reader) {
	if !r.Uint8("op", &q.Op) {
		return
	}
	switch q.Op {
	case kpOpPut:
		r.Each("key_packages", func(r *codec.Reader) {
			var kp []byte
			if r.Opaque("key_package", &kp) {
				q.KeyPackages = append(q.KeyPackages, kp)
			}
		})
	case kpOpGet:
		r.Opaque("owner", &q.Owner)
		r.Bool("allow_last_resort", &q.AllowLastResort)
	default:
		r.Invalid("op", "unknown op %d", q.Op)
	}
}

func decodeKPRequest(b []byte) (*kpRequest, error) {
	var q kpRequest
	if err := codec.Unmarshal(b, &q); err != nil {
		return nil, malformed("kp request", err)
	}
	return &q, nil
}

// parseKeyPackage checks that raw is an MLSMessage carrying a KeyPackage
// and reports whether it is last-resort.
func parseKeyPackage(raw []byte, max int) (*wire.KeyPackage, bool, error) {
	if len(raw) > max {
		return nil, false, fmt.Errorf("%w: KeyPackage of %d bytes, limit %d", ErrTooLarge, len(raw), max)
	}
	m, err := wire.ParseMLSMessage(raw)
	if err != nil {
		return nil, false, malformed("KeyPackage", err)
	}
	if m.WireFormat != wire.WireFormatKeyPackage || m.KeyPackage == nil {
		return nil, false, malformed(fmt.Sprintf("KeyPackage: wire format %v", m.WireFormat), nil)
	}
	return m.KeyPackage, mls.IsLastResort(m.KeyPackage), nil
}

// kpCache holds KeyPackages per owner, bounded per owner, in owners and in
// bytes: peer ids cost nothing to make, so without the byte bound a peer
// could fill memory with its own KeyPackages under many ids.
type kpCache struct {
	mu       sync.Mutex
	perOwner int
	maxOwner int
	maxBytes int
	bytes    int
	clock    uint64
	owners   map[peer.ID]*kpOwner
}

type kpOwner struct {
	fresh      [][]byte // used once, oldest first
	lastResort []byte
	// seen remembers the hashes of the owner's recent KeyPackages, used
	// ones included, so that re-placing a used one does not bring it back;
	// bounded (seenOrder) since an owner may place new ones for ever.
	seen      map[[32]byte]struct{}
	seenOrder [][32]byte
	touched   uint64
}

func (e *kpOwner) size() int {
	n := len(e.lastResort)
	for _, kp := range e.fresh {
		n += len(kp)
	}
	return n
}

func newKPCache(perOwner, owners, maxBytes int) *kpCache {
	return &kpCache{perOwner: perOwner, maxOwner: owners, maxBytes: maxBytes, owners: map[peer.ID]*kpOwner{}}
}

// put keeps raw for owner. A repeated KeyPackage is kept once; over the
// per-owner bound the oldest ordinary KeyPackage goes; over the owner or
// byte bound the owners not updated for longest go.
func (c *kpCache) put(owner peer.ID, raw []byte, lastResort bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(raw) > c.maxBytes {
		return
	}
	c.clock++
	e := c.owners[owner]
	if e == nil {
		if len(c.owners) >= c.maxOwner {
			c.evictLocked(owner)
		}
		e = &kpOwner{seen: map[[32]byte]struct{}{}}
		c.owners[owner] = e
	}
	e.touched = c.clock
	h := sha256.Sum256(raw)
	if _, dup := e.seen[h]; dup {
		return
	}
	e.seen[h] = struct{}{}
	e.seenOrder = append(e.seenOrder, h)
	if len(e.seenOrder) > 4*c.perOwner+1 {
		delete(e.seen, e.seenOrder[0])
		e.seenOrder = e.seenOrder[1:]
	}
	raw = append([]byte(nil), raw...)
	before := e.size()
	if lastResort {
		e.lastResort = raw
	} else {
		e.fresh = append(e.fresh, raw)
		if len(e.fresh) > c.perOwner {
			e.fresh = e.fresh[1:]
		}
	}
	c.bytes += e.size() - before
	for c.bytes > c.maxBytes && len(c.owners) > 1 {
		c.evictLocked(owner)
	}
	for c.bytes > c.maxBytes && len(e.fresh) > 0 {
		// One owner alone over the bound: drop its oldest.
		c.bytes -= len(e.fresh[0])
		e.fresh = e.fresh[1:]
	}
}

// evictLocked drops the owner updated longest ago, other than keep.
func (c *kpCache) evictLocked(keep peer.ID) {
	var oldest peer.ID
	var at uint64
	found := false
	for p, e := range c.owners {
		if p != keep && (!found || e.touched < at) {
			oldest, at, found = p, e.touched, true
		}
	}
	if found {
		c.bytes -= c.owners[oldest].size()
		delete(c.owners, oldest)
	}
}

// take returns a KeyPackage of owner: the oldest ordinary one, which is
// removed, or else, if allowed, the last-resort one, which stays.
func (c *kpCache) take(owner peer.ID, allowLastResort bool) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.owners[owner]
	if e == nil {
		return nil, false
	}
	if len(e.fresh) > 0 {
		kp := e.fresh[0]
		e.fresh = e.fresh[1:]
		c.bytes -= len(kp)
		// The hash stays in seen: a used KeyPackage must not come back.
		return kp, true
	}
	if allowLastResort && e.lastResort != nil {
		return e.lastResort, true
	}
	return nil, false
}

// count reports how many ordinary KeyPackages of owner are held and
// whether a last-resort one is.
func (c *kpCache) count(owner peer.ID) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.owners[owner]
	if e == nil {
		return 0, false
	}
	return len(e.fresh), e.lastResort != nil
}

// kpDirectory is the protocol around the cache.
type kpDirectory struct {
	o     *Overlay
	cache *kpCache
}

func newKPDirectory(o *Overlay) *kpDirectory {
	return &kpDirectory{o: o, cache: newKPCache(o.cfg.Limits.KeyPackagesPerOwner, o.cfg.Limits.KeyPackageOwners, o.cfg.Limits.KeyPackageBytes)}
}

// check runs the structural check and the caller's check.
func (d *kpDirectory) check(owner peer.ID, raw []byte) (bool, error) {
	kp, lastResort, err := parseKeyPackage(raw, d.o.cfg.Limits.MaxKeyPackageSize)
	if err != nil {
		return false, err
	}
	if d.o.cfg.KeyPackageCheck != nil {
		if err := d.o.cfg.KeyPackageCheck(owner, kp, raw); err != nil {
			return false, fmt.Errorf("%w: KeyPackage check: %w", ErrRefused, err)
		}
	}
	return lastResort, nil
}

func (d *kpDirectory) maxRequest() int {
	l := d.o.cfg.Limits
	return (l.KeyPackagesPerOwner+1)*(l.MaxKeyPackageSize+4) + 16
}

func (d *kpDirectory) handle(s network.Stream, r *bufio.Reader) error {
	b, err := readFrame(r, d.maxRequest())
	if err != nil {
		return err
	}
	q, err := decodeKPRequest(b)
	if err != nil {
		return err
	}
	from := s.Conn().RemotePeer()
	switch q.Op {
	case kpOpPut:
		if len(q.KeyPackages) > d.o.cfg.Limits.KeyPackagesPerOwner+1 {
			return fmt.Errorf("%w: %d KeyPackages in one put", ErrTooLarge, len(q.KeyPackages))
		}
		type checked struct {
			raw        []byte
			lastResort bool
		}
		var ok []checked
		for _, raw := range q.KeyPackages {
			lr, err := d.check(from, raw)
			if err != nil {
				if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
					return err // charged to the peer by serve
				}
				return writeFrame(s, errorResponse(err))
			}
			ok = append(ok, checked{raw, lr})
		}
		for _, c := range ok {
			d.cache.put(from, c.raw, c.lastResort)
		}
		w := codec.NewWriter(nil)
		w.Uint8(statusOK)
		w.Uint32(uint32(len(ok)))
		out, err := w.Bytes()
		if err != nil {
			return err
		}
		return writeFrame(s, out)
	case kpOpGet:
		owner, err := peer.IDFromBytes(q.Owner)
		if err != nil {
			return malformed("kp get: owner", err)
		}
		kp, found := d.cache.take(owner, q.AllowLastResort)
		if !found {
			return writeFrame(s, []byte{statusNotFound})
		}
		w := codec.NewWriter(nil)
		w.Uint8(statusOK)
		w.Opaque(kp)
		out, err := w.Bytes()
		if err != nil {
			return err
		}
		return writeFrame(s, out)
	}
	return malformed("kp request: op", nil)
}

// PublishResult says where PublishKeyPackages put the KeyPackages.
type PublishResult struct {
	// Placed counts the ordinary KeyPackages each peer took.
	Placed map[peer.ID]int
	// Kept counts the ordinary KeyPackages no peer took; this node serves
	// them itself while online.
	Kept int
	// LastResortAt lists the peers that took the last-resort KeyPackage.
	LastResortAt []peer.ID
}

// PublishKeyPackages places this node's KeyPackages (encoded MLSMessages)
// at its connected peers, as the directory's comment describes. Every
// KeyPackage must pass the checks first; one that does not fails the call
// and nothing is placed.
func (o *Overlay) PublishKeyPackages(ctx context.Context, kps [][]byte) (PublishResult, error) {
	d := o.kp
	self := o.host.ID()
	var fresh, last [][]byte
	for i, raw := range kps {
		lr, err := d.check(self, raw)
		if err != nil {
			return PublishResult{}, fmt.Errorf("overlay: KeyPackage %d: %w", i, err)
		}
		if lr {
			last = append(last, raw)
		} else {
			fresh = append(fresh, raw)
		}
	}
	res := PublishResult{Placed: map[peer.ID]int{}}
	peers := o.Peers()
	// Round robin: the i-th fresh KeyPackage goes to the i-th peer (mod n).
	// One put per peer, so batch them first.
	batches := make(map[peer.ID][][]byte)
	if len(peers) > 0 {
		for i, raw := range fresh {
			p := peers[i%len(peers)]
			batches[p] = append(batches[p], raw)
		}
	}
	var unplaced [][]byte
	if len(peers) == 0 {
		unplaced = fresh
	}
	for _, p := range peers {
		batch := append(append([][]byte(nil), batches[p]...), last...)
		if len(batch) == 0 {
			continue
		}
		n, err := o.putKeyPackages(ctx, p, batch)
		if err != nil || n != len(batch) {
			o.log.Debug("overlay: KeyPackage put failed", "peer", p, "err", err)
			unplaced = append(unplaced, batches[p]...)
			continue
		}
		res.Placed[p] = len(batches[p])
		if len(last) > 0 {
			res.LastResortAt = append(res.LastResortAt, p)
		}
	}
	for _, raw := range unplaced {
		d.cache.put(self, raw, false)
	}
	for _, raw := range last {
		d.cache.put(self, raw, true)
	}
	res.Kept = len(unplaced)
	return res, nil
}

func (o *Overlay) putKeyPackages(ctx context.Context, p peer.ID, batch [][]byte) (int, error) {
	req, err := codec.Marshal(&kpRequest{Op: kpOpPut, KeyPackages: batch})
	if err != nil {
		return 0, err
	}
	resp, err := o.request(ctx, p, KeyPackageProtocol, req, 64)
	if err != nil {
		return 0, err
	}
	body, err := decodeStatus(resp)
	if err != nil {
		return 0, err
	}
	var n uint32
	r := codec.NewReader(body)
	r.Uint32("kept", &n)
	if err := r.Finish("kp put response"); err != nil {
		return 0, malformed("kp put response", err)
	}
	return int(n), nil
}

// FetchKeyPackage finds a KeyPackage of owner to invite it with: from this
// node's own cache, then from the owner if connected, then from the other
// connected peers in random order. An ordinary KeyPackage is removed where
// it was found. The result passed the structural check and KeyPackageCheck;
// a peer that returns one that does not is charged and skipped.
func (o *Overlay) FetchKeyPackage(ctx context.Context, owner peer.ID) ([]byte, error) {
	var order []peer.ID
	others := o.Peers()
	rand.Shuffle(len(others), func(i, j int) { others[i], others[j] = others[j], others[i] })
	if o.host.Network().Connectedness(owner) == network.Connected {
		order = append(order, owner)
	}
	for _, p := range others {
		if p != owner {
			order = append(order, p)
		}
	}
	// First round: ordinary KeyPackages only, so that the last-resort one
	// is used only when no ordinary one is left anywhere we can ask.
	var errs []error
	for _, allowLastResort := range []bool{false, true} {
		raw, err := o.fetchRound(ctx, owner, order, allowLastResort)
		if err == nil {
			return raw, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w for %s (%w)", ErrNoKeyPackage, owner, err)
	}
	return nil, fmt.Errorf("%w for %s", ErrNoKeyPackage, owner)
}

// fetchRound asks this node's cache and then each peer of order in turn.
// Its error wraps ErrNoKeyPackage when nobody had one.
func (o *Overlay) fetchRound(ctx context.Context, owner peer.ID, order []peer.ID, allowLastResort bool) ([]byte, error) {
	d := o.kp
	if raw, ok := d.cache.take(owner, allowLastResort); ok {
		if _, err := d.check(owner, raw); err == nil {
			return raw, nil
		}
	}
	ownerBytes, err := owner.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("%w: owner id: %w", ErrBadConfig, err)
	}
	req, err := codec.Marshal(&kpRequest{Op: kpOpGet, Owner: ownerBytes, AllowLastResort: allowLastResort})
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, p := range order {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		resp, err := o.request(ctx, p, KeyPackageProtocol, req, d.o.cfg.Limits.MaxKeyPackageSize+16)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(resp) == 1 && resp[0] == statusNotFound {
			continue
		}
		body, err := decodeStatus(resp)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var raw []byte
		r := codec.NewReader(body)
		r.Opaque("key_package", &raw)
		if err := r.Finish("kp get response"); err != nil {
			o.pen.charge(p, penaltyMalformed)
			errs = append(errs, malformed("kp get response", err))
			continue
		}
		lastResort, err := d.check(owner, raw)
		if err != nil {
			if errors.Is(err, ErrMalformed) || errors.Is(err, ErrTooLarge) {
				o.pen.charge(p, penaltyMalformed)
			}
			errs = append(errs, err)
			continue
		}
		if lastResort && !allowLastResort {
			// The peer ignored the flag; it costs nothing, use it.
			o.log.Debug("overlay: peer returned a last-resort KeyPackage unasked", "peer", p)
		}
		return raw, nil
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%w: none found (last resort allowed: %v)", ErrNoKeyPackage, allowLastResort)
	}
	return nil, errors.Join(errs...)
}

// CachedKeyPackages reports how many ordinary KeyPackages of owner this
// node holds and whether it holds a last-resort one.
func (o *Overlay) CachedKeyPackages(owner peer.ID) (int, bool) { return o.kp.cache.count(owner) }
