package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/overlay"
	"github.com/mlsnode/mlsnode/store"
)

// group is one group's event loop. Only run's goroutine touches the
// fields below "loop-owned"; everything else reaches them through do.
type group struct {
	n     *Node
	gid   []byte
	hexID string
	log   *slog.Logger
	sg    *store.Group

	inbox    chan inbound
	cmds     chan func()
	quit     chan struct{} // closed by stop, or by the loop when it ends by itself
	quitOnce sync.Once
	done     chan struct{} // closed when run returns
	nudges   chan peer.ID

	// loop-owned
	m            machine
	storedEpochs map[consensus.EpochID]bool
	seen         map[consensus.MessageID]bool
	meta         groupMeta
	invites      map[string]*pendingInvite // by KeyPackageRef hex
	removed      bool                      // out of the group for good
	failed       bool                      // the store refused a Ready: stop, resume on restart
	serving      *serving
	history      [][]byte // recent application envelopes (history.go)
	sent         [][]byte // own application envelopes, also in the store
	lastOutbox   []byte   // the outbox as last stored
	// delivered counts messages in the store; sentCount those sent since
	// the node started (status only).
	delivered, sentCount uint64
	// proposalAt is the tick count when a proposal from another member
	// (a Leave) was accepted and not yet committed; 0 when none.
	proposalAt uint64
	proposer   uint32
	ticks      uint64

	// ctx ends when the group stops; bg tracks the goroutines of its
	// sync requests.
	ctx    context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// groupMeta is the node's own per-group record (JSON in a group key of the
// store): the membership history and counters.
type groupMeta struct {
	Changes []MembershipChange `json:"changes,omitempty"`
	AddedBy map[string]addNote `json:"added_by,omitempty"` // by peer id
	// BeaconSeq is a bound above every beacon sequence number fork has
	// used (fork.State): a restart starts from it. It is raised in steps
	// of beaconSeqLease so that the store is not written (and purged) for
	// every beacon.
	BeaconSeq uint64 `json:"beacon_seq"`
	// Left is set once this node was removed or left: the group is kept
	// for its history but not resumed.
	Left bool `json:"left,omitempty"`
}

type addNote struct {
	By    string `json:"by"`
	Epoch uint64 `json:"epoch"`
}

type pendingInvite struct {
	peer    peer.ID
	welcome chan []byte // the encoded Welcome MLSMessage, once committed
}

// beaconSeqLease is how far ahead of fork's beacon sequence the stored
// bound is set.
const beaconSeqLease = 1024

const (
	metaKey   = "node/meta"
	outboxKey = "node/outbox"
	sentKey   = "node/sent"
)

func (n *Node) newGroup(gid []byte, m machine) *group {
	hexID := hex.EncodeToString(gid)
	ctx, cancel := context.WithCancel(n.ctx)
	return &group{
		ctx:          ctx,
		cancel:       cancel,
		n:            n,
		gid:          append([]byte(nil), gid...),
		hexID:        hexID,
		log:          n.log.With("group", hexID[:min(8, len(hexID))]),
		sg:           n.st.Group(gid),
		inbox:        make(chan inbound, n.opts.inboxSize),
		cmds:         make(chan func()),
		quit:         make(chan struct{}),
		done:         make(chan struct{}),
		nudges:       make(chan peer.ID, 16),
		m:            m,
		storedEpochs: map[consensus.EpochID]bool{},
		seen:         map[consensus.MessageID]bool{},
		meta:         groupMeta{AddedBy: map[string]addNote{}},
		invites:      map[string]*pendingInvite{},
	}
}

// start registers the group, subscribes to its topic and starts its loop.
func (n *Node) startGroup(g *group) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	if _, ok := n.groups[g.hexID]; ok {
		n.mu.Unlock()
		return fmt.Errorf("%w: already a member of %s", ErrInvalidArgument, g.hexID)
	}
	n.groups[g.hexID] = g
	n.mu.Unlock()
	if err := n.ov.JoinGroup(g.gid, g.deliver); err != nil {
		n.mu.Lock()
		delete(n.groups, g.hexID)
		n.mu.Unlock()
		return fmt.Errorf("node: joining the group topic: %w", err)
	}
	go g.run()
	return nil
}

