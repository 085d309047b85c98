package consensustest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Member is one participant: its Core and what it has seen.
type Member struct {
	Name      string
	Key       *suite.SigningKey
	Core      *consensus.Core
	Rand      *rand.ChaCha8
	Delivered []consensus.Delivered
}

// Options shape a network.
type Options struct {
	Members int
	Seed    uint64
	// Suite defaults to 1 (X25519, AES-128-GCM, Ed25519).
	Suite suite.ID
	// Configure, if set, adjusts each member's Config before New.
	Configure func(i int, cfg *consensus.Config)
	// Admins, if set, lists the members named in the admins extension of
	// the group's GroupContext (consensus.AdminPolicy reads it).
	Admins []int
	// Capabilities are extension types every member advertises, beyond
	// consensus.ExtensionTypeAdmins, which is always listed (package fork
	// adds its own GroupContext extension here).
	Capabilities []wire.ExtensionType
}

// Message is an envelope in flight from one member to another.
type Message struct {
	From, To int
	Env      consensus.Envelope
	Due      uint64 // the network tick from which it may be delivered
	Seq      uint64
}

// Network is a set of members and the messages between them. Every
// member's output is broadcast to every other member (no self-delivery,
// like gossipsub); links can be cut (messages across a cut are lost, as
// gossipsub loses them) or delayed.
type Network struct {
	Members []*Member
	Suite   *suite.Suite
	// Queue is the messages in flight, in send order.
	Queue []*Message
	tick  uint64
	seq   uint64
	cut   map[[2]int]bool
	delay map[[2]int]uint64
	// Out receives the rendering of everything that happens.
	Out strings.Builder
	// Hooks, if set, see every envelope a member outputs before it is
	// queued (package fork uses it for envelopes it handles itself).
	OnReady func(from int, rd *consensus.Ready)
}

// NewNetwork creates a group of opts.Members members: the first creates
// it and adds the others in one commit; everyone then starts a Core in
// epoch 1.
func NewNetwork(opts Options) (*Network, error) {
	if opts.Suite == 0 {
		opts.Suite = 1
	}
	cs, err := suite.Lookup(opts.Suite)
	if err != nil {
		return nil, err
	}
	n := &Network{Suite: cs, cut: map[[2]int]bool{}, delay: map[[2]int]uint64{}}
	setup := rand.NewChaCha8(seed(opts.Seed, "setup"))
	type joiner struct {
		key *suite.SigningKey
		kp  *mls.KeyPackageBundle
	}
	var js []joiner
	for i := 0; i < opts.Members; i++ {
		priv, _, err := cs.GenerateSignatureKey(setup)
		if err != nil {
			return nil, err
		}
		key, err := cs.NewSigningKey(priv)
		if err != nil {
			return nil, err
		}
		caps := &wire.Capabilities{
			Versions:     []wire.ProtocolVersion{wire.ProtocolVersionMLS10},
			CipherSuites: []wire.CipherSuite{wire.CipherSuite(cs.ID())},
			Credentials:  []wire.CredentialType{wire.CredentialTypeBasic},
			Extensions:   append([]wire.ExtensionType{consensus.ExtensionTypeAdmins}, opts.Capabilities...),
		}
		kp, err := mls.NewKeyPackage(setup, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(Name(i))}, key,
			mls.KeyPackageOptions{Lifetime: wire.Lifetime{NotBefore: 0, NotAfter: 1 << 40}, Capabilities: caps})
		if err != nil {
			return nil, err
		}
		js = append(js, joiner{key, kp})
	}
	var exts wire.Extensions
	if len(opts.Admins) > 0 {
		var ids [][]byte
		for _, a := range opts.Admins {
			ids = append(ids, []byte(Name(a)))
		}
		ext, err := consensus.AdminsExtension(ids...)
		if err != nil {
			return nil, err
		}
		exts = append(exts, ext)
	}
	creator, err := mls.CreateGroup(setup, cs, mls.CreateConfig{GroupID: []byte("group"), KeyPackage: js[0].kp, SigningKey: js[0].key, Extensions: exts})
	if err != nil {
		return nil, err
	}
	groups := []*mls.Group{creator}
	if opts.Members > 1 {
		var adds []*wire.Proposal
		for _, j := range js[1:] {
			adds = append(adds, mls.NewAdd(j.kp.KeyPackage))
		}
		res, err := creator.Commit(setup, mls.CommitOptions{Proposals: adds})
		if err != nil {
			return nil, err
		}
		if err := creator.Merge(res.Staged); err != nil {
			return nil, err
		}
		for _, j := range js[1:] {
			g, err := mls.JoinFromWelcome(cs, res.Welcome, mls.JoinConfig{KeyPackage: j.kp, SigningKey: j.key})
			if err != nil {
				return nil, err
			}
			groups = append(groups, g)
		}
	}
	for i, g := range groups {
		r := rand.NewChaCha8(seed(opts.Seed, Name(i)))
		cfg := consensus.Config{Group: g, SigningKey: js[i].key, Rand: r, SkipPersist: true}
		if opts.Configure != nil {
			opts.Configure(i, &cfg)
		}
		core, err := consensus.New(cfg)
		if err != nil {
			return nil, err
		}
		n.Members = append(n.Members, &Member{Name: Name(i), Key: js[i].key, Core: core, Rand: r})
	}
	return n, nil
}

