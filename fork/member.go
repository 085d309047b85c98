package fork

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// PeerID names the network peer an envelope came from or goes to. fork
// does not interpret it: the overlay uses libp2p peer ids, the simulator
// and tests short names.
type PeerID string

// Defaults for Config.
const (
	DefaultBeaconInterval     = 5
	DefaultHeadBeacons        = -1
	DefaultFetchTimeout       = 10
	DefaultMaxInflightFetches = 4
	DefaultServeBudget        = 4
	DefaultMaxServePeers      = 64
	DefaultMaxPendingBeacons  = 32
	DefaultMaxSentLog         = 1024
	DefaultMaxSeen            = 4096
	DefaultMaxLosers          = 16
	DefaultBatchDelay         = 4
	DefaultBatchCommitters    = 3
	DefaultMaxJoinRequests    = 1024
	// DefaultMaxBatch keeps a batch commit (Adds, the Welcome and its
	// GroupInfo with the ratchet tree) well inside the overlay's 1 MiB
	// gossip message limit for groups of a few thousand members.
	DefaultMaxBatch = 256
	// DefaultHistory is how many head-chain epoch ids a member remembers
	// after their states are released (40 bytes each).
	DefaultHistory = MaxHistory
)

// Config is what a Member needs.
type Config struct {
	// Core configures the consensus core (Group, SigningKey, Rand, rules,
	// window). Member installs its own CommitHook and wraps
	// Core.Membership; both must be nil or left to it.
	Core consensus.Config

	// BeaconInterval is the number of ticks between periodic beacons.
	BeaconInterval uint64
	// HeadBeacons bounds how many members beacon at once when the head
	// moves (besides their periodic beacons). In a roster of n members,
	// n > HeadBeacons, a member beacons on a head change when a hash of
	// the new epoch id and its identity falls in the first HeadBeacons of
	// n equal parts, so about HeadBeacons of them do; in smaller rosters
	// every member does. Default DefaultHeadBeacons (-1: every member, always;
	// a 1,000-member heal did not converge with 32 and did with every
	// member: docs/ordering.md, "Beacons on a head change, in large groups").
	HeadBeacons int
	// HealDelay is how many ticks a member collects beacons after it
	// first learns of a branch beyond the window before it applies the
	// survivor rule (default: the lesser of 3 beacon intervals and one
	// beacon interval plus two fetch timeouts; docs/ordering.md, "When
	// the fork is older than the window").
	HealDelay uint64
	// StaggerTicks separates the rejoins of a losing branch's members
	// (default 2: a round trip in the simulator's usual settings).
	StaggerTicks uint64
	// FetchTimeout: an unanswered fetch is forgotten after this many
	// ticks, so the peer may be asked again.
	FetchTimeout uint64
	// MaxInflightFetches bounds outstanding fetch requests (one per peer).
	MaxInflightFetches int
	// ServeBudget bounds the fetch requests served per peer per beacon
	// interval; MaxServePeers bounds the peers tracked in an interval.
	ServeBudget   int
	MaxServePeers int
	// MaxPendingBeacons bounds beacons kept for epochs not yet known.
	MaxPendingBeacons int
	// MaxSentLog bounds this member's own sent messages kept for re-send
	// after a heal; MaxSeen the message ids remembered for de-duplication.
	MaxSentLog int
	MaxSeen    int
	// History bounds the head-chain epoch ids remembered (<= MaxHistory).
	History int

	// Persist, with Core.Group nil, restarts the consensus core from its
	// last Ready.Persist (consensus.Restore). State restores fork's own
	// state (the last Ready.State written); nil starts afresh.
	// BeaconSeq, if larger than State's, is the first beacon sequence
	// number to use.
	Persist   *consensus.Persist
	State     *State
	BeaconSeq uint64
	// KeyPackageLifetime is the lifetime of the fresh KeyPackage made for
	// a rejoin when the member's own leaf carries none.
	KeyPackageLifetime wire.Lifetime

	// BatchDelay is how long a survivor collects join requests, from the
	// first one, before the designated committer commits them in one
	// batch (default 4). The committer of rank k (see committerRank)
	// waits BatchStagger ticks more per rank (default FetchTimeout);
	// only the first BatchCommitters (default 3) ranks ever commit.
	BatchDelay      uint64
	BatchStagger    uint64
	BatchCommitters int
	// WelcomeTimeout is how long a rejoiner waits for the Welcome of a
	// batch commit before it falls back to its own external commit
	// (default BatchDelay + (BatchCommitters+1) * BatchStagger +
	// FetchTimeout).
	WelcomeTimeout uint64
	// MaxJoinRequests bounds the join requests a survivor holds;
	// MaxBatch the members one batch commit re-adds.
	MaxJoinRequests int
	MaxBatch        int
	// ExternalRejoin makes a member of a losing branch rejoin by its own
	// external commit at once, without asking to be re-added in a batch
	// (the behaviour before batch re-adds; for comparisons and tests).
	ExternalRejoin bool

	// IgnoreRemoval makes the member attempt a rejoin even when the
	// surviving branch lists it as removed, as a malicious former member
	// would. For tests of the defence only.
	IgnoreRemoval bool
}

