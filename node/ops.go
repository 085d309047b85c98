package node

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/fork"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/overlay"
	"github.com/mlsnode/mlsnode/store"
)

// MaxMessageSize bounds the data of one Send.
const MaxMessageSize = 1 << 20

const welcomeKey = "node/welcome"

// invitation is a Welcome waiting for Join.
type invitation struct {
	from    peer.ID
	welcome []byte // encoded MLSMessage
}

func suiteOf(kp *wire.KeyPackage) suite.ID { return suite.ID(kp.CipherSuite) }

// newMachine starts the ordering machine on an MLS group state.
func (n *Node) newMachine(grp *mls.Group, beaconSeq uint64) (machine, error) {
	return fork.New(n.forkConfig(grp, beaconSeq))
}

// restoredMachine restarts a group's member from its persisted ordering
// state (restore.go).
func (n *Node) restoredMachine(p *consensus.Persist, st *fork.State, beaconSeq uint64) (machine, error) {
	cfg := n.forkConfig(nil, beaconSeq)
	cfg.Persist, cfg.State = p, st
	return fork.New(cfg)
}

func (n *Node) forkConfig(grp *mls.Group, beaconSeq uint64) fork.Config {
	now := n.opts.now()
	return fork.Config{
		Core: consensus.Config{
			Group:       grp,
			SigningKey:  n.sig,
			Credentials: CredentialValidator{},
			Rand:        n.opts.rand,
			WindowTicks: n.opts.windowTicks,
		},
		BeaconSeq:      beaconSeq,
		BeaconInterval: n.opts.beaconTicks,
		KeyPackageLifetime: wire.Lifetime{
			NotBefore: kpNotBefore,
			NotAfter:  uint64(now.Add(n.opts.kpLifetime).Unix()),
		},
	}
}

// CreateGroup makes a new group with this node as its only member and
// returns its id (hex).
func (n *Node) CreateGroup(ctx context.Context) (string, error) {
	if err := n.alive(); err != nil {
		return "", err
	}
	now := n.opts.now()
	kp, err := mls.NewKeyPackage(n.opts.rand, n.cs, n.cred, n.sig, mls.KeyPackageOptions{
		Lifetime: wire.Lifetime{NotBefore: kpNotBefore, NotAfter: uint64(now.Add(n.opts.kpLifetime).Unix())},
	})
	if err != nil {
		return "", err
	}
	grp, err := mls.CreateGroup(n.opts.rand, n.cs, mls.CreateConfig{KeyPackage: kp, SigningKey: n.sig})
	if err != nil {
		return "", fmt.Errorf("node: creating the group: %w", err)
	}
	return n.adopt(ctx, grp, nil, "")
}

// adopt persists a fresh group state, starts its machine and loop.
func (n *Node) adopt(ctx context.Context, grp *mls.Group, usedKP []byte, inviter string) (string, error) {
	g := n.newGroup(grp.GroupID(), nil)
	if inviter != "" {
		g.meta.AddedBy[n.id.String()] = addNote{By: inviter, Epoch: grp.Epoch()}
	}
	if err := g.persistInitial(ctx, grp, usedKP); err != nil {
		return "", fmt.Errorf("node: storing the new group: %w", err)
	}
	m, err := n.newMachine(grp, 0)
	if err != nil {
		return "", err
	}
	g.m = m
	if err := n.startGroup(g); err != nil {
		return "", err
	}
	if inviter != "" {
		// Messages published before the other members learnt of this
		// node's subscription reached nobody here: ask the connected peers
		// for them once the subscription has spread.
		go func() {
			select {
			case <-time.After(2 * time.Second):
				if n.alive() != nil {
					return
				}
				for _, p := range n.ov.Peers() {
					g.peerConnected(p)
				}
			case <-n.ctx.Done():
			}
		}()
	}
	ev := Event{Kind: EventJoined, Group: g.hexID, Epoch: grp.Epoch(), Actor: inviter, Time: n.opts.now()}
	n.events.publish(ev)
	n.log.Info("group joined", "group", g.hexID, "epoch", grp.Epoch())
	return g.hexID, nil
}

// Invite adds the peer p to the group: it fetches one of p's KeyPackages
// through the overlay's directory, commits an Add, and hands the Welcome
// to p (directly, or into mailboxes at other peers if p is offline).
func (n *Node) Invite(ctx context.Context, gid string, p peer.ID) error {
	return n.InviteAll(ctx, gid, p)
}

