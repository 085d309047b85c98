package fork

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// rival is a branch that forked from ours before the retention window,
// as a verified BranchInfo describes it.
type rival struct {
	peer    PeerID
	info    *BranchInfo
	tree    *ratchettree.Tree
	roster  []Identity
	removed RemovedSet
	ids     map[EpochID]bool
	head    EpochRef
	since   uint64
}

// verifyBranch checks a BranchInfo: a GroupInfo of this group and suite,
// signed by a member of its own tree, whose tree hash is the one the
// signed GroupContext names; a history that starts at the GroupInfo's
// epoch. What the history and attestations claim beyond that is checked
// beacon by beacon (signatures against the tree, sequence numbers).
func (m *Member) verifyBranch(peer PeerID, b *BranchInfo) (*rival, error) {
	gi := &b.GroupInfo
	ctx := &gi.GroupContext
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadBranch}, args...)...)
	}
	switch {
	case !bytes.Equal(ctx.GroupID, m.groupID):
		return nil, fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	case uint16(ctx.CipherSuite) != uint16(m.suite.ID()):
		return nil, bad("suite %d", ctx.CipherSuite)
	case len(b.History) == 0 || b.History[0].Epoch != ctx.Epoch:
		return nil, bad("history does not start at the GroupInfo's epoch")
	}
	ext := gi.Extensions.Find(wire.ExtensionTypeRatchetTree)
	if ext == nil {
		return nil, bad("GroupInfo without a ratchet tree")
	}
	var rt wire.RatchetTree
	if err := codec.Unmarshal(ext.ExtensionData, &rt); err != nil {
		return nil, bad("ratchet tree: %w", err)
	}
	tree, err := ratchettree.FromWire(m.suite, rt)
	if err != nil {
		return nil, bad("ratchet tree: %w", err)
	}
	th, err := tree.TreeHash()
	if err != nil || !bytes.Equal(th, ctx.TreeHash) {
		return nil, bad("tree hash differs from the GroupContext")
	}
	if gi.Signer >= tree.LeafCount() || tree.Leaf(treemath.LeafIndex(gi.Signer)) == nil {
		return nil, bad("signer %d is not a member", gi.Signer)
	}
	if err := mls.VerifyGroupInfo(m.suite, tree.Leaf(treemath.LeafIndex(gi.Signer)).SignatureKey, gi); err != nil {
		return nil, bad("%w", err)
	}
	removed, err := RemovedSetOf(ctx.Extensions)
	if err != nil {
		return nil, bad("%w", err)
	}
	roster := m.roster(tree)
	for _, id := range roster {
		// Only an external commit can put a listed identity back in the
		// tree (an Add takes it off the list), and honest members refuse
		// it: this branch admitted a removed member.
		if removed.Contains(id) {
			return nil, bad("a removed member is in the tree")
		}
	}
	r := &rival{peer: peer, info: b, tree: tree, roster: roster, removed: removed,
		ids: make(map[EpochID]bool, len(b.History)), head: b.History[0], since: m.tick}
	for _, h := range b.History {
		r.ids[h.ID] = true
	}
	return r, nil
}

