package consensustest

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/mlsnode/mlsnode/consensus"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Command runs one script line. args are the words after the command
// name; key=value words are also in kv.
type Command func(r *Runner, args []string, kv map[string]string) error

// Runner runs interaction scripts: one command per line, '#' starts a
// comment. Each command is echoed ("> line") followed by what it caused,
// so the transcript reads like the golden files of etcd-io/raft.
type Runner struct {
	Net      *Network
	Commands map[string]Command
	// Configure is applied to every member's Config by "group" after the
	// script's own options (package fork adds its settings here).
	Configure func(i int, cfg *consensus.Config)
	// Capabilities are passed to Options.Capabilities by "group".
	Capabilities []wire.ExtensionType
}

// NewRunner returns a Runner with the built-in commands.
func NewRunner() *Runner {
	return &Runner{Commands: map[string]Command{
		"group":     cmdGroup,
		"commit":    cmdCommit,
		"propose":   cmdPropose,
		"send":      cmdSend,
		"deliver":   cmdDeliver,
		"drop":      cmdDrop,
		"partition": cmdPartition,
		"heal":      func(r *Runner, _ []string, _ map[string]string) error { r.Net.Heal(); return nil },
		"delay":     cmdDelay,
		"tick":      cmdTick,
		"state":     func(r *Runner, _ []string, _ map[string]string) error { r.Net.RenderState(); return nil },
		"queue":     cmdQueue,
		"rawcommit": cmdRawCommit,
		"converged": cmdConverged,
		"sync":      cmdSync,
		"order":     cmdOrder,
	}}
}

// RunFile runs a script file and returns the transcript.
func (r *Runner) RunFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var out strings.Builder
	sc := bufio.NewScanner(f)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			out.WriteString(sc.Text() + "\n")
			continue
		}
		out.WriteString("> " + line + "\n")
		if err := r.Run(line); err != nil {
			return out.String(), fmt.Errorf("%s:%d: %s: %w", path, lineNo, line, err)
		}
		if r.Net != nil {
			out.WriteString(r.Net.Out.String())
			r.Net.Out.Reset()
		}
	}
	return out.String(), sc.Err()
}

// Run runs one command line.
func (r *Runner) Run(line string) error {
	words := strings.Fields(line)
	cmd, ok := r.Commands[words[0]]
	if !ok {
		return fmt.Errorf("unknown command %q", words[0])
	}
	kv := map[string]string{}
	for _, w := range words[1:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			kv[k] = v
		}
	}
	if words[0] != "group" && r.Net == nil {
		return fmt.Errorf("no group yet")
	}
	return cmd(r, words[1:], kv)
}

// Member parses "mN".
func (r *Runner) Member(s string) (int, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(s, "m"))
	if err != nil || !strings.HasPrefix(s, "m") || i < 0 || i >= len(r.Net.Members) {
		return 0, fmt.Errorf("no member %q", s)
	}
	return i, nil
}

func (r *Runner) filter(kv map[string]string) (Filter, error) {
	f := Any
	var err error
	if s, ok := kv["from"]; ok {
		if f.From, err = r.Member(s); err != nil {
			return f, err
		}
	}
	if s, ok := kv["to"]; ok {
		if f.To, err = r.Member(s); err != nil {
			return f, err
		}
	}
	if s, ok := kv["kind"]; ok {
		for k := consensus.EnvelopeKind(1); k < 32; k++ {
			if k.String() == s {
				f.Kind = k
			}
		}
		if f.Kind == 0 {
			return f, fmt.Errorf("unknown kind %q", s)
		}
	}
	return f, nil
}

func atoiDefault(kv map[string]string, k string, def int) (int, error) {
	s, ok := kv[k]
	if !ok {
		return def, nil
	}
	return strconv.Atoi(s)
}

