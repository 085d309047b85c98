package fork

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
)

var (
	// ErrRateLimited: a peer asked for more fetches than ServeBudget per
	// beacon interval, or too many peers asked at once; nothing is sent.
	ErrRateLimited = errors.New("fork: fetch request over the rate limit")
	// ErrUnsolicited: a fetch response this member did not ask that peer
	// for (or asked for under another request id).
	ErrUnsolicited = errors.New("fork: unsolicited fetch response")
	// ErrBadBranch: a BranchInfo whose GroupInfo or tree does not verify.
	ErrBadBranch = errors.New("fork: branch info does not verify")
)

// detector is the bookkeeping of fork detection. Every map and list is
// bounded: beacon maps by the identities in the trees they were verified
// against (pruned to the current rosters each beacon interval), pending
// beacons by MaxPendingBeacons, fetches by MaxInflightFetches, served
// peers by MaxServePeers.
type detector struct {
	lastSeq  map[Identity]uint64
	latest   map[Identity]Beacon
	pending  []pendingBeacon
	inflight map[PeerID]fetchInFlight
	nextID   uint64
	served   map[PeerID]int
	// onDemand and antiEntropy are set once an on-demand beacon, or a
	// re-broadcast of unsettled messages, went out in this interval.
	onDemand, antiEntropy bool
}

type pendingBeacon struct {
	from PeerID
	b    Beacon
}

type fetchInFlight struct {
	id   uint64
	at   uint64
	want EpochRef
	// core is the consensus core whose chain the request's have listed:
	// a BranchInfo answers how the responder's chain relates to it.
	core *consensus.Core
}

func (d *detector) init() {
	d.lastSeq = map[Identity]uint64{}
	d.latest = map[Identity]Beacon{}
	d.inflight = map[PeerID]fetchInFlight{}
	d.served = map[PeerID]int{}
	d.nextID = 1
}

func (d *detector) newServeWindow() {
	clear(d.served)
	d.onDemand = false
	d.antiEntropy = false
}

// expire forgets fetches older than timeout ticks.
func (d *detector) expire(now, timeout uint64) {
	for p, f := range d.inflight {
		if now-f.at >= timeout {
			delete(d.inflight, p)
		}
	}
}

// allowServe counts a request from peer against its budget.
func (d *detector) allowServe(peer PeerID, budget, maxPeers int) bool {
	n, known := d.served[peer]
	if !known && len(d.served) >= maxPeers {
		return false
	}
	if n >= budget {
		return false
	}
	d.served[peer] = n + 1
	return true
}

func (d *detector) addPending(from PeerID, b Beacon, max int) {
	for i := range d.pending {
		if sameBeacon(&d.pending[i].b, &b) {
			return
		}
	}
	if len(d.pending) >= max {
		d.pending = d.pending[1:]
	}
	d.pending = append(d.pending, pendingBeacon{from: from, b: b})
}

// retryPending verifies pending beacons whose epoch became known.
func (d *detector) retryPending(m *Member) {
	kept := d.pending[:0]
	for _, p := range d.pending {
		if tree := m.treeFor(p.b.EpochID); tree != nil {
			m.beaconFrom = p.from
			_ = m.acceptBeacon(tree, &p.b) // a bad one is simply dropped
			m.beaconFrom = ""
			continue
		}
		if m.inHistory(p.b.EpochID) || m.isLoser(p.b.EpochID) {
			continue
		}
		kept = append(kept, p)
	}
	d.pending = kept
}

// beaconNow broadcasts a signed beacon of the head.
func (m *Member) beaconNow() {
	if m.outside() {
		return
	}
	head := m.core.Head()
	b := Beacon{GroupID: m.groupID, Epoch: head.Epoch(), EpochID: m.core.HeadID(),
		Sender: uint32(head.OwnLeaf()), Seq: m.seq, Sent: m.sendSeq,
		OpensFrom: m.core.OpensFrom(), Nacks: m.nacks()}
	if err := SignBeacon(m.cfg.Core.SigningKey, &b); err != nil {
		return // the key signs every message; it cannot fail here alone
	}
	m.seq++
	if m.seq > m.seqLimit {
		m.seqLimit = m.seq + seqReserve
		m.stateChanged()
	}
	body, err := codec.Marshal(&b)
	if err != nil {
		return
	}
	m.det.lastSeq[m.self] = b.Seq
	m.det.latest[m.self] = b
	m.out.Messages = append(m.out.Messages, consensus.Envelope{Kind: consensus.KindBeacon,
		GroupID: m.groupID, Epoch: b.Epoch, EpochID: b.EpochID, Body: body})
}

