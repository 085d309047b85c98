package fork

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/framing"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Batch re-add of a losing branch (docs/ordering.md, "Rejoining: one batch
// commit, external commit as the fallback").
//
// Each member of the losing branch sends the surviving branch a join
// request: its own Add (a fresh KeyPackage) as an external proposal from a
// new member (RFC 9420 §12.1.8, sender new_member_proposal), whose
// authenticated data carries a joinNote. Survivors collect the requests;
// after BatchDelay ticks a designated survivor commits all of them at once
// (removing each rejoiner's stale leaf in the same commit), and the
// rejoiners join from the commit's Welcome. A rejoiner that gets no Welcome
// within WelcomeTimeout falls back to its own external commit.

var (
	// ErrBadJoinRequest: a join request that does not parse or verify (not
	// a new-member Add, bad signature, bad KeyPackage, bad note).
	ErrBadJoinRequest = errors.New("fork: bad join request")
	// ErrStaleJoinRequest: a join request for an epoch not on this
	// member's chain, by a member active on it after that epoch, or whose
	// KeyPackage is already in the tree.
	ErrStaleJoinRequest = errors.New("fork: stale join request")
	// ErrUnknownJoiner: a join request by an identity that is neither in
	// this member's tree nor in the roster of a losing branch it judged.
	ErrUnknownJoiner = errors.New("fork: join request by a stranger")
	// ErrJoinRequestsFull: MaxJoinRequests requests are already held.
	ErrJoinRequestsFull = errors.New("fork: too many join requests")
)

// joinNote is the authenticated data of a join request.
//
//	struct {
//	    opaque magic[4] = "mlsJ";
//	    EpochRef onto;            // the survivor head the request was made on
//	    optional<EpochRef> fork_point;
//	    uint64 member_since;
//	} JoinNote;
type joinNote struct {
	Onto EpochRef
	Heal healNote
}

var joinMagic = []byte("mlsJ")

func (n *joinNote) MarshalMLS(w *codec.Writer) {
	w.Raw(joinMagic)
	writeRef(w, &n.Onto)
	w.Optional(n.Heal.ForkPoint != nil, func(w *codec.Writer) { writeRef(w, n.Heal.ForkPoint) })
	w.Uint64(n.Heal.MemberSince)
}

func (n *joinNote) UnmarshalMLS(r *codec.Reader) {
	*n = joinNote{}
	var magic []byte
	if r.Raw("JoinNote.magic", len(joinMagic), &magic) && !bytes.Equal(magic, joinMagic) {
		r.Invalid("JoinNote.magic", "not a join note")
		return
	}
	readRef(r, "JoinNote.onto", &n.Onto)
	r.Optional("JoinNote.fork_point", func(r *codec.Reader) {
		n.Heal.ForkPoint = new(EpochRef)
		readRef(r, "JoinNote.fork_point", n.Heal.ForkPoint)
	})
	r.Uint64("JoinNote.member_since", &n.Heal.MemberSince)
}

// batchNote is the authenticated data of a batch commit: the heal notes of
// the members it re-adds, as their requests carried them, so that every
// survivor (also one that missed a request) serves the rejoiners once.
//
//	struct {
//	    opaque magic[4] = "mlsB";
//	    BatchEntry entries<V>;    // <= MaxBatch, sorted by identity
//	} BatchNote;
//	struct {
//	    opaque identity[32];
//	    optional<EpochRef> fork_point;
//	    uint64 member_since;
//	} BatchEntry;
type batchNote struct {
	Entries []batchEntry
}

type batchEntry struct {
	ID   Identity
	Heal healNote
}

var batchMagic = []byte("mlsB")

// maxBatchEntries bounds a decoded batch note.
const maxBatchEntries = 4096

func (n *batchNote) MarshalMLS(w *codec.Writer) {
	w.Raw(batchMagic)
	w.Vector(func(w *codec.Writer) {
		for i := range n.Entries {
			e := &n.Entries[i]
			w.Raw(e.ID[:])
			w.Optional(e.Heal.ForkPoint != nil, func(w *codec.Writer) { writeRef(w, e.Heal.ForkPoint) })
			w.Uint64(e.Heal.MemberSince)
		}
	})
}

