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

func runGossipSim(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlsnode sim --network gossip", flag.ContinueOnError)
	fs.SetOutput(stderr)
	members := fs.Int("members", 6, "group size")
	seed := fs.Uint64("seed", 0, "seed of the workload, the partition, the committers and the keys (0: random, printed)")
	cut := fs.Duration("partition", 3*time.Second, "partition length, protocol time (the retention window is 2s)")
	settle := fs.Duration("settle", 5*time.Second, "how long the network must be whole before forks count, protocol time")
	rate := fs.Float64("rate", 2, "application messages per protocol second per member")
	clock := fs.String("clock", "paced", "protocol clock: paced (one shared tick that waits for every node to handle its input) or wall (each node's own ticker)")
	scale := fs.Float64("time-scale", 1, "wall seconds per protocol second: stretches the tick (100ms), gossipsub heartbeat (200ms), partition, settle and rate alike")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	verbose := fs.Bool("v", false, "show the nodes' logs")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
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
	if len(pos) != 1 || gossipScenarios[pos[0]] == "" || *members < 3 || *scale < 1 || *rate <= 0 || (*clock != "paced" && *clock != "wall") {
		fmt.Fprintln(stderr, "usage: mlsnode sim --network gossip [-members N>=3] [-seed S] [-partition D] [-clock paced|wall] [-time-scale K>=1] SCENARIO (mlsnode sim --network gossip list)")
		return 2
	}
	if *seed == 0 {
		var b [8]byte
		crand.Read(b[:])
		*seed = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | 1
	}
	fmt.Fprintf(stderr, "gossip mode: scenario %s, %d members, seed %d, %s clock, time scale %g (the seed fixes the workload, partition, committers and keys; real-time scheduling does not replay)\n",
		pos[0], *members, *seed, *clock, *scale)
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	start := time.Now()
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim: cpuprofile:", err)
		return 1
	}
	defer stopProfile()
	cfg := gossipConfig{Scenario: pos[0], Members: *members, Seed: *seed, Partition: *cut, Settle: *settle,
		Rate: *rate, TimeScale: *scale, Clock: *clock, Log: log,
		Phase: func(format string, a ...any) {
			fmt.Fprintf(stderr, "  [%6.1fs wall] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
		}}
	res, err := gossipRun(ctx, cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 1
	}
	if *asJSON {
		b, _ := json.MarshalIndent(res, "", "  ")
		fmt.Fprintln(stdout, string(b))
	} else {
		fmt.Fprintf(stdout, "scenario %s (gossip, %d members, seed %d, %s clock, time scale %g)\n", res.Scenario, res.Members, res.Seed, res.Clock, res.TimeScale)
		fmt.Fprintf(stdout, "  messages sent %d, deliveries %d, lost %d (missing when the heads first agreed: %d)\n", res.Sent, res.Delivered, res.Lost, res.LostAtConverge)
		fmt.Fprintf(stdout, "  forks after settle %d, time to converge %.2fs protocol (%.2fs wall)\n", res.ForksAfter, res.ConvergeSecs, res.ConvergeWallSecs)
		fmt.Fprintf(stdout, "  commits made %d, branch switches %d, rejoins %d, re-added %d in %d batch commit(s)\n",
			res.Commits, res.BranchSwitches, res.Rejoins, res.Readds, res.Batches)
		fmt.Fprintf(stdout, "  gossipsub dropped: %d outbound RPCs, %d undelivered to a slow subscriber, %d before validation\n",
			res.GossipDroppedRPCs, res.GossipUndeliverable, res.GossipDropped)
		fmt.Fprintf(stdout, "  wall time %.1fs; %.1f wall s per protocol s from the cut to the end; timer lag in ticks p50 %.2f, p99 %.2f, max %.1f\n",
			res.WallSecs, res.EffectiveScale, res.TimerLagP50, res.TimerLagP99, res.TimerLagMax)
	}
	if res.Lost > 0 || res.ForksAfter > 0 {
		return 1
	}
	return 0
}

