package fork_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// requestOpts shape a hand-made join request.
type requestOpts struct {
	cred   string            // identity of the KeyPackage
	key    *suite.SigningKey // key of the KeyPackage and the signature
	signer *suite.SigningKey // signs the framed content (default key)
	onto   consensus.EpochRef
	header *consensus.EpochRef // envelope header (default onto)
	tamper func(*wire.FramedContent)
	seed   byte
	ctx    *wire.GroupContext // for a member sender's signature
}

func seeded(seed byte) *rand.ChaCha8 {
	var s [32]byte
	s[0] = seed
	s[1] = 0x5e
	return rand.NewChaCha8(s)
}

// makeJoinRequest builds a join request as a rejoiner would: its own Add
// as a new-member proposal, the join note as authenticated data.
func makeJoinRequest(t testing.TB, o requestOpts) consensus.Envelope {
	t.Helper()
	cs, _ := suite.Lookup(suite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	kp, err := mls.NewKeyPackage(seeded(o.seed), cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(o.cred)},
		o.key, mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	content := &wire.FramedContent{GroupID: []byte("forktest"), Epoch: o.onto.Epoch,
		Sender: wire.Sender{SenderType: wire.SenderTypeNewMemberProposal}, ContentType: wire.ContentTypeProposal,
		AuthenticatedData: fork.MarshalJoinNote(o.onto, nil, 0), Proposal: mls.NewAdd(kp.KeyPackage)}
	if o.tamper != nil {
		o.tamper(content)
	}
	signer := o.signer
	if signer == nil {
		signer = o.key
	}
	ac, err := framing.Sign(signer, wire.WireFormatPublicMessage, content, o.ctx)
	if err != nil {
		t.Fatal(err)
	}
	body, err := codec.Marshal(wire.NewMLSMessage(&wire.PublicMessage{Content: ac.Content, Auth: ac.Auth}))
	if err != nil {
		t.Fatal(err)
	}
	h := o.onto
	if o.header != nil {
		h = *o.header
	}
	return consensus.Envelope{Kind: consensus.KindJoinRequest, GroupID: []byte("forktest"), Epoch: h.Epoch, EpochID: h.ID, Body: body}
}

func newKey(t testing.TB, seed byte) *suite.SigningKey {
	t.Helper()
	cs, _ := suite.Lookup(suite.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	priv, _, err := cs.GenerateSignatureKey(seeded(seed + 128))
	if err != nil {
		t.Fatal(err)
	}
	key, err := cs.NewSigningKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestJoinRequestBadInput: forged, malformed, stale, foreign and removed
// members' join requests are refused with typed errors and change
// nothing; a genuine one is held once; the held requests never exceed
// MaxJoinRequests, whatever arrives.
func TestJoinRequestBadInput(t *testing.T) {
	n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2, MaxJoinRequests: 2}, "a", "b", "c", "d", "e")
	if err != nil {
		t.Fatal(err)
	}
	// e is removed; the others' heads move on.
	if err := n.Remove("a", "e"); err != nil {
		t.Fatal(err)
	}
	n.Deliver(1 << 20)
	a := n.Node("a").Member
	a.Advance(a.Ready())
	head := a.Core().HeadRef()
	other := consensus.EpochRef{Epoch: head.Epoch, ID: consensus.EpochID{9, 9}}

	cases := []struct {
		name string
		env  consensus.Envelope
		want []error
	}{
		{"garbage", consensus.Envelope{Kind: consensus.KindJoinRequest, GroupID: []byte("forktest"), Epoch: head.Epoch, EpochID: head.ID, Body: []byte{0, 1, 2}},
			[]error{fork.ErrBadJoinRequest, consensus.ErrMalformed}},
		{"signed by another key", makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), signer: n.SigningKey("c"), onto: head}),
			[]error{fork.ErrBadJoinRequest}},
		{"tampered KeyPackage", makeJoinRequest(t, requestOpts{cred: "b", key: newKey(t, 1), onto: head, tamper: func(c *wire.FramedContent) {
			c.Proposal.Add.KeyPackage.Signature[0] ^= 1
		}}), []error{fork.ErrBadJoinRequest}},
		{"member sender", makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, ctx: a.Core().Head().Context(), tamper: func(c *wire.FramedContent) {
			c.Sender = wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: 1}
		}}), []error{fork.ErrBadJoinRequest}},
		{"not an Add", makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, tamper: func(c *wire.FramedContent) {
			c.Proposal = mls.NewRemove(1)
		}}), []error{fork.ErrBadJoinRequest}},
		{"no note", makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, tamper: func(c *wire.FramedContent) {
			c.AuthenticatedData = nil
		}}), []error{fork.ErrBadJoinRequest}},
		{"header names another epoch", makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, header: &other}),
			[]error{fork.ErrBadJoinRequest}},
		{"epoch not on the chain", makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: other}),
			[]error{fork.ErrStaleJoinRequest}},
		{"stranger", makeJoinRequest(t, requestOpts{cred: "zed", key: newKey(t, 2), onto: head}),
			[]error{fork.ErrUnknownJoiner}},
		{"other group", func() consensus.Envelope {
			e := makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, tamper: func(c *wire.FramedContent) { c.GroupID = []byte("other") }})
			return e
		}(), []error{fork.ErrUnknownGroup}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := a.Stats()
			err := a.Step("x", &tc.env)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("got %v, want %v", err, w)
				}
			}
			unchanged(t, a, before)
		})
	}

	// A removed member's genuine request: refused, reported, not held.
	t.Run("removed member", func(t *testing.T) {
		env := makeJoinRequest(t, requestOpts{cred: "e", key: n.SigningKey("e"), onto: head})
		if err := a.Step("e", &env); !errors.Is(err, fork.ErrRemovedMember) {
			t.Fatalf("got %v, want ErrRemovedMember", err)
		}
		rd := a.Ready()
		if len(rd.Fork) != 1 || rd.Fork[0].Kind != fork.EventRefusedRejoin || len(rd.Messages) != 0 {
			t.Fatalf("want one refused-rejoin event and nothing sent, got %+v", rd)
		}
		a.Advance(rd)
		if got := a.Stats().JoinRequests; got != 0 {
			t.Fatalf("%d requests held", got)
		}
	})

	// Genuine requests: held once each, duplicates refused, bounded.
	b1 := makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, seed: 1})
	if err := a.Step("b", &b1); err != nil {
		t.Fatalf("genuine request: %v", err)
	}
	for i, env := range []consensus.Envelope{b1, makeJoinRequest(t, requestOpts{cred: "b", key: n.SigningKey("b"), onto: head, seed: 2})} {
		if err := a.Step("b", &env); !errors.Is(err, consensus.ErrDuplicate) {
			t.Fatalf("duplicate %d: %v, want ErrDuplicate", i, err)
		}
	}
	c1 := makeJoinRequest(t, requestOpts{cred: "c", key: n.SigningKey("c"), onto: head})
	if err := a.Step("c", &c1); err != nil {
		t.Fatalf("second genuine request: %v", err)
	}
	d1 := makeJoinRequest(t, requestOpts{cred: "d", key: n.SigningKey("d"), onto: head})
	rd := a.Ready()
	if rd.State == nil || len(rd.State.Requests) != 2 {
		t.Fatalf("held requests not persisted: %+v", rd.State)
	}
	a.Advance(rd)
	before := a.Stats()
	if err := a.Step("d", &d1); !errors.Is(err, fork.ErrJoinRequestsFull) {
		t.Fatalf("third request: %v, want ErrJoinRequestsFull", err)
	}
	unchanged(t, a, before)
	// A flood of forged requests from strangers and forged signatures
	// holds nothing more.
	for i := range 200 {
		env := makeJoinRequest(t, requestOpts{cred: fmt.Sprintf("s%d", i), key: newKey(t, byte(i)), onto: head, seed: byte(i)})
		if err := a.Step("x", &env); err == nil {
			t.Fatalf("forged request %d accepted", i)
		}
		forged := makeJoinRequest(t, requestOpts{cred: "d", key: n.SigningKey("d"), signer: newKey(t, byte(i)), onto: head, seed: byte(i)})
		if err := a.Step("x", &forged); !errors.Is(err, fork.ErrBadJoinRequest) {
			t.Fatalf("forged signature %d: %v", i, err)
		}
	}
	if got := a.Stats().JoinRequests; got != 2 {
		t.Fatalf("%d requests held, want 2", got)
	}
}