// beaconsOnHeadChange reports whether this member beacons now that its head
// moved (Config.HeadBeacons). Every member used to: with n members each
// commit cost n beacons on the topic and n^2 deliveries (a thousand
// members: a million per commit). A beacon on a head change only makes
// news travel sooner than the periodic beacons would: peers learn of the
// commit from the commit itself and of any branch from envelopes naming
// its epochs, and each member's periodic beacon still comes every
// interval, so the survivor rule's activity evidence and the counts of
// gap recovery are at most one interval older than before. The choice
// hashes the new epoch id, which no member can pick, so no member can
// arrange to be the one that beacons, or that stays silent, on purpose.
func (m *Member) beaconsOnHeadChange() bool {
	k := m.cfg.HeadBeacons
	head := m.core.Head()
	if k < 0 || head == nil {
		return true
	}
	return headBeaconer(m.core.HeadID(), m.self, int(head.Tree().MemberCount()), k)
}

// headBeaconer is the choice of beaconsOnHeadChange for the member self of
// a roster of n, on the head id.
func headBeaconer(id EpochID, self Identity, n, k int) bool {
	if n <= k {
		return true
	}
	h := sha256.New()
	h.Write([]byte("mlsnode head beacon"))
	h.Write(id[:])
	h.Write(self[:])
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0])[:8])%uint64(n) < uint64(k)
}

// onDemandBeacon answers a peer that is elsewhere with our head, at most
// once per beacon interval.
func (m *Member) onDemandBeacon() {
	if m.det.onDemand {
		return
	}
	m.det.onDemand = true
	m.beaconNow()
}

// treeFor is the tree to verify a beacon naming id against: a retained
// epoch's, or the rival branch head's for an epoch of that branch.
func (m *Member) treeFor(id EpochID) *ratchettree.Tree {
	if t := m.core.TreeOf(id); t != nil {
		return t
	}
	if m.rival != nil && m.rival.ids[id] {
		return m.rival.tree
	}
	return nil
}

// isLoser reports whether id heads a branch judged to lose (or built on a
// refused rejoin) recently. The judgement expires after loserTTL ticks, so
// that a branch judged on evidence its own members did not share is looked
// at again rather than left forked for good.
func (m *Member) isLoser(id EpochID) bool {
	for _, l := range m.losers {
		if l.id == id && m.tick-l.at < m.loserTTL() {
			return true
		}
	}
	return false
}

func (m *Member) loserTTL() uint64 { return 4 * m.cfg.HealDelay }

func (m *Member) stepBeacon(from PeerID, env *consensus.Envelope) error {
	var b Beacon
	if err := codec.Unmarshal(env.Body, &b); err != nil {
		return fmt.Errorf("%w: %w", consensus.ErrMalformed, err)
	}
	if !bytes.Equal(b.GroupID, m.groupID) {
		return fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	}
	if b.Epoch != env.Epoch || b.EpochID != env.EpochID {
		return fmt.Errorf("%w (%w)", ErrBadBeacon, consensus.ErrEpochMismatch)
	}
	if m.outside() {
		// Removed: there is no head to compare with, and nothing to
		// heal (a removed member does not rejoin). Not even kept.
		return nil
	}
	if tree := m.treeFor(b.EpochID); tree != nil {
		m.beaconFrom = from
		err := m.acceptBeacon(tree, &b)
		m.beaconFrom = ""
		return err
	}
	switch {
	case m.inHistory(b.EpochID):
		// A peer behind us on our own chain, past our retention: tell it
		// where we are, so that it fetches from us. The beacon cannot be
		// verified any more (the epoch's tree is gone), so the re-send
		// of our messages waits for a verified one: the peer's next
		// beacon after it catches up names an epoch we know.
		m.onDemandBeacon()
	case m.isLoser(b.EpochID):
		// A member of a branch that lost; it will fetch and rejoin.
	default:
		m.det.addPending(from, b, m.cfg.MaxPendingBeacons)
		m.fetch(from, EpochRef{Epoch: b.Epoch, ID: b.EpochID})
	}
	return nil
}