func (n *batchNote) UnmarshalMLS(r *codec.Reader) {
	*n = batchNote{}
	var magic []byte
	if r.Raw("BatchNote.magic", len(batchMagic), &magic) && !bytes.Equal(magic, batchMagic) {
		r.Invalid("BatchNote.magic", "not a batch note")
		return
	}
	readList(r, "BatchNote.entries", maxBatchEntries, func(r *codec.Reader) {
		var e batchEntry
		var raw []byte
		if !r.Raw("BatchEntry.identity", len(Identity{}), &raw) {
			return
		}
		e.ID = Identity(raw)
		r.Optional("BatchEntry.fork_point", func(r *codec.Reader) {
			e.Heal.ForkPoint = new(EpochRef)
			readRef(r, "BatchEntry.fork_point", e.Heal.ForkPoint)
		})
		r.Uint64("BatchEntry.member_since", &e.Heal.MemberSince)
		if r.OK() {
			n.Entries = append(n.Entries, e)
		}
	})
}

// isBatchNote reports whether a commit's authenticated data is a batch
// note: such a commit is never re-committed after it loses a race (see
// consensus.Config.KeepAbandoned); the survivors re-batch what the winner
// lacked from the requests they hold.
func isBatchNote(aad []byte) bool { return bytes.HasPrefix(aad, batchMagic) }

// joinRequest is a verified request held by a survivor.
type joinRequest struct {
	id     Identity
	kp     *wire.KeyPackage
	encKey []byte
	note   joinNote
	env    consensus.Envelope
	// envBytes is env encoded, made once for the persisted State (which
	// lists every held request and is rebuilt after each step).
	envBytes []byte
	at       uint64
	// addedIn is the epoch of a batch that added it, once merged; a
	// request whose epoch leaves our chain (the batch lost a race) is
	// batched again.
	addedIn EpochID
}

// pendingJoin is this member's own outstanding request (rejoiner side).
type pendingJoin struct {
	bundle *mls.KeyPackageBundle
	ref    []byte // KeyPackageRef, to find our entry in a Welcome
	note   healNote
	from   EpochRef
	at     uint64
	resent bool
	// joined: we joined from a batch commit on epoch onto at tick at and
	// keep the KeyPackage for WelcomeTimeout: if that batch loses a
	// race, the survivors batch our request again on the winner, and its
	// Welcome moves us there.
	joined bool
	onto   EpochRef
	// rebatch: the survivor went on without the batch we joined from
	// (considerBranch); we wait for the batch again on m.rival, the
	// survivor's new head.
	rebatch bool
	// asked are the survivor epochs our requests named, oldest first (the
	// request and its re-send). A batch that took our request was
	// committed on one of them or on a later epoch of their chain, so a
	// survivor's commits after them carry its Welcome (fetchWelcome).
	// Not persisted: after a restart a lost Welcome is only made up for
	// by the external fallback.
	asked []EpochRef
}

// reapply is a rejoiner's deferred re-application of its old branch's
// removals: the first rejoiner of a batch makes it at once, the next ones
// later and only what is still undone, so that k rejoiners do not make k
// rival commits of the same removals.
type reapply struct {
	ids []Identity
	due uint64
}

// ---- rejoiner side ----

// requestJoin sends the surviving branch r our join request.
func (m *Member) requestJoin(r *rival) {
	oldHead := m.core.Head()
	bundle, err := m.freshKeyPackage(oldHead)
	if err != nil {
		return
	}
	kpBytes, err := codec.Marshal(bundle.KeyPackage)
	if err != nil {
		return
	}
	pj := &pendingJoin{bundle: bundle, ref: m.suite.MakeKeyPackageRef(kpBytes),
		note: m.healNoteFor(r),
		from: EpochRef{Epoch: oldHead.Epoch(), ID: m.core.HeadID()}, at: m.tick,
		asked: []EpochRef{r.head}}
	env, err := m.joinRequestEnvelope(r.head, pj)
	if err != nil {
		return
	}
	m.pj = pj
	m.stateChanged()
	m.out.Messages = append(m.out.Messages, env)
	m.emit(Event{Kind: EventJoinRequested, Peer: r.peer, Rival: r.head})
}

// joinRequestEnvelope signs pj's Add as a new-member proposal on epoch onto
// of the surviving branch.
func (m *Member) joinRequestEnvelope(onto EpochRef, pj *pendingJoin) (consensus.Envelope, error) {
	aad, err := codec.Marshal(&joinNote{Onto: onto, Heal: pj.note})
	if err != nil {
		return consensus.Envelope{}, err
	}
	content := &wire.FramedContent{GroupID: m.groupID, Epoch: onto.Epoch,
		Sender: wire.Sender{SenderType: wire.SenderTypeNewMemberProposal}, AuthenticatedData: aad,
		ContentType: wire.ContentTypeProposal, Proposal: mls.NewAdd(pj.bundle.KeyPackage)}
	ac, err := framing.Sign(m.cfg.Core.SigningKey, wire.WireFormatPublicMessage, content, nil)
	if err != nil {
		return consensus.Envelope{}, err
	}
	body, err := codec.Marshal(wire.NewMLSMessage(&wire.PublicMessage{Content: ac.Content, Auth: ac.Auth}))
	if err != nil {
		return consensus.Envelope{}, err
	}
	return consensus.Envelope{Kind: consensus.KindJoinRequest, GroupID: m.groupID,
		Epoch: onto.Epoch, EpochID: onto.ID, Body: body}, nil
}

