package overlay

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func TestKPCacheBounds(t *testing.T) {
	const owner = peer.ID("owner")
	c := newKPCache(3, 2, 1<<20)
	for _, kp := range []string{"a", "b", "b", "c", "d"} {
		c.put(owner, []byte(kp), false)
	}
	// "b" once; "a" pushed out by the per-owner bound of 3.
	if n, lr := c.count(owner); n != 3 || lr {
		t.Fatalf("count %d, last resort %v", n, lr)
	}
	for _, want := range []string{"b", "c", "d"} {
		got, ok := c.take(owner, true)
		if !ok || string(got) != want {
			t.Fatalf("take %q, %v, want %q", got, ok, want)
		}
	}
	if _, ok := c.take(owner, true); ok {
		t.Fatal("took from an empty cache")
	}
	// A used KeyPackage does not come back.
	c.put(owner, []byte("b"), false)
	if n, _ := c.count(owner); n != 0 {
		t.Fatal("a used KeyPackage was cached again")
	}
	// Last resort: handed out again and again, after the fresh ones.
	c.put(owner, []byte("lr"), true)
	c.put(owner, []byte("e"), false)
	if _, ok := c.take(owner, false); !ok {
		t.Fatal("no ordinary KeyPackage")
	}
	if _, ok := c.take(owner, false); ok {
		t.Fatal("last resort handed out when not allowed")
	}
	c.put(owner, []byte("e2"), false)
	for _, want := range []string{"e2", "lr", "lr", "lr"} {
		got, ok := c.take(owner, true)
		if !ok || string(got) != want {
			t.Fatalf("take %q, %v, want %q", got, ok, want)
		}
	}
	// Owner bound: a third owner evicts the one touched longest ago.
	c.put("o2", []byte("x"), false)
	c.put("o3", []byte("y"), false)
	if _, ok := c.take(owner, true); ok {
		t.Fatal("oldest owner not evicted")
	}
	if n, _ := c.count("o2"); n != 1 {
		t.Fatal("newer owner evicted")
	}
}

// The byte bound: many owners (peer ids are free) cannot fill memory; the
// owners updated longest ago go first, and the cache's count of bytes stays
// exact through puts, takes and evictions.
func TestKPCacheByteBound(t *testing.T) {
	c := newKPCache(16, 1024, 1000)
	kp := func(i int) []byte { b := make([]byte, 100); b[0], b[1] = byte(i), byte(i>>8); return b }
	for i := 0; i < 50; i++ {
		c.put(peer.ID(fmt.Sprint("owner", i)), kp(i), false)
	}
	if c.bytes > 1000 || len(c.owners) != 10 {
		t.Fatalf("%d bytes in %d owners, want <= 1000 in 10", c.bytes, len(c.owners))
	}
	if n, _ := c.count("owner49"); n != 1 {
		t.Fatal("newest owner evicted")
	}
	if n, _ := c.count("owner0"); n != 0 {
		t.Fatal("oldest owner kept")
	}
	// One owner over the bound alone keeps its newest.
	for i := 100; i < 120; i++ {
		c.put("big", kp(i), false)
	}
	if n, _ := c.count("big"); n != 10 || c.bytes > 1000 {
		t.Fatalf("big owner holds %d, cache %d bytes", n, c.bytes)
	}
	total := 0
	for _, e := range c.owners {
		total += e.size()
	}
	if total != c.bytes {
		t.Fatalf("byte count %d, actual %d", c.bytes, total)
	}
	if _, ok := c.take("big", false); !ok || c.bytes != total-100 {
		t.Fatal("take did not update the byte count")
	}
	// Too large for the whole cache: not kept.
	c.put("huge", make([]byte, 1001), false)
	if n, _ := c.count("huge"); n != 0 {
		t.Fatal("oversized KeyPackage kept")
	}
}

func TestParseKeyPackage(t *testing.T) {
	kp := testKeyPackage(t, "alice", false)
	if _, lr, err := parseKeyPackage(kp, 1<<16); err != nil || lr {
		t.Fatalf("%v, last resort %v", err, lr)
	}
	lrkp := testKeyPackage(t, "alice", true)
	if _, lr, err := parseKeyPackage(lrkp, 1<<16); err != nil || !lr {
		t.Fatalf("%v, last resort %v", err, lr)
	}
	if _, _, err := parseKeyPackage(kp, 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("size: %v", err)
	}
	if _, _, err := parseKeyPackage(kp[:len(kp)-1], 1<<16); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated: %v", err)
	}
	if _, _, err := parseKeyPackage(testWelcome(t, 1), 1<<16); !errors.Is(err, ErrMalformed) {
		t.Fatalf("a Welcome as KeyPackage: %v", err)
	}
}