type gossipResult struct {
	Scenario  string  `json:"scenario"`
	Network   string  `json:"network"`
	Members   int     `json:"members"`
	Seed      uint64  `json:"seed"`
	TimeScale float64 `json:"time_scale"`
	Sent      int     `json:"sent"`
	Delivered int     `json:"delivered"`
	Lost      int     `json:"lost"`
	// LostAtConverge counts the deliveries missing when the heads first
	// agreed (before the settle time): what was still in flight then.
	LostAtConverge int `json:"lost_at_converge"`
	ForksAfter     int `json:"forks_after_settle"`
	// ConvergeSecs is in protocol seconds (wall seconds / time scale);
	// ConvergeWallSecs in wall seconds. -1: no single head in time.
	ConvergeSecs     float64 `json:"time_to_converge_s"`
	ConvergeWallSecs float64 `json:"time_to_converge_wall_s"`
	BranchSwitches   int     `json:"branch_switches"`
	Rejoins          int     `json:"rejoins"`
	// Readds counts members re-added by a batch commit of the surviving
	// branch, Batches those commits.
	Readds   int     `json:"re_adds"`
	Batches  int     `json:"batch_commits"`
	Commits  int     `json:"commits_made"`
	WallSecs float64 `json:"wall_s"`
	// TimerLag is how late a timer of one tick fired, in ticks, over the
	// run from the partition on (p50, p99, max): a process that cannot
	// keep up with its nodes' timers shows it here. Lags near 0 mean the
	// time scale was enough.
	TimerLagP50 float64 `json:"timer_lag_ticks_p50"`
	TimerLagP99 float64 `json:"timer_lag_ticks_p99"`
	TimerLagMax float64 `json:"timer_lag_ticks_max"`
	// Clock is "paced" or "wall"; EffectiveScale is the wall time the
	// scenario took per protocol second (from the partition to the end
	// of the settle time): the time scale, or more when a paced clock
	// slowed down because the nodes were behind.
	Clock          string  `json:"clock"`
	EffectiveScale float64 `json:"effective_time_scale"`
	// What gossipsub dropped under load, summed over the nodes: outbound
	// RPCs to a peer whose queue was full, messages a subscriber did not
	// take in time, messages refused before validation.
	GossipDroppedRPCs   uint64 `json:"gossip_dropped_rpcs"`
	GossipUndeliverable uint64 `json:"gossip_undeliverable"`
	GossipDropped       uint64 `json:"gossip_dropped"`
}

// lagMonitor measures how late a timer of one tick fires, the symptom of
// a process that cannot keep up with its nodes' timers.
type lagMonitor struct {
	mu   sync.Mutex
	lags []float64 // in ticks
	stop chan struct{}
	done chan struct{}
}

func startLagMonitor(tick time.Duration) *lagMonitor {
	l := &lagMonitor{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		t := time.NewTimer(tick)
		defer t.Stop()
		for {
			armed := time.Now()
			t.Reset(tick)
			select {
			case <-l.stop:
				return
			case <-t.C:
				// The goroutine's own clock, not the timer's: a late
				// wake-up from a full run queue is what is measured.
				lag := float64(time.Since(armed)-tick) / float64(tick)
				l.mu.Lock()
				l.lags = append(l.lags, max(lag, 0))
				l.mu.Unlock()
			}
		}
	}()
	return l
}

// finish stops the monitor and returns the p50, p99 and largest lag.
func (l *lagMonitor) finish() (p50, p99, most float64) {
	close(l.stop)
	<-l.done
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lags) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(l.lags)
	at := func(q float64) float64 { return l.lags[min(len(l.lags)-1, int(q*float64(len(l.lags))))] }
	return at(0.5), at(0.99), l.lags[len(l.lags)-1]
}

// gossipConfig is one gossip-mode run. Durations and the rate are in
// protocol time; TimeScale stretches every one of them (and the nodes'
// tick and gossipsub heartbeat) by the same factor in wall time, so that
// a process that cannot keep up with 50 nodes' timers in real time runs
// the same protocol, in ticks, at a pace it can keep up with.
type gossipConfig struct {
	Scenario  string
	Members   int
	Seed      uint64
	Partition time.Duration
	Settle    time.Duration
	Rate      float64 // application messages per protocol second per member
	TimeScale float64 // wall time per protocol time (>= 1)
	Clock     string  // "paced" (default) or "wall": see gossipClock
	Log       *slog.Logger
	Phase     func(format string, a ...any) // progress lines; nil: none
}

// Protocol time of the gossip mode, before scaling. The tick is the
// deterministic simulator's (100ms), so that with the ordering layer's
// default window (20 ticks: 2s), beacon interval (5 ticks), heal delay
// and rejoin stagger both modes run the same protocol in the same units.
const (
	gossipTick      = 100 * time.Millisecond
	gossipHeartbeat = 200 * time.Millisecond
	// gossipFormLimit and gossipConvergeLimit bound the waits for one
	// head (protocol time).
	gossipFormLimit     = time.Minute
	gossipConvergeLimit = time.Minute
)