// InviteAll adds several peers in one commit (one epoch, one Welcome).
func (n *Node) InviteAll(ctx context.Context, gid string, peers ...peer.ID) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	if len(peers) == 0 {
		return fmt.Errorf("%w: nobody to invite", ErrInvalidArgument)
	}
	var adds []*wire.Proposal
	invs := map[string]*pendingInvite{}
	for _, p := range peers {
		if err := p.Validate(); err != nil {
			return fmt.Errorf("%w: peer id: %v", ErrInvalidArgument, err)
		}
		raw, err := n.ov.FetchKeyPackage(ctx, p)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrNoKeyPackage, err)
		}
		msg, err := wire.ParseMLSMessage(raw)
		if err != nil || msg.KeyPackage == nil {
			return fmt.Errorf("%w: fetched KeyPackage does not parse", ErrNoKeyPackage)
		}
		kpBytes, err := codec.Marshal(msg.KeyPackage)
		if err != nil {
			return err
		}
		ref := hex.EncodeToString(n.cs.MakeKeyPackageRef(kpBytes))
		invs[ref] = &pendingInvite{peer: p, welcome: make(chan []byte, 1)}
		adds = append(adds, mls.NewAdd(msg.KeyPackage))
	}
	err = g.do(ctx, func() error {
		for _, inv := range invs {
			if _, ok := g.leafOf(inv.peer); ok {
				return fmt.Errorf("%w: %s is already a member", ErrInvalidArgument, inv.peer)
			}
		}
		for ref, inv := range invs {
			g.invites[ref] = inv
		}
		if err := g.m.Commit(adds...); err != nil {
			for ref := range invs {
				delete(g.invites, ref)
			}
			return fmt.Errorf("node: committing the Add: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer g.do(context.Background(), func() error {
		for ref := range invs {
			delete(g.invites, ref)
		}
		return nil
	})
	var errs []error
	for _, inv := range invs {
		var welcome []byte
		select {
		case welcome = <-inv.welcome:
		case <-ctx.Done():
			return fmt.Errorf("node: waiting for the commit of the Add: %w", ctx.Err())
		}
		res, err := n.ov.SendWelcome(ctx, inv.peer, welcome)
		if err != nil {
			errs = append(errs, fmt.Errorf("node: delivering the Welcome to %s: %w", inv.peer, err))
			continue
		}
		n.log.Info("invited", "group", gid, "peer", inv.peer, "delivery", fmt.Sprintf("%+v", res))
	}
	return errors.Join(errs...)
}

// handleWelcome is the overlay's WelcomeHandler: it keeps the Welcome as
// an invitation (in the store, so it survives a restart) and joins at once
// with WithAutoJoin.
func (n *Node) handleWelcome(from peer.ID, raw []byte) error {
	msg, err := wire.ParseMLSMessage(raw)
	if err != nil || msg.Welcome == nil {
		return fmt.Errorf("%w: not a Welcome", ErrInvalidArgument)
	}
	ref, bundle := n.kpFor(msg.Welcome)
	if bundle == nil {
		return fmt.Errorf("%w: Welcome names none of this node's KeyPackages", ErrNoKeyPackage)
	}
	// Open it now to learn the group id (and to refuse garbage early).
	grp, err := n.joinFromWelcome(msg.Welcome, bundle)
	if err != nil {
		return fmt.Errorf("node: Welcome does not open: %w", err)
	}
	gid := hex.EncodeToString(grp.GroupID())
	n.mu.Lock()
	_, member := n.groups[gid]
	n.mu.Unlock()
	if member {
		return nil // a second Welcome for a group already joined
	}
	rec, _ := json.Marshal(struct {
		From    string `json:"from"`
		Welcome []byte `json:"welcome"`
		Ref     string `json:"ref"`
	}{from.String(), raw, ref})
	tx := n.st.Group(grp.GroupID()).Begin()
	tx.PutGroupKey(welcomeKey, rec)
	ctx, cancel := context.WithTimeout(n.ctx, 30*time.Second)
	defer cancel()
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("node: storing the invitation: %w", err)
	}
	n.mu.Lock()
	n.invites[gid] = &invitation{from: from, welcome: raw}
	n.mu.Unlock()
	n.events.publish(Event{Kind: EventInvited, Group: gid, Peer: from.String(), Epoch: grp.Epoch(), Time: n.opts.now()})
	n.log.Info("invitation received", "group", gid, "from", from)
	if n.opts.autoJoin {
		go func() {
			if err := n.Join(n.ctx, gid); err != nil && !errors.Is(err, ErrClosed) {
				n.log.Warn("auto-join failed", "group", gid, "err", err)
			}
		}()
	}
	return nil
}