// deliver is the overlay's callback for accepted gossip messages; it runs
// on the overlay's per-group goroutine and blocks while the inbox is full
// (back-pressure on gossipsub's queue rather than a silent drop).
func (g *group) deliver(msg overlay.Message) {
	env, err := consensus.UnmarshalEnvelope(msg.Data)
	if err != nil {
		return // the validator already rejected undecodable data
	}
	select {
	case g.inbox <- inbound{from: msg.From, env: env}:
	case <-g.quit:
	}
}

// inbound is an envelope from a peer: relayed by gossip, or a fetch
// response over the sync protocol.
type inbound struct {
	from peer.ID
	env  *consensus.Envelope
}

// do runs fn on the loop goroutine and waits for it.
func (g *group) do(ctx context.Context, fn func() error) error {
	errc := make(chan error, 1)
	select {
	case g.cmds <- func() { errc <- fn() }:
	case <-g.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-errc:
		return err
	case <-g.done:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g *group) stop() {
	g.closeQuit()
	<-g.done
	g.cancel()
	g.bg.Wait()
}

func (g *group) peerConnected(p peer.ID) {
	select {
	case g.nudges <- p:
	default:
	}
}

// run is the loop: it owns the machine, feeds it input (envelopes, commands,
// ticks) and acts on each Ready before taking the next input.
func (g *group) run() {
	defer close(g.done)
	var tickC <-chan time.Time // nil with manual ticks: Node.Tick drives them
	if !g.n.opts.manualTicks {
		t := time.NewTicker(g.n.opts.tick)
		defer t.Stop()
		tickC = t.C
	}
	for {
		select {
		case <-g.quit:
			g.drainReady()
			return
		case in := <-g.inbox:
			g.step(in)
		case fn := <-g.cmds:
			fn()
		case <-tickC:
			g.tick()
		case p := <-g.nudges:
			// A peer (re)connected: it may hold messages this node
			// missed. Commits come through fork's beacons and fetches.
			g.catchUp(p)
		}
		g.drainReady()
		if g.removed || g.failed {
			g.n.dropGroup(g, g.removed)
			g.closeQuit() // callers of do stop waiting at once
			return
		}
	}
}

func (g *group) tick() {
	g.ticks++
	g.m.Tick()
	g.commitProposals()
}

// manualTick is Node.Tick's work on the loop: first every envelope that
// reached the inbox before the tick, then the tick, so that logical time
// never passes over input that arrived before it.
func (g *group) manualTick() error {
	for k := len(g.inbox); k > 0; k-- {
		g.step(<-g.inbox)
		g.drainReady()
	}
	g.tick()
	return nil
}

// closeQuit closes quit once, from stop or from the loop itself.
func (g *group) closeQuit() { g.quitOnce.Do(func() { close(g.quit) }) }

func (g *group) step(in inbound) {
	if err := g.m.Step(fork.PeerID(in.from), in.env); err != nil {
		g.n.met.envelopesIn.WithLabelValues("refused").Inc()
		g.log.Debug("envelope refused", "kind", in.env.Kind, "epoch", in.env.Epoch, "from", in.from, "err", err)
		return
	}
	g.remember(in.env)
	g.n.met.envelopesIn.WithLabelValues("accepted").Inc()
	if in.env.Kind == consensus.KindProposal {
		if msg, err := wire.ParseMLSMessage(in.env.Body); err == nil && msg.PublicMessage != nil {
			g.proposalAt = g.ticks + 1
			g.proposer = msg.PublicMessage.Content.Sender.LeafIndex
		}
	}
}

// commitProposals commits proposals received from others (a member's
// Leave) a few ticks after they arrived, on one designated member only:
// the lowest leaf other than the proposer. If it is offline nobody
// commits until another member commits for its own reasons; if two
// commit, the ordering rule settles the race.
func (g *group) commitProposals() {
	if g.proposalAt == 0 || g.ticks < g.proposalAt+3 {
		return
	}
	g.proposalAt = 0
	head := g.m.Core().Head()
	if head == nil {
		return
	}
	own := uint32(head.OwnLeaf())
	for _, li := range head.Tree().Members() {
		if uint32(li) == g.proposer {
			continue
		}
		if uint32(li) == own {
			if err := g.m.Commit(); err != nil {
				g.log.Debug("committing received proposals", "err", err)
			}
		}
		return
	}
}

func (g *group) drainReady() {
	for g.m.HasReady() {
		rd := g.m.Ready()
		g.handleReady(&rd)
		g.m.Advance(rd)
	}
}

// handleReady acts on one Ready in raft's order: persist first (state,
// outbox, delivered messages, all in one atomic transaction), then send,
// then tell the application.
func (g *group) handleReady(rd *fork.Ready) {
	delivered := g.fresh(rd.Delivered)
	metaChanged := g.noteEvents(rd.Events)
	g.delivered += uint64(len(delivered))
	if err := g.persist(rd, delivered, metaChanged); err != nil {
		// Without durable state nothing may leave the node: a restart
		// would not remember it and could reuse a key. Stop the group.
		g.log.Error("persisting a Ready failed; stopping the group until a restart", "err", err)
		g.failed = true
		return
	}
	for _, d := range delivered {
		g.seen[d.ID] = true
	}
	for _, env := range rd.Messages {
		g.publish(env)
	}
	for _, d := range rd.Direct {
		g.direct(d)
	}
	now := g.n.opts.now()
	for _, d := range delivered {
		ev := g.messageEvent(d, now)
		g.n.met.messagesRecv.Inc()
		if !ev.SentAt.IsZero() {
			g.n.met.latency.Observe(now.Sub(ev.SentAt).Seconds())
		}
		g.n.events.publish(ev)
	}
	g.emitEvents(rd.Events, now)
	g.emitForkEvents(rd.Fork, now)
	if g.m.Gone() {
		g.removed = true
	}
}

// fresh drops messages already delivered (re-sent after a branch switch,
// or duplicated by the network).
func (g *group) fresh(ds []consensus.Delivered) []consensus.Delivered {
	var out []consensus.Delivered
	for _, d := range ds {
		if !g.seen[d.ID] {
			out = append(out, d)
		}
	}
	return out
}

func (g *group) publish(env consensus.Envelope) {
	data, err := env.MarshalBinary()
	if err != nil {
		g.log.Error("encoding an envelope", "err", err)
		return
	}
	if env.Kind == consensus.KindCommit {
		g.routeWelcome(env)
	}
	g.remember(&env)
	ctx, cancel := context.WithTimeout(g.n.ctx, g.n.opts.publishTimeout)
	defer cancel()
	if err := g.n.ov.Publish(ctx, g.gid, data); err != nil {
		// Gossip is best effort; beacons and fetches repair what a lost
		// publish leaves behind.
		g.log.Debug("publish failed", "kind", env.Kind, "err", err)
	}
}

// routeWelcome hands the Welcome of a commit this node made to the Invite
// calls waiting for it.
func (g *group) routeWelcome(env consensus.Envelope) {
	if len(g.invites) == 0 {
		return
	}
	var body consensus.CommitBody
	if err := codec.Unmarshal(env.Body, &body); err != nil || body.Welcome == nil {
		return
	}
	raw, err := codec.Marshal(wire.NewMLSMessage(body.Welcome))
	if err != nil {
		return
	}
	for _, s := range body.Welcome.Secrets {
		ref := hex.EncodeToString(s.NewMember)
		if inv, ok := g.invites[ref]; ok {
			select {
			case inv.welcome <- raw:
			default:
			}
		}
	}
}

// ---- application messages

// appFrame is the node's framing of application data inside the ordering
// layer's payload: the sender's clock at Send (for latency figures) and
// the data.
//
//	struct { uint64 sent_unix_nano; opaque data<V>; } AppFrame;
type appFrame struct {
	SentAt uint64
	Data   []byte
}

func (f *appFrame) MarshalMLS(w *codec.Writer) {
	w.Uint64(f.SentAt)
	w.Opaque(f.Data)
}

func (f *appFrame) UnmarshalMLS(r *codec.Reader) {
	r.Uint64("AppFrame.sent_at", &f.SentAt)
	r.Opaque("AppFrame.data", &f.Data)
}

func (g *group) messageEvent(d consensus.Delivered, now time.Time) Event {
	ev := Event{
		Kind: EventMessage, Group: g.hexID, Epoch: d.Epoch, EpochID: hex.EncodeToString(d.EpochID[:]),
		MessageID: hex.EncodeToString(d.ID[:]), LosingBranch: d.LosingBranch, Time: now,
	}
	if p, ok := namedPeer(d.Identity); ok {
		ev.Peer = p.String()
	}
	var f appFrame
	if err := codec.Unmarshal(d.Data, &f); err == nil {
		ev.Data = f.Data
		if f.SentAt != 0 {
			ev.SentAt = time.Unix(0, int64(f.SentAt))
		}
	} else {
		ev.Data = d.Data // a peer that does not frame: deliver as is
	}
	return ev
}

// storedMessage is a delivered message as kept in the store (Received.Data).
type storedMessage struct {
	ID     string    `json:"id"`
	Peer   string    `json:"peer,omitempty"`
	Epoch  uint64    `json:"epoch"`
	SentAt time.Time `json:"sent_at,omitzero"`
	Data   []byte    `json:"data"`
	At     time.Time `json:"at"`
}

// ---- persistence

func toStoreID(id consensus.EpochID) store.EpochID { return store.EpochID(id) }

func (g *group) persist(rd *fork.Ready, delivered []consensus.Delivered, metaChanged bool) error {
	if rd.State != nil {
		if rd.State.BeaconSeq >= g.meta.BeaconSeq {
			g.meta.BeaconSeq = rd.State.BeaconSeq + beaconSeqLease
			metaChanged = true
		}
	}
	if rd.Persist == nil && rd.State == nil && len(delivered) == 0 && !metaChanged && !hasApplication(rd.Messages) {
		return nil
	}
	tx := g.sg.Begin()
	newEpochs := map[consensus.EpochID]bool{}
	var newOutbox []byte
	if p := rd.Persist; p != nil {
		keep := map[consensus.EpochID]bool{p.HeadID: true}
		for _, r := range p.Retained {
			if len(r.State) == 0 || r.Ref.ID == p.HeadID {
				continue
			}
			keep[r.Ref.ID] = true
			if !g.storedEpochs[r.Ref.ID] {
				tx.PutEpoch(store.Epoch{ID: toStoreID(r.Ref.ID), Number: r.Ref.Epoch, Parent: toStoreID(r.Parent), State: r.State})
				newEpochs[r.Ref.ID] = true
			}
		}
		var parent consensus.EpochID
		for _, r := range p.Retained {
			if r.Ref.ID == p.HeadID {
				parent = r.Parent
			}
		}
		tx.PutEpoch(store.Epoch{ID: toStoreID(p.HeadID), Number: g.headEpoch(p), Parent: toStoreID(parent), State: p.HeadState})
		tx.SetHead(toStoreID(p.HeadID))
		tree, err := treeRecordOf(p)
		if err != nil {
			return err
		}
		tx.PutGroupKey(treeKey, tree)
		newEpochs[p.HeadID] = true
		for id := range g.storedEpochs {
			if !keep[id] {
				tx.DropEpoch(toStoreID(id))
			}
		}
		ob, err := json.Marshal(p.Outbox)
		if err != nil {
			return err
		}
		// Every replaced record is purged from the files (the store's
		// forward-secrecy rule), which costs a compaction: write the
		// outbox only when it changed.
		if !bytes.Equal(ob, g.lastOutbox) {
			tx.PutGroupKey(outboxKey, ob)
			newOutbox = ob
		}
		for id := range g.storedEpochs {
			if !keep[id] {
				delete(g.storedEpochs, id)
			}
		}
	}
	if rd.State != nil {
		fs, err := codec.Marshal(rd.State)
		if err != nil {
			return err
		}
		tx.PutGroupKey(forkStateKey, fs)
	}
	if sent := g.noteSent(rd.Messages); sent != nil {
		tx.PutGroupKey(sentKey, sent)
	}
	now := g.n.opts.now()
	for _, d := range delivered {
		ev := g.messageEvent(d, now)
		b, err := json.Marshal(storedMessage{ID: ev.MessageID, Peer: ev.Peer, Epoch: d.Epoch, SentAt: ev.SentAt, Data: ev.Data, At: now})
		if err != nil {
			return err
		}
		tx.PutReceived(store.Received{Epoch: toStoreID(d.EpochID), Sender: d.Sender, Data: b, LosingBranch: d.LosingBranch})
	}
	if metaChanged {
		mb, err := json.Marshal(&g.meta)
		if err != nil {
			return err
		}
		tx.PutGroupKey(metaKey, mb)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	for id := range newEpochs {
		g.storedEpochs[id] = true
	}
	if newOutbox != nil {
		g.lastOutbox = newOutbox
	}
	return nil
}

// persistInitial stores a group's first state (create or join), with the
// KeyPackage it consumed, in one transaction.
func (g *group) persistInitial(ctx context.Context, grp *mls.Group, usedKP []byte) error {
	state, err := grp.MarshalState()
	if err != nil {
		return err
	}
	id := consensus.EpochIDOf(grp)
	tx := g.sg.Begin()
	tx.PutEpoch(store.Epoch{ID: toStoreID(id), Number: grp.Epoch(), State: state})
	tx.SetHead(toStoreID(id))
	if usedKP != nil {
		tx.UseKeyPackage(usedKP)
	}
	tx.DeleteGroupKey(welcomeKey)
	mb, err := json.Marshal(&g.meta)
	if err != nil {
		return err
	}
	tx.PutGroupKey(metaKey, mb)
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	g.storedEpochs[id] = true
	return nil
}

// ---- events and membership

// noteEvents records membership changes in the meta record; it reports
// whether anything changed.
func (g *group) noteEvents(evs []consensus.Event) bool {
	changed := false
	for _, e := range evs {
		switch e.Kind {
		case consensus.EventEpochMerged:
			tree := g.tree()
			actor := g.peerAt(tree, e.Committer)
			for _, leaf := range e.Added {
				p := g.peerAt(tree, leaf)
				g.meta.Changes = append(g.meta.Changes, MembershipChange{Epoch: e.Epoch, Kind: "added", Peer: p, Actor: actor, EpochID: hex.EncodeToString(e.ID[:])})
				g.meta.AddedBy[p] = addNote{By: actor, Epoch: e.Epoch}
				changed = true
			}
			for _, ident := range e.RemovedIdentities {
				p := peerString(ident)
				kind := "removed"
				if p == actor {
					// An external commit by which a member rejoins (fork's
					// healing) removes its own old leaf.
					kind = "rejoined"
				}
				g.meta.Changes = append(g.meta.Changes, MembershipChange{Epoch: e.Epoch, Kind: kind, Peer: p, Actor: actor, EpochID: hex.EncodeToString(e.ID[:])})
				delete(g.meta.AddedBy, p)
				changed = true
			}
		case consensus.EventRemoved:
			g.removed = true
			changed = true
		}
	}
	return changed
}

// peerString renders an identity the ordering layer reports: a
// credential's identity (namedPeer), or an encoded MLS Credential.
func peerString(ident []byte) string {
	if p, ok := namedPeer(ident); ok {
		return p.String()
	}
	var cred wire.Credential
	if codec.Unmarshal(ident, &cred) == nil {
		if p, ok := namedPeer(cred.Identity); ok {
			return p.String()
		}
	}
	return hex.EncodeToString(ident)
}

// peerAt is the peer id bound to a leaf of tree, or "" for a blank leaf.
func (g *group) peerAt(tree *ratchettree.Tree, leaf uint32) string {
	if tree == nil || leaf >= tree.LeafCount() {
		return ""
	}
	ln := tree.Leaf(ratchettree.LeafIndex(leaf))
	if ln == nil {
		return ""
	}
	return peerString(ln.Credential.Identity)
}

func (g *group) emitEvents(evs []consensus.Event, now time.Time) {
	for _, e := range evs {
		base := Event{Group: g.hexID, Epoch: e.Epoch, EpochID: hex.EncodeToString(e.ID[:]), Time: now}
		switch e.Kind {
		case consensus.EventEpochMerged:
			g.n.met.commits.Inc()
			ev := base
			ev.Kind = EventEpochChanged
			g.n.events.publish(ev)
			tree := g.tree()
			actor := g.peerAt(tree, e.Committer)
			for _, leaf := range e.Added {
				ev := base
				ev.Kind, ev.Peer, ev.Actor = EventMemberJoined, g.peerAt(tree, leaf), actor
				g.n.events.publish(ev)
			}
			for _, ident := range e.RemovedIdentities {
				ev := base
				ev.Kind, ev.Peer, ev.Actor = EventMemberLeft, peerString(ident), actor
				g.n.events.publish(ev)
			}
		case consensus.EventBranchSwitched:
			g.n.met.branchSwitches.Inc()
			g.n.met.rollbacks.Add(float64(e.RolledBack))
			ev := base
			ev.Kind = EventBranchSwitched
			ev.Detail = fmt.Sprintf("from %x, %d epoch(s) rolled back", e.From[:4], e.RolledBack)
			g.n.events.publish(ev)
		case consensus.EventRemoved:
			ev := base
			ev.Kind = EventLeft
			ev.Peer = g.n.id.String()
			g.n.events.publish(ev)
		case consensus.EventCommitRejected, consensus.EventEquivocation:
			g.log.Info("ordering event", "kind", e.Kind, "epoch", e.Epoch, "reason", e.Reason, "leaf", e.Leaf)
		}
	}
}

// ---- queries (run on the loop)

func (g *group) status() (GroupStatus, error) {
	var st GroupStatus
	ctx, cancel := context.WithTimeout(g.n.ctx, 10*time.Second)
	defer cancel()
	err := g.do(ctx, func() error {
		head := g.m.Core().Head()
		if head == nil {
			return fmt.Errorf("%w: this node is no longer a member", ErrUnknownGroup)
		}
		id := g.m.Core().HeadID()
		st = GroupStatus{
			Group: g.hexID, Epoch: head.Epoch(), EpochID: hex.EncodeToString(id[:]),
			Members: int(head.Tree().MemberCount()), Delivered: g.delivered, Sent: g.sentCount,
			Changes: append([]MembershipChange(nil), g.meta.Changes...),
		}
		if fm, ok := g.m.(*fork.Member); ok {
			fs := fm.Stats()
			c := fs.Core
			st.RetainedEpochs = c.Epochs
			st.Ordering = fmt.Sprintf("retained epochs %d (states %d), pending %d in %d epochs, outbox %d; beacons pending %d, fetches in flight %d, sent log %d, lost branches %d",
				c.Epochs, c.RetainedStates, c.Pending, c.PendingEpochs, c.Outbox, fs.PendingBeacons, fs.InflightFetches, fs.SentLog, fs.Losers)
		}
		return nil
	})
	return st, err
}

func (g *group) members() ([]Member, error) {
	var out []Member
	ctx, cancel := context.WithTimeout(g.n.ctx, 10*time.Second)
	defer cancel()
	err := g.do(ctx, func() error {
		head := g.m.Core().Head()
		if head == nil {
			return fmt.Errorf("%w: this node is no longer a member", ErrUnknownGroup)
		}
		tree := head.Tree()
		own := head.OwnLeaf()
		for _, li := range tree.Members() {
			leaf := tree.Leaf(li)
			if leaf == nil {
				continue
			}
			m := Member{Leaf: uint32(li), Fingerprint: Fingerprint(leaf.SignatureKey), Self: li == own}
			if p, err := PeerOfCredential(&leaf.Credential, leaf.SignatureKey); err == nil {
				m.Peer = p.String()
			} else {
				m.Peer = "invalid: " + err.Error()
			}
			if note, ok := g.meta.AddedBy[m.Peer]; ok {
				m.AddedBy, m.AddedEpoch = note.By, note.Epoch
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

func (g *group) leafOf(p peer.ID) (uint32, bool) {
	tree := g.tree()
	if tree == nil {
		return 0, false
	}
	for _, li := range tree.Members() {
		leaf := tree.Leaf(li)
		if leaf == nil {
			continue
		}
		if named, ok := namedPeer(leaf.Credential.Identity); ok && named == p {
			return uint32(li), true
		}
	}
	return 0, false
}

func (g *group) emitForkEvents(evs []fork.Event, now time.Time) {
	for _, e := range evs {
		base := Event{Group: g.hexID, Time: now}
		if e.Peer != "" {
			base.Peer = peer.ID(e.Peer).String()
		}
		g.log.Info("fork event", "kind", e.Kind.String(), "peer", base.Peer, "rival_epoch", e.Rival.Epoch,
			"from_epoch", e.From.Epoch, "to_epoch", e.To.Epoch, "count", e.Count)
		switch e.Kind {
		case fork.EventServedRejoiner:
			ev := base
			ev.Kind = EventForkHealed
			ev.Detail = fmt.Sprintf("a member rejoined from a branch forked at epoch %d; re-sent %d own message(s)", e.From.Epoch, e.Count)
			g.n.events.publish(ev)
		case fork.EventRejoined: // by external commit
			g.n.met.forksHealed.Inc()
			ev := base
			ev.Kind = EventForkHealed
			ev.Epoch, ev.EpochID = e.To.Epoch, hex.EncodeToString(e.To.ID[:])
			ev.Detail = fmt.Sprintf("left branch at epoch %d for the surviving branch; re-sent %d message(s), re-applied %d removal(s)", e.From.Epoch, e.Count, e.Removals)
			g.n.events.publish(ev)
		case fork.EventReadded:
			g.n.met.forksHealed.Inc()
			ev := base
			ev.Kind = EventForkHealed
			ev.Epoch, ev.EpochID = e.To.Epoch, hex.EncodeToString(e.To.ID[:])
			ev.Detail = fmt.Sprintf("re-added by a batch commit, leaving the branch at epoch %d; re-sent %d message(s), re-applied %d removal(s)", e.From.Epoch, e.Count, e.Removals)
			g.n.events.publish(ev)
		case fork.EventBatchCommitted:
			ev := base
			ev.Kind = EventForkHealed
			ev.Detail = fmt.Sprintf("committed a batch re-adding %d member(s) of a losing branch", e.Count)
			g.n.events.publish(ev)
		case fork.EventSurvived:
			g.n.met.forksHealed.Inc()
			ev := base
			ev.Kind = EventForkHealed
			ev.Detail = fmt.Sprintf("our branch survived; rival branch at epoch %d will rejoin", e.Rival.Epoch)
			g.n.events.publish(ev)
		case fork.EventStayOut:
			g.removed = true
			ev := base
			ev.Kind = EventLeft
			ev.Detail = "removed on the surviving branch"
			g.n.events.publish(ev)
		}
	}
}

// tree is the head epoch's ratchet tree, nil once this member is out.
func (g *group) tree() *ratchettree.Tree {
	if h := g.m.Core().Head(); h != nil {
		return h.Tree()
	}
	return nil
}

// headEpoch is the epoch number of the persisted head.
func (g *group) headEpoch(p *consensus.Persist) uint64 {
	for _, r := range p.Retained {
		if r.Ref.ID == p.HeadID {
			return r.Ref.Epoch
		}
	}
	if h := g.m.Core().Head(); h != nil {
		return h.Epoch()
	}
	return 0
}
