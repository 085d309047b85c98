package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/mlsnode/mlsnode/sim"
	"github.com/mlsnode/mlsnode/sim/cores"
	"github.com/mlsnode/mlsnode/sim/toy"
)

const simUsage = `mlsnode sim: deterministic partition simulator

Usage:
  mlsnode sim [flags] SCENARIO       one run; prints its seed and a summary
  mlsnode sim sweep [flags]          a grid of runs on every core; CSV and plots
  mlsnode sim summarize --out DIR CSV...  one table and plots from several sweeps
  mlsnode sim list                   the scenarios

The same seed and flags give byte-identical --json output.
`

// populations are the kinds of member a run can drive. "real" drives the
// mls engine through the consensus and fork cores; "toy" is the model
// member the simulator's own tests use (no cryptography, proves nothing
// about mlsnode).
var populations = map[string]sim.NewPopulation{
	"real": cores.NewPopulation,
	"toy":  func(c sim.Config) (sim.Population, error) { return &toy.Population{Seed: c.Seed}, nil },
}

// population returns the constructor of the members the flags ask for.
func (f *runFlags) population() sim.NewPopulation {
	if f.member == "real" && f.verifyAlone {
		return cores.NewPopulationVerifyingAlone
	}
	return populations[f.member]
}

// defaultMember is the population used without --member.
var defaultMember = "real"

// runFlags are the flags shared by a single run and a sweep.
type runFlags struct {
	fs                             *flag.FlagSet
	members                        int
	seed                           uint64
	duration, settle, window, part time.Duration
	flap                           time.Duration
	latency                        string
	loss, dup, reorder             float64
	commitRate, appRate            float64
	beaconTicks                    uint64
	noStore, verifyAlone           bool
	rank, apply, member            string
	suite                          uint
	set                            map[string]bool
}

func newRunFlags(name string, stderr io.Writer) *runFlags {
	f := &runFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(stderr)
	d := sim.DefaultConfig()
	fs.IntVar(&f.members, "members", d.Members, "founding members of the group")
	fs.Uint64Var(&f.seed, "seed", uint64(d.Seed), "seed of every random choice of the run")
	fs.DurationVar(&f.duration, "duration", time.Duration(d.DurationMs)*time.Millisecond, "simulated time with faults and workload")
	fs.DurationVar(&f.settle, "settle", time.Duration(d.SettleMs)*time.Millisecond, "simulated time after the faults end before forks count")
	fs.DurationVar(&f.window, "window", time.Duration(d.WindowMs)*time.Millisecond, "retention window of the consensus core")
	fs.DurationVar(&f.part, "partition", time.Duration(d.PartitionMs)*time.Millisecond, "length of each partition")
	fs.DurationVar(&f.flap, "flap", 0, "flapping period (scenario default if 0)")
	fs.StringVar(&f.latency, "latency", d.Net.Latency.String(), "link latency: MS, uniform:BASE:JITTER or exp:BASE:MEAN")
	fs.Float64Var(&f.loss, "loss", 0, "probability a message copy is lost (scenario default if unset)")
	fs.Float64Var(&f.dup, "dup", 0, "probability a copy is duplicated (scenario default if unset)")
	fs.Float64Var(&f.reorder, "reorder", 0, "probability a copy is held back up to 300 ms (scenario default if unset)")
	fs.Float64Var(&f.commitRate, "commit-rate", 0, "group-wide commits per second (scenario default if unset)")
	fs.Float64Var(&f.appRate, "app-rate", 0, "application messages per member per second (scenario default if unset)")
	fs.StringVar(&f.rank, "rank", "", "rank rule of the consensus core (its default if empty)")
	fs.StringVar(&f.apply, "apply", "", "apply policy of the consensus core (its default if empty)")
	fs.UintVar(&f.suite, "suite", uint(d.Suite), "MLS cipher suite")
	fs.BoolVar(&f.noStore, "no-store", false, "do not persist members' state to their in-memory stores (large runs)")
	fs.BoolVar(&f.verifyAlone, "verify-alone", false, "real members: each checks every signature itself instead of sharing verdicts (same results, slower)")
	fs.Uint64Var(&f.beaconTicks, "beacon-ticks", 0, "fork's beacon interval in ticks of 100 ms (0: fork's default)")
	fs.StringVar(&f.member, "member", defaultMember, "member implementation: "+strings.Join(memberKinds(), ", "))
	return f
}