// acceptBeacon verifies b against tree and records it as its sender's
// latest.
func (m *Member) acceptBeacon(tree *ratchettree.Tree, b *Beacon) error {
	if m.quietBeacon(tree, b) {
		return nil
	}
	// A stale sequence number is refused before the signature is checked:
	// it would be refused after it too, and the same beacons come again
	// and again (in every BranchInfo's attestations, and from every member
	// a beacon is relayed by), each costing a verification.
	id, ok := m.identityAt(tree, b.Sender)
	if ok {
		if last, ok := m.det.lastSeq[id]; ok && b.Seq <= last {
			return fmt.Errorf("%w: seq %d, latest %d", ErrReplayedBeacon, b.Seq, last)
		}
	}
	if err := VerifyBeacon(m.suite, tree, b); err != nil {
		return err
	}
	m.det.lastSeq[id] = b.Seq
	m.det.latest[id] = *b
	m.heardAt[id] = m.tick
	if m.beaconFrom != "" {
		m.peerOf[id] = m.beaconFrom
	}
	if !m.outside() && b.EpochID == m.core.HeadID() {
		// Same head: counts and nacks are comparable.
		m.noteAnnounced(id, b.Sent, b.Epoch)
	}
	if !m.outside() && id != m.self && (b.EpochID == m.core.HeadID() || m.inHistory(b.EpochID)) {
		// At our head or behind it on our chain: a group re-send in our
		// head reaches it when it catches up. A member of another branch
		// gets our messages when the branches heal (serveRejoiner), and
		// re-sending to it every interval until then would only load
		// the group.
		m.answerNacks(tree, b)
	}
	if b.EpochID != m.core.HeadID() && id != m.self && !m.outside() {
		// The sender is behind us or on a rival branch: tell it our head
		// (it fetches what it lacks) and send again what gossip may not
		// have carried to it.
		m.onDemandBeacon()
		m.antiEntropy()
		if m.inHistory(b.EpochID) && m.isFinal(b.EpochID) {
			m.serveLagging(PeerID(""), EpochRef{Epoch: b.Epoch, ID: b.EpochID}, tree, b)
		}
	}
	return nil
}

// quietBeacon reports whether b, not verified yet, could change nothing
// here: it names our head; its sender's latest verified beacon names our
// head too, or (while no rival branch is being judged) an earlier epoch
// of our chain; it announces the same count of messages sent, already
// confirmed for gap recovery, and no nacks this member could answer
// (mayAnswer); its sequence number is newer.
// Such a beacon is dropped unverified. In a quiet group it is nearly
// every periodic beacon, and with few application messages nearly every
// beacon sent on a head change, which is what made each beacon interval
// and each commit cost n^2 signature checks group-wide. Being unverified
// it changes nothing either, not even the sender's latest sequence
// number, so a forged one can neither block the sender's genuine beacons
// nor stand as evidence.
func (m *Member) quietBeacon(tree *ratchettree.Tree, b *Beacon) bool {
	if m.outside() || b.EpochID != m.core.HeadID() || m.mayAnswer(b.Nacks) {
		return false
	}
	id, ok := m.identityAt(tree, b.Sender)
	if !ok {
		return false
	}
	last, ok := m.det.latest[id]
	if !ok || id == m.self || last.Sent != b.Sent || b.Seq <= last.Seq {
		return false
	}
	if last.EpochID != b.EpochID && (m.rival != nil || !m.inHistory(last.EpochID)) {
		// The sender moved along our chain to our head: only its epoch
		// is news, and no decision reads it while no rival branch is
		// being judged (the survivor rule's activity evidence is then
		// refreshed by verified beacons, all of which are verified).
		return false
	}
	// Gap recovery must have nothing to learn from it either: the count
	// was announced twice already (noteAnnounced would change nothing).
	rec := m.authors[id]
	if rec != nil && rec.announced == b.Sent && rec.previous == b.Sent {
		// Unverified, it changes nothing but the time we last heard of
		// its sender, which only orders the batch committers: a forged
		// one can make an offline member look online and delay a batch
		// by BatchStagger, never more than BatchCommitters times.
		m.heardAt[id] = m.tick
		return true
	}
	return false
}

// mayAnswer reports whether this member could answer any of nacks: one of
// its own messages that it still logs, or another author's message it
// holds for relaying. Nacks it cannot answer do not make a beacon news
// here: answerNacks and relayFor would do nothing with them.
func (m *Member) mayAnswer(nacks []Nack) bool {
	for _, n := range nacks {
		if n.Author == m.self {
			if _, ok := m.sentBySeq[n.Seq]; ok {
				return true
			}
			continue
		}
		if _, ok := m.relays.envs[relayKey{author: n.Author, seq: n.Seq}]; ok {
			return true
		}
	}
	return false
}

