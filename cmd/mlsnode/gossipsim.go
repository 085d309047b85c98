package main

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/mlsnode/mlsnode/node"
)

// `mlsnode sim --network gossip`: scenarios on real nodes (package node:
// fork.Member, the MLS engine, in-memory stores) over real gossipsub on
// libp2p's in-memory network (p2p/net/mock). Cuts go through each node's
// connection gater (node.Block), which on the mock network the overlay
// enforces itself on gossipsub RPCs and streams: the partition guard.
//
// Unlike the deterministic simulator this runs in real time: the seed
// fixes the workload (who sends when), not the network's timing, so a run
// does not replay exactly. It reports the same measures: forks after the
// settle time, time to converge after the heal, lost messages, messages
// sent and delivered, and what healing did (branch switches, rejoins).

// gossipScenarios are the scenarios this mode runs.
var gossipScenarios = map[string]string{
	"partition":    "two halves cut apart; one member on each side commits; heal",
	"isolate-one":  "one member cut from everyone; it and the rest both commit; heal",
	"commit-storm": "no partition; members commit at a high rate, so rivals race",
}

// isGossipNetwork reports whether a sim command line asks for gossip mode
// (--network gossip or --network=gossip); rest is the command line
// without that flag.
func isGossipNetwork(args []string) (bool, []string) {
	for i, a := range args {
		switch {
		case (a == "--network" || a == "-network") && i+1 < len(args):
			if args[i+1] == "gossip" {
				return true, append(append([]string(nil), args[:i]...), args[i+2:]...)
			}
		case a == "--network=gossip" || a == "-network=gossip":
			return true, append(append([]string(nil), args[:i]...), args[i+1:]...)
		}
	}
	return false, args
}

type gossipResult struct {
	Scenario       string  `json:"scenario"`
	Network        string  `json:"network"`
	Members        int     `json:"members"`
	Seed           uint64  `json:"seed"`
	Sent           int     `json:"sent"`
	Delivered      int     `json:"delivered"`
	Lost           int     `json:"lost"`
	ForksAfter     int     `json:"forks_after_settle"`
	ConvergeSecs   float64 `json:"time_to_converge_s"`
	BranchSwitches int     `json:"branch_switches"`
	Rejoins        int     `json:"rejoins"`
	Commits        int     `json:"commits_made"`
}

func runGossipSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlsnode sim --network gossip", flag.ContinueOnError)
	fs.SetOutput(stderr)
	members := fs.Int("members", 6, "group size")
	seed := fs.Uint64("seed", 0, "workload seed (0: random, printed)")
	cut := fs.Duration("partition", 3*time.Second, "partition length (the retention window is 1s)")
	settle := fs.Duration("settle", 5*time.Second, "how long the network must be whole before forks count")
	rate := fs.Float64("rate", 2, "application messages per second per member")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	verbose := fs.Bool("v", false, "show the nodes' logs")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	if len(pos) == 1 && pos[0] == "list" {
		names := make([]string, 0, len(gossipScenarios))
		for n := range gossipScenarios {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "%-14s %s\n", n, gossipScenarios[n])
		}
		return 0
	}
	if len(pos) != 1 || gossipScenarios[pos[0]] == "" || *members < 3 {
		fmt.Fprintln(stderr, "usage: mlsnode sim --network gossip [-members N>=3] [-seed S] [-partition D] SCENARIO (mlsnode sim --network gossip list)")
		return 2
	}
	if *seed == 0 {
		var b [8]byte
		crand.Read(b[:])
		*seed = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | 1
	}
	fmt.Fprintf(stderr, "gossip mode: scenario %s, %d members, seed %d (fixes the workload; real time does not replay)\n", pos[0], *members, *seed)
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	res, err := gossipRun(ctx, pos[0], *members, *seed, *cut, *settle, *rate, log)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "scenario %s (gossip, %d members, seed %d)\n", res.Scenario, res.Members, res.Seed)
		fmt.Fprintf(stdout, "  messages sent %d, deliveries %d, lost %d\n", res.Sent, res.Delivered, res.Lost)
		fmt.Fprintf(stdout, "  forks after settle %d, time to converge %.2fs\n", res.ForksAfter, res.ConvergeSecs)
		fmt.Fprintf(stdout, "  commits made %d, branch switches %d, rejoins %d\n", res.Commits, res.BranchSwitches, res.Rejoins)
	}
	if res.Lost > 0 || res.ForksAfter > 0 {
		return 1
	}
	return 0
}