func cmdGroup(r *Runner, _ []string, kv map[string]string) error {
	members, err := atoiDefault(kv, "members", 3)
	if err != nil {
		return err
	}
	seed, err := atoiDefault(kv, "seed", 1)
	if err != nil {
		return err
	}
	var ints [5]int
	for i, k := range []string{"window", "max-rivals", "max-epochs", "max-pending", "max-outbox"} {
		if ints[i], err = atoiDefault(kv, k, 0); err != nil {
			return err
		}
	}
	var rank consensus.RankRule
	var apply consensus.ApplyPolicy
	if s, ok := kv["rank"]; ok {
		if rank, err = consensus.RankByName(s); err != nil {
			return err
		}
	}
	if s, ok := kv["apply"]; ok {
		if apply, err = consensus.ApplyByName(s); err != nil {
			return err
		}
	}
	var policy consensus.MembershipPolicy
	var admins []int
	if s, ok := kv["admins"]; ok {
		for _, a := range strings.Split(s, ",") {
			i, err := strconv.Atoi(strings.TrimPrefix(a, "m"))
			if err != nil {
				return fmt.Errorf("admins: %q", a)
			}
			admins = append(admins, i)
		}
		policy = consensus.AdminPolicy{}
	}
	net, err := NewNetwork(Options{Members: members, Seed: uint64(seed), Admins: admins, Capabilities: r.Capabilities, Configure: func(i int, cfg *consensus.Config) {
		cfg.WindowTicks = uint64(ints[0])
		cfg.MaxRivalsPerParent = ints[1]
		cfg.MaxRetainedEpochs = ints[2]
		cfg.MaxPendingPerEpoch = ints[3]
		cfg.MaxOutbox = ints[4]
		cfg.Rank, cfg.Apply, cfg.Membership = rank, apply, policy
		cfg.SealHandshakes = kv["seal"] == "1"
		if r.Configure != nil {
			r.Configure(i, cfg)
		}
	}})
	if err != nil {
		return err
	}
	r.Net = net
	net.Collect()
	return nil
}

// proposals parses remove=mY[,mZ] into Remove proposals.
func (r *Runner) proposals(kv map[string]string) ([]*wire.Proposal, error) {
	var ps []*wire.Proposal
	if s, ok := kv["remove"]; ok {
		for _, name := range strings.Split(s, ",") {
			i, err := r.Member(name)
			if err != nil {
				return nil, err
			}
			ps = append(ps, mls.NewRemove(uint32(i)))
		}
	}
	return ps, nil
}

func cmdCommit(r *Runner, args []string, kv map[string]string) error {
	i, err := r.Member(args[0])
	if err != nil {
		return err
	}
	ps, err := r.proposals(kv)
	if err != nil {
		return err
	}
	if err := r.Net.Members[i].Core.Commit(ps...); err != nil {
		r.Net.Printf("%s: commit: %v\n", Name(i), err)
	}
	r.Net.Collect()
	return nil
}

func cmdPropose(r *Runner, args []string, kv map[string]string) error {
	i, err := r.Member(args[0])
	if err != nil {
		return err
	}
	ps, err := r.proposals(kv)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if err := r.Net.Members[i].Core.Propose(p); err != nil {
			r.Net.Printf("%s: propose: %v\n", Name(i), err)
		}
	}
	r.Net.Collect()
	return nil
}

func cmdSend(r *Runner, args []string, _ map[string]string) error {
	i, err := r.Member(args[0])
	if err != nil {
		return err
	}
	text := strings.Join(args[1:], " ")
	id, err := r.Net.Members[i].Core.Send([]byte(text))
	if err != nil {
		r.Net.Printf("%s: send: %v\n", Name(i), err)
	} else {
		r.Net.Printf("%s: sent %v %q\n", Name(i), id, text)
	}
	r.Net.Collect()
	return nil
}

// cmdDeliver delivers due messages matching from=/to= (all by default),
// and what they cause; with n=K only the first K matching messages.
func cmdDeliver(r *Runner, _ []string, kv map[string]string) error {
	f, err := r.filter(kv)
	if err != nil {
		return err
	}
	limit, err := atoiDefault(kv, "n", -1)
	if err != nil {
		return err
	}
	if limit < 0 {
		r.Net.Printf("delivered %d\n", r.Net.Deliver(f))
		return nil
	}
	count := 0
	for ; count < limit; count++ {
		i := r.Net.next(f)
		if i < 0 {
			break
		}
		m := r.Net.Queue[i]
		r.Net.Queue = append(r.Net.Queue[:i], r.Net.Queue[i+1:]...)
		r.Net.Step(m.To, m.From, m.Env)
	}
	r.Net.Printf("delivered %d\n", count)
	return nil
}

func cmdDrop(r *Runner, _ []string, kv map[string]string) error {
	f, err := r.filter(kv)
	if err != nil {
		return err
	}
	r.Net.Printf("dropped %d\n", r.Net.Drop(f))
	return nil
}

