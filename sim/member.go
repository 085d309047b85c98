package sim

import "errors"

// MemberID names a simulated participant: one client with its own keys and
// its own state machine. IDs are never reused, so a removed member stays
// removed in every measure.
type MemberID int32

// Broadcast addresses a message to every other participant (the group's
// gossip topic); the network delivers a copy on each link independently.
const Broadcast MemberID = -1

// EpochID names an epoch by its secrets (consensus.EpochID); the zero value
// means "none".
type EpochID [32]byte

// Message is bytes a member asks the network to carry.
type Message struct {
	To   MemberID // Broadcast, or one member (a fetch response)
	Data []byte
}

// Delivered is an application message a member handed to its application.
type Delivered struct {
	// Sender as the member authenticated it (the credential of the MLS
	// sender leaf), not as the payload claims.
	Sender MemberID
	Data   []byte
	// LosingBranch is set when the message was decrypted in an epoch that
	// later lost to a rival.
	LosingBranch bool
}

// Output is what a member produced since the last call: the Ready of the
// cores, translated.
type Output struct {
	Messages  []Message
	Delivered []Delivered
	// Counters the cores report (the simulator also measures rollbacks and
	// re-adds itself from the heads it observes; these are cross-checks).
	Rollbacks     int
	ReAdds        int
	Undecryptable int
	// Rejected counts inputs the member refused (bad, stale or unknown).
	Rejected int
	// Held lists epochs whose keys the member came to hold since the
	// last call: each epoch it merged or joined at (the simulator also
	// counts every head it observes). A member that never held an epoch
	// cannot open a message sealed in it (see Result.UnrecoverableByDesign).
	Held []EpochID
	// Crashes are panics of the member's code, caught by its adapter, and
	// failures to persist its state; each is an invariant violation (input
	// must never make a core panic, and a node that cannot persist stops).
	Crashes []string
}

// RosterEntry is one member of an epoch as its ratchet tree says.
type RosterEntry struct {
	ID   MemberID
	Leaf uint32
}

// Head is what a member can say about its current epoch.
type Head struct {
	InGroup bool
	ID      EpochID
	Parent  EpochID // the epoch this one was committed on; zero if unknown
	Epoch   uint64
}

// Member is one simulated participant. Implementations are pure state
// machines driven only through these calls: no goroutines, no clock, and
// randomness from the reader they were built with.
type Member interface {
	// Receive delivers bytes that arrived from another participant.
	Receive(from MemberID, data []byte, now Time)
	// Tick advances the member's logical clock by one tick.
	Tick(now Time)
	// Send asks the member to send an application message.
	Send(data []byte, now Time) error
	// Update, Add and Remove ask the member to commit a change. Add takes
	// the joiner's KeyPackage as the joiner published it.
	Update(now Time) error
	Add(keyPackage []byte, now Time) error
	Remove(target MemberID, now Time) error
	// Output drains what the member produced.
	Output() Output
	// Head reports the member's current epoch.
	Head() Head
	// Roster lists the members of the current epoch, sorted by ID.
	Roster() []RosterEntry
}

// Population creates members. Genesis builds a group of n founding members
// outside simulated time (members 0..n-1, all at the same first epoch);
// NewJoiner makes a participant that is not yet in the group and returns
// the KeyPackage a committer adds it with.
type Population interface {
	Genesis(n int) ([]Member, error)
	NewJoiner(id MemberID) (Member, []byte, error)
}

// ErrNotInGroup is what a member returns when asked to act in a group it is
// not (or no longer) in.
var ErrNotInGroup = errors.New("sim: member is not in the group")
