package fork

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

// Relays: a message whose author cannot answer a nack (removed from the
// group before the nack came, or silent) is sent to the member that lacks
// it by a member that delivered it, as the original application envelope,
// byte for byte. Nothing in the copy rests on the relay: it is the
// author's PrivateMessage, encrypted under the epoch's keys and signed by
// the author's leaf (the FramedContent signature inside), and the receiver
// opens and verifies it exactly as the broadcast copy, with the keys of
// the epoch it was sealed in. So only a member holding that epoch's keys
// reads it, and a relay can neither forge nor alter it, nor show it to a
// member who joined later. What a relay cannot do is give a message to a
// member that never held the epoch (it was on another branch, or cut off
// beyond the retention window and rejoined by external commit) once the
// author is out of the group: see docs/ordering.md, "Delivery guarantee".

// Bounds of the relay log: the last maxRelayed delivered messages of other
// members, at most maxRelayBytes of envelope bodies.
const (
	maxRelayed    = 1024
	maxRelayBytes = 4 << 20
	// maxRelayNacks bounds the nacks of others remembered (when first
	// seen) for the relay schedule; forgetting one restarts its schedule.
	maxRelayNacks = 4096
)

// relayKey names a message by its author and the author's number for it
// (the fork frame's msg_seq, the number nacks use).
type relayKey struct {
	author Identity
	seq    uint64
}

// relayLog keeps the envelopes of recently delivered messages of others.
// With each envelope it keeps the message's signed content, when the core
// gave it, for members that can no longer open the envelope
// (relaycontent.go).
type relayLog struct {
	order  []relayKey
	envs   map[relayKey]consensus.Envelope
	signed map[relayKey]*signedCopy
	bytes  int
}

func (l *relayLog) add(k relayKey, env consensus.Envelope, sc *signedCopy) {
	if l.envs == nil {
		l.envs = map[relayKey]consensus.Envelope{}
		l.signed = map[relayKey]*signedCopy{}
	}
	size := len(env.Body)
	if sc != nil {
		size += sc.size()
	}
	if _, ok := l.envs[k]; ok || size > maxRelayBytes {
		return
	}
	env.Body = slices.Clone(env.Body)
	env.GroupID = slices.Clone(env.GroupID)
	l.envs[k] = env
	if sc != nil {
		l.signed[k] = sc
	}
	l.order = append(l.order, k)
	l.bytes += size
	for len(l.order) > maxRelayed || l.bytes > maxRelayBytes {
		old := l.order[0]
		l.order = l.order[1:]
		l.bytes -= len(l.envs[old].Body)
		if sc := l.signed[old]; sc != nil {
			l.bytes -= sc.size()
		}
		delete(l.envs, old)
		delete(l.signed, old)
	}
}

// nackKey names one member's nack of one message.
type nackKey struct {
	relayKey
	by Identity
}

// relayFor answers a nack of another author's message n, in a verified
// beacon of the member nacker (head at, opening epochs from opensFrom
// on): if this member holds the
// message's envelope, it sends it point to point to the beacon's peer,
// when its turn in the relay schedule has come.
//
// The schedule keeps the copies few. The author answers its own nacks; a
// relay steps in at once when the author is out of our head's roster, and
// otherwise once the nack has stood for a beacon interval (the author had
// its chance). Members that hold the message rank themselves by a hash of
// (nacker, author, number, own identity), which every member computes
// alike; the first two of the head's roster in that order relay first, the
// first four an interval later, and so on, so that a message held by few
// still finds a relay. Each relay sends a given message to a given member
// at most once per beacon interval.
func (m *Member) relayFor(n Nack, nacker Identity, at EpochRef, opensFrom uint64, roster []Identity) {
	k := relayKey{author: n.Author, seq: n.Seq}
	env, ok := m.relays.envs[k]
	if !ok || m.beaconFrom == "" || nacker == n.Author {
		return
	}
	e := EpochRef{Epoch: env.Epoch, ID: env.EpochID}
	// An entry from a point-to-point re-send has no original envelope,
	// only the author's signed content (sealedproof.go).
	hasOriginal := len(env.Body) > 0
	original := hasOriginal && m.mayOpen(e, at, opensFrom, nacker)
	sc := m.relays.signed[k]
	// Without an original, whether the nacker still opens e does not
	// matter: there is nothing else to give it.
	if !original && !m.mayRelayContent(sc, e, at, opensFrom, !hasOriginal, nacker) {
		return
	}
	nk := nackKey{relayKey: k, by: nacker}
	first, seen := m.relayNacks[nk]
	if !seen {
		if len(m.relayNacks) >= maxRelayNacks {
			clear(m.relayNacks)
		}
		first = m.tick
		m.relayNacks[nk] = first
	}
	waited := m.tick - first
	if slices.Contains(roster, n.Author) {
		// The author is here and answers its own nacks first.
		if waited < m.cfg.BeaconInterval {
			return
		}
		waited -= m.cfg.BeaconInterval
	}
	rounds := min(waited/m.cfg.BeaconInterval, 16)
	if m.relayRank(k, nacker, roster) >= 2<<rounds {
		return
	}
	dk := directKey{id: relayID(k), to: nacker}
	if at, ok := m.directAt[dk]; ok && m.tick-at < m.cfg.BeaconInterval {
		return
	}
	if len(m.directAt) >= maxDirectAt {
		clear(m.directAt)
	}
	m.directAt[dk] = m.tick
	if !original {
		m.sendRelayedContent(sc, e, nacker)
		return
	}
	m.out.Direct = append(m.out.Direct, Directed{To: m.beaconFrom, Envelope: env})
}