func (c *Config) withDefaults() Config {
	out := *c
	def := func(v *uint64, d uint64) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&out.BeaconInterval, DefaultBeaconInterval)
	if out.HeadBeacons == 0 {
		out.HeadBeacons = DefaultHeadBeacons
	}
	def(&out.FetchTimeout, DefaultFetchTimeout)
	def(&out.HealDelay, min(3*out.BeaconInterval, out.BeaconInterval+2*out.FetchTimeout))
	def(&out.StaggerTicks, 2)
	def(&out.BatchDelay, DefaultBatchDelay)
	def(&out.BatchStagger, out.FetchTimeout)
	defInt(&out.BatchCommitters, DefaultBatchCommitters)
	def(&out.WelcomeTimeout, out.BatchDelay+uint64(out.BatchCommitters+1)*out.BatchStagger+out.FetchTimeout)
	defInt(&out.MaxJoinRequests, DefaultMaxJoinRequests)
	defInt(&out.MaxBatch, DefaultMaxBatch)
	defInt(&out.MaxInflightFetches, DefaultMaxInflightFetches)
	defInt(&out.ServeBudget, DefaultServeBudget)
	defInt(&out.MaxServePeers, DefaultMaxServePeers)
	defInt(&out.MaxPendingBeacons, DefaultMaxPendingBeacons)
	defInt(&out.MaxSentLog, DefaultMaxSentLog)
	defInt(&out.MaxSeen, DefaultMaxSeen)
	defInt(&out.History, DefaultHistory)
	if out.History > MaxHistory {
		out.History = MaxHistory
	}
	if out.KeyPackageLifetime == (wire.Lifetime{}) {
		out.KeyPackageLifetime = wire.Lifetime{NotBefore: 0, NotAfter: 1<<63 - 1}
	}
	return out
}

// Directed is an envelope for one peer (fetch requests and responses
// travel over the overlay's request/response protocol, not gossip).
type Directed struct {
	To       PeerID
	Envelope consensus.Envelope
}

// Ready is a Member's output since the last Advance: the consensus core's
// output (Messages, Delivered, Events, Persist) merged with fork's own.
// Persist (and State) must be written before Messages and Direct are sent,
// as with consensus.Ready.
type Ready struct {
	// Messages are envelopes to broadcast on the group's topic (the
	// core's and fork's beacons).
	Messages []consensus.Envelope
	// Direct are envelopes for one peer each.
	Direct []Directed
	// Delivered are application messages, never two with one MessageID
	// (within MaxSeen recent ids).
	Delivered []consensus.Delivered
	// Events are the core's events, in order; Fork are fork's.
	Events []consensus.Event
	Fork   []Event
	// Persist is the core's latest full persistent state, if it changed.
	// After a rejoin it describes the new branch and replaces all of
	// the old one.
	Persist *consensus.Persist
	State   *State
}

