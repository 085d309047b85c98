package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/node"
)

// cmdDemo runs several nodes in this process on loopback TCP, each with an
// on-disk store in a temporary folder, and walks a group through a
// partition in which both sides commit, then heals it and checks that the
// group converges with no message lost. It exits non-zero otherwise.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlsnode demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nodes := fs.Int("nodes", 4, "number of nodes (at least 4: two per side)")
	keep := fs.Bool("keep", false, "keep the temporary folder")
	verbose := fs.Bool("v", false, "show the nodes' logs")
	timeout := fs.Duration("timeout", 45*time.Second, "give up after this long")
	short := fs.Duration("short", 500*time.Millisecond, "length of the first cut, inside the 1s retention window (0 skips it)")
	long := fs.Duration("long", 3*time.Second, "length of the second cut, beyond the retention window (0 skips it)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *nodes < 4 {
		fmt.Fprintln(stderr, "mlsnode demo: -nodes must be at least 4")
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	d := &demo{out: stdout, start: time.Now()}
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	d.log = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir, err := os.MkdirTemp("", "mlsnode-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode demo:", err)
		return 1
	}
	if *keep {
		d.say("stores kept in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	d.short, d.long = *short, *long
	err = d.run(ctx, dir, *nodes)
	d.close()
	if err != nil {
		fmt.Fprintf(stdout, "\nFAILED: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "\nOK: after both partitions the group converged on one epoch and every member delivered every message (%.1fs)\n", time.Since(d.start).Seconds())
	return 0
}

type demo struct {
	out   io.Writer
	log   *slog.Logger
	start time.Time
	nodes []*node.Node
	names map[peer.ID]string
	gid   string
	sent  map[string]string // message id -> text
	from  map[string]string // message id -> sender name
	short time.Duration
	long  time.Duration
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.out, "[%5.1fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) close() {
	for _, n := range d.nodes {
		n.Close()
	}
}

func (d *demo) name(n *node.Node) string { return d.names[n.ID()] }

func (d *demo) run(ctx context.Context, dir string, count int) error {
	d.names = map[peer.ID]string{}
	d.sent = map[string]string{}
	d.from = map[string]string{}
	d.say("starting %d nodes on loopback TCP, stores under %s", count, dir)
	for i := 0; i < count; i++ {
		name := string(rune('A' + i))
		n, err := node.New(ctx,
			node.WithDataDir(filepath.Join(dir, name)),
			node.WithListenAddrs("/ip4/127.0.0.1/tcp/0"),
			node.WithLogger(d.log.With("node", name)),
			node.WithAutoJoin(true),
			node.WithTick(50*time.Millisecond),
			node.WithHeartbeat(200*time.Millisecond),
		)
		if err != nil {
			return fmt.Errorf("starting node %s: %w", name, err)
		}
		d.nodes = append(d.nodes, n)
		d.names[n.ID()] = name
		d.say("  node %s is %s", name, n.ID())
	}
	for i, a := range d.nodes {
		for _, b := range d.nodes[i+1:] {
			if err := a.Connect(ctx, b.FullAddrs()[0]); err != nil {
				return fmt.Errorf("connecting %s to %s: %w", d.name(a), d.name(b), err)
			}
		}
	}
	d.say("all nodes connected to each other")

	creator := d.nodes[0]
	gid, err := creator.CreateGroup(ctx)
	if err != nil {
		return err
	}
	d.gid = gid
	d.say("%s created group %s", d.name(creator), gid[:16])
	for _, n := range d.nodes[1:] {
		if err := creator.Invite(ctx, gid, n.ID()); err != nil {
			return fmt.Errorf("inviting %s: %w", d.name(n), err)
		}
		d.say("%s invited %s by peer id; the Welcome went over the overlay", d.name(creator), d.name(n))
		if err := d.waitConverged(ctx, d.nodes[:indexOf(d.nodes, n)+1]); err != nil {
			return err
		}
	}
	if err := d.showMembers(creator); err != nil {
		return err
	}

	d.say("every member sends a message")
	for _, n := range d.nodes {
		if err := d.send(ctx, n, fmt.Sprintf("hello from %s", d.name(n))); err != nil {
			return err
		}
	}
	if err := d.waitDelivered(ctx); err != nil {
		return err
	}
	d.say("all %d messages delivered to every other member", len(d.sent))

	stopNarration := d.narrate()
	defer stopNarration()
	cuts := []struct {
		d    time.Duration
		what string
	}{
		{d.short, "shorter than the retention window: the ordering rule picks one side's commit and the other side re-sends"},
		{d.long, "longer than the retention window: fork detection finds the other branch, the survivor rule picks one, its losers rejoin and re-send"},
	}
	for i, cut := range cuts {
		if cut.d <= 0 {
			continue
		}
		d.say("")
		d.say("partition %d: %v, %s", i+1, cut.d, cut.what)
		if err := d.partition(ctx, i+1, cut.d); err != nil {
			return err
		}
	}
	return nil
}

// partition cuts the group in two halves, lets one member of each side
// commit and everyone send, heals, and waits for one head and every
// message everywhere.
func (d *demo) partition(ctx context.Context, round int, cut time.Duration) error {
	half := len(d.nodes) / 2
	left, right := d.nodes[:half], d.nodes[half:]
	d.say("cutting the network: {%s} | {%s}", d.names2(left), d.names2(right))
	for _, a := range left {
		for _, b := range right {
			a.Block(b.ID())
			b.Block(a.ID())
		}
	}
	d.say("both sides commit and send while cut off")
	for _, side := range [][]*node.Node{left, right} {
		committer := side[len(side)-1]
		if err := committer.Update(ctx, d.gid); err != nil {
			return fmt.Errorf("commit on %s's side: %w", d.name(committer), err)
		}
		d.say("  %s committed an update on its side", d.name(committer))
	}
	for _, n := range d.nodes {
		if err := d.send(ctx, n, fmt.Sprintf("%s during cut %d", d.name(n), round)); err != nil {
			return err
		}
	}
	time.Sleep(cut)
	d.report(fmt.Sprintf("after %v of partition", cut))

	d.say("healing the network")
	for _, a := range left {
		for _, b := range right {
			a.Unblock(b.ID())
			b.Unblock(a.ID())
		}
	}
	if err := d.waitConverged(ctx, d.nodes); err != nil {
		return err
	}
	if err := d.waitDelivered(ctx); err != nil {
		return err
	}
	d.say("all %d messages so far delivered to every other member, none lost", len(d.sent))
	return nil
}

func indexOf(ns []*node.Node, n *node.Node) int {
	for i, m := range ns {
		if m == n {
			return i
		}
	}
	return -1
}

func (d *demo) names2(ns []*node.Node) string {
	var s []string
	for _, n := range ns {
		s = append(s, d.name(n))
	}
	return strings.Join(s, ",")
}

func (d *demo) send(ctx context.Context, n *node.Node, text string) error {
	id, err := n.Send(ctx, d.gid, []byte(text))
	if err != nil {
		return fmt.Errorf("%s sending: %w", d.name(n), err)
	}
	d.sent[id] = text
	d.from[id] = d.name(n)
	d.say("  %s: %q", d.name(n), text)
	return nil
}

func (d *demo) showMembers(n *node.Node) error {
	ms, err := n.Members(d.gid)
	if err != nil {
		return err
	}
	d.say("members as %s sees them (peer id bound to the MLS credential, key fingerprint):", d.name(n))
	for _, m := range ms {
		p, _ := peer.Decode(m.Peer)
		by := ""
		if m.AddedBy != "" {
			bp, _ := peer.Decode(m.AddedBy)
			by = fmt.Sprintf(", added by %s in epoch %d", d.names[bp], m.AddedEpoch)
		}
		d.say("  leaf %d: %s %s [%s]%s", m.Leaf, d.names[p], shortPeer(m.Peer), m.Fingerprint, by)
	}
	return nil
}

func shortPeer(s string) string {
	if len(s) > 12 {
		return "…" + s[len(s)-8:]
	}
	return s
}

// heads maps each node to its head epoch id in the group.
func (d *demo) heads(ns []*node.Node) map[string][]string {
	out := map[string][]string{}
	for _, n := range ns {
		st := n.Status()
		head := "(not a member)"
		for _, g := range st.Groups {
			if g.Group == d.gid {
				head = fmt.Sprintf("epoch %d id %s, %d members", g.Epoch, g.EpochID[:8], g.Members)
			}
		}
		out[head] = append(out[head], d.name(n))
	}
	return out
}

func (d *demo) report(when string) {
	hs := d.heads(d.nodes)
	keys := make([]string, 0, len(hs))
	for k := range hs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d.say("heads %s:", when)
	for _, k := range keys {
		d.say("  %s: %s", strings.Join(hs[k], ","), k)
	}
}

func (d *demo) waitConverged(ctx context.Context, ns []*node.Node) error {
	for {
		hs := d.heads(ns)
		if len(hs) == 1 {
			for k := range hs {
				if !strings.HasPrefix(k, "(") && strings.HasSuffix(k, fmt.Sprintf(", %d members", len(ns))) {
					d.say("converged: %s on %s", d.names2(ns), k)
					return nil
				}
			}
		}
		select {
		case <-ctx.Done():
			d.report("when giving up")
			return errors.New("the group did not converge in time")
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// waitDelivered waits until every node has delivered every message sent
// by the others.
func (d *demo) waitDelivered(ctx context.Context) error {
	for {
		missing := 0
		var detail []string
		for _, n := range d.nodes {
			got := map[string]bool{}
			msgs, err := n.Messages(d.gid)
			if err != nil {
				return err
			}
			for _, m := range msgs {
				got[m.MessageID] = true
			}
			for id, text := range d.sent {
				if !got[id] && d.from[id] != d.name(n) {
					missing++
					detail = append(detail, fmt.Sprintf("%s lacks %q", d.name(n), text))
				}
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			sort.Strings(detail)
			return fmt.Errorf("%d deliveries missing: %s", missing, strings.Join(detail, "; "))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// narrate prints the ordering layer's branch switches and fork healing
// as the nodes report them.
func (d *demo) narrate() func() {
	var subs []*node.Subscription
	for _, n := range d.nodes {
		sub := n.Subscribe(256)
		subs = append(subs, sub)
		name := d.name(n)
		go func() {
			for e := range sub.C {
				switch e.Kind {
				case node.EventBranchSwitched, node.EventForkHealed:
					at := ""
					if e.Epoch != 0 {
						at = fmt.Sprintf(" (epoch %d)", e.Epoch)
					}
					d.say("  %s: %s%s: %s", name, e.Kind, at, e.Detail)
				case node.EventEpochChanged:
					d.say("  %s: now in epoch %d (%s)", name, e.Epoch, e.EpochID[:8])
				}
			}
		}()
	}
	return func() {
		for _, s := range subs {
			s.Close()
		}
	}
}