func (n *Node) joinFromWelcome(w *wire.Welcome, b *mls.KeyPackageBundle) (*mls.Group, error) {
	return mls.JoinFromWelcome(n.cs, w, mls.JoinConfig{
		KeyPackage:  b,
		Credentials: CredentialValidator{},
		SigningKey:  n.sig,
		Now:         uint64(n.opts.now().Unix()),
	})
}

// Join accepts the invitation to a group.
func (n *Node) Join(ctx context.Context, gid string) error {
	if err := n.alive(); err != nil {
		return err
	}
	n.mu.Lock()
	inv, ok := n.invites[gid]
	delete(n.invites, gid)
	n.mu.Unlock()
	if !ok {
		if _, err := n.group(gid); err == nil {
			return nil // already joined
		}
		return fmt.Errorf("%w: %s", ErrNoInvitation, gid)
	}
	msg, err := wire.ParseMLSMessage(inv.welcome)
	if err != nil || msg.Welcome == nil {
		return fmt.Errorf("%w: stored Welcome does not parse", ErrNoInvitation)
	}
	ref, bundle := n.kpFor(msg.Welcome)
	if bundle == nil {
		return fmt.Errorf("%w: the KeyPackage of this Welcome is gone", ErrNoInvitation)
	}
	grp, err := n.joinFromWelcome(msg.Welcome, bundle)
	if err != nil {
		return fmt.Errorf("node: joining: %w", err)
	}
	rawRef, _ := hex.DecodeString(ref)
	if mls.IsLastResort(bundle.KeyPackage) {
		rawRef = nil
	}
	if _, err := n.adopt(ctx, grp, rawRef, inv.from.String()); err != nil {
		n.mu.Lock()
		n.invites[gid] = inv
		n.mu.Unlock()
		return err
	}
	n.kpUsed(ctx, ref)
	go n.kpsRefill(n.ctx)
	return nil
}

// Leave proposes this node's own removal; another member commits it.
// The node keeps the group until the removal is committed.
func (n *Node) Leave(ctx context.Context, gid string) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	return g.do(ctx, func() error {
		head := g.m.Core().Head()
		if head == nil {
			return fmt.Errorf("%w: this node is no longer a member", ErrUnknownGroup)
		}
		own := uint32(head.OwnLeaf())
		if err := g.m.Propose(mls.NewRemove(own)); err != nil {
			return fmt.Errorf("node: proposing to leave: %w", err)
		}
		return nil
	})
}

// Remove commits the removal of peer p from the group.
func (n *Node) Remove(ctx context.Context, gid string, p peer.ID) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	return g.do(ctx, func() error {
		leaf, ok := g.leafOf(p)
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotMember, p)
		}
		if err := g.m.Commit(mls.NewRemove(leaf)); err != nil {
			return fmt.Errorf("node: committing the removal: %w", err)
		}
		return nil
	})
}

// Send encrypts data for the group and publishes it. It returns the
// message id, stable across re-sends after a branch switch.
func (n *Node) Send(ctx context.Context, gid string, data []byte) (string, error) {
	if len(data) == 0 || len(data) > MaxMessageSize {
		return "", fmt.Errorf("%w: message of %d bytes (1 to %d)", ErrInvalidArgument, len(data), MaxMessageSize)
	}
	g, err := n.group(gid)
	if err != nil {
		return "", err
	}
	frame, err := codec.Marshal(&appFrame{SentAt: uint64(n.opts.now().UnixNano()), Data: data})
	if err != nil {
		return "", err
	}
	var id consensus.MessageID
	err = g.do(ctx, func() error {
		var err error
		if id, err = g.m.Send(frame); err != nil {
			return fmt.Errorf("node: sending: %w", err)
		}
		g.sentCount++
		return nil
	})
	if err != nil {
		return "", err
	}
	n.met.messagesSent.Inc()
	return hex.EncodeToString(id[:]), nil
}