// considerBranch handles a BranchInfo from a fetch response.
func (m *Member) considerBranch(peer PeerID, b *BranchInfo) error {
	r, err := m.verifyBranch(peer, b)
	if err != nil {
		return err
	}
	head := m.core.HeadID()
	switch {
	case r.head.ID == head || m.inHistory(r.head.ID):
		return nil // the peer is behind us on our chain; it will come
	case m.outside():
		return nil
	case m.partsInWindow(r):
		return nil // a race inside the window: the consensus core's to decide
	case m.join != nil && m.tick-m.join.at <= 2*m.cfg.HealDelay && r.ids[m.join.onto] && !r.ids[m.join.joined] && r.head.ID == m.join.onto:
		// The survivor has not moved past the head we joined onto: the
		// race on it is still open there (under wait-decide members
		// wait before applying any candidate). A second external
		// commit of ours on it would be an equivocation; wait.
		return nil
	case m.join != nil && m.tick-m.join.at <= 2*m.cfg.HealDelay && r.ids[m.join.onto] && !r.ids[m.join.joined]:
		// We just rejoined onto the survivor's head, and the survivor
		// went on without our commit (another rejoiner's external
		// commit won the race on that head): the choice is made, rejoin
		// again at once. Joined from a batch's Welcome, we wait for the
		// survivors to batch our request again (decide).
		//
		// The test is on the epoch our join made, not on our head: a
		// chain that holds our join and parts from ours after it is an
		// ordinary fork, for the survivor rule. Tested on the head, any
		// later race (a rival batch on the survivors' side, rolling
		// back what three members of it had built on) made every member
		// joined in the last two heal delays take that branch for the
		// survivor and rejoin it by external commit: simulator, 128
		// members, 5% loss, seed 2: some sixty external commits onto a
		// three-member branch, 184 commits rolled back, no convergence.
		m.recordAttestations(r)
		if m.pj != nil && m.pj.joined {
			m.pj.rebatch = true
			m.rival = r
			return nil
		}
		m.rejoin(r)
		return nil
	case m.isLoser(r.head.ID):
		return nil
	}
	if cur := m.rival; cur != nil {
		switch {
		case r.ids[cur.head.ID] || cur.head.ID == r.head.ID:
			r.since = cur.since // the same branch, grown: keep the clock
		default:
			// A third branch: keep whichever of the two wins, and set
			// the other aside to be judged against ours too.
			m.recordAttestations(r)
			if Survivor(m.viewOf(cur), m.viewOf(r)) != SecondSurvives {
				m.setAsideRival(r)
				return nil
			}
			m.setAsideRival(cur)
		}
	} else {
		m.emit(Event{Kind: EventBranchFound, Peer: peer, Rival: r.head})
	}
	m.rival = r
	m.recordAttestations(r)
	m.det.retryPending(m)
	return nil
}

// partsInWindow reports whether r's chain holds an epoch our core retains
// off our head chain: a candidate of one of our open races or a descendant
// of one. The branches then part inside the window (typically a member
// that joined by Welcome into a commit we still wait on), and healing by
// external commit would only create the fork it means to mend.
func (m *Member) partsInWindow(r *rival) bool {
	for _, h := range r.info.History {
		if _, ok := m.chainAncestor(h.ID); ok {
			return true
		}
	}
	return false
}

// recordAttestations takes the beacons a BranchInfo carries as if they
// had arrived one by one.
func (m *Member) recordAttestations(r *rival) {
	for i := range r.info.Attestations {
		a := &r.info.Attestations[i]
		if !bytes.Equal(a.GroupID, m.groupID) || !r.ids[a.EpochID] {
			continue
		}
		_ = m.acceptBeacon(r.tree, a) // bad or stale ones are dropped
	}
}

// viewOf is the survivor rule's view of a rival branch.
func (m *Member) viewOf(r *rival) BranchView {
	return BranchView{Head: r.head, Members: r.roster, Active: m.activeOn(func(id EpochID) bool {
		return r.ids[id] && !m.inHistory(id)
	})}
}

// ownView is the survivor rule's view of our branch, against rival r.
func (m *Member) ownView(r *rival) BranchView {
	var members []Identity // none when we are removed on our branch
	if head := m.core.Head(); head != nil {
		members = m.roster(head.Tree())
	}
	return BranchView{Head: m.core.HeadRef(), Members: members,
		Active: m.activeOn(func(id EpochID) bool { return m.inHistory(id) && !r.ids[id] })}
}

// activeOn lists identities whose latest beacon names an epoch on.
func (m *Member) activeOn(on func(EpochID) bool) []Identity {
	var out []Identity
	for _, id := range m.sortedLatest() {
		if on(m.det.latest[id].EpochID) {
			out = append(out, id)
		}
	}
	return out
}