func gossipRun(ctx context.Context, scenario string, n int, seed uint64, cut, settle time.Duration, rate float64, log *slog.Logger) (*gossipResult, error) {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	mn := mocknet.New()
	defer mn.Close()
	var nodes []*node.Node
	defer func() {
		for _, nd := range nodes {
			nd.Close()
		}
	}()
	for i := 0; i < n; i++ {
		sk, _, err := crypto.GenerateEd25519Key(crand.Reader)
		if err != nil {
			return nil, err
		}
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4001", i/250, i%250+1))
		h, err := mn.AddPeer(sk, addr)
		if err != nil {
			return nil, err
		}
		nd, err := node.New(ctx, node.WithHost(h), node.WithMemoryStore(), node.WithAutoJoin(true),
			node.WithTick(50*time.Millisecond), node.WithHeartbeat(200*time.Millisecond),
			node.WithLogger(log.With("node", i)))
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	if err := mn.LinkAll(); err != nil {
		return nil, err
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		return nil, err
	}
	res := &gossipResult{Scenario: scenario, Network: "gossip", Members: n, Seed: seed}
	var evMu sync.Mutex
	for _, nd := range nodes {
		sub := nd.Subscribe(4096)
		defer sub.Close()
		go func() {
			for e := range sub.C {
				evMu.Lock()
				switch {
				case e.Kind == node.EventBranchSwitched:
					res.BranchSwitches++
				case e.Kind == node.EventForkHealed && strings.HasPrefix(e.Detail, "left branch"):
					res.Rejoins++
				}
				evMu.Unlock()
			}
		}()
	}
	gid, err := nodes[0].CreateGroup(ctx)
	if err != nil {
		return nil, err
	}
	var invitees []peer.ID
	for _, p := range nodes[1:] {
		invitees = append(invitees, p.ID())
	}
	if err := nodes[0].InviteAll(ctx, gid, invitees...); err != nil {
		return nil, err
	}
	if _, err := waitHeads(ctx, nodes, gid, n, time.Minute); err != nil {
		return nil, fmt.Errorf("forming the group: %w", err)
	}

	// The workload: every member sends at the given rate, from the seed.
	sent := map[string]int{} // message id -> sender
	var sentMu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i, nd := range nodes {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				wait := time.Duration(r.ExpFloat64() / rate * float64(time.Second))
				select {
				case <-stop:
					return
				case <-time.After(wait):
				}
				id, err := nd.Send(ctx, gid, []byte(fmt.Sprintf("%d:%d", i, k)))
				if err != nil {
					continue // e.g. between leaving a branch and rejoining
				}
				sentMu.Lock()
				sent[id] = i
				sentMu.Unlock()
			}
		}()
	}
	commit := func(nd *node.Node) {
		if err := nd.Update(ctx, gid); err == nil {
			evMu.Lock()
			res.Commits++
			evMu.Unlock()
		}
	}
	time.Sleep(time.Second)
	switch scenario {
	case "partition", "isolate-one":
		side := nodes[:n/2]
		if scenario == "isolate-one" {
			k := rng.IntN(n)
			side = nodes[k : k+1]
		}
		other := without(nodes, side)
		gate(side, other, true)
		commit(side[rng.IntN(len(side))])
		commit(other[rng.IntN(len(other))])
		time.Sleep(cut)
		gate(side, other, false)
	case "commit-storm":
		var storm sync.WaitGroup
		for k := 0; k < 10; k++ {
			for j := 0; j < 2; j++ {
				nd := nodes[rng.IntN(n)]
				storm.Add(1)
				go func() { defer storm.Done(); commit(nd) }()
			}
			time.Sleep(300 * time.Millisecond)
		}
		storm.Wait()
	}
	healed := time.Now()
	conv, err := waitHeads(ctx, nodes, gid, n, time.Minute)
	if err != nil {
		res.ConvergeSecs = -1
	} else {
		res.ConvergeSecs = conv.Sub(healed).Seconds()
	}
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	time.Sleep(settle)

	heads := map[string]bool{}
	for _, nd := range nodes {
		for _, g := range nd.Status().Groups {
			if g.Group == gid {
				heads[g.EpochID] = true
			}
		}
	}
	if len(heads) > 1 {
		res.ForksAfter = len(heads) - 1
	}
	sentMu.Lock()
	defer sentMu.Unlock()
	evMu.Lock() // the event counters are final once the nodes are idle
	defer evMu.Unlock()
	res.Sent = len(sent)
	for r, nd := range nodes {
		msgs, err := nd.Messages(gid)
		if err != nil {
			res.Lost += len(sent)
			continue
		}
		got := map[string]bool{}
		for _, m := range msgs {
			got[m.MessageID] = true
		}
		for id, from := range sent {
			if from == r {
				continue
			}
			if got[id] {
				res.Delivered++
			} else {
				res.Lost++
			}
		}
	}
	return res, nil
}

func without(all, some []*node.Node) []*node.Node {
	var out []*node.Node
	for _, a := range all {
		in := false
		for _, s := range some {
			in = in || a == s
		}
		if !in {
			out = append(out, a)
		}
	}
	return out
}

// gate cuts (or heals) every link between the two sides.
func gate(a, b []*node.Node, cut bool) {
	for _, x := range a {
		for _, y := range b {
			if cut {
				x.Block(y.ID())
				y.Block(x.ID())
			} else {
				x.Unblock(y.ID())
				y.Unblock(x.ID())
			}
		}
	}
}

// waitHeads waits until every node has the same head epoch with want
// members, and returns when that happened.
func waitHeads(ctx context.Context, nodes []*node.Node, gid string, want int, limit time.Duration) (time.Time, error) {
	deadline := time.Now().Add(limit)
	for {
		heads := map[string]bool{}
		ok := true
		for _, nd := range nodes {
			found := false
			for _, g := range nd.Status().Groups {
				if g.Group == gid && g.Members == want {
					heads[g.EpochID], found = true, true
				}
			}
			ok = ok && found
		}
		if ok && len(heads) == 1 {
			return time.Now(), nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return time.Time{}, fmt.Errorf("no single head after %v (%d heads)", limit, len(heads))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