func memberKinds() []string {
	var out []string
	for k := range populations {
		out = append(out, k)
	}
	// small and fixed: a sort by hand keeps the import list short
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func (f *runFlags) parse(args []string) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	f.set = map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	if _, ok := populations[f.member]; !ok {
		return fmt.Errorf("unknown --member %q (have %s)", f.member, strings.Join(memberKinds(), ", "))
	}
	if _, err := sim.ParseLatency(f.latency); err != nil {
		return err
	}
	return nil
}

// apply writes the flags the user set onto a scenario's Config.
func (f *runFlags) applyTo(c *sim.Config) {
	ms := func(d time.Duration) sim.Time { return sim.Time(d / time.Millisecond) }
	c.Members = f.members
	c.Seed = sim.Seed(f.seed)
	c.DurationMs, c.SettleMs, c.WindowMs = ms(f.duration), ms(f.settle), ms(f.window)
	if f.set["partition"] {
		c.PartitionMs = ms(f.part)
	}
	if f.set["flap"] {
		c.FlapMs = ms(f.flap)
	}
	c.Net.Latency, _ = sim.ParseLatency(f.latency)
	if f.set["loss"] {
		c.Net.Loss = f.loss
	}
	if f.set["dup"] {
		c.Net.Duplicate = f.dup
	}
	if f.set["reorder"] {
		c.Net.Reorder, c.Net.ReorderMs = f.reorder, 300
	}
	if f.set["commit-rate"] {
		c.Workload.CommitsPerSec = f.commitRate
	}
	if f.set["app-rate"] {
		c.Workload.AppPerMemberPerSec = f.appRate
	}
	c.Rank, c.Apply, c.Suite = f.rank, f.apply, uint16(f.suite)
	c.BeaconTicks, c.NoStore = f.beaconTicks, f.noStore
}

// runSim is the `mlsnode sim` sub-command.
func runSim(args []string, stdout, stderr io.Writer) int {
	limitMemory()
	if len(args) > 0 {
		switch args[0] {
		case "list":
			for _, n := range sim.Scenarios() {
				fmt.Fprintf(stdout, "%-14s %s\n", n, sim.ScenarioDoc(n))
			}
			return 0
		case "sweep":
			return runSweep(args[1:], stdout, stderr)
		case "summarize":
			return runSummarize(args[1:], stdout, stderr)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, simUsage)
			newRunFlags("sim", stdout).fs.PrintDefaults()
			return 0
		}
	}
	f := newRunFlags("sim", stderr)
	scenario := f.fs.String("scenario", "", "scenario name (or give it as the argument)")
	jsonOut := f.fs.String("json", "", "write every measure to this JSON file")
	plotOut := f.fs.String("plot", "", "draw heads over time to this .svg file")
	progress := f.fs.String("progress", "auto", "progress bar on stderr: auto (when a terminal), always, never")
	cpuProfile := f.fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	cores := f.fs.Int("cores", runtime.GOMAXPROCS(0), "run up to this many members' work at once (the result is the same for any number)")
	memProfile := f.fs.String("memprofile", "", "write a heap profile to this file when the live heap is largest (checked every simulated second)")
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 2
	}
	if *scenario == "" && f.fs.NArg() == 1 {
		*scenario = f.fs.Arg(0)
	} else if f.fs.NArg() > 0 || *scenario == "" {
		fmt.Fprint(stderr, simUsage)
		return 2
	}
	if *plotOut != "" {
		if err := sim.CheckPlotName(*plotOut); err != nil {
			fmt.Fprintln(stderr, "mlsnode sim:", err)
			return 2
		}
	}
	cfg, err := sim.ScenarioConfig(*scenario)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 2
	}
	f.applyTo(&cfg)
	fmt.Fprintf(stdout, "seed %d: %s, %d members, member=%s\n", cfg.Seed, cfg.Scenario, cfg.Members, f.member)

	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim: cpuprofile:", err)
		return 1
	}
	defer stopProfile()
	start := time.Now()
	pop, err := f.population()(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 1
	}
	r, err := sim.NewRunner(cfg, pop)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 1
	}
	var bar sim.Progress
	if *progress == "always" || (*progress == "auto" && isTerminal(stderr)) {
		bar = sim.ProgressBar(stderr, cfg.Scenario)
	}
	var peak *heapPeak
	if *memProfile != "" {
		peak = &heapPeak{file: *memProfile}
	}
	if bar != nil || peak != nil {
		r.SetProgress(func(now, end sim.Time) {
			if bar != nil {
				bar(now, end)
			}
			if peak != nil {
				peak.check()
			}
		})
	}
	r.SetWorkers(*cores)
	res, err := r.Run()
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim:", err)
		return 1
	}
	wall := time.Since(start)
	if peak != nil && peak.err != nil {
		fmt.Fprintln(stderr, "mlsnode sim: memprofile:", peak.err)
		return 1
	}
	if err := res.WriteTable(stdout); err != nil {
		return 1
	}
	// Wall time and memory go to stderr: they are not part of the result
	// and would break byte-identical JSON.
	fmt.Fprintf(stderr, "wall time %s, peak memory %s\n", wall.Round(time.Millisecond), peakMemory())
	if p, ok := pop.(interface {
		SignatureChecks() (computed, shared uint64)
	}); ok {
		if computed, shared := p.SignatureChecks(); computed > 0 {
			fmt.Fprintf(stderr, "signature checks: %d computed, %d answered by another member's verdict (--verify-alone: none shared)\n", computed, shared)
		}
	}
	if *jsonOut != "" {
		b, err := res.JSON()
		if err == nil {
			err = os.WriteFile(*jsonOut, b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(stderr, "mlsnode sim: json:", err)
			return 1
		}
	}
	if *plotOut != "" {
		if err := os.WriteFile(*plotOut, res.PlotSVG(), 0o644); err != nil {
			fmt.Fprintln(stderr, "mlsnode sim: plot:", err)
			return 1
		}
	}
	if !res.Clean() {
		return 3
	}
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && sim.IsTerminal(f)
}