// awaitWelcome is decide's rejoiner path while a request is out: it
// reports true while the member should keep waiting for the Welcome, and
// false when it should fall back to an external commit (no Welcome within
// WelcomeTimeout).
//
// When the survivor's tree already holds our KeyPackage's leaf, a batch
// added us and its Welcome did not arrive: the Welcome travels only in the
// batch commit, broadcast once on the group's topic, and our fetches of
// the survivor's new epochs are answered with BranchInfos (our chain
// shares no retained epoch with theirs), which carry no Welcome. Each
// member of a large losing branch misses the broadcast with the link's
// loss rate (5% of 64 losers: about three per heal), and the external
// fallback then made them wait WelcomeTimeout and a stagger over the
// whole roster (128 members: 41 s). We fetch the commits after the epochs
// our requests named instead (fetchWelcome), once per FetchTimeout while
// the fallback is not due; the batch commit among them is joined from
// (stepFetchedCommit).
func (m *Member) awaitWelcome(r *rival) bool {
	pj := m.pj
	if pj == nil {
		return false
	}
	waited := m.tick - pj.at
	encKey := pj.bundle.KeyPackage.LeafNode.EncryptionKey
	if _, in := r.tree.FindLeaf(func(_ treemath.LeafIndex, ln *wire.LeafNode) bool {
		return bytes.Equal(ln.EncryptionKey, encKey)
	}); in && !pj.joined {
		if waited >= m.cfg.WelcomeTimeout {
			return false
		}
		m.fetchWelcome(r)
		return true
	}
	if waited >= m.cfg.WelcomeTimeout {
		return false
	}
	switch {
	case !pj.joined && len(pj.asked) > 0 && r.head.Epoch > pj.asked[len(pj.asked)-1].Epoch:
		// The survivor's head moved past every epoch our requests named
		// and its tree does not hold our KeyPackage: a round went by
		// without our request. The designated committer may have
		// missed it (gossip gives it once), and the next ranks may no
		// longer be the next ranks: the members the batch re-added take
		// low leaves and count among the committers from their first
		// beacon on, yet never held the requests sent before they were
		// back. Ask again on the new head, where every member holds it
		// (simulator, 128 members, 5% loss: two requests the committer
		// missed waited 3 and 4 s for the re-send below).
		m.askAgain(r)
	case !pj.resent && waited >= m.cfg.WelcomeTimeout/2 && (!pj.joined || pj.rebatch):
		// Gossip may have lost it, or the survivors moved on past the
		// epoch it names: once more, on the survivor's latest head.
		pj.resent = true
		m.askAgain(r)
	}
	return true
}

// maxAsked bounds the epochs a pending join remembers asking on.
const maxAsked = 8

// askAgain re-sends our join request (the same KeyPackage) on r's head.
func (m *Member) askAgain(r *rival) {
	pj := m.pj
	env, err := m.joinRequestEnvelope(r.head, pj)
	if err != nil {
		return
	}
	m.out.Messages = append(m.out.Messages, env)
	if !slices.Contains(pj.asked, r.head) {
		if len(pj.asked) >= maxAsked {
			// Keep the first: the commits after it hold any batch.
			pj.asked = slices.Delete(pj.asked, 1, 2)
		}
		pj.asked = append(pj.asked, r.head)
	}
}

// fetchWelcome asks the peer that told us of the survivor branch r for
// the commits of its chain after the epochs our join requests named,
// oldest first: the batch commit that added us, with its Welcome, is
// among them while the peer retains those epochs (the responder serves
// from the first it retains, as for any fetch). fetch sends nothing while
// a fetch to that peer is in flight, so this repeats once per
// FetchTimeout at most, and with the peer of each fresher BranchInfo.
func (m *Member) fetchWelcome(r *rival) {
	if len(m.pj.asked) == 0 {
		return // restored after a restart: the fallback covers it
	}
	m.fetchWith(r.peer, r.head, m.pj.asked)
}