// IsEmpty reports whether rd carries nothing.
func (rd *Ready) IsEmpty() bool {
	return len(rd.Messages) == 0 && len(rd.Direct) == 0 && len(rd.Delivered) == 0 &&
		len(rd.Events) == 0 && len(rd.Fork) == 0 && rd.Persist == nil && rd.State == nil
}

// Member is one member's composite state machine for one group: the
// consensus core (commit ordering inside the window), fork detection
// (beacons, fetches) and healing (survivor rule, rejoin). It is what the
// simulator and the node drive. Like consensus.Core it is pure: no
// goroutine, no clock (Tick), randomness from Config.Core.Rand. It is not
// safe for concurrent use.
type Member struct {
	cfg     Config
	core    *consensus.Core
	groupID []byte
	suite   *suite.Suite
	self    Identity
	tick    uint64
	seq     uint64 // next beacon sequence number
	// seqLimit is the sequence number persisted in State: every number
	// used is below it, so a restart from State never reuses one.
	seqLimit uint64

	// history is the head chain, oldest first, bounded by cfg.History;
	// it outlives the retained states, so a fork point older than the
	// window can still be found.
	history []EpochRef

	det   detector
	rival *rival
	// setAside are rival branches displaced by a third one, still to be
	// judged against ours (heal.go, judgeSetAside).
	setAside []*rival
	losers   []loser // heads of branches that lost to ours, newest last
	// join records the last rejoin, by external commit or from a batch
	// commit's Welcome (nil if none).
	join *joinRecord
	// pj is this member's outstanding join request (rejoiner side);
	// reapply its deferred re-application of its old branch's removals.
	pj      *pendingJoin
	reapply *reapply
	// carries are removals of branches that lost to ours that this
	// member may have to carry over (survivor side, carry.go).
	carries []carryOver
	// early are application messages of epochs unknown here that arrived
	// while a join request was out (bounded by maxEarly): the survivors'
	// re-sends for the batch may overtake its commit, and the Welcome's
	// fresh core would not have them.
	early []consensus.Envelope
	// held are point-to-point re-sends of epochs not known yet (held.go).
	held heldResends
	// contexts and keys record the epochs this member held, to check
	// relayed contents (records.go); rosters caches epochs' rosters for
	// the relay log.
	contexts contextLog
	keys     keyBook
	rosters  rosterCache
	// seals record the epochs this member sent in, for the proofs of its
	// point-to-point re-sends (sealedproof.go).
	seals sealRecords
	// rivalAt is the last tick at which a rival branch was being judged
	// or a silent member of our roster was heard again (probes for gone
	// authors restart), silentAt the last at which one was silent (the
	// roster's members not heard for two beacon intervals at the last
	// prune); gone authors' records are kept goneTTL past both (gaps.go).
	rivalAt, silentAt uint64
	silent            map[Identity]bool
	// joinReqs are the verified join requests held (survivor side),
	// sorted by identity; batchSince is when the current round of
	// collecting began, batchOn the head our last batch commit was made
	// on.
	joinReqs   []joinRequest
	batchSince uint64
	batchOn    EpochID
	// heardAt is when a beacon of each identity last arrived (the batch
	// committer order counts only members heard recently).
	heardAt map[Identity]uint64
	// peerOf is the peer each identity's latest verified beacon came
	// from (point-to-point re-sends to re-added members go there).
	peerOf map[Identity]PeerID
	// gone is set once this member has seen its identity in a surviving
	// branch's removed set and stays out for good. Removal on the head
	// branch is read from the core instead (see outside): inside the
	// window a removal can still lose a race, and the member is back.
	gone bool

	sent    []consensus.OutboxEntry // own messages, oldest first
	sentIdx map[consensus.MessageID]int
	// resentAt is when a logged message was last re-sent (same keys as
	// sentIdx).
	resentAt map[consensus.MessageID]uint64
	// directAt is when a message was last re-sent point to point to a
	// member (rate limit of answerDirect).
	directAt map[directKey]uint64
	// beaconFrom is the peer the beacon being accepted came from: a
	// point-to-point re-send answering its nacks goes there.
	beaconFrom PeerID
	seen       seenSet
	// sendSeq numbers this member's next application message;
	// sentBySeq maps numbers of logged messages to their ids.
	sendSeq   uint64
	sentBySeq map[uint64]consensus.MessageID
	// authors is what we received from each member (gap recovery).
	authors map[Identity]*authorRecord

	// memberSince is the epoch number this member's membership began at
	// (its first epoch; kept across rejoins).
	memberSince uint64
	// addedAfter lists, per logged message, the identities added by an
	// Add on our chain after it was sent (same keys as sentIdx); a
	// message whose list overflowed maxAddedAfter is in neverResend.
	addedAfter  map[consensus.MessageID][]Identity
	neverResend map[consensus.MessageID]bool
	// sealedIn is the epoch each logged message was first sealed in
	// (same keys as sentIdx; after a restart, the epoch it was logged
	// under: a later re-seal's, whose members could read it too).
	sealedIn map[consensus.MessageID]EpochID
	// relays are envelopes of others' delivered messages, for relaying to
	// a member that nacks one (relay.go); relayNacks when each nack of
	// another author's message was first seen.
	relays     relayLog
	relayNacks map[nackKey]uint64
	// ids memoises leaf identities and rosters (identities.go).
	ids identityMemo
	// served lists the epochs from which this member re-sent its
	// messages to a lagging peer (the last 16).
	served []EpochRef

	// stateDirty: Ready must carry a State.
	stateDirty bool

	out Ready
}