// startCPUProfile starts a CPU profile written to path ("" for none) and
// returns what stops it.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	pf, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); pf.Close() }, nil
}

// limitMemory sets the Go memory limit to 70% of the machine's memory
// unless GOMEMLIMIT chose one. A run keeps every member's state in one
// process, and the collector's default (grow the heap to twice what
// survived the last collection) took a 1,000-member run past the 23 GB
// of the development machine; with a limit the collector works harder as
// the heap nears it instead.
func limitMemory() {
	if os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err == nil && kb > 0 {
				debug.SetMemoryLimit(kb * 1024 * 7 / 10)
			}
			return
		}
	}
}

// peakMemory reads the resident-set high-water mark (Linux), else the Go
// heap's system memory.
func peakMemory() string {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				return strings.TrimSpace(v) + " (VmHWM)"
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return fmt.Sprintf("%d MiB (Go Sys)", ms.Sys>>20)
}

func parseList[T any](s string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	for _, p := range strings.Split(s, ",") {
		v, err := parse(strings.TrimSpace(p))
		if err != nil {
			return nil, fmt.Errorf("%q: %w", p, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// runSweep is `mlsnode sim sweep`.
func runSweep(args []string, stdout, stderr io.Writer) int {
	f := newRunFlags("sim sweep", stderr)
	scenarios := f.fs.String("scenarios", "split-brain,isolate-one,flapping,commit-storm,lossy,churn", "scenarios, comma-separated")
	membersList := f.fs.String("members-list", "16", "group sizes, comma-separated")
	partitions := f.fs.String("partitions", "5s", "partition lengths, comma-separated durations")
	losses := f.fs.String("losses", "", "loss probabilities, comma-separated (empty: each scenario's own)")
	seeds := f.fs.String("seeds", "1-5", "seed range FROM-TO")
	workers := f.fs.Int("workers", runtime.NumCPU(), "parallel runs")
	out := f.fs.String("out", "sim-out", "directory for sweep.csv, summary.md and the plots")
	regressions := f.fs.String("regressions", "", "directory to write a regression case for each failing seed")
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
		return 2
	}
	g := sim.Grid{Scenarios: strings.Split(*scenarios, ",")}
	var err error
	if g.Members, err = parseList(*membersList, strconv.Atoi); err == nil {
		g.PartitionMs, err = parseList(*partitions, func(s string) (sim.Time, error) {
			d, err := time.ParseDuration(s)
			return sim.Time(d / time.Millisecond), err
		})
	}
	if err == nil {
		if *losses == "" {
			g.Loss = []float64{-1}
		} else {
			g.Loss, err = parseList(*losses, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
		}
	}
	if err == nil {
		var a, b uint64
		from, to, _ := strings.Cut(*seeds, "-")
		if a, err = strconv.ParseUint(from, 10, 64); err == nil {
			b = a
			if to != "" {
				b, err = strconv.ParseUint(to, 10, 64)
			}
		}
		g.SeedFrom, g.SeedTo = sim.Seed(a), sim.Seed(b)
	}
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
		return 2
	}
	g.Base = func(c *sim.Config) {
		members, seed, part := c.Members, c.Seed, c.PartitionMs
		loss := c.Net.Loss
		f.applyTo(c)
		c.Members, c.Seed, c.PartitionMs, c.Net.Loss = members, seed, part, loss
	}
	jobs, err := g.Jobs()
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
		return 2
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
		return 1
	}
	fmt.Fprintf(stdout, "sweep: %d runs on %d workers, member=%s, seeds %d-%d\n", len(jobs), *workers, f.member, g.SeedFrom, g.SeedTo)
	start := time.Now()
	finished := 0
	tty := isTerminal(stderr)
	// Rows are also appended as runs finish (in completion order), so an
	// interrupted sweep leaves what it measured; sweep.csv is written in
	// grid order at the end.
	partial, err := os.Create(filepath.Join(*out, "sweep.partial.csv"))
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
		return 1
	}
	defer partial.Close()
	_ = sim.WriteCSV(partial, nil)
	results, errs := sim.RunJobs(jobs, f.population(), *workers, func(i int, r *sim.Result, err error) {
		finished++
		if r != nil {
			_ = sim.AppendCSVRow(partial, r)
		}
		if tty {
			fmt.Fprintf(stderr, "\r%d/%d runs", finished, len(jobs))
		}
		if err != nil {
			fmt.Fprintf(stderr, "\nrun %s seed %d: %v\n", jobs[i].Scenario, jobs[i].Seed, err)
		} else if !r.Clean() {
			fmt.Fprintf(stderr, "\nFAIL %s members=%d partition=%dms seed=%d: forks %d lost %d readmitted %d violations %d\n",
				r.Scenario, r.Members, r.PartitionMs, r.Seed, r.ForksRemaining, r.LostMessages, r.ReadmittedRemoved, r.InvariantViolations)
		}
	})
	if tty {
		fmt.Fprintln(stderr)
	}
	failed := 0
	for _, e := range errs {
		if e != nil {
			failed++
		}
	}
	cells := sim.Summarise(results)
	var md strings.Builder
	if err := sim.WriteSummaryMarkdown(&md, cells); err != nil {
		return 1
	}
	var csv strings.Builder
	if err := sim.WriteCSV(&csv, results); err != nil {
		return 1
	}
	files := map[string][]byte{"sweep.csv": []byte(csv.String()), "summary.md": []byte(md.String())}
	for name, ch := range sim.SweepCharts(cells) {
		files[name+".svg"] = ch.SVG()
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
			return 1
		}
	}
	if *regressions != "" {
		if err := sim.WriteRegressions(*regressions, f.member, jobs, results); err != nil {
			fmt.Fprintln(stderr, "mlsnode sim sweep:", err)
			return 1
		}
	}
	fmt.Fprint(stdout, md.String())
	fmt.Fprintf(stdout, "wall time %s, %d runs failed to run; results in %s\n", time.Since(start).Round(time.Second), failed, *out)
	for _, c := range cells {
		if c.Clean != c.Runs {
			return 3
		}
	}
	if failed > 0 {
		return 1
	}
	return 0
}