// tryWelcome joins the surviving branch from a commit's Welcome addressed
// to our pending request. It reports whether the commit was ours to take.
func (m *Member) tryWelcome(env *consensus.Envelope) (bool, error) {
	pj := m.pj
	if pj.joined && env.EpochID == pj.onto.ID {
		return false, nil // a rival of the batch we joined from
	}
	var body consensus.CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil || body.Welcome == nil {
		return false, nil
	}
	mine := false
	for _, s := range body.Welcome.Secrets {
		if bytes.Equal(s.NewMember, pj.ref) {
			mine = true
			break
		}
	}
	if !mine {
		return false, nil
	}
	cc := m.cfg.Core
	g, err := mls.JoinFromWelcome(m.suite, body.Welcome, mls.JoinConfig{KeyPackage: pj.bundle,
		SigningKey: cc.SigningKey, PSKs: cc.PSKs, Credentials: cc.Credentials})
	if err != nil {
		return true, fmt.Errorf("%w: welcome: %w", consensus.ErrInvalidMessage, err)
	}
	// The batch's committer must be someone we know as a member: of the
	// survivor branch we judged, or of our own tree. Anyone who saw our
	// (public) request could otherwise welcome us into a group of its
	// own making.
	if pm := body.Commit.PublicMessage; pm == nil || pm.Content.Sender.SenderType != wire.SenderTypeMember {
		return true, fmt.Errorf("%w: welcome with a commit not by a member", consensus.ErrInvalidMessage)
	} else if leaf := g.Tree().Leaf(treemath.LeafIndex(pm.Content.Sender.LeafIndex)); leaf == nil || !m.knownMember(m.leafIdentity(leaf)) {
		return true, fmt.Errorf("%w: welcome from a batch committer we do not know", consensus.ErrInvalidMessage)
	}
	// Our rank among the batch's rejoiners decides who re-applies our old
	// branch's removals first.
	rank := 0
	if pm := body.Commit.PublicMessage; pm != nil {
		var note batchNote
		if codec.Unmarshal(pm.Content.AuthenticatedData, &note) == nil {
			for _, e := range note.Entries {
				if bytes.Compare(e.ID[:], m.self[:]) < 0 {
					rank++
				}
			}
		}
	}
	r := m.rival
	if r == nil {
		// The rival was dropped meanwhile (a stale GroupInfo): the
		// Welcome's group is the survivor all the same.
		r = &rival{ids: map[EpochID]bool{}}
	}
	onto := EpochRef{Epoch: env.Epoch, ID: env.EpochID}
	if err := m.enterSurvivor(g, r, pj.from, pj.note, onto, *env, rank, EventReadded); err != nil {
		return true, err
	}
	pj.joined, pj.onto, pj.at = true, onto, m.tick
	m.pj = pj
	m.replayEarly()
	m.drain()
	return true, nil
}

// maxEarly bounds the messages kept for a Welcome not yet arrived.
const maxEarly = 256

// keepEarly keeps an application message of an epoch our core does not
// know while a join request is out.
func (m *Member) keepEarly(env *consensus.Envelope) {
	if m.pj == nil || m.outside() || m.core.Knows(env.EpochID) || m.inHistory(env.EpochID) {
		return
	}
	if len(m.early) >= maxEarly {
		m.early = m.early[1:]
	}
	m.early = append(m.early, *env)
}

// replayEarly steps the kept messages into the core we just joined with.
func (m *Member) replayEarly() {
	early := m.early
	m.early = nil
	for i := range early {
		// Those of other epochs are held or refused.
		if early[i].Kind == consensus.KindResend {
			_ = m.stepDirect(&early[i])
		} else {
			_ = m.core.Step(early[i])
		}
	}
}

// knownMember reports whether id is a member of the survivor branch we
// judged or of our own head (for a rejoiner deciding whose batch
// Welcome to take).
func (m *Member) knownMember(id Identity) bool {
	if m.rival != nil && slices.Contains(m.rival.roster, id) {
		return true
	}
	if m.outside() {
		return false
	}
	_, ok := m.findIdentity(m.core.Head().Tree(), id)
	return ok
}

// ---- survivor side ----

// stepJoinRequest verifies and collects a join request.
func (m *Member) stepJoinRequest(env *consensus.Envelope) error {
	if m.outside() {
		return nil
	}
	req, err := m.verifyJoinRequest(env)
	if err != nil {
		return err
	}
	return m.collectJoinRequest(req)
}