// New starts a Member in the epoch of cfg.Core.Group.
func New(cfg Config) (*Member, error) {
	c := cfg.withDefaults()
	if (c.Core.Group == nil) == (c.Persist == nil) || c.Core.SigningKey == nil || c.Core.Rand == nil {
		return nil, fmt.Errorf("%w: Core.SigningKey, Core.Rand and one of Core.Group and Persist are required", consensus.ErrConfig)
	}
	if c.Core.CommitHook != nil || c.Core.CommitHookRefs != nil || c.Core.KeepAbandoned != nil {
		return nil, fmt.Errorf("%w: fork.Member installs the commit hook itself", consensus.ErrConfig)
	}
	m := &Member{
		cfg:         c,
		seq:         c.BeaconSeq,
		seen:        newSeenSet(c.MaxSeen),
		sentIdx:     map[consensus.MessageID]int{},
		resentAt:    map[consensus.MessageID]uint64{},
		directAt:    map[directKey]uint64{},
		addedAfter:  map[consensus.MessageID][]Identity{},
		sentBySeq:   map[uint64]consensus.MessageID{},
		authors:     map[Identity]*authorRecord{},
		neverResend: map[consensus.MessageID]bool{},
		sealedIn:    map[consensus.MessageID]EpochID{},
		relayNacks:  map[nackKey]uint64{},
		heardAt:     map[Identity]uint64{},
		peerOf:      map[Identity]PeerID{},
	}
	m.det.init()
	var core *consensus.Core
	var err error
	if c.Persist != nil {
		core, err = consensus.Restore(m.coreConfig(nil), c.Persist)
	} else {
		core, err = consensus.New(m.coreConfig(c.Core.Group))
	}
	if err != nil {
		return nil, err
	}
	g := core.Head()
	if g == nil {
		return nil, fmt.Errorf("%w: the group state is of a removed member", consensus.ErrConfig)
	}
	m.groupID = slices.Clone(g.GroupID())
	m.suite = g.Suite()
	m.self = IdentityOf(&g.Tree().Leaf(g.OwnLeaf()).Credential)
	m.core = core
	chain := core.Chain(c.History)
	for i := len(chain) - 1; i >= 0; i-- {
		m.history = append(m.history, chain[i])
	}
	if len(m.history) > 0 {
		m.memberSince = m.history[0].Epoch
	}
	if st := c.State; st != nil {
		m.restore(st)
	}
	m.noteHeadRecords()
	m.beaconNow()
	m.drain()
	return m, nil
}

