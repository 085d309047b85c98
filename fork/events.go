package fork

import "fmt"

// EventKind says what a fork Event reports.
type EventKind uint8

const (
	// EventBranchFound: a fetch showed a branch that forked from ours
	// before either side's retention window (Peer, Rival).
	EventBranchFound EventKind = iota + 1
	// EventSurvived: the survivor rule chose this member's branch over
	// Rival; its members will rejoin ours.
	EventSurvived
	// EventNoVerdict: the rule could not choose (no common active
	// member); the rival is dropped.
	EventNoVerdict
	// EventRejoined: this member left its branch (From) for the
	// surviving one by external commit (To is the rejoined epoch).
	// Count is the number of messages re-sent, Removals the number of
	// removals re-applied.
	EventRejoined
	// EventStayOut: the surviving branch removed this member; it does
	// not rejoin and stops sending.
	EventStayOut
	// EventRefusedRejoin: an external commit by a removed identity was
	// refused.
	EventRefusedRejoin
	// EventServedRejoiner: a member rejoined from a branch that forked at
	// From; this member re-sent Count of its own messages sent after it.
	EventServedRejoiner
	// EventServedLagging: Peer's beacon showed it in epoch From of our
	// chain, final here; this member re-sent Count of its messages since.
	EventServedLagging
	// EventJoinRequested: this member's branch lost to Rival; it asked
	// the survivors to re-add it in a batch commit.
	EventJoinRequested
	// EventReadded: this member left its branch (From) for the surviving
	// one from the Welcome of a batch commit (To is the joined epoch);
	// Count and Removals as for EventRejoined.
	EventReadded
	// EventBatchCommitted: this member committed a batch re-adding Count
	// members, on epoch Rival of its chain.
	EventBatchCommitted
	// EventJoinRefused: a held join request spoiled a batch commit (the
	// membership policy or the engine refused it) and was dropped.
	EventJoinRefused
	// EventCarriedOver: this member committed the removal of Removals
	// members that a branch which lost to ours (Rival, the last one if
	// several) had removed and nobody had re-applied (carry.go).
	EventCarriedOver
)

func (k EventKind) String() string {
	switch k {
	case EventBranchFound:
		return "branch-found"
	case EventSurvived:
		return "survived"
	case EventNoVerdict:
		return "no-verdict"
	case EventRejoined:
		return "rejoined"
	case EventStayOut:
		return "stay-out"
	case EventRefusedRejoin:
		return "refused-rejoin"
	case EventServedRejoiner:
		return "served-rejoiner"
	case EventServedLagging:
		return "served-lagging"
	case EventJoinRequested:
		return "join-requested"
	case EventReadded:
		return "readded"
	case EventBatchCommitted:
		return "batch-committed"
	case EventJoinRefused:
		return "join-refused"
	case EventCarriedOver:
		return "carried-over"
	}
	return fmt.Sprintf("fork-event(%d)", uint8(k))
}

// Event reports a fork detection or healing step. Which fields are set
// depends on Kind.
type Event struct {
	Kind     EventKind
	Peer     PeerID
	Rival    EpochRef
	From, To EpochRef
	Count    int
	Removals int
}