// Members lists the members of the group's head epoch.
func (n *Node) Members(gid string) ([]Member, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	return g.members()
}

// Messages returns the application messages delivered in the group so
// far, oldest first, from the store.
func (n *Node) Messages(gid string) ([]Event, error) {
	g, err := n.group(gid)
	if err != nil {
		return nil, err
	}
	recs, err := g.sg.Received(n.ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Event, 0, len(recs))
	for _, r := range recs {
		var m storedMessage
		if err := json.Unmarshal(r.Data, &m); err != nil {
			continue
		}
		out = append(out, Event{Kind: EventMessage, Group: gid, Epoch: m.Epoch, EpochID: hex.EncodeToString(r.Epoch[:]),
			Peer: m.Peer, MessageID: m.ID, Data: m.Data, SentAt: m.SentAt, LosingBranch: r.LosingBranch, Time: m.At})
	}
	return out, nil
}

// validate is the overlay's gossip validator. It reads only the envelope
// header: undecodable data or a header for another topic is rejected (no
// honest peer relays it); anything for a group this node is not in is
// ignored, never rejected, so that members on the other side of a
// partition are not punished. The ordering layer checks the rest.
func (n *Node) validate(from peer.ID, group []byte, data []byte) overlay.ValidationResult {
	env, err := consensus.UnmarshalEnvelope(data)
	if err != nil {
		n.met.envelopesIn.WithLabelValues("rejected").Inc()
		return overlay.Reject
	}
	if !bytes.Equal(env.GroupID, group) {
		n.met.envelopesIn.WithLabelValues("rejected").Inc()
		return overlay.Reject
	}
	n.mu.Lock()
	_, ok := n.groups[hex.EncodeToString(group)]
	n.mu.Unlock()
	if !ok {
		n.met.envelopesIn.WithLabelValues("ignored").Inc()
		return overlay.Ignore
	}
	return overlay.Accept
}

// resumeGroups restarts every group in the store from its head state.
func (n *Node) resumeGroups(ctx context.Context) error {
	gids, err := n.st.Groups(ctx)
	if err != nil {
		return fmt.Errorf("node: listing stored groups: %w", err)
	}
	for _, gid := range gids {
		sg := n.st.Group(gid)
		head, err := sg.Head(ctx)
		if errors.Is(err, store.ErrNotFound) {
			continue // an invitation only
		}
		if err != nil {
			n.log.Error("cannot read a stored group; skipping it", "group", hex.EncodeToString(gid), "err", err)
			continue
		}
		grp, err := mls.LoadGroup(head.State, mls.LoadConfig{SigningKey: n.sig, Credentials: CredentialValidator{}})
		if err != nil {
			n.log.Error("cannot load a stored group state; skipping it", "group", hex.EncodeToString(gid), "err", err)
			continue
		}
		g := n.newGroup(gid, nil)
		if mb, err := sg.GroupKey(ctx, metaKey); err == nil {
			_ = json.Unmarshal(mb, &g.meta)
			if g.meta.AddedBy == nil {
				g.meta.AddedBy = map[string]addNote{}
			}
		}
		if g.meta.Left {
			g.cancel()
			continue
		}
		ids, _ := sg.EpochIDs(ctx)
		for _, id := range ids {
			g.storedEpochs[consensus.EpochID(id)] = true
		}
		if recs, err := sg.Received(ctx); err == nil {
			g.delivered = uint64(len(recs))
			for _, r := range recs {
				var m storedMessage
				if json.Unmarshal(r.Data, &m) == nil {
					if raw, err := hex.DecodeString(m.ID); err == nil && len(raw) == len(consensus.MessageID{}) {
						g.seen[consensus.MessageID(raw)] = true
					}
				}
			}
		}
		m, restored, err := n.resumeMachine(ctx, sg, head, grp, g.meta.BeaconSeq)
		if err != nil {
			return err
		}
		g.m = m
		g.loadSent(ctx)
		if !restored {
			// consensus.Restore re-broadcasts the outbox itself.
			n.resendOutbox(ctx, g)
		}
		if err := n.startGroup(g); err != nil {
			return err
		}
		n.log.Info("group resumed", "group", g.hexID, "epoch", grp.Epoch(), "delivered", len(g.seen),
			"epochs_retained", len(g.m.Core().Epochs()), "tree_restored", restored)
	}
	return nil
}