// decide applies the survivor rule once HealDelay ticks have passed since
// the rival branch was found.
func (m *Member) decide() {
	if pj := m.pj; pj != nil && pj.joined && m.rival == nil && m.tick-pj.at > m.cfg.WelcomeTimeout {
		m.pj = nil // the batch we joined from held: the KeyPackage is spent
	}
	if pj := m.pj; pj != nil && !pj.joined && m.rival == nil && m.tick-pj.at > m.cfg.WelcomeTimeout+m.loserTTL() {
		// No branch to join is known any more (ours won after all, or
		// a restart forgot it and it never came back): give up.
		m.pj = nil
		m.early = nil
		m.stateChanged()
	}
	m.judgeSetAside()
	r := m.rival
	if r == nil || m.outside() {
		return
	}
	if pj := m.pj; pj != nil && pj.rebatch {
		// The batch we joined from lost a race (considerBranch): the
		// survivors batch our request again on the winner; its Welcome
		// moves us there, or, after WelcomeTimeout, our own external
		// commit does. Two exceptions, both for a batch whose branch the
		// survivor rule says survives. Once the epoch the batch made is
		// final on our chain and the heal delay is over, the BranchInfo
		// that showed a survivor going on without it was one member's
		// view of a race the group decided the other way, and the rival
		// is an ordinary branch beyond the window, judged below.
		// Rejoining by external commit onto a branch the others had
		// judged a loser made a new fork, which they healed again
		// (simulator commit-storm seed 26: four such rejoins, each
		// against a verdict for our own branch, the last leaving two
		// heads after the settle time).
		if m.tick-r.since >= m.cfg.HealDelay && m.batchFinal() && Survivor(m.ownView(r), m.viewOf(r)) == FirstSurvives {
			pj.rebatch = false
		} else {
			if m.awaitWelcome(r) {
				return
			}
			if Survivor(m.ownView(r), m.viewOf(r)) == FirstSurvives {
				// Before that, when no re-batch Welcome came: the
				// BranchInfo that said our batch lost came from a member
				// that had not switched to our batch yet (batch commits
				// outrank the ordinary commit it was on), and the group
				// has gone on from our join since. Leaving by external
				// commit onto that dead epoch started a branch of its
				// own, which every other rejoiner misled the same way
				// joined (simulator, 32 members, 5% loss, seed 1: six
				// external commits onto an abandoned epoch 5 s after the
				// heal, two forks left).
				m.addLoser(r.head.ID)
				m.rival = nil
				m.pj = nil
				m.stateChanged()
				return
			}
			m.rejoin(r)
			return
		}
	}
	if m.tick-r.since < m.cfg.HealDelay {
		return
	}
	own := m.ownView(r)
	switch Survivor(own, m.viewOf(r)) {
	case FirstSurvives:
		m.emit(Event{Kind: EventSurvived, Peer: r.peer, Rival: r.head})
		m.addLoser(r.head.ID)
		m.losers[len(m.losers)-1].roster = r.roster // whom we may re-add
		m.noteCarryOver(r)                          // its removals, if nobody re-applies them
		m.rival = nil
	case SecondSurvives:
		if r.removed.Contains(m.self) && !m.cfg.IgnoreRemoval {
			m.stayOut(r)
			return
		}
		// First ask to be re-added with the rest of our branch, in one
		// batch commit by a survivor (batch.go); wait for its Welcome.
		if m.pj != nil && m.pj.joined {
			m.pj = nil // spent on the branch we are leaving now
		}
		if !m.cfg.ExternalRejoin {
			if m.pj == nil {
				m.requestJoin(r)
				if m.pj != nil {
					return
				}
			} else if m.awaitWelcome(r) {
				return
			}
		}
		// Fallback (or ExternalRejoin): our own external commit. The
		// members of a losing branch rejoin one after the other, in the
		// order of their identities, StaggerTicks apart: external
		// commits on one survivor head are rivals, and all but one would
		// have to rejoin again. Meanwhile the survivor's new heads make
		// us fetch a fresh BranchInfo, so each rejoins on the latest.
		// The order is among the roster of our head, which every member
		// on it shares: ranked among the members each had seen active,
		// two losers could take the same slot, race, and rejoin again
		// (simulator split-brain seed 3: converged 12.1 s after the heal
		// with 24 commits rolled back; 5.0 s and 4 with the roster).
		//
		// After a batch round, though, only the members it left behind
		// fall back (a request no committer held, a Welcome neither
		// gossip nor fetchWelcome brought), a few of the roster, and a
		// stagger over the whole roster made them wait up to
		// StaggerTicks times its size (128 members: 25 s after
		// WelcomeTimeout, past any settle time). They rank among the
		// members whose latest beacon still names our branch: the
		// re-added ones beacon on the survivor's chain from their
		// join on. Views can differ by a lost beacon; two stragglers on
		// one slot race, and the one that loses rejoins again at once
		// (considerBranch).
		ranked := own.Members
		start := r.since + m.cfg.HealDelay
		if m.pj != nil {
			ranked = own.Active
			start = m.pj.at + m.cfg.WelcomeTimeout
		}
		rank := uint64(0)
		for _, id := range ranked {
			if bytes.Compare(id[:], m.self[:]) < 0 {
				rank++
			}
		}
		if m.tick < start+rank*m.cfg.StaggerTicks {
			return
		}
		m.rejoin(r)
	default:
		m.emit(Event{Kind: EventNoVerdict, Peer: r.peer, Rival: r.head})
		m.rival = nil
	}
	m.prune()
}

