package fork

import (
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
)

// Gap recovery: gossip may lose an application message on a live link in
// an epoch both ends reach, and nothing about heads shows it. Each member
// numbers the messages it sends (a frame inside the application data) and
// announces the count in its beacons; a receiver that sees a number it
// never received, from a count announced a whole beacon interval earlier,
// names it in its own next beacon (a nack); the author re-sends it, under
// its id, within the re-send rules (mayResend).

// gapWindow is how far back, in sequence numbers, a receiver looks for
// gaps per author, and maxTrackedAuthors how many authors it tracks.
const (
	gapWindow         = 64
	maxTrackedAuthors = 4096
)

// appFrame is what fork puts in consensus application data:
//
//	struct { opaque magic[2] = "mF"; uint64 msg_seq; opaque data<V>; } AppFrame;
type appFrame struct {
	Seq  uint64
	Data []byte
}

var frameMagic = []byte("mF")

func (f *appFrame) MarshalMLS(w *codec.Writer) {
	w.Raw(frameMagic)
	w.Uint64(f.Seq)
	w.Opaque(f.Data)
}

func (f *appFrame) UnmarshalMLS(r *codec.Reader) {
	var magic []byte
	if r.Raw("AppFrame.magic", len(frameMagic), &magic) && string(magic) != string(frameMagic) {
		r.Invalid("AppFrame.magic", "not a fork frame")
		return
	}
	r.Uint64("AppFrame.msg_seq", &f.Seq)
	r.Opaque("AppFrame.data", &f.Data)
}

// authorRecord is what a receiver knows of one author's messages.
type authorRecord struct {
	// base: numbers below it were sent before we could expect them.
	base uint64
	// announced is the author's count in its latest beacon, previous the
	// one before: gaps are looked for below previous only, so a message
	// has a whole beacon interval to arrive before it is nacked.
	announced, previous uint64
	have                map[uint64]bool // received numbers >= base, within the window
	// sure: numbers below it (and >= base) may predate us, since the
	// record began at first news of an author that was a member before
	// us; each is asked for during maxNackTries beacon intervals only
	// (tries), as the author answers only what we are owed.
	sure  uint64
	tries map[uint64]uint64 // tick of the first nack
	// goneAt is when the author was first seen out of our head's
	// roster (0 while in it).
	goneAt uint64
	// heardAt is the newest epoch number in which we last had news of
	// the author (a beacon count or a message); probe is set when it
	// left our roster two or more epochs after that: we were away (cut
	// off, offline) and may not know its last numbers at all.
	heardAt uint64
	probe   bool
}

// probeAhead is how many numbers past the last it knows of a gone author
// a member that was away asks for (see authorRecord.probe): a member that
// delivered them relays them (relay.go); nobody answers numbers that were
// never sent.
const probeAhead = 4

// probePage is where, past the last number known, a probe asks in the
// beacon interval since ticks after the author left (or the last heal):
// at the last number known every other interval, and in the next three
// pages of probeAhead numbers in turn between. The numbers right past the
// last known are the likeliest, but they may be messages sent before we
// joined, which nobody sends us: a member added late whose count of a
// gone author was stale asked for those four forever and never for the
// message it was owed (flapping seed 18).
func probePage(since, interval uint64) uint64 {
	k := since / max(interval, 1)
	if k%2 == 0 {
		return 0
	}
	return probeAhead * (1 + (k/2)%3)
}

// probeIntervals is how many beacon intervals a member that was not away
// probes for a gone author's numbers (one relay round each).
const probeIntervals = 4

// firstNewsLookback is how many numbers below an author's count at first
// news a receiver asks for; maxNackTries for how many beacon intervals.
// A receiver cannot tell the messages an older member sent before it
// joined from those sent after while a partition or a dead branch hid the
// author; the author answers only what the receiver is owed (mayResend,
// answerDirect), so asking is safe and bounded.
const (
	firstNewsLookback = MaxNacks
	maxNackTries      = 6
)

// newRecord starts a record at first news of an author whose count is n.
func newRecord(n uint64) *authorRecord {
	return &authorRecord{base: n - min(n, firstNewsLookback), sure: n, have: map[uint64]bool{}, tries: map[uint64]uint64{}}
}

