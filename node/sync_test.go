package node

import (
	"context"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/overlay"
)

// Bad input from peers on the sync protocol and the gossip validator gets
// a typed refusal and changes nothing.
func TestPeerInputRefused(t *testing.T) {
	ctx := context.Background()
	n, err := New(ctx, WithMemoryStore(), WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	gid, err := n.CreateGroup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := hex.DecodeString(gid)
	before := n.Status()
	_, stranger, _ := newIdentity(t)

	if _, err := n.handleSync(stranger, []byte{0xde, 0xad}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("garbage: %v", err)
	}
	other, _ := (&consensus.Envelope{Kind: consensus.KindBeacon, GroupID: []byte("no such group")}).MarshalBinary()
	if _, err := n.handleSync(stranger, other); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("unknown group: %v", err)
	}
	hr, _ := codec.Marshal(&historyRequest{GroupID: raw})
	if _, err := n.handleSync(stranger, hr); !errors.Is(err, ErrNotMember) {
		t.Fatalf("history for a non-member: %v", err)
	}
	if _, err := n.handleSync(stranger, []byte{historyRequestTag, 0}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("malformed history request: %v", err)
	}
	// A member of the group gets the (empty) history.
	resp, err := n.handleSync(n.ID(), hr)
	if err != nil {
		t.Fatalf("member's history request: %v", err)
	}
	var h historyResponse
	if err := codec.Unmarshal(resp, &h); err != nil {
		t.Fatal(err)
	}

	forGroup, _ := (&consensus.Envelope{Kind: consensus.KindApplication, GroupID: raw}).MarshalBinary()
	for name, c := range map[string]struct {
		group []byte
		data  []byte
		want  overlay.ValidationResult
	}{
		"garbage":        {raw, []byte("garbage"), overlay.Reject},
		"wrong topic":    {[]byte("another topic"), forGroup, overlay.Reject},
		"unknown group":  {[]byte("no such group"), other, overlay.Ignore},
		"a member group": {raw, forGroup, overlay.Accept},
	} {
		if got := n.validate(peer.ID(stranger), c.group, c.data); got != c.want {
			t.Errorf("%s: %v, want %v", name, got, c.want)
		}
	}
	after := n.Status()
	if len(after.Groups) != 1 || after.Groups[0].EpochID != before.Groups[0].EpochID {
		t.Fatalf("peer input changed the node: %+v -> %+v", before.Groups, after.Groups)
	}
}