// verifyJoinRequest checks a join request against our head. Nothing is
// changed (a removed member's genuine request is reported by an event).
func (m *Member) verifyJoinRequest(env *consensus.Envelope) (*joinRequest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadJoinRequest}, args...)...)
	}
	msg, err := wire.ParseMLSMessage(env.Body)
	if err != nil {
		return nil, fmt.Errorf("%w (%w): %w", ErrBadJoinRequest, consensus.ErrMalformed, err)
	}
	pm := msg.PublicMessage
	if pm == nil {
		return nil, bad("not a PublicMessage")
	}
	c := &pm.Content
	switch {
	case !bytes.Equal(c.GroupID, m.groupID):
		return nil, fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	case c.Sender.SenderType != wire.SenderTypeNewMemberProposal || c.ContentType != wire.ContentTypeProposal ||
		c.Proposal == nil || c.Proposal.Type != wire.ProposalTypeAdd || c.Proposal.Add == nil:
		return nil, bad("not a new member's Add")
	}
	var note joinNote
	if err := codec.Unmarshal(c.AuthenticatedData, &note); err != nil {
		return nil, bad("note: %w", err)
	}
	if note.Onto.Epoch != c.Epoch || note.Onto != (EpochRef{Epoch: env.Epoch, ID: env.EpochID}) {
		return nil, bad("the note names another epoch than the envelope")
	}
	kp := &c.Proposal.Add.KeyPackage
	id := IdentityOf(&kp.LeafNode.Credential)
	head := m.core.Head()
	removed, err := RemovedSetOf(head.Context().Extensions)
	if err != nil {
		return nil, err
	}
	removedJoiner := removed.Contains(id)
	if !m.inHistory(note.Onto.ID) {
		return nil, fmt.Errorf("%w: epoch %d/%v is not on this chain", ErrStaleJoinRequest, note.Onto.Epoch, note.Onto.ID)
	}
	if b, ok := m.det.latest[id]; ok && b.Epoch > note.Onto.Epoch && m.inHistory(b.EpochID) {
		// Its signed beacon puts it on our chain after the epoch the
		// request names: a replay, or a member that is back already.
		return nil, fmt.Errorf("%w: the member is active here", ErrStaleJoinRequest)
	}
	tree := head.Tree()
	if _, in := tree.FindLeaf(func(_ treemath.LeafIndex, ln *wire.LeafNode) bool {
		return bytes.Equal(ln.EncryptionKey, kp.LeafNode.EncryptionKey)
	}); in {
		return nil, fmt.Errorf("%w: already added", ErrStaleJoinRequest)
	}
	if _, in := m.findIdentity(tree, id); !in && !m.knownLoserMember(id) && !removedJoiner {
		return nil, ErrUnknownJoiner
	}
	if i, found := m.findJoinRequest(id); found && (note.Onto.Epoch <= m.joinReqs[i].note.Onto.Epoch ||
		bytes.Equal(kp.LeafNode.EncryptionKey, m.joinReqs[i].encKey)) {
		// The same KeyPackage asked again on a newer head (askAgain) is
		// news only to survivors that missed it: the request held
		// already is batched on whatever head comes. Refused before
		// any signature check, so that a rejoiner's re-sends cost the
		// members holding it nothing (at 1,000 members, the losers a
		// full batch leaves for the next re-send on every head change).
		return nil, fmt.Errorf("%w: join request", consensus.ErrDuplicate)
	}
	// The cheap checks first: a request for another branch (every
	// loser sees the others'), or one held already, costs no signature
	// check.
	check := mls.KeyPackageCheck{Suite: m.suite, Credentials: m.cfg.Core.Credentials}
	if lt := kp.LeafNode.Lifetime; lt != nil {
		// fork has no clock: the lifetime is the engine's to judge when
		// the group configures one; here only its shape is checked.
		check.Now = lt.NotBefore
	}
	if err := mls.ValidateKeyPackage(kp, check); err != nil {
		return nil, bad("%w", err)
	}
	ac := &wire.AuthenticatedContent{WireFormat: wire.WireFormatPublicMessage, Content: *c, Auth: pm.Auth}
	if err := framing.Verify(m.suite, kp.LeafNode.SignatureKey, ac, nil); err != nil {
		return nil, bad("signature: %w", err)
	}
	if removedJoiner {
		// Signed by the removed member itself: worth a report.
		m.emit(Event{Kind: EventRefusedRejoin, Rival: note.Onto})
		return nil, fmt.Errorf("%w: join request", ErrRemovedMember)
	}
	return &joinRequest{id: id, kp: kp, encKey: kp.LeafNode.EncryptionKey, note: note, env: *env, at: m.tick}, nil
}

// knownLoserMember reports whether id is in the roster of a branch this
// member judged (or is judging) against its own: a member that joined the
// losing branch during the partition may be re-added too.
func (m *Member) knownLoserMember(id Identity) bool {
	if m.rival != nil && slices.Contains(m.rival.roster, id) {
		return true
	}
	for _, l := range m.losers {
		if m.tick-l.at < m.loserTTL() && slices.Contains(l.roster, id) {
			return true
		}
	}
	return false
}

