package fork_test

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/fork/forktest"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// TestQuietBeaconChangesNothing: a beacon with nothing new (same head,
// same count, no nacks) is dropped without verifying its signature, so it
// must change nothing: a forged one with a huge sequence number must not
// make the sender's next genuine beacon look replayed, and a forged one
// carrying news is still verified and refused.
func TestQuietBeaconChangesNothing(t *testing.T) {
	n := newNet(t)
	a := n.Node("a").Member
	first, bc := decodedBeaconOf(t, n, "b")
	key := n.SigningKey("b")
	signed := func(seq, sent uint64) consensus.Envelope {
		x := bc
		x.Seq, x.Sent = seq, sent
		if err := fork.SignBeacon(key, &x); err != nil {
			t.Fatal(err)
		}
		return envelope(t, consensus.KindBeacon, consensus.EpochRef{Epoch: x.Epoch, ID: x.EpochID}, &x)
	}
	forged := func(seq, sent uint64) consensus.Envelope {
		x := bc
		x.Seq, x.Sent = seq, sent
		x.Signature = make([]byte, len(bc.Signature))
		return envelope(t, consensus.KindBeacon, consensus.EpochRef{Epoch: x.Epoch, ID: x.EpochID}, &x)
	}
	for _, env := range []consensus.Envelope{first, signed(bc.Seq+1, bc.Sent)} {
		if err := a.Step("b", &env); err != nil {
			t.Fatal(err)
		}
	}
	a.Advance(a.Ready())
	before := a.Stats()
	quiet := forged(bc.Seq+1000, bc.Sent)
	if err := a.Step("b", &quiet); err != nil {
		t.Fatalf("quiet forged beacon: %v, want it dropped", err)
	}
	unchanged(t, a, before)
	next := signed(bc.Seq+2, bc.Sent+1) // news: verified and recorded
	if err := a.Step("b", &next); err != nil {
		t.Fatalf("genuine beacon after a forged quiet one: %v (the forged one moved the sequence)", err)
	}
	a.Advance(a.Ready())
	news := forged(bc.Seq+3, bc.Sent+2)
	if err := a.Step("b", &news); !errors.Is(err, fork.ErrBadBeacon) {
		t.Fatalf("forged beacon with news: %v, want ErrBadBeacon", err)
	}
}

// TestNacksNoOneHereCanAnswerAreQuiet: nacks of messages this member
// neither wrote nor holds for relaying give it nothing to do, so an
// otherwise quiet beacon carrying them is dropped unverified (at a
// thousand members, verifying every beacon with nacks was a third of the
// work). A nack of one of its own messages is news: verified, and a
// forged one refused.
func TestNacksNoOneHereCanAnswerAreQuiet(t *testing.T) {
	n := newNet(t)
	a := n.Node("a").Member
	first, bc := decodedBeaconOf(t, n, "b")
	key := n.SigningKey("b")
	signed := bc
	signed.Seq++
	if err := fork.SignBeacon(key, &signed); err != nil {
		t.Fatal(err)
	}
	for _, env := range []consensus.Envelope{first, envelope(t, consensus.KindBeacon, consensus.EpochRef{Epoch: bc.Epoch, ID: bc.EpochID}, &signed)} {
		if err := a.Step("b", &env); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := a.Send([]byte("from a")); err != nil {
		t.Fatal(err)
	}
	a.Advance(a.Ready())
	forged := func(seq uint64, nacks ...fork.Nack) consensus.Envelope {
		x := bc
		x.Seq, x.Nacks = seq, nacks
		x.Signature = make([]byte, len(bc.Signature))
		return envelope(t, consensus.KindBeacon, consensus.EpochRef{Epoch: x.Epoch, ID: x.EpochID}, &x)
	}
	var stranger fork.Identity
	stranger[0] = 0x5a
	before := a.Stats()
	quiet := forged(bc.Seq+1000, fork.Nack{Author: stranger, Seq: 0}, fork.Nack{Author: stranger, Seq: 1})
	if err := a.Step("b", &quiet); err != nil {
		t.Fatalf("forged beacon with nacks only others could answer: %v, want it dropped", err)
	}
	unchanged(t, a, before)
	var own []fork.Nack
	for seq := range uint64(4) {
		own = append(own, fork.Nack{Author: a.Identity(), Seq: seq})
	}
	news := forged(bc.Seq+1001, own...)
	if err := a.Step("b", &news); !errors.Is(err, fork.ErrBadBeacon) {
		t.Fatalf("forged beacon nacking a's own message: %v, want ErrBadBeacon", err)
	}
}

// decodedBeaconOf is beaconOf with its decoded body.
func decodedBeaconOf(t *testing.T, n *forktest.Network, from string) (consensus.Envelope, fork.Beacon) {
	t.Helper()
	env := beaconOf(t, n, from)
	var b fork.Beacon
	if err := codec.Unmarshal(env.Body, &b); err != nil {
		t.Fatal(err)
	}
	return env, b
}