// mayOpen reports whether member nacker, whose head is at (on our chain,
// at or behind our head) and who says it still opens messages of epochs
// from opensFrom on (its beacon, consensus.Core.OpensFrom), can open a
// message sealed in epoch e: it is in e's tree, e is on our chain at or
// before at, and not before opensFrom.
//
// A copy it cannot open is not sent: it would be undecryptable there,
// and an envelope naming an epoch the receiver does not know makes it
// fetch from the relay, which in a heal only adds load (simulator,
// 32-member 8 s split-brain seed 1: relaying every held message left 6
// forks). The nacker's own word is needed because what it can open
// depends on its history, not ours: a member that merged many epochs at
// once (back from offline) holds their states while their races are open
// there, though they are final here; judged by our view (at most
// mls.DefaultPastEpochs behind its head, or the race open here) it was
// never relayed the messages of an author removed meanwhile (simulator
// churn seed 7).
func (m *Member) mayOpen(e, at EpochRef, opensFrom uint64, nacker Identity) bool {
	if at.Epoch < e.Epoch || e.Epoch < opensFrom || !m.inHistory(e.ID) {
		return false
	}
	// Only a member of e holds its keys (and a newcomer must not be
	// sent it anyway): known while e's tree is retained here.
	tree := m.core.TreeOf(e.ID)
	if tree == nil {
		return false
	}
	_, member := m.findIdentity(tree, nacker)
	return member
}

// relayRank is this member's place among roster (the author and the
// nacker left out) in the relay order of message k nacked by nacker.
func (m *Member) relayRank(k relayKey, nacker Identity, roster []Identity) uint64 {
	score := func(id Identity) [32]byte {
		h := sha256.New()
		h.Write([]byte("mlsnode relay order"))
		h.Write(nacker[:])
		h.Write(k.author[:])
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], k.seq)
		h.Write(n[:])
		h.Write(id[:])
		var out [32]byte
		h.Sum(out[:0])
		return out
	}
	own := score(m.self)
	rank := uint64(0)
	for _, id := range roster {
		if id == m.self || id == nacker || id == k.author {
			continue
		}
		if s := score(id); string(s[:]) < string(own[:]) {
			rank++
		}
	}
	return rank
}

// relayID is a rate-limit key for a relayed message (not a message id: the
// relay does not open the frame's nonce again).
func relayID(k relayKey) consensus.MessageID {
	var id consensus.MessageID
	h := sha256.New()
	h.Write([]byte("mlsnode relay"))
	h.Write(k.author[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], k.seq)
	h.Write(n[:])
	copy(id[:], h.Sum(nil))
	return id
}

// noteRelayable keeps the envelope of a delivered message of another
// member, under its author and number, for relaying.
func (m *Member) noteRelayable(d consensus.Delivered, seq uint64) {
	if d.Envelope.Kind != consensus.KindApplication || len(d.Envelope.Body) == 0 {
		return
	}
	tree := m.core.TreeOf(d.EpochID)
	if tree == nil {
		return
	}
	leaf := tree.Leaf(treemath.LeafIndex(d.Sender))
	if leaf == nil {
		return
	}
	author := m.leafIdentity(leaf)
	if author == m.self {
		return
	}
	m.relays.add(relayKey{author: author, seq: seq}, d.Envelope, m.signedCopyOf(d))
}