// Name is the name of member i in renderings: m0, m1, ...
func Name(i int) string { return fmt.Sprintf("m%d", i) }

func seed(s uint64, label string) [32]byte {
	var out [32]byte
	binary.BigEndian.PutUint64(out[:8], s)
	copy(out[8:], label)
	return out
}

// Printf appends to the rendering.
func (n *Network) Printf(format string, args ...any) { fmt.Fprintf(&n.Out, format, args...) }

// Collect drains every member's Ready: renders events and deliveries and
// queues messages to every other member whose link is not cut.
func (n *Network) Collect() {
	for i := range n.Members {
		n.collect(i)
	}
}

func (n *Network) collect(i int) {
	m := n.Members[i]
	for m.Core.HasReady() {
		rd := m.Core.Ready()
		if n.OnReady != nil {
			n.OnReady(i, &rd)
		}
		for _, e := range rd.Events {
			n.Printf("%s: %s\n", m.Name, RenderEvent(e))
		}
		for _, d := range rd.Delivered {
			m.Delivered = append(m.Delivered, d)
			flag := ""
			if d.LosingBranch {
				flag = " (losing branch)"
			}
			n.Printf("%s: deliver %s from %s %q epoch %d %v%s\n", m.Name, d.ID, d.Identity, d.Data, d.Epoch, d.EpochID, flag)
		}
		for _, env := range rd.Messages {
			n.Broadcast(i, env)
		}
		m.Core.Advance(rd)
	}
}

// Broadcast queues env from member from to every other member.
func (n *Network) Broadcast(from int, env consensus.Envelope) {
	for to := range n.Members {
		if to == from {
			continue
		}
		if n.cut[[2]int{from, to}] {
			continue
		}
		n.seq++
		n.Queue = append(n.Queue, &Message{From: from, To: to, Env: env, Due: n.tick + n.delay[[2]int{from, to}], Seq: n.seq})
	}
}

// Filter selects messages: From and To are member indexes (-1 matches
// any member), Kind an envelope kind (0 matches any).
type Filter struct {
	From, To int
	Kind     consensus.EnvelopeKind
}

// Any matches every message.
var Any = Filter{From: -1, To: -1}

func (f Filter) match(m *Message) bool {
	return (f.From < 0 || f.From == m.From) && (f.To < 0 || f.To == m.To) && (f.Kind == 0 || f.Kind == m.Env.Kind)
}

// Deliver delivers the due messages that match f, and what they cause,
// until nothing matching is left. It returns how many were delivered.
func (n *Network) Deliver(f Filter) int {
	count := 0
	for {
		i := n.next(f)
		if i < 0 {
			return count
		}
		m := n.Queue[i]
		n.Queue = append(n.Queue[:i], n.Queue[i+1:]...)
		count++
		n.Step(m.To, m.From, m.Env)
	}
}

func (n *Network) next(f Filter) int {
	for i, m := range n.Queue {
		if f.match(m) && m.Due <= n.tick {
			return i
		}
	}
	return -1
}

// Step hands env to member to, renders an error, and collects output.
func (n *Network) Step(to, from int, env consensus.Envelope) {
	if err := n.Members[to].Core.Step(env); err != nil {
		n.Printf("%s: step %s from %s: %v\n", Name(to), env.Kind, Name(from), err)
	}
	n.Collect()
}

// Drop discards queued messages that match f and returns how many.
func (n *Network) Drop(f Filter) int {
	kept := n.Queue[:0]
	dropped := 0
	for _, m := range n.Queue {
		if f.match(m) {
			dropped++
			continue
		}
		kept = append(kept, m)
	}
	n.Queue = kept
	return dropped
}

// Partition cuts every link between members of different sides; members
// not named form a side of their own each. Messages in flight across the
// cut are lost.
func (n *Network) Partition(sides ...[]int) {
	side := map[int]int{}
	for s, members := range sides {
		for _, i := range members {
			side[i] = s + 1
		}
	}
	for a := range n.Members {
		for b := range n.Members {
			if a != b && (side[a] != side[b] || side[a] == 0) {
				n.cut[[2]int{a, b}] = true
			}
		}
	}
	kept := n.Queue[:0]
	for _, m := range n.Queue {
		if !n.cut[[2]int{m.From, m.To}] {
			kept = append(kept, m)
		}
	}
	n.Queue = kept
}