// batchFinal reports whether the epoch our last join made (the child of
// the epoch we joined onto, on our chain) is final here: retained and
// final, or released while our head went on past it.
func (m *Member) batchFinal() bool {
	if m.join == nil {
		return false
	}
	for i := 0; i+1 < len(m.history); i++ {
		if m.history[i].ID != m.join.onto {
			continue
		}
		child := m.history[i+1].ID
		return m.isFinal(child) || !m.core.Knows(child)
	}
	return false
}

// maxSetAside bounds the rival branches set aside for a third one.
const maxSetAside = 4

// setAsideRival keeps r, a rival branch that another rival displaced (or
// that lost to the rival held), to be judged against our branch when its
// heal delay is over (judgeSetAside).
func (m *Member) setAsideRival(r *rival) {
	m.setAside = slices.DeleteFunc(m.setAside, func(d *rival) bool { return d.head.ID == r.head.ID || r.ids[d.head.ID] })
	m.setAside = append(m.setAside, r)
	if over := len(m.setAside) - maxSetAside; over > 0 {
		m.setAside = slices.Delete(m.setAside, 0, over)
	}
}

// judgeSetAside applies the survivor rule to the rival branches set aside
// for a third one, once their heal delay is over. One that loses to ours
// is a loser like the held rival's: its removals are carried over
// (carry.go). Without this, a branch displaced by a stronger rival was
// dropped unjudged; its members' beacons normally bring it back, but a
// branch whose members stay out beacons no more, and a removal made on
// it was lost (simulator commit-storm seed 75: a member alone on a dead
// branch removed another, every survivor found that branch, then a race
// of their own made a third branch that displaced it; its victim stayed
// in the group). A set-aside branch that beats ours is dropped: its
// active members' beacons bring it back as the rival.
func (m *Member) judgeSetAside() {
	if len(m.setAside) == 0 {
		return
	}
	if m.outside() {
		m.setAside = nil
		return
	}
	keep := m.setAside[:0]
	for _, d := range m.setAside {
		switch {
		case d.head.ID == m.core.HeadID() || m.inHistory(d.head.ID) || m.isLoser(d.head.ID):
			continue // we are on it now, or it was judged since
		case m.rival != nil && (m.rival.head.ID == d.head.ID || m.rival.ids[d.head.ID]):
			continue // it is the held rival again, grown
		case m.tick-d.since < m.cfg.HealDelay:
			keep = append(keep, d)
			continue
		}
		if Survivor(m.ownView(d), m.viewOf(d)) == FirstSurvives {
			m.emit(Event{Kind: EventSurvived, Peer: d.peer, Rival: d.head})
			m.addLoser(d.head.ID)
			m.losers[len(m.losers)-1].roster = d.roster
			m.noteCarryOver(d)
		}
	}
	clear(m.setAside[len(keep):])
	m.setAside = keep
}