// FuzzJoinRequest: any body of a join request gives a typed error or is
// held; never a panic, never more than MaxJoinRequests held, and the
// member keeps working (it still batches what it holds).
func FuzzJoinRequest(f *testing.F) {
	n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2}, "a", "b", "c")
	if err != nil {
		f.Fatal(err)
	}
	head := n.Node("a").Member.Core().HeadRef()
	for i, cred := range []string{"b", "c"} {
		key := n.SigningKey(cred)
		f.Add(func() []byte {
			env := makeJoinRequest(f, requestOpts{cred: cred, key: key, onto: head, seed: byte(i)})
			return env.Body
		}())
	}
	f.Add([]byte{0, 1, 0, 3})
	f.Fuzz(func(t *testing.T, body []byte) {
		n, err := forktest.New(forktest.Options{Seed: 3, WindowTicks: 4, BeaconInterval: 2, MaxJoinRequests: 1}, "a", "b", "c")
		if err != nil {
			t.Fatal(err)
		}
		a := n.Node("a").Member
		head := a.Core().HeadRef()
		a.Advance(a.Ready())
		env := consensus.Envelope{Kind: consensus.KindJoinRequest, GroupID: []byte("forktest"), Epoch: head.Epoch, EpochID: head.ID, Body: body}
		if err := a.Step("x", &env); err != nil {
			if !isOneOf(err, []error{fork.ErrBadJoinRequest, fork.ErrStaleJoinRequest, fork.ErrUnknownJoiner, fork.ErrJoinRequestsFull,
				fork.ErrRemovedMember, fork.ErrUnknownGroup, consensus.ErrDuplicate, consensus.ErrMalformed}) {
				t.Fatalf("untyped error: %v", err)
			}
		}
		if got := a.Stats().JoinRequests; got > 1 {
			t.Fatalf("%d requests held, cap 1", got)
		}
		for range 8 {
			a.Tick()
			a.Advance(a.Ready())
		}
		if _, err := a.Send([]byte("still alive")); err != nil {
			t.Fatalf("member broken after a fuzzed join request: %v", err)
		}
	})
}