// coreConfig is the consensus configuration for a core starting at g.
func (m *Member) coreConfig(g *mls.Group) consensus.Config {
	cc := m.cfg.Core
	cc.Group = g
	cc.CommitHookRefs = recordRemovalsHook
	cc.Membership = removalPolicy{inner: m.cfg.Core.Membership}
	cc.KeepAbandoned = isBatchNote
	return cc
}

// Core is the current consensus core, for reading (Head, Epochs, Chain).
// It changes when the member rejoins another branch.
func (m *Member) Core() *consensus.Core { return m.core }

// GroupID is the group's id.
func (m *Member) GroupID() []byte { return m.groupID }

// Identity is this member's identity (see IdentityOf).
func (m *Member) Identity() Identity { return m.self }

// Gone reports whether the member is out of the group: removed on its
// head branch (the core has no head state), or staying out of a surviving
// branch that removed it.
func (m *Member) Gone() bool { return m.outside() }

// outside reports whether this member has no head state to act in. Every
// use of the core's Head must be behind it: Head is nil once the core is
// removed, which can happen in any Step or Tick of the core, before the
// Member has drained the core's events.
func (m *Member) outside() bool { return m.gone || m.core.Removed() }

// Now is the number of ticks since New.
func (m *Member) Now() uint64 { return m.tick }

// Step processes one envelope from peer from. Beacons and fetches are
// fork's; every other kind goes to the consensus core, after an external
// commit has been screened against the removed set and after an unknown
// epoch id has been noted for a fetch. A rejected envelope returns an error
// wrapping a sentinel of this package or of consensus and changes nothing
// but bounded bookkeeping (a pending beacon, a fetch in flight).
func (m *Member) Step(from PeerID, env *consensus.Envelope) error {
	if !bytes.Equal(env.GroupID, m.groupID) {
		return fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	}
	defer m.drain()
	switch env.Kind {
	case consensus.KindBeacon:
		return m.stepBeacon(from, env)
	case consensus.KindFetchRequest:
		return m.stepFetchRequest(from, env)
	case consensus.KindFetchResponse:
		return m.stepFetchResponse(from, env)
	case consensus.KindResend:
		m.keepEarly(env)
		err := m.stepDirect(env)
		if errors.Is(err, consensus.ErrUnknownEpoch) {
			m.holdResend(env)
		}
		return err
	case consensus.KindJoinRequest:
		return m.stepJoinRequest(env)
	case consensus.KindRelayed:
		return m.stepRelayed(env)
	case consensus.KindCommit:
		if m.pj != nil && !m.outside() {
			if mine, err := m.tryWelcome(env); mine {
				return err
			}
		}
	case consensus.KindApplication:
		m.keepEarly(env)
	}
	return m.stepCore(from, env)
}

// stepCore hands an envelope to the consensus core.
func (m *Member) stepCore(from PeerID, env *consensus.Envelope) error {
	if !env.EpochID.IsZero() {
		m.noticeEpoch(from, EpochRef{Epoch: env.Epoch, ID: env.EpochID})
	}
	if env.Kind == consensus.KindCommit {
		return m.stepCommit(env)
	}
	return m.core.Step(*env)
}

// Tick advances logical time by one unit: the core's window, periodic
// beacons, fetch timeouts and the healing decision.
func (m *Member) Tick() {
	m.tick++
	m.core.Tick()
	if m.rival != nil {
		m.rivalAt = m.tick
	}
	if m.tick%m.cfg.BeaconInterval == 0 {
		m.beaconNow()
		m.det.newServeWindow()
		m.prune()
	}
	m.det.expire(m.tick, m.cfg.FetchTimeout)
	m.decide()
	m.maybeCommitBatch()
	m.runReapply()
	m.runCarryOver()
	m.drain()
}