func (m *Member) addLoser(id EpochID) {
	for i := range m.losers {
		if m.losers[i].id == id {
			m.losers[i].at = m.tick
			l := m.losers[i]
			m.losers = append(slices.Delete(m.losers, i, i+1), l) // newest last
			return
		}
	}
	m.losers = append(m.losers, loser{id: id, at: m.tick})
	if len(m.losers) > DefaultMaxLosers {
		m.losers = m.losers[1:]
	}
}

// loser is a branch head judged to lose, and when; roster is its head's
// roster when this member's branch survived it (the members it may
// re-add), nil otherwise.
type loser struct {
	id     EpochID
	at     uint64
	roster []Identity
}

// healNote travels in the authenticated data of a rejoining member's
// external commit: where its old branch left the surviving one, so that
// survivors re-send what they sent after that point.
//
//	struct {
//	    opaque magic[4] = "mlsH";
//	    optional<EpochRef> fork_point;
//	    uint64 member_since;   // epoch number its membership began at
//	} HealNote;
type healNote struct {
	ForkPoint   *EpochRef
	MemberSince uint64
}

var healMagic = []byte("mlsH")

func (n *healNote) MarshalMLS(w *codec.Writer) {
	w.Raw(healMagic)
	w.Optional(n.ForkPoint != nil, func(w *codec.Writer) { writeRef(w, n.ForkPoint) })
	w.Uint64(n.MemberSince)
}

func (n *healNote) UnmarshalMLS(r *codec.Reader) {
	*n = healNote{}
	var magic []byte
	if r.Raw("HealNote.magic", len(healMagic), &magic) && !bytes.Equal(magic, healMagic) {
		r.Invalid("HealNote.magic", "not a heal note")
		return
	}
	r.Optional("HealNote.fork_point", func(r *codec.Reader) {
		n.ForkPoint = new(EpochRef)
		readRef(r, "HealNote.fork_point", n.ForkPoint)
	})
	r.Uint64("HealNote.member_since", &n.MemberSince)
}

// forkPoint is the newest epoch on both our chain and r's, if remembered.
func (m *Member) forkPoint(r *rival) *EpochRef {
	for i := len(m.history) - 1; i >= 0; i-- {
		if r.ids[m.history[i].ID] {
			ref := m.history[i]
			return &ref
		}
	}
	return nil
}

// stayOut: the surviving branch r removed this member; it does not
// rejoin.
func (m *Member) stayOut(r *rival) {
	m.emit(Event{Kind: EventStayOut, Peer: r.peer, Rival: r.head})
	m.gone = true
	m.rival = nil
	m.pj = nil
	m.early = nil
}