// runSummarize is `mlsnode sim summarize`: sweeps run separately (one per
// group size, say) summarised as one table with one set of plots.
func runSummarize(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sim summarize", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "sim-out", "directory for summary.md and the plots")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "mlsnode sim summarize: name at least one sweep CSV")
		return 2
	}
	var all []*sim.Result
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintln(stderr, "mlsnode sim summarize:", err)
			return 1
		}
		rs, err := sim.ReadCSV(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(stderr, "mlsnode sim summarize: %s: %v\n", name, err)
			return 2
		}
		all = append(all, rs...)
	}
	cells := sim.Summarise(all)
	var md strings.Builder
	if err := sim.WriteSummaryMarkdown(&md, cells); err != nil {
		return 1
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(stderr, "mlsnode sim summarize:", err)
		return 1
	}
	files := map[string][]byte{"summary.md": []byte(md.String())}
	for name, ch := range sim.SweepCharts(cells) {
		files[name+".svg"] = ch.SVG()
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			fmt.Fprintln(stderr, "mlsnode sim summarize:", err)
			return 1
		}
	}
	fmt.Fprint(stdout, md.String())
	return 0
}

// heapPeak writes a heap profile whenever the live heap (measured by the
// last garbage collection) has grown by a tenth since the last profile, so
// the file ends up showing the state at about its largest: what the
// members hold, not the garbage between collections.
type heapPeak struct {
	file string
	max  uint64
	err  error
}

func (h *heapPeak) check() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := sample[0].Value.Uint64()
	if h.err != nil || live < h.max+h.max/10 {
		return
	}
	h.max = live
	pf, err := os.Create(h.file)
	if err == nil {
		err = pprof.WriteHeapProfile(pf)
		if cerr := pf.Close(); err == nil {
			err = cerr
		}
	}
	h.err = err
}