// Send seals application data in the head epoch (see consensus.Core.Send).
func (m *Member) Send(data []byte) (consensus.MessageID, error) {
	if m.outside() {
		return consensus.MessageID{}, consensus.ErrRemoved
	}
	defer m.drain()
	var nonce [16]byte
	if _, err := io.ReadFull(m.cfg.Core.Rand, nonce[:]); err != nil {
		return consensus.MessageID{}, err
	}
	framed, err := codec.Marshal(&appFrame{Seq: m.sendSeq, Data: data})
	if err != nil {
		return consensus.MessageID{}, err
	}
	epoch := m.core.HeadID()
	m.noteSealed()
	id, err := m.sendWithNonce(nonce, framed)
	if err == nil {
		m.sentBySeq[m.sendSeq] = id
		m.sendSeq++
		m.stateChanged()
		m.logSent(consensus.OutboxEntry{ID: id, EpochID: epoch, Nonce: nonce, Data: framed})
	}
	return id, err
}

// sendWithNonce seals data under the given nonce, so that a re-send keeps
// the message id (SHA-256 of the credential and the nonce, see
// consensus.MessageID).
func (m *Member) sendWithNonce(nonce [16]byte, data []byte) (consensus.MessageID, error) {
	return m.core.SendWithNonce(nonce, data)
}

// Propose sends a proposal in the head epoch.
func (m *Member) Propose(p *wire.Proposal) error {
	if m.outside() {
		return consensus.ErrRemoved
	}
	defer m.drain()
	return m.core.Propose(p)
}

// Commit commits proposals (see consensus.Core.Commit); removals are
// recorded in the removed set by the commit hook.
func (m *Member) Commit(proposals ...*wire.Proposal) error {
	if m.outside() {
		return consensus.ErrRemoved
	}
	defer m.drain()
	return m.core.Commit(proposals...)
}

// HasReady reports whether Ready has anything.
func (m *Member) HasReady() bool { return m.stateDirty || !m.out.IsEmpty() }

// Ready returns the output accumulated since the last Advance.
func (m *Member) Ready() Ready {
	rd := m.out
	if m.stateDirty {
		rd.State = m.currentState()
	}
	return rd
}

// Advance acknowledges that the caller has acted on rd (persisted, sent,
// delivered).
func (m *Member) Advance(rd Ready) {
	m.out = Ready{}
	m.stateDirty = false
}

// drain moves the core's output into the Member's Ready, keeping fork's
// own view (history, sent log, seen ids) in step with it.
func (m *Member) drain() {
	for m.core.HasReady() {
		rd := m.core.Ready()
		m.core.Advance(rd)
		m.absorb(rd)
	}
	m.releaseResends()
	if m.outside() {
		// Nothing left to fetch or verify beacons for.
		m.det.pending = nil
		clear(m.det.inflight)
	}
}

func (m *Member) absorb(rd consensus.Ready) {
	m.out.Messages = append(m.out.Messages, rd.Messages...)
	for _, d := range rd.Delivered {
		d = m.unframe(d)
		if m.seen.add(d.ID) {
			m.out.Delivered = append(m.out.Delivered, d)
		}
	}
	headMoved := false
	for _, ev := range rd.Events {
		m.out.Events = append(m.out.Events, ev)
		switch ev.Kind {
		case consensus.EventEpochMerged:
			m.pushHistory(EpochRef{Epoch: ev.Epoch, ID: ev.ID})
			m.noteEpochRecords(EpochRef{Epoch: ev.Epoch, ID: ev.ID}, ev.ContextHash)
			m.noteAdded(ev)
			m.noteJoined(ev)
			m.noteReadded(ev)
			m.serveBatch(ev)
			headMoved = true
		case consensus.EventResend:
			m.logOutbox(ev.MessageID, ev.ID)
		}
	}
	if rd.Persist != nil {
		m.out.Persist = rd.Persist
	}
	if headMoved {
		if m.beaconsOnHeadChange() {
			m.beaconNow()
		}
		m.det.retryPending(m)
	}
}