// rejoin moves this member onto the surviving branch r by external
// commit (RFC 9420 §12.4.3.2), then re-applies the removals its old branch
// made and re-sends the messages it sent after the fork (enterSurvivor).
// It is the fallback of the batch re-add, and the only way with
// Config.ExternalRejoin.
func (m *Member) rejoin(r *rival) {
	if m.outside() {
		return // removed meanwhile on our own branch: nothing to rejoin with
	}
	gi := &r.info.GroupInfo
	if r.removed.Contains(m.self) && !m.cfg.IgnoreRemoval {
		m.stayOut(r)
		return
	}
	oldHead := m.core.Head()
	from := EpochRef{Epoch: oldHead.Epoch(), ID: m.core.HeadID()}
	note := m.healNoteFor(r)
	aad, err := codec.Marshal(&note)
	if err != nil {
		return
	}
	kp, err := m.freshKeyPackage(oldHead)
	if err != nil {
		return
	}
	// Still a member on the surviving branch (it never removed us, we
	// only lost its state, or a batch added a leaf of ours whose Welcome
	// we lost): the same commit removes that leaf there, as a resync does
	// (§12.4.3.2).
	var removeOld *uint32
	if leaf, ok := m.findIdentity(r.tree, m.self); ok {
		l := uint32(leaf)
		removeOld = &l
	}
	cc := m.cfg.Core
	g, msg, err := mls.JoinExternal(cc.Rand, m.suite, mls.ExternalJoinConfig{
		GroupInfo: gi, KeyPackage: kp, SigningKey: cc.SigningKey, PSKs: cc.PSKs,
		Credentials: cc.Credentials, AuthenticatedData: aad, RemoveOld: removeOld,
	})
	if err != nil {
		// A stale or bad GroupInfo: forget the rival; the next beacon of
		// that branch fetches a fresh one.
		m.rival = nil
		return
	}
	body, err := codec.Marshal(&consensus.CommitBody{Commit: msg})
	if err != nil {
		m.rival = nil
		return
	}
	joinEnv := consensus.Envelope{Kind: consensus.KindCommit, GroupID: m.groupID,
		Epoch: gi.GroupContext.Epoch, EpochID: r.head.ID, Body: body}
	if err := m.enterSurvivor(g, r, from, note, r.head, joinEnv, 0, EventRejoined); err != nil {
		m.rival = nil
		return
	}
}

// enterSurvivor makes g, this member's state in epoch onto's child on the
// surviving branch r (joined by external commit joinEnv, or from the
// Welcome of the batch commit joinEnv), its new head; then re-applies the
// removals its old branch (head from) made that the survivor has not, and
// re-sends the messages it sent on its old branch after the fork. rank is
// its place among the members re-added with it: only the first re-applies
// removals at once, the others later and only what is still undone.
func (m *Member) enterSurvivor(g *mls.Group, r *rival, from EpochRef, note healNote, onto EpochRef, joinEnv consensus.Envelope, rank int, kind EventKind) error {
	oldRemoved, _ := RemovedSetOf(m.core.Head().Context().Extensions)
	core, err := consensus.New(m.coreConfig(g))
	if err != nil {
		return err
	}
	m.drain()
	m.core = core
	m.noteHeadRecords()
	if kind == EventRejoined {
		m.out.Messages = append(m.out.Messages, joinEnv)
	}
	// Our history is now the survivor's chain plus the joined epoch.
	m.history = m.history[:0]
	if r.info != nil {
		for i := len(r.info.History) - 1; i >= 0; i-- {
			m.history = append(m.history, r.info.History[i])
		}
	}
	if !m.inHistory(onto.ID) {
		m.pushHistory(onto)
	}
	to := EpochRef{Epoch: g.Epoch(), ID: consensus.EpochIDOf(g)}
	m.pushHistory(to)
	m.addLoser(from.ID)
	m.rival = nil
	m.carries = nil // duties of the branch we left; the survivors hold their own
	if m.pj != nil {
		m.stateChanged()
	}
	m.pj = nil
	m.join = &joinRecord{onto: onto.ID, joined: to.ID, at: m.tick, commit: joinEnv, note: note}

	// Removals our branch made that the survivor has not.
	var ids []Identity
	for _, id := range oldRemoved.IDs {
		if id != m.self {
			ids = append(ids, id)
		}
	}
	removals := 0
	if rank == 0 {
		if props := m.removalsLeft(ids); len(props) > 0 {
			if err := m.core.Commit(props...); err == nil {
				removals = len(props)
			}
		}
	} else if rank < m.cfg.BatchCommitters && len(ids) > 0 {
		m.reapply = &reapply{ids: ids, due: m.tick + uint64(rank)*m.cfg.BatchStagger}
	}
	// Messages we sent on our branch after the fork, under their ids.
	// The fork point's own epoch counts: a message sent in it after the
	// partition began never crossed.
	resent := 0
	roster := m.roster(g.Tree())
	for _, e := range slices.Clone(m.sent) {
		if r.ids[e.EpochID] && (note.ForkPoint == nil || e.EpochID != note.ForkPoint.ID) {
			continue
		}
		if !m.mayResend(e.ID, roster) {
			continue
		}
		if _, err := m.resend(e); err == nil {
			resent++
		}
	}
	m.beaconNow()
	m.emit(Event{Kind: kind, Peer: r.peer, Rival: r.head, From: from, To: to, Count: resent, Removals: removals})
	return nil
}

