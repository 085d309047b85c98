package fork

import (
	"errors"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
)

// Carrying over a losing branch's removals (survivor side).
//
// A member whose branch loses re-applies, after rejoining, the removals
// its old branch made (enterSurvivor). That leaves a hole: when nobody of
// the losing branch rejoins, nobody re-applies them. The simulator's
// commit storm shows it. A member joins by the Welcome of an Add commit
// that then loses a race and is stranded alone on that branch; its adder
// re-adds it on the winner, where it is later removed. Meanwhile, alone
// on the dead branch, it removed X. Its branch loses the survivor rule,
// it stays out (the survivor removed it), and X stays in the group
// although a member of the time asked for X's removal (commit-storm seeds
// 1, 13, 21 at main: one "readmitted" member each).
//
// So the survivors carry the removals over themselves: a member whose
// branch survives a rival notes every identity in the rival head's
// removed set (agreed state of that branch, in the GroupInfo its members
// signed) that its own head's tree still holds and its own removed set
// does not list, and commits their removal when due, if still undone.
// Who removed them on the losing branch is not known here (a BranchInfo
// carries the branch's state, not its commits) and does not matter: both
// branches grew from one group, and each removal was made by a member of
// its branch, concurrently with whatever the survivor did, even when the
// survivor also removed that member (a mutual removal: both go, as the
// consensus core does within the window, consensus/inherit.go). Erring
// towards removal never lets anyone read what it should not; erring the
// other way lets a member someone removed stay (docs/ordering.md,
// "Removals are never lost to a fork").
//
// Who commits, and when. The survivors' batch committer order
// (committerRank): rank r commits r × BatchStagger ticks after the
// judgement, and only what is still undone then, so that survivors do
// not make rival commits of the same removals. When some member of the
// losing branch will rejoin (one active on it that our removed set does
// not list), its own re-application comes first (enterSurvivor) and the
// survivors wait WelcomeTimeout more as a backstop.

// carryOver is one losing branch's removals that this member may have to
// carry over.
type carryOver struct {
	from EpochRef   // the losing branch's head
	ids  []Identity // its removed identities that our head's tree held
	due  uint64
}

// noteCarryOver records, when our branch survives r, the removals r made
// that ours has not.
func (m *Member) noteCarryOver(r *rival) {
	head := m.core.Head()
	if head == nil {
		return
	}
	own, _ := RemovedSetOf(head.Context().Extensions)
	var ids []Identity
	for _, id := range r.removed.IDs {
		if id == m.self || own.Contains(id) {
			continue // we cannot commit our own removal; others will
		}
		if _, ok := m.findIdentity(head.Tree(), id); ok {
			ids = append(ids, id)
		}
	}
	m.carries = slices.DeleteFunc(m.carries, func(c carryOver) bool { return c.from.ID == r.head.ID })
	if len(ids) == 0 {
		return
	}
	rank := m.committerRank()
	if rank < 0 {
		return
	}
	due := m.tick + uint64(rank)*m.cfg.BatchStagger
	if m.rejoinersOf(r, own) {
		due += m.cfg.WelcomeTimeout
	}
	m.carries = append(m.carries, carryOver{from: r.head, ids: ids, due: due})
	if len(m.carries) > DefaultMaxLosers {
		m.carries = m.carries[1:]
	}
}

// rejoinersOf reports whether a member of r that our removed set does not
// list is active on it: it will rejoin and re-apply r's removals itself.
func (m *Member) rejoinersOf(r *rival, own RemovedSet) bool {
	for _, id := range m.activeOn(func(e EpochID) bool { return r.ids[e] && !m.inHistory(e) }) {
		if id != m.self && !own.Contains(id) && slices.Contains(r.roster, id) {
			return true
		}
	}
	return false
}

// runCarryOver commits, every tick, the due carried-over removals that
// are still undone, in one commit.
func (m *Member) runCarryOver() {
	if len(m.carries) == 0 || m.outside() {
		return
	}
	var ids []Identity
	var later []carryOver
	var from EpochRef
	for _, c := range m.carries {
		if m.tick < c.due {
			later = append(later, c)
			continue
		}
		ids = append(ids, c.ids...)
		from = c.from
	}
	if len(ids) == 0 {
		return
	}
	props := m.removalsLeft(sortUnique(ids))
	if len(props) == 0 {
		m.carries = later
		return
	}
	err := m.core.Commit(props...)
	if errors.Is(err, consensus.ErrAlreadyCommitted) {
		return // our commit on this head is out: try again on the next
	}
	m.carries = later
	if err != nil {
		return // refused (the membership policy, typically): not ours to make
	}
	m.emit(Event{Kind: EventCarriedOver, Rival: from, Removals: len(props)})
}