// maxAddedAfter bounds the identities remembered per logged message; a
// message that saw more members added after it is never re-sent.
const maxAddedAfter = 16

// noteAdded records, for every message logged so far, the members an
// epoch brought in (read in that epoch's tree): those added by an Add,
// and an external committer that the parent epoch did not list (a
// newcomer; a returning member was listed). They joined after the message
// was sent, and must not read a re-sent copy.
func (m *Member) noteAdded(ev consensus.Event) {
	if len(m.sent) == 0 {
		return
	}
	tree := m.core.TreeOf(ev.ID)
	if tree == nil {
		return
	}
	var ids []Identity
	parent := m.core.TreeOf(ev.Parent)
	for _, l := range ev.Added {
		if leaf := tree.Leaf(treemath.LeafIndex(l)); leaf != nil {
			id := m.leafIdentity(leaf)
			if parent != nil {
				if _, listed := m.findIdentity(parent, id); listed {
					// A returning member re-added by a batch (its
					// stale leaf was in the parent): a member then.
					continue
				}
			}
			ids = append(ids, id)
		}
	}
	if parent != nil {
		if leaf := tree.Leaf(treemath.LeafIndex(ev.Committer)); leaf != nil {
			id := m.leafIdentity(leaf)
			if _, listed := m.findIdentity(parent, id); !listed {
				ids = append(ids, id)
			}
		}
	}
	if len(ids) == 0 {
		return
	}
	for _, e := range m.sent {
		if m.neverResend[e.ID] {
			continue
		}
		// A member of the epoch the message was first sealed in was
		// meant to read it, even if our chain adds it later: it was
		// added by a commit that lost, sealed in with us, and added
		// again on the winner (lossy seeds 1 and 4: its nacks were
		// refused and the message lost). Known while that epoch is
		// retained; once released, the conservative answer stands.
		var sealed *ratchettree.Tree
		if first, ok := m.sealedIn[e.ID]; ok {
			sealed = m.core.TreeOf(first)
		}
		list := m.addedAfter[e.ID]
		for _, id := range ids {
			if sealed != nil {
				if _, member := m.findIdentity(sealed, id); member {
					continue
				}
			}
			if !slices.Contains(list, id) {
				list = append(list, id)
			}
		}
		if len(list) > maxAddedAfter {
			m.neverResend[e.ID] = true
			delete(m.addedAfter, e.ID)
			continue
		}
		m.addedAfter[e.ID] = list
	}
	m.stateChanged()
}

// mayResend reports whether re-sealing message id for a group of roster
// would open it to nobody who joined after it was sent on our chain.
// (Members who come back by external commit were members then; members
// of another branch are given the benefit of the doubt, since join order
// across branches is not decidable.)
func (m *Member) mayResend(id consensus.MessageID, roster []Identity) bool {
	if m.neverResend[id] {
		return false
	}
	for _, x := range m.addedAfter[id] {
		if slices.Contains(roster, x) {
			return false
		}
	}
	return true
}

// pushHistory records that the head moved onto ref: entries at or above
// its number belonged to an abandoned branch.
func (m *Member) pushHistory(ref EpochRef) {
	i := len(m.history)
	for i > 0 && m.history[i-1].Epoch >= ref.Epoch {
		i--
	}
	m.history = append(m.history[:i], ref)
	if over := len(m.history) - m.cfg.History; over > 0 {
		m.history = slices.Delete(m.history, 0, over)
	}
	m.stateChanged()
}

// inHistory reports whether id is on this member's head chain, as far as
// remembered.
func (m *Member) inHistory(id EpochID) bool {
	for i := len(m.history) - 1; i >= 0; i-- {
		if m.history[i].ID == id {
			return true
		}
	}
	return false
}