// joinRecord remembers this member's last external rejoin: the survivor
// head it joined onto, when, and the commit, which its core does not hold
// (the core starts in the epoch the commit made) but which a survivor
// that missed it must be able to fetch.
type joinRecord struct {
	onto EpochID
	// joined is the epoch our join made (onto's child).
	joined EpochID
	at     uint64
	commit consensus.Envelope
	// note is the heal note the join carried: a member whose join lost a
	// race and that rejoins again at once keeps its fork point (its new
	// history is the survivor's chain, on which the old fork point is
	// no longer the newest shared epoch).
	note healNote
}

// healNoteFor is the heal note of a (re)join onto r: the newest epoch our
// chain shares with r's, or the fork point of our last join if that was
// recent and older (the last join lost a race; what was owed then is owed
// still).
func (m *Member) healNoteFor(r *rival) healNote {
	note := healNote{ForkPoint: m.forkPoint(r), MemberSince: m.memberSince}
	if j := m.join; j != nil && m.tick-j.at <= 2*m.cfg.HealDelay && note.ForkPoint != nil &&
		(j.note.ForkPoint == nil || j.note.ForkPoint.Epoch < note.ForkPoint.Epoch) {
		// No fork point (a member that joined the losing branch only:
		// served from its member_since) is older than any.
		note.ForkPoint = nil
		if j.note.ForkPoint != nil {
			fp := *j.note.ForkPoint
			note.ForkPoint = &fp
		}
	}
	return note
}

// freshKeyPackage makes the KeyPackage for a rejoin: the member's
// credential and capabilities, fresh keys.
func (m *Member) freshKeyPackage(old *mls.Group) (*mls.KeyPackageBundle, error) {
	leaf := old.Tree().Leaf(old.OwnLeaf())
	lifetime := m.cfg.KeyPackageLifetime
	if leaf.Lifetime != nil {
		lifetime = *leaf.Lifetime
	}
	caps := leaf.Capabilities
	return mls.NewKeyPackage(m.cfg.Core.Rand, m.suite, leaf.Credential, m.cfg.Core.SigningKey,
		mls.KeyPackageOptions{Lifetime: lifetime, Capabilities: &caps, LeafExtensions: leaf.Extensions})
}

// serveRejoiner re-sends this member's messages sent on the surviving
// chain since note's fork point (its own epoch included: a message sent
// in it after the partition began never crossed), so that a member who
// rejoined from the other branch receives them. Every rejoin is served,
// even for a fork point served before: a copy sealed before this rejoiner
// joined is not readable by it. Messages of the head epoch, which the
// rejoin made, reached it anyway.
//
// A rejoiner is owed nothing from before its membership began: without a
// fork point it remembers, or when it joined its branch after the fork,
// only messages of epochs numbered from its member_since on are sent.
func (m *Member) serveRejoiner(note *healNote) {
	fp := m.servedFrom(note)
	if fp == nil {
		return
	}
	if n, ok := m.resendSince(fp, false, nil); ok {
		var fp EpochRef
		if note.ForkPoint != nil {
			fp = *note.ForkPoint
		}
		m.emit(Event{Kind: EventServedRejoiner, From: fp, Count: n})
	}
}