func (c *gossipConfig) wall(d time.Duration) time.Duration {
	return time.Duration(float64(d) * c.TimeScale)
}

// seededReader is a goroutine-safe stream of bytes from the seed: each
// node's identity and MLS randomness. Which goroutine of a node draws
// first still depends on timing, so only the identities (drawn first, in
// order) replay exactly.
type seededReader struct {
	mu sync.Mutex
	r  *rand.ChaCha8
}

func newSeededReader(seed uint64, stream int) *seededReader {
	var key [32]byte
	for i := range 4 {
		v := seed ^ uint64(stream)<<32 ^ uint64(i)*0x9e3779b97f4a7c15
		for j := range 8 {
			key[i*8+j] = byte(v >> (8 * j))
		}
	}
	return &seededReader{r: rand.NewChaCha8(key)}
}

func (s *seededReader) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Read(p)
}

func gossipRun(ctx context.Context, c gossipConfig) (*gossipResult, error) {
	begin := time.Now()
	phase := c.Phase
	if phase == nil {
		phase = func(string, ...any) {}
	}
	if c.TimeScale < 1 {
		c.TimeScale = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Clock == "" {
		c.Clock = "paced"
	}
	paced := c.Clock == "paced"
	n, seed, scenario := c.Members, c.Seed, c.Scenario
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
		rnd := newSeededReader(seed, i)
		sk, _, err := crypto.GenerateEd25519Key(rnd)
		if err != nil {
			return nil, err
		}
		addr, _ := ma.NewMultiaddr(fmt.Sprintf("/ip4/10.0.%d.%d/tcp/4001", i/250, i%250+1))
		h, err := mn.AddPeer(sk, addr)
		if err != nil {
			return nil, err
		}
		opts := []node.Option{node.WithHost(h), node.WithMemoryStore(), node.WithAutoJoin(true),
			node.WithRand(rnd),
			node.WithTick(c.wall(gossipTick)), node.WithHeartbeat(c.wall(gossipHeartbeat)),
			node.WithLogger(c.Log.With("node", i))}
		if paced {
			opts = append(opts, node.WithManualTicks())
		}
		nd, err := node.New(ctx, opts...)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, nd)
	}
	var clk gossipClock = &wallClock{start: time.Now(), scale: c.TimeScale}
	if paced {
		pc := newPacedClock(nodes, c.wall(gossipTick))
		defer pc.Stop() // before the nodes close
		clk = pc
	}
	phase("%d nodes started, %s clock", n, c.Clock)
	if err := mn.LinkAll(); err != nil {
		return nil, err
	}
	if err := mn.ConnectAllButSelf(); err != nil {
		return nil, err
	}
	res := &gossipResult{Scenario: scenario, Network: "gossip", Members: n, Seed: seed, TimeScale: c.TimeScale, Clock: c.Clock}
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
				case e.Kind == node.EventForkHealed && strings.HasPrefix(e.Detail, "re-added by a batch commit"):
					res.Readds++
				case e.Kind == node.EventForkHealed && strings.HasPrefix(e.Detail, "committed a batch"):
					res.Batches++
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
	phase("connected; inviting %d", len(invitees))
	if err := nodes[0].InviteAll(ctx, gid, invitees...); err != nil {
		return nil, err
	}
	phase("invite committed")
	if _, err := waitHeads(ctx, clk, nodes, gid, n, gossipFormLimit, phase); err != nil {
		return nil, fmt.Errorf("forming the group: %w", err)
	}
	phase("group formed")

	// The workload: every member sends at the given rate, from the seed.
	sent := map[string]int{} // message id -> sender
	var sentMu sync.Mutex
	workCtx, stopWork := context.WithCancel(ctx)
	defer stopWork()
	var wg sync.WaitGroup
	for i, nd := range nodes {
		r := rand.New(rand.NewPCG(rng.Uint64(), uint64(i)))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				clk.Sleep(workCtx, time.Duration(r.ExpFloat64()/c.Rate*float64(time.Second)))
				if workCtx.Err() != nil {
					return
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
	clk.Sleep(ctx, time.Second)
	lag := startLagMonitor(c.wall(gossipTick))
	scenarioStart, scenarioProto := time.Now(), clk.Now()
	switch scenario {
	case "partition", "isolate-one":
		side := nodes[:n/2]
		if scenario == "isolate-one" {
			k := rng.IntN(n)
			side = nodes[k : k+1]
		}
		other := without(nodes, side)
		gate(side, other, true)
		phase("partition: %d | %d", len(side), len(other))
		var both sync.WaitGroup
		for _, nd := range []*node.Node{side[rng.IntN(len(side))], other[rng.IntN(len(other))]} {
			both.Add(1)
			go func() { defer both.Done(); commit(nd) }()
		}
		both.Wait()
		phase("committed on both sides")
		clk.Sleep(ctx, c.Partition)
		gate(side, other, false)
		phase("healed")
	case "commit-storm":
		var storm sync.WaitGroup
		for k := 0; k < 10; k++ {
			for j := 0; j < 2; j++ {
				nd := nodes[rng.IntN(n)]
				storm.Add(1)
				go func() { defer storm.Done(); commit(nd) }()
			}
			clk.Sleep(ctx, 300*time.Millisecond)
		}
		storm.Wait()
	}
	healed, healedProto := time.Now(), clk.Now()
	convProto, err := waitHeads(ctx, clk, nodes, gid, n, gossipConvergeLimit, phase)
	if err != nil {
		res.ConvergeSecs, res.ConvergeWallSecs = -1, -1
	} else {
		res.ConvergeWallSecs = time.Since(healed).Seconds()
		res.ConvergeSecs = (convProto - healedProto).Seconds()
	}
	phase("converged: %v (%.2fs protocol, %.2fs wall)", err == nil, res.ConvergeSecs, res.ConvergeWallSecs)
	clk.Sleep(ctx, time.Second)
	stopWork()
	wg.Wait()
	sentMu.Lock()
	_, lostEarly := countDeliveries(nodes, gid, sent)
	sentMu.Unlock()
	res.LostAtConverge = lostEarly
	phase("workload stopped; %d deliveries missing; settling %v", lostEarly, c.Settle)
	clk.Sleep(ctx, c.Settle)
	res.TimerLagP50, res.TimerLagP99, res.TimerLagMax = lag.finish()
	if d := clk.Now() - scenarioProto; d > 0 {
		res.EffectiveScale = float64(time.Since(scenarioStart)) / float64(d)
	}
	phase("settled; measuring")

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
	res.Delivered, res.Lost = countDeliveries(nodes, gid, sent)
	for _, nd := range nodes {
		gs := nd.GossipStats()
		res.GossipDroppedRPCs += gs.DroppedRPCs
		res.GossipUndeliverable += gs.Undeliverable
		res.GossipDropped += gs.Dropped
	}
	res.WallSecs = time.Since(begin).Seconds()
	return res, nil
}

// countDeliveries counts, over every member, the messages of others it
// has stored as delivered and those it has not.
func countDeliveries(nodes []*node.Node, gid string, sent map[string]int) (delivered, lost int) {
	for r, nd := range nodes {
		msgs, err := nd.Messages(gid)
		if err != nil {
			lost += len(sent)
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
				delivered++
			} else {
				lost++
			}
		}
	}
	return delivered, lost
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

// gate cuts (or heals) every link between the two sides, every node's
// share at once, so that no node sees the heal long before another.
func gate(a, b []*node.Node, cut bool) {
	var wg sync.WaitGroup
	one := func(x *node.Node, others []*node.Node) {
		defer wg.Done()
		for _, y := range others {
			if cut {
				x.Block(y.ID())
			} else {
				x.Unblock(y.ID())
			}
		}
	}
	for _, x := range a {
		wg.Add(1)
		go one(x, b)
	}
	for _, y := range b {
		wg.Add(1)
		go one(y, a)
	}
	wg.Wait()
}

// waitHeads waits until every node has the same head epoch with want
// members, at most limit of protocol time, and returns the protocol time
// when that happened.
func waitHeads(ctx context.Context, clk gossipClock, nodes []*node.Node, gid string, want int, limit time.Duration, phase func(string, ...any)) (time.Duration, error) {
	deadline := clk.Now() + limit
	lastReport := time.Now()
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
		now := clk.Now()
		if ok && len(heads) == 1 {
			return now, nil
		}
		if now > deadline || ctx.Err() != nil {
			return 0, fmt.Errorf("no single head after %v (%d heads)", limit, len(heads))
		}
		if time.Since(lastReport) > 20*time.Second {
			lastReport = time.Now()
			phase("waiting for one head: %d heads, protocol time %v", len(heads), now.Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