// historyNewestFirst returns up to n entries of the head chain, newest
// first.
func (m *Member) historyNewestFirst(n int) []EpochRef {
	var out []EpochRef
	for i := len(m.history) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, m.history[i])
	}
	return out
}

// logOutbox notes that the core re-sealed message id in epoch.
func (m *Member) logOutbox(id consensus.MessageID, epoch EpochID) {
	if i, ok := m.sentIdx[id]; ok {
		m.sent[i].EpochID = epoch
		m.stateChanged()
	}
}

// logSent keeps an own message for re-send after a heal; a message
// already logged takes its newer epoch.
func (m *Member) logSent(e consensus.OutboxEntry) {
	defer m.stateChanged()
	if i, ok := m.sentIdx[e.ID]; ok {
		m.sent[i].EpochID = e.EpochID
		return
	}
	m.sentIdx[e.ID] = len(m.sent)
	m.sent = append(m.sent, e)
	m.sealedIn[e.ID] = e.EpochID
	if over := len(m.sent) - m.cfg.MaxSentLog; over > 0 {
		for _, old := range m.sent[:over] {
			delete(m.sentIdx, old.ID)
			delete(m.sealedIn, old.ID)
			delete(m.resentAt, old.ID)
			delete(m.addedAfter, old.ID)
			delete(m.neverResend, old.ID)
		}
		for seq, id := range m.sentBySeq {
			if _, ok := m.sentIdx[id]; !ok {
				delete(m.sentBySeq, seq)
			}
		}
		m.sent = slices.Delete(m.sent, 0, over)
		for i, e := range m.sent {
			m.sentIdx[e.ID] = i
		}
	}
}

// seenSet remembers the most recent message ids, for de-duplication of
// messages re-sent after a heal. It is bounded: an id older than the last
// max ids is forgotten.
type seenSet struct {
	max   int
	order []consensus.MessageID
	set   map[consensus.MessageID]bool
}

func newSeenSet(max int) seenSet {
	return seenSet{max: max, set: map[consensus.MessageID]bool{}}
}

// add records id and reports whether it was new.
func (s *seenSet) add(id consensus.MessageID) bool {
	if s.set[id] {
		return false
	}
	s.set[id] = true
	s.order = append(s.order, id)
	if len(s.order) > s.max {
		delete(s.set, s.order[0])
		s.order = s.order[1:]
	}
	return true
}

var errInternal = errors.New("fork: internal error")

// Stats are the sizes of a Member's network-fed memories, for tests that
// show the bounds hold and for status pages.
type Stats struct {
	PendingBeacons  int // <= MaxPendingBeacons
	InflightFetches int // <= MaxInflightFetches
	ServedPeers     int // <= MaxServePeers
	TrackedMembers  int // latest-beacon entries: identities of current rosters
	History         int // <= History
	SentLog         int // <= MaxSentLog
	Seen            int // <= MaxSeen
	Losers          int // <= 16
	JoinRequests    int // <= MaxJoinRequests
	// HeldResends: point-to-point re-sends of unknown epochs held
	// (<= DefaultMaxPendingEpochs x DefaultMaxPendingPerEpoch).
	HeldResends int
	PendingJoin bool
	Core        consensus.Stats
}

// Stats reports the sizes of what the Member holds.
func (m *Member) Stats() Stats {
	return Stats{
		PendingBeacons:  len(m.det.pending),
		InflightFetches: len(m.det.inflight),
		ServedPeers:     len(m.det.served),
		TrackedMembers:  max(len(m.det.latest), len(m.det.lastSeq)),
		History:         len(m.history),
		SentLog:         len(m.sent),
		Seen:            len(m.seen.order),
		Losers:          len(m.losers),
		JoinRequests:    len(m.joinReqs),
		HeldResends:     m.held.count(),
		PendingJoin:     m.pj != nil,
		Core:            m.core.Stats(),
	}
}