// collectJoinRequest keeps a verified request, one per identity (the one
// naming the newest epoch), at most MaxJoinRequests.
func (m *Member) collectJoinRequest(req *joinRequest) error {
	i, found := m.findJoinRequest(req.id)
	if found {
		if req.note.Onto.Epoch <= m.joinReqs[i].note.Onto.Epoch {
			return fmt.Errorf("%w: join request", consensus.ErrDuplicate)
		}
		m.joinReqs[i] = *req
		m.stateChanged()
		return nil
	}
	if len(m.joinReqs) >= m.cfg.MaxJoinRequests {
		return ErrJoinRequestsFull
	}
	if len(m.joinReqs) == 0 {
		m.batchSince = m.tick
	}
	m.joinReqs = slices.Insert(m.joinReqs, i, *req)
	m.stateChanged()
	return nil
}

func (m *Member) findJoinRequest(id Identity) (int, bool) {
	return slices.BinarySearchFunc(m.joinReqs, id, func(r joinRequest, id Identity) int {
		return bytes.Compare(r.id[:], id[:])
	})
}

// pruneJoinRequests drops requests that are refused (the identity was
// removed meanwhile), old, or whose member is back (its beacon names our
// chain after the epoch it asked on); it un-marks those whose batch left
// our chain. It reports how many wait for a batch.
func (m *Member) pruneJoinRequests() int {
	head := m.core.Head()
	removed, _ := RemovedSetOf(head.Context().Extensions)
	ttl := m.cfg.WelcomeTimeout + 4*m.cfg.HealDelay
	before := len(m.joinReqs)
	defer func() {
		if len(m.joinReqs) != before {
			m.stateChanged()
		}
	}()
	m.joinReqs = slices.DeleteFunc(m.joinReqs, func(r joinRequest) bool {
		b, ok := m.det.latest[r.id]
		back := ok && b.Epoch > r.note.Onto.Epoch && m.inHistory(b.EpochID)
		return removed.Contains(r.id) || m.tick-r.at > ttl || back
	})
	waiting := 0
	for i := range m.joinReqs {
		r := &m.joinReqs[i]
		if !r.addedIn.IsZero() && !m.inHistory(r.addedIn) {
			r.addedIn = EpochID{}
		}
		if r.addedIn.IsZero() {
			waiting++
		}
	}
	return waiting
}

// heardRecently reports whether a beacon of id arrived within two beacon
// intervals and a fetch timeout.
func (m *Member) heardRecently(id Identity) bool {
	at, ok := m.heardAt[id]
	return ok && m.tick-at <= 2*m.cfg.BeaconInterval+m.cfg.FetchTimeout
}

// committerRank is this member's place among the batch committers: the
// members of our head's tree, by leaf index, that we heard recently with a
// latest beacon on our chain (we count ourselves). The designated
// committer is rank 0. Rejoiners cannot move it: it depends only on the
// survivors' leaves and their own signed beacons. -1 if we are not in the
// head's tree.
func (m *Member) committerRank() int {
	head := m.core.Head()
	own := head.OwnLeaf()
	rank := 0
	for _, l := range head.Tree().Members() {
		if l >= own {
			break
		}
		id := IdentityOf(&head.Tree().Leaf(l).Credential)
		if b, ok := m.det.latest[id]; ok && m.heardRecently(id) && m.inHistory(b.EpochID) {
			rank++
		}
	}
	return rank
}

// allElsewhereAsked reports whether every member we heard recently whose
// latest beacon names an epoch off our chain (a member of another branch,
// not removed here) has a request waiting.
func (m *Member) allElsewhereAsked() bool {
	removed, _ := RemovedSetOf(m.core.Head().Context().Extensions)
	for id, b := range m.det.latest {
		if id == m.self || m.inHistory(b.EpochID) || m.core.Knows(b.EpochID) || !m.heardRecently(id) || removed.Contains(id) {
			continue
		}
		if i, ok := m.findJoinRequest(id); !ok || !m.joinReqs[i].addedIn.IsZero() {
			return false
		}
	}
	return true
}