// isFinal reports whether id is a final epoch of our retained tree.
func (m *Member) isFinal(id EpochID) bool {
	for _, e := range m.core.Epochs() {
		if e.Ref.ID == id {
			return e.Final
		}
	}
	return false
}

// antiEntropy re-broadcasts this member's application messages that are
// not final yet (consensus.Core.Unsettled), at most once per beacon
// interval. Gossip does not re-send what a partition or a restart made a
// peer miss; receivers drop what they already have by message id. Commits
// are not included: a peer that lacks them fetches them.
func (m *Member) antiEntropy() {
	if m.det.antiEntropy {
		return
	}
	m.det.antiEntropy = true
	for _, env := range m.core.Unsettled() {
		if env.Kind == consensus.KindApplication {
			m.out.Messages = append(m.out.Messages, env)
		}
	}
}

// noticeEpoch turns an epoch id seen in an envelope into a fetch when it
// is not known here.
func (m *Member) noticeEpoch(from PeerID, ref EpochRef) {
	switch {
	case m.core.Knows(ref.ID), m.isLoser(ref.ID):
	case m.inHistory(ref.ID):
		m.onDemandBeacon()
	case m.rival != nil && m.rival.ids[ref.ID]:
	default:
		m.fetch(from, ref)
	}
}

// fetch asks peer for what we lack to reach want, unless a fetch to that
// peer is in flight or too many are.
func (m *Member) fetch(peer PeerID, want EpochRef) {
	if peer == "" || m.outside() {
		return
	}
	m.fetchWith(peer, want, m.haveChain())
}

// fetchWith is fetch with the epochs to list as had: our head chain
// (haveChain), or for a rejoiner whose batch Welcome was lost the epochs
// its requests named (fetchWelcome).
func (m *Member) fetchWith(peer PeerID, want EpochRef, have []EpochRef) {
	if peer == "" || m.outside() {
		return
	}
	if _, busy := m.det.inflight[peer]; busy || len(m.det.inflight) >= m.cfg.MaxInflightFetches {
		return
	}
	req := FetchRequest{GroupID: m.groupID, RequestID: m.det.nextID, Want: want, Have: have}
	body, err := codec.Marshal(&req)
	if err != nil {
		return
	}
	m.det.nextID++
	m.det.inflight[peer] = fetchInFlight{id: req.RequestID, at: m.tick, want: want, core: m.core}
	m.out.Direct = append(m.out.Direct, Directed{To: peer, Envelope: m.headEnvelope(consensus.KindFetchRequest, body)})
}

// haveChain lists the epochs of our head chain on which we can still take
// a commit, newest first: back to and including the newest final epoch
// (an older one's children are decided and its state released). A
// responder that retains one of them sends the commits after it; one that
// retains none sends a BranchInfo.
func (m *Member) haveChain() []EpochRef {
	final := map[EpochID]bool{}
	for _, e := range m.core.Epochs() {
		if e.Final {
			final[e.Ref.ID] = true
		}
	}
	var out []EpochRef
	for _, ref := range m.core.Chain(MaxHave) {
		out = append(out, ref)
		if final[ref.ID] {
			break
		}
	}
	return out
}

func (m *Member) headEnvelope(kind consensus.EnvelopeKind, body []byte) consensus.Envelope {
	return consensus.Envelope{Kind: kind, GroupID: m.groupID, Epoch: m.core.HeadRef().Epoch,
		EpochID: m.core.HeadID(), Body: body}
}