// resumeMachine restarts a stored group's member: with its whole epoch
// tree and fork state when the store has them, else from the head alone
// (restored is false; the caller re-sends the outbox).
func (n *Node) resumeMachine(ctx context.Context, sg *store.Group, head store.Epoch, grp *mls.Group, beaconSeq uint64) (m machine, restored bool, err error) {
	p, st, err := storedPersist(ctx, sg, head)
	if err == nil {
		m, err = n.restoredMachine(p, st, beaconSeq)
		if err == nil {
			return m, true, nil
		}
	}
	if !errors.Is(err, errNoTree) {
		n.log.Warn("cannot restore the stored epoch tree; resuming from the head", "group", hex.EncodeToString(sg.ID()), "err", err)
	}
	m, err = n.newMachine(grp, beaconSeq)
	return m, false, err
}

func (n *Node) loadInvitations(ctx context.Context) error {
	gids, err := n.st.Groups(ctx)
	if err != nil {
		return err
	}
	for _, gid := range gids {
		rec, err := n.st.Group(gid).GroupKey(ctx, welcomeKey)
		if err != nil {
			continue
		}
		var r struct {
			From    string `json:"from"`
			Welcome []byte `json:"welcome"`
		}
		if json.Unmarshal(rec, &r) != nil {
			continue
		}
		from, _ := peer.Decode(r.From)
		h := hex.EncodeToString(gid)
		n.mu.Lock()
		if _, member := n.groups[h]; !member {
			n.invites[h] = &invitation{from: from, welcome: r.Welcome}
		}
		n.mu.Unlock()
	}
	return nil
}

// dropGroup forgets a group this node was removed from.
func (n *Node) dropGroup(g *group, left bool) {
	n.mu.Lock()
	delete(n.groups, g.hexID)
	n.mu.Unlock()
	_ = n.ov.LeaveGroup(g.gid)
	if !left {
		n.log.Warn("group stopped", "group", g.hexID)
		return
	}
	// Keep the history (Messages) but never resume the group: its stored
	// head is an epoch this node is no longer a member of.
	g.meta.Left = true
	if mb, err := json.Marshal(&g.meta); err == nil {
		tx := g.sg.Begin()
		tx.PutGroupKey(metaKey, mb)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := tx.Commit(ctx); err != nil {
			n.log.Warn("recording that a group was left", "group", g.hexID, "err", err)
		}
		cancel()
	}
	n.log.Info("group left", "group", g.hexID)
}

// Invitations lists the groups this node has a pending Welcome for.
func (n *Node) Invitations() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.invites))
	for gid := range n.invites {
		out = append(out, gid)
	}
	sort.Strings(out)
	return out
}

// Update commits a fresh UpdatePath with no proposals: this node's leaf
// keys change (post-compromise security) and the group moves to a new
// epoch, committing any proposals received meanwhile.
func (n *Node) Update(ctx context.Context, gid string) error {
	g, err := n.group(gid)
	if err != nil {
		return err
	}
	return g.do(ctx, func() error {
		if err := g.m.Commit(); err != nil {
			return fmt.Errorf("node: committing an update: %w", err)
		}
		return nil
	})
}

// resendOutbox seals again, in the restored head, the messages that were
// sent but not final when the node stopped (a crash between persisting a
// Send and publishing it would otherwise lose it). They keep their nonce,
// hence their MessageID, so members that already have them drop them.
// fork.Member has no restore constructor yet, so this goes through the
// core directly (consensus.Restore does the same for a bare Core).
func (n *Node) resendOutbox(ctx context.Context, g *group) {
	outbox, err := storedOutbox(ctx, g.sg)
	if err != nil {
		n.log.Warn("stored outbox unreadable", "group", g.hexID, "err", err)
		return
	}
	for _, o := range outbox {
		if _, err := g.m.Core().SendWithNonce(o.Nonce, o.Data); err != nil {
			n.log.Warn("re-sending a message from the outbox", "group", g.hexID, "err", err)
		}
	}
	if len(outbox) > 0 {
		n.log.Info("re-sent the outbox after a restart", "group", g.hexID, "messages", len(outbox))
	}
}