// maybeCommitBatch is the survivor's batch timer, run every tick.
func (m *Member) maybeCommitBatch() {
	if len(m.joinReqs) == 0 || m.outside() {
		return
	}
	// Take in what the core did this tick first: a batch of ours that it
	// merged marks its requests done (noteReadded).
	m.drain()
	if m.outside() {
		return
	}
	if m.pruneJoinRequests() == 0 || m.batchOn == m.core.HeadID() {
		return // nothing waits, or our batch on this head is still out
	}
	rank := m.committerRank()
	if rank >= m.cfg.BatchCommitters {
		return
	}
	wait := m.cfg.BatchDelay + uint64(rank)*m.cfg.BatchStagger
	if rank == 0 && m.allElsewhereAsked() {
		// Nobody else is expected: a lone rejoiner (a member whose
		// Welcome came from a losing commit, typically) is not kept
		// waiting; in a commit storm every tick of delay is a chance
		// for a sender it is owed messages by to be removed first.
		wait = 0
	}
	if m.tick-m.batchSince < wait {
		return
	}
	m.commitBatch()
}

// commitBatch commits the held requests (up to MaxBatch, by identity) in
// one commit: for each, the Remove of its stale leaf if our tree still has
// one, and its Add. A request that spoils the batch (the membership policy
// refuses it, or the engine cannot add its KeyPackage to this group) is
// found by committing the requests one by one, and dropped.
func (m *Member) commitBatch() {
	head := m.core.Head()
	parent := m.core.HeadID()
	build := func(reqs []joinRequest) ([]byte, []*wire.Proposal, error) {
		var props []*wire.Proposal
		note := batchNote{}
		for _, r := range reqs {
			if leaf, ok := m.findIdentity(head.Tree(), r.id); ok {
				props = append(props, mls.NewRemove(uint32(leaf)))
			}
			props = append(props, mls.NewAdd(r.kp))
			note.Entries = append(note.Entries, batchEntry{ID: r.id, Heal: r.note.Heal})
		}
		aad, err := codec.Marshal(&note)
		return aad, props, err
	}
	try := func(reqs []joinRequest) error {
		aad, props, err := build(reqs)
		if err != nil {
			return err
		}
		return m.core.CommitWithData(aad, props...)
	}
	var batch []joinRequest
	for _, r := range m.joinReqs {
		if r.addedIn.IsZero() && len(batch) < m.cfg.MaxBatch {
			batch = append(batch, r)
		}
	}
	err := try(batch)
	if errors.Is(err, consensus.ErrAlreadyCommitted) || errors.Is(err, consensus.ErrEquivocator) {
		m.batchOn = parent // we committed something else on this head: wait for the next
		return
	}
	if err != nil {
		var refused []Identity
		err = errors.New("no request")
		for _, r := range batch {
			if err = try([]joinRequest{r}); err == nil {
				batch = []joinRequest{r}
				break
			}
			refused = append(refused, r.id)
		}
		for _, id := range refused {
			m.stateChanged()
			m.joinReqs = slices.DeleteFunc(m.joinReqs, func(r joinRequest) bool { return r.id == id })
			m.emit(Event{Kind: EventJoinRefused, Count: 1})
		}
		if err != nil {
			return
		}
	}
	m.batchOn = parent
	m.batchSince = m.tick
	m.emit(Event{Kind: EventBatchCommitted, Rival: EpochRef{Epoch: head.Epoch(), ID: parent}, Count: len(batch)})
}

// noteReadded marks the held requests an epoch (event ev) fulfilled: it
// added their KeyPackages. Marked on the merge itself, because the
// re-added member's own next commit replaces its leaf's keys, after which
// the KeyPackage is no longer to be seen in the tree and its request would
// be committed again, removing the member's live leaf. Kept (not batched)
// while that epoch is on our chain, so that it is batched again if the
// epoch loses a race.
func (m *Member) noteReadded(ev consensus.Event) {
	if len(ev.Added) == 0 || len(m.joinReqs) == 0 {
		return
	}
	tree := m.core.TreeOf(ev.ID)
	if tree == nil {
		return
	}
	keys := map[string]bool{}
	for _, l := range ev.Added {
		if leaf := tree.Leaf(treemath.LeafIndex(l)); leaf != nil {
			keys[string(leaf.EncryptionKey)] = true
		}
	}
	for i := range m.joinReqs {
		if keys[string(m.joinReqs[i].encKey)] {
			m.joinReqs[i].addedIn = ev.ID
			m.stateChanged()
		}
	}
}