// stepFetchRequest serves a peer's fetch: the commits after the newest
// epoch of its chain that ours retains, or, when none is retained, a
// BranchInfo of ours.
func (m *Member) stepFetchRequest(from PeerID, env *consensus.Envelope) error {
	var req FetchRequest
	if err := codec.Unmarshal(env.Body, &req); err != nil {
		return fmt.Errorf("%w: %w", consensus.ErrMalformed, err)
	}
	if !bytes.Equal(req.GroupID, m.groupID) {
		return fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	}
	if m.core.Removed() {
		return nil
	}
	// A member that stays out (the survivors removed it) still serves its
	// dead branch: its last acts there, removals made after the survivors'
	// previous fetch, reach them only this way (carry.go).
	if !m.det.allowServe(from, m.cfg.ServeBudget, m.cfg.MaxServePeers) {
		return ErrRateLimited
	}
	resp := FetchResponse{GroupID: m.groupID, RequestID: req.RequestID}
	for _, have := range req.Have {
		envs, ok := m.core.CommitsAfter(have.ID, MaxFetchCommits)
		if !ok && m.join != nil && have.ID == m.join.onto {
			// The peer holds the epoch we rejoined onto: our external
			// commit, then what our core built on it.
			after, _ := m.core.CommitsAfter(m.core.Chain(0)[len(m.core.Chain(0))-1].ID, MaxFetchCommits-1)
			envs, ok = append([]consensus.Envelope{m.join.commit}, after...), true
		}
		if !ok {
			continue
		}
		if len(envs) == 0 {
			return nil // the peer is at our head or ahead of it
		}
		return m.serveCommits(from, &resp, have, envs)
	}
	for _, have := range req.Have {
		// An epoch of the peer's chain that we retain off our own chain
		// (a candidate, or a descendant of one): the two chains part
		// inside our window, where the consensus core decides between
		// them. Not a fork for healing: send our chain's commits after
		// the point where they part, or nothing when the peer is only
		// ahead of us (under wait-decide a member waits on the parent
		// while others have moved on, and a member that joined by
		// Welcome starts in an epoch that is still a candidate here).
		anc, ok := m.chainAncestor(have.ID)
		if !ok {
			continue
		}
		envs, _ := m.core.CommitsAfter(anc.ID, MaxFetchCommits)
		if len(envs) == 0 {
			return nil
		}
		return m.serveCommits(from, &resp, anc, envs)
	}
	if !m.core.Knows(req.Want.ID) && !m.inHistory(req.Want.ID) {
		return nil // nothing we can say about that epoch
	}
	info, err := m.branchInfo()
	if err != nil {
		return err
	}
	resp.Branch = info
	return m.reply(from, &resp)
}

// serveCommits answers a fetch with envs, the commits of our chain after
// base, as many as fit in a response.
func (m *Member) serveCommits(from PeerID, resp *FetchResponse, base EpochRef, envs []consensus.Envelope) error {
	resp.Base = base
	size := 0
	for i := range envs {
		enc, err := envs[i].MarshalBinary()
		if err != nil {
			return fmt.Errorf("%w: %w", errInternal, err)
		}
		if size+len(enc)+8 > MaxFetchResponseSize-1024 {
			break
		}
		size += len(enc) + 8
		resp.Commits = append(resp.Commits, enc)
	}
	resp.More = len(resp.Commits) < len(envs) || len(envs) == MaxFetchCommits
	return m.reply(from, resp)
}

// chainAncestor reports, for an epoch id our core retains off our head
// chain, the newest epoch of our head chain it descends from.
func (m *Member) chainAncestor(id EpochID) (EpochRef, bool) {
	epochs := m.core.Epochs()
	byID := make(map[EpochID]*consensus.EpochInfo, len(epochs))
	for i := range epochs {
		byID[epochs[i].Ref.ID] = &epochs[i]
	}
	e := byID[id]
	if e == nil || e.OnChain {
		return EpochRef{}, false
	}
	for range epochs {
		p := byID[e.Parent]
		if p == nil {
			return EpochRef{}, false
		}
		if p.OnChain {
			return p.Ref, true
		}
		e = p
	}
	return EpochRef{}, false
}

func (m *Member) reply(to PeerID, resp *FetchResponse) error {
	body, err := codec.Marshal(resp)
	if err != nil {
		return fmt.Errorf("%w: %w", errInternal, err)
	}
	if len(body) > MaxFetchResponseSize {
		return fmt.Errorf("%w: response of %d bytes", ErrTooLarge, len(body))
	}
	m.out.Direct = append(m.out.Direct, Directed{To: to, Envelope: m.headEnvelope(consensus.KindFetchResponse, body)})
	return nil
}

// branchInfo describes our branch: a fresh signed GroupInfo of the head,
// the remembered head chain and the latest beacons of its members.
func (m *Member) branchInfo() (*BranchInfo, error) {
	if m.core.Removed() {
		return nil, consensus.ErrRemoved
	}
	gi, err := m.core.Head().GroupInfo()
	if err != nil {
		return nil, err
	}
	info := &BranchInfo{GroupInfo: *gi, History: m.historyNewestFirst(MaxHistory)}
	for _, id := range m.sortedLatest() {
		b := m.det.latest[id]
		if m.inHistory(b.EpochID) && len(info.Attestations) < MaxAttestations {
			info.Attestations = append(info.Attestations, b)
		}
	}
	return info, nil
}