// Heal restores every link.
func (n *Network) Heal() { n.cut = map[[2]int]bool{} }

// Cut cuts the one-way link from -> to.
func (n *Network) Cut(from, to int) { n.cut[[2]int{from, to}] = true }

// SetDelay delays messages from -> to by ticks.
func (n *Network) SetDelay(from, to int, ticks uint64) { n.delay[[2]int{from, to}] = ticks }

// Tick advances every member's clock and the network's by one.
func (n *Network) Tick() {
	n.tick++
	for _, m := range n.Members {
		m.Core.Tick()
	}
	n.Collect()
}

// Now is the network's tick.
func (n *Network) Now() uint64 { return n.tick }

// RenderEvent renders an event on one line.
func RenderEvent(e consensus.Event) string {
	switch e.Kind {
	case consensus.EventEpochMerged:
		s := fmt.Sprintf("merged epoch %d %v (parent %v, by leaf %d", e.Epoch, e.ID, e.Parent, e.Committer)
		if len(e.Added) > 0 {
			s += fmt.Sprintf(", added %v", e.Added)
		}
		if len(e.Removed) > 0 {
			s += fmt.Sprintf(", removed %v", e.Removed)
		}
		return s + ")"
	case consensus.EventBranchSwitched:
		return fmt.Sprintf("switched %v -> %v (rolled back %d)", e.From, e.ID, e.RolledBack)
	case consensus.EventEpochFinal:
		return fmt.Sprintf("final epoch %d %v", e.Epoch, e.ID)
	case consensus.EventEquivocation:
		return fmt.Sprintf("equivocation by leaf %d on %v", e.Leaf, e.Parent)
	case consensus.EventCommitRejected:
		return "rejected: " + e.Reason
	case consensus.EventResend:
		return fmt.Sprintf("resend %v in %v", e.MessageID, e.ID)
	case consensus.EventReproposed:
		return fmt.Sprintf("reproposed %d in %v", e.Count, e.ID)
	case consensus.EventRemoved:
		return fmt.Sprintf("removed in epoch %d %v", e.Epoch, e.ID)
	}
	return e.Kind.String()
}

// RenderState renders every member's head and epoch tree.
func (n *Network) RenderState() {
	for _, m := range n.Members {
		h := m.Core.HeadRef()
		n.Printf("%s: head epoch %d %v", m.Name, h.Epoch, h.ID)
		if m.Core.Removed() {
			n.Printf(" (removed)")
		}
		st := m.Core.Stats()
		n.Printf(" outbox %d\n", st.Outbox)
		for _, e := range m.Core.Epochs() {
			var flags []string
			for _, f := range []struct {
				on   bool
				name string
			}{{e.Head, "head"}, {e.OnChain && !e.Head, "chain"}, {e.Final, "final"}, {e.Equivocated, "equivocated"}, {e.Removed, "removed-me"}} {
				if f.on {
					flags = append(flags, f.name)
				}
			}
			sort.Strings(flags)
			parent := "-"
			if !e.Parent.IsZero() {
				parent = e.Parent.String()
			}
			n.Printf("  epoch %d %v parent %s leaf %d rank %d", e.Ref.Epoch, e.Ref.ID, parent, e.Committer, e.Rank)
			if len(flags) > 0 {
				n.Printf(" %s", strings.Join(flags, ","))
			}
			n.Printf("\n")
		}
	}
}

// RawCommit signs a commit of member i on its head epoch with the MLS
// engine directly, bypassing its Core, and returns the envelope (not sent).
// Tests use it to play a faulty or malicious member.
func (n *Network) RawCommit(i int, proposals ...*wire.Proposal) (consensus.Envelope, error) {
	m := n.Members[i]
	st, err := m.Core.Head().MarshalState()
	if err != nil {
		return consensus.Envelope{}, err
	}
	g, err := mls.LoadGroup(st, mls.LoadConfig{SigningKey: m.Key})
	if err != nil {
		return consensus.Envelope{}, err
	}
	res, err := g.Commit(m.Rand, mls.CommitOptions{Proposals: proposals, ForcePath: len(proposals) == 0, PublicMessage: true})
	if err != nil {
		return consensus.Envelope{}, err
	}
	body, err := codec.Marshal(&consensus.CommitBody{Commit: res.Commit, Welcome: res.Welcome})
	if err != nil {
		return consensus.Envelope{}, err
	}
	h := m.Core.HeadRef()
	return consensus.Envelope{Kind: consensus.KindCommit, GroupID: g.GroupID(), Epoch: h.Epoch, EpochID: h.ID, Body: body}, nil
}

func leafIndex(i uint32) treemath.LeafIndex { return treemath.LeafIndex(i) }