// servedFrom is the epoch of our chain from which a rejoiner with this
// note is served, nil if none.
func (m *Member) servedFrom(note *healNote) *EpochRef {
	fp := note.ForkPoint
	if fp == nil || note.MemberSince > fp.Epoch {
		// Epoch numbers agree up to the fork, and after it each branch's
		// grow from there: a message of our epoch numbered below the
		// rejoiner's first was either before the fork (it was not a
		// member then) or not comparable; it is not sent.
		fp = m.historyAt(note.MemberSince)
	}
	if fp == nil || !m.inHistory(fp.ID) {
		return nil
	}
	return fp
}

// serveLagging re-sends this member's messages sent since epoch ref of its
// chain, which a peer's beacon shows it is still in although the epoch is
// final here: the peer was cut off for long, and gossip will not give it
// what it missed. Once per epoch.
//
// A message the group re-send may not carry (a member added after it is
// in the group) goes to the lagging peer alone, point to point, as for a
// nack (answerDirect; tree and b are the peer's verified beacon): the peer
// may not know the message's number to nack it, having missed the
// author's beacons, and the author may be gone before it catches up
// (simulator churn seed 7: a member back from 7 s offline lost an
// author's messages that way).
func (m *Member) serveLagging(peer PeerID, ref EpochRef, tree *ratchettree.Tree, b *Beacon) {
	var direct func(consensus.OutboxEntry)
	if tree != nil && b != nil {
		direct = func(e consensus.OutboxEntry) { m.answerDirect(tree, b, e) }
	}
	if n, ok := m.resendSince(&ref, true, direct); ok {
		m.emit(Event{Kind: EventServedLagging, Peer: peer, From: ref, Count: n})
	}
}

// historyAt is the oldest epoch of our chain numbered at least n, if any.
func (m *Member) historyAt(n uint64) *EpochRef {
	for i := range m.history {
		if m.history[i].Epoch >= n {
			ref := m.history[i]
			return &ref
		}
	}
	return nil
}

// resendSince re-seals, in the head and under their ids, the messages of
// the sent log whose epoch is on our chain at or after fp. For a lagging
// peer (includeHead) it does so once per fp (the last 16 are remembered).
// It reports false when it did nothing.
//
// A message is not re-sent when a member added after it was sent is in
// the group (see mayResend); direct, if set, is called for it instead.
func (m *Member) resendSince(fp *EpochRef, includeHead bool, direct func(consensus.OutboxEntry)) (int, bool) {
	if fp == nil || !m.inHistory(fp.ID) || m.outside() {
		return 0, false // not a point of our chain as far as we remember
	}
	key := *fp
	if includeHead {
		if slices.Contains(m.served, key) {
			return 0, false
		}
		m.served = append(m.served, key)
		if len(m.served) > DefaultMaxLosers {
			m.served = m.served[1:]
		}
	}
	after := map[EpochID]bool{}
	for _, h := range m.history {
		if h.Epoch >= fp.Epoch {
			after[h.ID] = true
		}
	}
	roster := m.roster(m.core.Head().Tree())
	n := 0
	for _, e := range slices.Clone(m.sent) {
		if _, ok := after[e.EpochID]; !ok || !includeHead && e.EpochID == m.core.HeadID() {
			continue
		}
		if !m.mayResend(e.ID, roster) {
			if direct != nil {
				direct(e)
			}
			continue
		}
		if at, ok := m.resentAt[e.ID]; ok && includeHead && m.tick-at < m.cfg.HealDelay {
			// A lagging peer walks through several final epochs as it
			// catches up; what was re-sent for the first of them is
			// not sent again for the next. (A rejoiner, which was not
			// in the group at the earlier re-send, always gets it.)
			continue
		}
		if _, err := m.resend(e); err == nil {
			m.resentAt[e.ID] = m.tick
			n++
		}
	}
	return n, true
}

func (m *Member) emit(ev Event) { m.out.Fork = append(m.out.Fork, ev) }

// resend seals an own message again in the head under its original id.
func (m *Member) resend(e consensus.OutboxEntry) (consensus.MessageID, error) {
	epoch := m.core.HeadID()
	id, err := m.sendWithNonce(e.Nonce, e.Data)
	if err == nil {
		m.logOutbox(id, epoch)
	}
	return id, err
}