// sortedLatest lists the identities with a latest beacon in a fixed order,
// so that output does not depend on map iteration.
func (m *Member) sortedLatest() []Identity {
	out := make([]Identity, 0, len(m.det.latest))
	for id := range m.det.latest {
		out = append(out, id)
	}
	return sortUnique(out)
}

// stepFetchResponse applies a response to our own request.
func (m *Member) stepFetchResponse(from PeerID, env *consensus.Envelope) error {
	if len(env.Body) > MaxFetchResponseSize {
		return fmt.Errorf("%w: response of %d bytes", ErrTooLarge, len(env.Body))
	}
	var resp FetchResponse
	if err := codec.Unmarshal(env.Body, &resp); err != nil {
		return fmt.Errorf("%w: %w", consensus.ErrMalformed, err)
	}
	if !bytes.Equal(resp.GroupID, m.groupID) {
		return fmt.Errorf("%w (%w)", ErrUnknownGroup, consensus.ErrWrongGroup)
	}
	f, ok := m.det.inflight[from]
	if !ok || f.id != resp.RequestID {
		return ErrUnsolicited
	}
	delete(m.det.inflight, from)
	var first error
	for _, raw := range resp.Commits {
		e, err := consensus.UnmarshalEnvelope(raw)
		if err == nil && (e.Kind != consensus.KindCommit || !bytes.Equal(e.GroupID, m.groupID)) {
			err = fmt.Errorf("%w: fetched envelope is not a commit of this group", consensus.ErrMalformed)
		}
		if err == nil {
			err = m.stepFetchedCommit(e)
		}
		if errors.Is(err, ErrRemovedMember) {
			// The epoch we asked about is built on a removed member's
			// rejoin: nothing there for us; stop asking about it.
			m.addLoser(f.want.ID)
		}
		if err != nil && !errors.Is(err, consensus.ErrDuplicate) && first == nil {
			first = err
		}
	}
	if resp.More && len(resp.Commits) > 0 {
		m.fetch(from, f.want)
	}
	if resp.Branch != nil && f.core == m.core {
		// (A BranchInfo answering a request made before we joined
		// another branch compares the responder's chain with the one
		// we left: the survivor's own chain, which holds our new head,
		// looked like a rival we were behind, and we acted as a
		// survivor of our stale head, batching a request there that
		// outranked the next commit everyone else had; simulator, 128
		// members, 5% loss, seed 2.)
		if err := m.considerBranch(from, resp.Branch); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// stepFetchedCommit steps a commit from a fetch response: screened like
// any commit, but its parent is not fetched again (the response is in
// order). With a join request out, a batch commit welcoming us is joined
// from, as when it comes by gossip: stepped into our old core instead, it
// only removed our stale leaf, and we stayed out of the group for good
// while the others had re-added us (simulator split-brain seed 45: a
// member whose side was merely behind asked to join, and fetched the
// batch; its messages of the partition then reached nobody).
func (m *Member) stepFetchedCommit(env *consensus.Envelope) error {
	if m.pj != nil && !m.outside() {
		if mine, err := m.tryWelcome(env); mine {
			return err
		}
	}
	return m.stepCommit(env)
}

// prune keeps beacon bookkeeping to the identities of the current rosters.
func (m *Member) prune() {
	if m.outside() {
		return
	}
	keep := map[Identity]bool{m.self: true}
	for _, id := range m.roster(m.core.Head().Tree()) {
		keep[id] = true
	}
	if m.rival != nil {
		for _, id := range m.rival.roster {
			keep[id] = true
		}
	}
	for id := range m.det.latest {
		if !keep[id] {
			delete(m.det.latest, id)
			delete(m.det.lastSeq, id)
		}
	}
	for id := range m.det.lastSeq {
		if !keep[id] {
			delete(m.det.lastSeq, id)
		}
	}
	for id := range m.heardAt {
		if !keep[id] {
			delete(m.heardAt, id)
		}
	}
	for id := range m.peerOf {
		if !keep[id] {
			delete(m.peerOf, id)
		}
	}
	m.pruneAuthors(m.roster(m.core.Head().Tree()))
}