// The offline invite: the owner places KeyPackages at peers and goes away;
// an inviter fetches them from the peers, each ordinary one once, the
// last-resort one as often as needed.
func TestKeyPackageDirectoryOffline(t *testing.T) {
	var checked int
	check := func(owner peer.ID, kp *wire.KeyPackage, raw []byte) error {
		checked++
		if string(kp.LeafNode.Credential.Identity) != "bob" {
			return errors.New("credential is not bob's")
		}
		return nil
	}
	owner := newNode(t, "tcp", Config{KeyPackageCheck: check})
	p1 := newNode(t, "tcp", Config{KeyPackageCheck: check})
	p2 := newNode(t, "tcp", Config{KeyPackageCheck: check})
	connect(t, owner, p1)
	connect(t, owner, p2)

	fresh := map[string]bool{}
	var kps [][]byte
	for i := 0; i < 4; i++ {
		kp := testKeyPackage(t, "bob", false)
		fresh[string(kp)] = true
		kps = append(kps, kp)
	}
	lr := testKeyPackage(t, "bob", true)
	kps = append(kps, lr)
	res, err := owner.PublishKeyPackages(context.Background(), kps)
	if err != nil {
		t.Fatal(err)
	}
	if res.Placed[p1.ID()] != 2 || res.Placed[p2.ID()] != 2 || res.Kept != 0 || len(res.LastResortAt) != 2 {
		t.Fatalf("placement %+v", res)
	}
	if n, hasLR := p1.CachedKeyPackages(owner.ID()); n != 2 || !hasLR {
		t.Fatalf("p1 holds %d, last resort %v", n, hasLR)
	}
	// A KeyPackage of someone else is refused by the caller's check.
	if _, err := owner.PublishKeyPackages(context.Background(), [][]byte{testKeyPackage(t, "mallory", false)}); !errors.Is(err, ErrRefused) {
		t.Fatalf("foreign KeyPackage: %v", err)
	}

	ownerID := owner.ID()
	owner.Close()
	inviter := newNode(t, "tcp", Config{KeyPackageCheck: check})
	connect(t, inviter, p1)
	connect(t, inviter, p2)
	got := map[string]int{}
	for i := 0; i < 7; i++ {
		kp, err := inviter.FetchKeyPackage(context.Background(), ownerID)
		if err != nil {
			t.Fatalf("fetch %d: %v", i, err)
		}
		got[string(kp)]++
	}
	for kp := range fresh {
		if got[kp] != 1 {
			t.Fatalf("an ordinary KeyPackage was handed out %d times", got[kp])
		}
	}
	if got[string(lr)] != 3 {
		t.Fatalf("last resort handed out %d times, want 3", got[string(lr)])
	}
	if n, _ := p1.CachedKeyPackages(ownerID); n != 0 {
		t.Fatalf("p1 still holds %d used KeyPackages", n)
	}
	// Nobody has any for an unknown owner.
	if _, err := inviter.FetchKeyPackage(context.Background(), p1.ID()); !errors.Is(err, ErrNoKeyPackage) {
		t.Fatalf("unknown owner: %v", err)
	}
}

// With no peer online, the owner keeps its KeyPackages and serves them
// itself.
func TestKeyPackageServedByOwner(t *testing.T) {
	owner := newNode(t, "tcp", Config{})
	kp := testKeyPackage(t, "carol", false)
	res, err := owner.PublishKeyPackages(context.Background(), [][]byte{kp})
	if err != nil || res.Kept != 1 {
		t.Fatalf("%+v, %v", res, err)
	}
	inviter := newNode(t, "tcp", Config{})
	connect(t, inviter, owner)
	got, err := inviter.FetchKeyPackage(context.Background(), owner.ID())
	if err != nil || string(got) != string(kp) {
		t.Fatalf("fetch from owner: %v", err)
	}
	if _, err := inviter.FetchKeyPackage(context.Background(), owner.ID()); !errors.Is(err, ErrNoKeyPackage) {
		t.Fatalf("second fetch of a used KeyPackage: %v", err)
	}
}

// Garbage and forged puts on the KeyPackage protocol: refused, charged,
// nothing cached.
func TestKeyPackageBadInput(t *testing.T) {
	srv := newNode(t, "tcp", Config{})
	bad := newNode(t, "tcp", Config{})
	connect(t, bad, srv)
	send := func(req []byte) error {
		_, err := bad.request(context.Background(), srv.ID(), KeyPackageProtocol, req, 1<<16)
		return err
	}
	put, _ := codec.Marshal(&kpRequest{Op: kpOpPut, KeyPackages: [][]byte{[]byte("not a key package")}})
	for i, req := range [][]byte{{9}, {kpOpGet, 0x05, 1}, put, {kpOpPut, 0x40, 0x10}} {
		if err := send(req); err == nil {
			t.Fatalf("garbage %d answered", i)
		}
	}
	if n, _ := srv.CachedKeyPackages(bad.ID()); n != 0 {
		t.Fatal("garbage cached")
	}
	if s := srv.pen.appScore(bad.ID()); s >= 0 {
		t.Fatalf("penalty %v", s)
	}
	// Too many in one put.
	var many [][]byte
	kp := testKeyPackage(t, "x", false)
	for i := 0; i < srv.cfg.Limits.KeyPackagesPerOwner+2; i++ {
		many = append(many, kp)
	}
	req, _ := codec.Marshal(&kpRequest{Op: kpOpPut, KeyPackages: many})
	if err := send(req); err == nil {
		t.Fatal("oversized put answered")
	}
	if n, _ := srv.CachedKeyPackages(bad.ID()); n != 0 {
		t.Fatal("oversized put cached")
	}
	// The node still serves honest requests.
	if _, err := bad.PublishKeyPackages(context.Background(), [][]byte{testKeyPackage(t, "x", false)}); err != nil {
		t.Fatal(err)
	}
	if n, _ := srv.CachedKeyPackages(bad.ID()); n != 1 {
		t.Fatalf("honest put: %d cached", n)
	}
}