// serveBatch is a survivor's answer to a merged batch commit (event ev):
// it re-sends, once for the whole batch, its own messages since the oldest
// fork point among the returning members the commit re-added (members our
// parent tree lists; a newcomer is served nothing, as for external
// commits), within the confidentiality rules of resendSince.
func (m *Member) serveBatch(ev consensus.Event) {
	if len(ev.Added) == 0 || m.outside() {
		return
	}
	envs, ok := m.core.CommitsAfter(ev.Parent, 1)
	if !ok || len(envs) == 0 {
		return
	}
	var body consensus.CommitBody
	if codec.Unmarshal(envs[0].Body, &body) != nil || body.Commit.PublicMessage == nil {
		return
	}
	var note batchNote
	if codec.Unmarshal(body.Commit.PublicMessage.Content.AuthenticatedData, &note) != nil {
		return
	}
	parent, tree := m.core.TreeOf(ev.Parent), m.core.TreeOf(ev.ID)
	if parent == nil || tree == nil {
		return
	}
	added := map[Identity]bool{}
	for _, l := range ev.Added {
		if leaf := tree.Leaf(treemath.LeafIndex(l)); leaf != nil {
			added[m.leafIdentity(leaf)] = true
		}
	}
	var fp *EpochRef
	var forkAt EpochRef
	var returning []owedRejoiner
	for i := range note.Entries {
		e := &note.Entries[i]
		if !added[e.ID] {
			continue
		}
		if _, ok := m.findIdentity(parent, e.ID); !ok {
			continue
		}
		if p := m.servedFrom(&e.Heal); p != nil {
			returning = append(returning, owedRejoiner{id: e.ID, from: p})
			if fp == nil || p.Epoch < fp.Epoch {
				fp = p
				if e.Heal.ForkPoint != nil {
					forkAt = *e.Heal.ForkPoint
				}
			}
		}
	}
	if fp == nil {
		return
	}
	n, ok := m.resendSince(fp, false, nil)
	if !ok {
		return
	}
	// What the group re-send may not carry (a member added since would
	// read it) goes to each returning member alone that was a member
	// when it was sent, as for a nack: the rejoiner cannot nack what it
	// does not know it missed.
	n += m.directToReturning(returning)
	m.emit(Event{Kind: EventServedRejoiner, From: forkAt, Count: n})
}

// maxDirectPerBatch bounds the point-to-point re-sends one batch makes.
const maxDirectPerBatch = 256

// owedRejoiner is a returning member of a batch and the epoch of our
// chain from which it is served.
type owedRejoiner struct {
	id   Identity
	from *EpochRef
}

// directToReturning sends each returning member the logged messages of our
// chain since its epoch that a group re-send may not carry, point to
// point, when it was a member then (not added on our chain since) and we
// know its peer; at most maxDirectPerBatch in all.
func (m *Member) directToReturning(returning []owedRejoiner) int {
	if len(returning) == 0 || len(m.sent) == 0 {
		return 0
	}
	head := m.core.Head()
	roster := m.roster(head.Tree())
	epochOf := map[EpochID]uint64{}
	for _, h := range m.history {
		epochOf[h.ID] = h.Epoch
	}
	n := 0
	for _, e := range m.sent {
		at, onChain := epochOf[e.EpochID]
		if !onChain || e.EpochID == m.core.HeadID() || m.neverResend[e.ID] || m.mayResend(e.ID, roster) {
			continue // re-sent to the group (or never)
		}
		for _, r := range returning {
			if n >= maxDirectPerBatch {
				return n
			}
			peer, known := m.peerOf[r.id]
			if !known || at < r.from.Epoch || r.id == m.self || slices.Contains(m.addedAfter[e.ID], r.id) {
				continue
			}
			leaf, ok := m.findIdentity(head.Tree(), r.id)
			if !ok {
				continue
			}
			if err := m.sendDirect(peer, uint32(leaf), e); err == nil {
				m.directAt[directKey{id: e.ID, to: r.id}] = m.tick
				n++
			}
		}
	}
	return n
}

// runReapply re-applies, when due, what is left of our old branch's
// removals after joining by a batch.
func (m *Member) runReapply() {
	ra := m.reapply
	if ra == nil || m.tick < ra.due {
		return
	}
	m.reapply = nil
	if m.outside() {
		return
	}
	if props := m.removalsLeft(ra.ids); len(props) > 0 {
		_ = m.core.Commit(props...)
	}
}

// removalsLeft are Remove proposals for the identities of ids still in our
// head's tree and not in its removed set.
func (m *Member) removalsLeft(ids []Identity) []*wire.Proposal {
	head := m.core.Head()
	set, _ := RemovedSetOf(head.Context().Extensions)
	var out []*wire.Proposal
	for _, id := range ids {
		if id == m.self || set.Contains(id) {
			continue
		}
		if leaf, ok := m.findIdentity(head.Tree(), id); ok {
			out = append(out, mls.NewRemove(uint32(leaf)))
		}
	}
	return out
}