// noteReceived records a delivered message of author with number seq.
func (m *Member) noteReceived(author Identity, seq uint64, epoch uint64) {
	rec := m.authors[author]
	if rec == nil {
		if len(m.authors) >= maxTrackedAuthors {
			return
		}
		rec = newRecord(seq)
		m.authors[author] = rec
	}
	rec.heardAt = max(rec.heardAt, epoch)
	rec.have[seq] = true
	rec.base = min(rec.base, seq)
	m.trimRecord(rec)
}

// noteJoined starts, for every member epoch ev brought in while we were in
// the group, a record from its first message: all it sends is owed to us.
// (Without it, the first news of the author, a beacon that may come long
// after its first messages when a partition hid it, would set the record's
// base to its count then, and its earlier messages would never be nacked.)
func (m *Member) noteJoined(ev consensus.Event) {
	for _, id := range m.joinedIn(ev) {
		if id == m.self || m.authors[id] != nil || len(m.authors) >= maxTrackedAuthors {
			continue
		}
		m.authors[id] = newRecord(0)
	}
}

// joinedIn lists the identities epoch ev brought in: added by an Add, or an
// external committer the parent epoch did not list (a returning member was
// listed).
func (m *Member) joinedIn(ev consensus.Event) []Identity {
	tree := m.core.TreeOf(ev.ID)
	if tree == nil {
		return nil
	}
	var ids []Identity
	for _, l := range ev.Added {
		if leaf := tree.Leaf(treemath.LeafIndex(l)); leaf != nil {
			ids = append(ids, m.leafIdentity(leaf))
		}
	}
	if parent := m.core.TreeOf(ev.Parent); parent != nil {
		if leaf := tree.Leaf(treemath.LeafIndex(ev.Committer)); leaf != nil {
			id := m.leafIdentity(leaf)
			if _, listed := m.findIdentity(parent, id); !listed {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// noteAnnounced records an author's beacon count.
func (m *Member) noteAnnounced(author Identity, sent uint64, epoch uint64) {
	if author == m.self {
		return
	}
	rec := m.authors[author]
	if rec == nil {
		if len(m.authors) >= maxTrackedAuthors {
			return
		}
		// First news of this author: what it sent so far predates us.
		rec = newRecord(sent)
		rec.announced, rec.previous = sent, sent
		rec.heardAt = epoch
		m.authors[author] = rec
		return
	}
	rec.heardAt = max(rec.heardAt, epoch)
	if sent > rec.announced {
		rec.previous, rec.announced = rec.announced, sent
	} else {
		rec.previous = rec.announced
	}
}

func (m *Member) trimRecord(rec *authorRecord) {
	top := max(rec.announced, rec.base)
	for s := range rec.have {
		if s+gapWindow < top && s >= rec.base {
			delete(rec.have, s)
		}
	}
	if top > gapWindow && rec.base < top-gapWindow {
		rec.base = top - gapWindow
	}
	for s := range rec.tries {
		if s < rec.base {
			delete(rec.tries, s)
		}
	}
}

// nacks lists messages we lack, for our next beacon, in a fixed order.
func (m *Member) nacks() []Nack {
	var out []Nack
	ids := make([]Identity, 0, len(m.authors))
	for id := range m.authors {
		ids = append(ids, id)
	}
	ids = sortUnique(ids)
	// Probes go last: they may ask for numbers never sent, and must not
	// crowd out gaps that are known (a member back from a dead branch
	// in a commit storm probed for three gone authors in every beacon,
	// 12 of its 16 nacks, for seconds). The authors probed take turns,
	// from an offset that moves with each beacon: in a fixed order those
	// that sort last never got a slot (churn seed 79: a member back
	// after 9 epochs probed for four gone authors, and never for the
	// fifth, whose two messages it lacked).
	var probing []Identity
	for _, id := range ids {
		rec := m.authors[id]
		if rec.goneAt == 0 || m.tick-rec.goneAt < m.cfg.BeaconInterval {
			continue
		}
		// A member that was away probes for goneTTL; any other for a
		// few intervals only: its author's last messages and the beacon
		// announcing them may both have been lost to it (20% loss per
		// copy: lossy seeds 6 and 34), and nothing else would show the
		// gap. Both from the author's leaving or the last heal, which
		// may bring the members that hold them.
		since := m.tick - max(rec.goneAt, m.rivalAt)
		if rec.probe && since > m.goneTTL() || !rec.probe && since > probeIntervals*m.cfg.BeaconInterval {
			continue
		}
		probing = append(probing, id)
	}
	// Gaps may not crowd out probes either: a gap nobody answers (a
	// number sent before we joined, which nobody sends us) stays in
	// every beacon, and a member added late filled its sixteen slots
	// with such numbers and never probed for the message of a gone
	// author it was owed (flapping seed 18). probeAhead slots are kept
	// for probes while there are any.
	gapSlots := MaxNacks
	if len(probing) > 0 {
		gapSlots -= probeAhead
	}
	// Gaps we are sure of first, then those that may predate us (each
	// asked for during maxNackTries beacon intervals from its first nack).
	// Authors take turns here too, from the same moving offset: a gap
	// that nobody answers stays in every beacon, and in a fixed order
	// the authors that sort first filled all sixteen slots with such
	// gaps, so a member back from a dead branch never asked for the
	// message of an author that sorted last, which that author (still
	// in the group) would have sent it at once (commit-storm seeds 24
	// and 57).
	ids = rotate(ids, m.seq)
	for _, id := range ids {
		rec := m.authors[id]
		limit := m.nackLimit(rec)
		for s := max(rec.base, rec.sure); s < limit && len(out) < gapSlots; s++ {
			if !rec.have[s] {
				out = append(out, Nack{Author: id, Seq: s})
			}
		}
	}
	for _, id := range ids {
		rec := m.authors[id]
		for s := rec.base; s < min(rec.sure, m.nackLimit(rec)) && len(out) < gapSlots; s++ {
			if rec.have[s] {
				continue
			}
			first, asked := rec.tries[s]
			if !asked {
				rec.tries[s] = m.tick
			} else if m.tick-first >= maxNackTries*m.cfg.BeaconInterval {
				continue
			}
			out = append(out, Nack{Author: id, Seq: s})
		}
	}
	for i := range probing {
		id := probing[(uint64(i)+m.seq)%uint64(len(probing))]
		rec := m.authors[id]
		limit := max(m.nackLimit(rec), rec.base) + probePage(m.tick-max(rec.goneAt, m.rivalAt), m.cfg.BeaconInterval)
		for s := limit; s < limit+probeAhead && len(out) < MaxNacks; s++ {
			out = append(out, Nack{Author: id, Seq: s})
		}
	}
	return out
}

// rotate returns ids (sorted) starting at index k modulo their number.
func rotate(ids []Identity, k uint64) []Identity {
	if len(ids) < 2 {
		return ids
	}
	i := int(k % uint64(len(ids)))
	return append(slices.Clone(ids[i:]), ids[:i]...)
}

// answerNacks re-sends our messages another member's beacon says it lacks.
//
// The nacker may be on another head: a group re-send is sealed in ours and
// reaches it once it gets there; a point-to-point one names its leaf in our
// head, found by the identity it has in the tree the beacon was verified
// against.
func (m *Member) answerNacks(tree *ratchettree.Tree, b *Beacon) {
	if m.outside() || len(b.Nacks) == 0 {
		return
	}
	roster := m.roster(m.core.Head().Tree())
	var nacker Identity
	if leaf := leafAt(tree, b.Sender); leaf != nil {
		nacker = m.leafIdentity(leaf)
	}
	for _, n := range b.Nacks {
		if n.Author != m.self {
			m.relayFor(n, nacker, EpochRef{Epoch: b.Epoch, ID: b.EpochID}, b.OpensFrom, roster)
			continue
		}
		id, ok := m.sentBySeq[n.Seq]
		if !ok {
			continue
		}
		if at, ok := m.resentAt[id]; ok && m.tick-at < m.cfg.BeaconInterval {
			continue // already re-sent for an earlier nack
		}
		e := m.sent[m.sentIdx[id]]
		if !m.mayResend(id, roster) {
			// A member who joined after the message is in the group:
			// a re-send in the head would open it to them. Send it to
			// the member that lacks it alone, if it was a member then.
			m.answerDirect(tree, b, e)
			continue
		}
		if _, err := m.resend(e); err == nil {
			m.resentAt[id] = m.tick
		}
	}
}

// answerDirect re-sends own message e point to point to the sender of
// beacon b (on our head), when it was a member at the time e was sent: not
// added on our chain since, as far as we remember (see mayResend). At most
// once per beacon interval per message and recipient.
func (m *Member) answerDirect(tree *ratchettree.Tree, b *Beacon, e consensus.OutboxEntry) {
	if m.beaconFrom == "" || m.neverResend[e.ID] {
		return
	}
	leaf := leafAt(tree, b.Sender)
	if leaf == nil {
		return
	}
	who := m.leafIdentity(leaf)
	if who == m.self || slices.Contains(m.addedAfter[e.ID], who) {
		return // joined after the message: not owed it
	}
	to, ok := m.findIdentity(m.core.Head().Tree(), who)
	if !ok {
		return // not in our head's group: it gets our messages on rejoining
	}
	key := directKey{id: e.ID, to: who}
	if at, ok := m.directAt[key]; ok && m.tick-at < m.cfg.BeaconInterval {
		return
	}
	if len(m.directAt) >= maxDirectAt {
		clear(m.directAt)
	}
	if err := m.sendDirect(m.beaconFrom, uint32(to), e); err == nil {
		m.directAt[key] = m.tick
	}
}

// directKey names a point-to-point re-send: a message and its recipient.
type directKey struct {
	id consensus.MessageID
	to Identity
}

// maxDirectAt bounds the remembered point-to-point re-sends (rate limit
// only: forgetting them allows one more re-send, nothing else).
const maxDirectAt = 4096

// unframe turns a delivered message back into the application's data and
// notes its number; data from a sender not using fork is left as is.
func (m *Member) unframe(d consensus.Delivered) consensus.Delivered {
	var f appFrame
	if codec.Unmarshal(d.Data, &f) != nil {
		return d
	}
	d.Data = f.Data
	if tree := m.core.TreeOf(d.EpochID); tree != nil {
		if leaf := tree.Leaf(treemath.LeafIndex(d.Sender)); leaf != nil {
			m.noteReceived(m.leafIdentity(leaf), f.Seq, d.Epoch)
		}
	}
	m.noteRelayable(d, f.Seq)
	return d
}

// pruneAuthors keeps author records to the current roster, and those of
// authors who left it for goneTTL ticks more: their last messages can
// still be relayed by members that delivered them (relay.go,
// relaycontent.go). The clock stands still while a member of our roster
// is silent (we may be cut off from the members holding a gone author's
// messages) and while a rival branch is being judged: a relayed content
// needs no epoch keys, so it can still come after the heal (simulator
// split-brain seed 12: the receivers' records of an author their side
// removed expired 0.3 s before the other side, which had its messages,
// was re-added). Probing restarts at a heal or when a silent member is
// heard again (rivalAt, see nacks).
func (m *Member) pruneAuthors(roster []Identity) {
	silent := map[Identity]bool{}
	for _, id := range roster {
		if at, ok := m.heardAt[id]; id != m.self && (!ok || m.tick-at > 2*m.cfg.BeaconInterval) {
			silent[id] = true
			m.silentAt = m.tick
		} else if m.silent[id] {
			m.rivalAt = m.tick // back: it may hold what we lack
		}
	}
	m.silent = silent
	for id, rec := range m.authors {
		switch {
		case slices.Contains(roster, id):
			rec.goneAt = 0
		case rec.goneAt == 0:
			rec.goneAt = m.tick
			rec.probe = m.core.Head().Epoch() >= rec.heardAt+2
		case m.tick-max(rec.goneAt, m.rivalAt, m.silentAt) > m.goneTTL():
			delete(m.authors, id)
		}
	}
}

// goneTTL is how long an author that left the roster is still tracked:
// the retention window (after it, the epochs its messages were sealed in
// are released) and two beacon intervals for the nack and the relay.
func (m *Member) goneTTL() uint64 {
	w := m.cfg.Core.WindowTicks
	if w == 0 {
		w = consensus.DefaultWindowTicks
	}
	return w + 2*m.cfg.BeaconInterval
}

// nackLimit is the number below which rec's gaps are asked for: the count
// its author announced a whole beacon interval ago; for an author gone
// from the roster, which announces nothing more, its last count (and past
// any number received) once a beacon interval has passed since it left.
func (m *Member) nackLimit(rec *authorRecord) uint64 {
	if rec.goneAt == 0 || m.tick-rec.goneAt < m.cfg.BeaconInterval {
		return rec.previous
	}
	limit := rec.announced
	for s := range rec.have {
		limit = max(limit, s+1)
	}
	return limit
}