func cmdPartition(r *Runner, args []string, _ map[string]string) error {
	var sides [][]int
	for _, a := range args {
		var side []int
		for _, name := range strings.Split(a, ",") {
			i, err := r.Member(name)
			if err != nil {
				return err
			}
			side = append(side, i)
		}
		sides = append(sides, side)
	}
	r.Net.Partition(sides...)
	return nil
}

func cmdDelay(r *Runner, _ []string, kv map[string]string) error {
	f, err := r.filter(kv)
	if err != nil {
		return err
	}
	ticks, err := atoiDefault(kv, "ticks", 1)
	if err != nil {
		return err
	}
	for a := range r.Net.Members {
		for b := range r.Net.Members {
			if a != b && f.match(&Message{From: a, To: b}) {
				r.Net.SetDelay(a, b, uint64(ticks))
			}
		}
	}
	return nil
}

func cmdTick(r *Runner, args []string, _ map[string]string) error {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil {
			return err
		}
	}
	for range n {
		r.Net.Tick()
	}
	r.Net.Printf("tick %d\n", r.Net.Now())
	return nil
}

func cmdQueue(r *Runner, _ []string, _ map[string]string) error {
	for _, m := range r.Net.Queue {
		r.Net.Printf("  %s->%s %s epoch %d %v due %d\n", Name(m.From), Name(m.To), m.Env.Kind, m.Env.Epoch, m.Env.EpochID, m.Due)
	}
	return nil
}

// cmdRawCommit makes member mX sign a commit on its head epoch without
// its Core, which would refuse it (a second commit on one epoch, or one
// its membership policy forbids), and broadcasts it: the behaviour of a
// faulty or malicious member. remove=mY adds Remove proposals.
func cmdRawCommit(r *Runner, args []string, kv map[string]string) error {
	i, err := r.Member(args[0])
	if err != nil {
		return err
	}
	ps, err := r.proposals(kv)
	if err != nil {
		return err
	}
	env, err := r.Net.RawCommit(i, ps...)
	if err != nil {
		return err
	}
	r.Net.Printf("%s: raw commit on epoch %d %v\n", Name(i), env.Epoch, env.EpochID)
	r.Net.Broadcast(i, env)
	return nil
}

func cmdConverged(r *Runner, _ []string, _ map[string]string) error {
	heads := map[consensus.EpochID][]string{}
	var order []consensus.EpochID
	for _, m := range r.Net.Members {
		if m.Core.Removed() {
			continue
		}
		id := m.Core.HeadID()
		if heads[id] == nil {
			order = append(order, id)
		}
		heads[id] = append(heads[id], m.Name)
	}
	if len(order) == 1 {
		r.Net.Printf("converged on %v\n", order[0])
		return nil
	}
	for _, id := range order {
		r.Net.Printf("head %v: %s\n", id, strings.Join(heads[id], ","))
	}
	return nil
}

// cmdSync makes every member re-broadcast what others may have missed
// (Core.Unsettled) over the links that are up: the anti-entropy that
// package fork runs after a heal, reduced to its effect.
func cmdSync(r *Runner, _ []string, _ map[string]string) error {
	for i, m := range r.Net.Members {
		envs := m.Core.Unsettled()
		r.Net.Printf("%s: re-broadcasts %d\n", m.Name, len(envs))
		for _, env := range envs {
			r.Net.Broadcast(i, env)
		}
	}
	return nil
}

// cmdOrder prints the committer order of member mX's head epoch under its
// rank rule, for commits without removals: who wins a race there.
func cmdOrder(r *Runner, args []string, _ map[string]string) error {
	i, err := r.Member(args[0])
	if err != nil {
		return err
	}
	m := r.Net.Members[i]
	rule := m.Core.RankRule()
	h := m.Core.HeadRef()
	type entry struct {
		leaf uint32
		key  []byte
	}
	var es []entry
	tree := m.Core.Head().Tree()
	for l := uint32(0); l < tree.LeafCount(); l++ {
		if tree.Leaf(leafIndex(l)) != nil {
			es = append(es, entry{l, rule.Key(&consensus.Candidate{Parent: h.ID, Committer: l})})
		}
	}
	sort.Slice(es, func(a, b int) bool { return string(es[a].key) < string(es[b].key) })
	var names []string
	for _, e := range es {
		names = append(names, fmt.Sprintf("leaf %d", e.leaf))
	}
	r.Net.Printf("%s: %s order on epoch %d %v: %s\n", m.Name, rule.Name(), h.Epoch, h.ID, strings.Join(names, ", "))
	return nil
}
