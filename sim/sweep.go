package sim

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Grid is a sweep: every combination of its lists, for every seed.
type Grid struct {
	Scenarios   []string
	Members     []int
	PartitionMs []Time
	Loss        []float64
	SeedFrom    Seed
	SeedTo      Seed // inclusive
	// Base adjusts each job's Config after the scenario and grid values
	// are applied (durations, rules, rates from flags).
	Base func(*Config)
}

// Jobs expands the grid in a fixed order: scenario, members, partition,
// loss, seed.
func (g *Grid) Jobs() ([]Config, error) {
	var out []Config
	for _, sc := range g.Scenarios {
		for _, n := range g.Members {
			for _, p := range g.PartitionMs {
				for _, l := range g.Loss {
					for s := g.SeedFrom; s <= g.SeedTo; s++ {
						c, err := ScenarioConfig(sc)
						if err != nil {
							return nil, err
						}
						c.Members, c.PartitionMs, c.Seed = n, p, s
						if l >= 0 {
							c.Net.Loss = l
						}
						if g.Base != nil {
							g.Base(&c)
						}
						out = append(out, c)
					}
				}
			}
		}
	}
	return out, nil
}

// NewPopulation builds a fresh Population for one job's Config.
type NewPopulation func(Config) (Population, error)

// RunJobs runs the jobs on workers goroutines. Each job has its own Runner
// and Population and writes only its own slot of the output, so the results
// do not depend on scheduling. done is called (serialised) after each job.
func RunJobs(jobs []Config, newPop NewPopulation, workers int, done func(i int, r *Result, err error)) ([]*Result, []error) {
	results := make([]*Result, len(jobs))
	errs := make([]error, len(jobs))
	next := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range max(1, workers) {
		wg.Go(func() {
			for i := range next {
				res, err := runOne(jobs[i], newPop)
				if res != nil {
					// The per-member histories are for single-run plots;
					// a sweep keeps only the measures.
					res.Heads = nil
				}
				results[i], errs[i] = res, err
				if done != nil {
					mu.Lock()
					done(i, res, err)
					mu.Unlock()
				}
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results, errs
}

func runOne(c Config, newPop NewPopulation) (*Result, error) {
	pop, err := newPop(c)
	if err != nil {
		return nil, err
	}
	r, err := NewRunner(c, pop)
	if err != nil {
		return nil, err
	}
	return r.Run()
}

// Cell is the summary of one grid point over its seeds.
type Cell struct {
	Scenario    string
	Members     int
	PartitionMs Time
	Loss        float64
	Runs, Clean int
	// Totals over seeds.
	Forks, Lost, Readmitted, Violations, Failed int
	// Unrecoverable counts the pairs the delivery guarantee excludes
	// (Result.UnrecoverableByDesign), reported beside Lost.
	Unrecoverable int
	// Convergence pooled over every heal of every seed.
	ConvergeP50, ConvergeP99 float64
	Unconverged              int
	// Means over seeds.
	RolledBack, ReAdds, BytesPerMemberCommit, Undecryptable float64
	FailingSeeds                                            []uint64
}

// Summarise groups results by grid point, in the order they first appear.
func Summarise(results []*Result) []*Cell {
	var cells []*Cell
	index := map[string]*Cell{}
	samples := map[*Cell][]float64{}
	for _, r := range results {
		if r == nil {
			continue
		}
		key := fmt.Sprintf("%s/%d/%d/%.3f", r.Scenario, r.Members, r.PartitionMs, float64(r.Loss))
		c := index[key]
		if c == nil {
			c = &Cell{Scenario: r.Scenario, Members: r.Members, PartitionMs: r.PartitionMs, Loss: float64(r.Loss)}
			index[key] = c
			cells = append(cells, c)
		}
		c.Runs++
		if r.Clean() {
			c.Clean++
		} else {
			c.FailingSeeds = append(c.FailingSeeds, r.Seed)
		}
		c.Forks += r.ForksRemaining
		c.Lost += r.LostMessages
		c.Unrecoverable += r.UnrecoverableByDesign
		c.Readmitted += r.ReadmittedRemoved
		c.Violations += r.InvariantViolations
		c.Unconverged += r.Unconverged
		for _, v := range r.ConvergeAll {
			samples[c] = append(samples[c], float64(v))
		}
		c.RolledBack += float64(r.CommitsRolledBack)
		c.ReAdds += float64(r.ReAdds)
		c.BytesPerMemberCommit += float64(r.BytesPerMemberPerCommit)
		c.Undecryptable += float64(r.Undecryptable)
	}
	for _, c := range cells {
		n := float64(c.Runs)
		c.RolledBack /= n
		c.ReAdds /= n
		c.BytesPerMemberCommit /= n
		c.Undecryptable /= n
		c.ConvergeP50 = Percentile(samples[c], 50)
		c.ConvergeP99 = Percentile(samples[c], 99)
		sort.Slice(c.FailingSeeds, func(i, j int) bool { return c.FailingSeeds[i] < c.FailingSeeds[j] })
	}
	return cells
}

// WriteCSV writes one row per run.
func WriteCSV(w io.Writer, results []*Result) error {
	if _, err := io.WriteString(w, csvLine(CSVHeader)); err != nil {
		return err
	}
	for _, r := range results {
		if r == nil {
			continue
		}
		if _, err := io.WriteString(w, csvLine(r.CSVRow())); err != nil {
			return err
		}
	}
	return nil
}

// AppendCSVRow writes one result's row under CSVHeader.
func AppendCSVRow(w io.Writer, r *Result) error {
	_, err := io.WriteString(w, csvLine(r.CSVRow()))
	return err
}

// WriteSummaryMarkdown writes the per-cell table used in docs/simulation.md.
func WriteSummaryMarkdown(w io.Writer, cells []*Cell) error {
	var b strings.Builder
	b.WriteString("| scenario | members | partition s | loss | runs clean | forks | lost | unrecoverable by design | readmitted | violations | converge p50 ms | p99 ms | unconverged heals | rolled back / run | re-adds / run | bytes / member / commit | undecryptable / run |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range cells {
		fmt.Fprintf(&b, "| %s | %d | %s | %.2f | %d/%d | %d | %d | %d | %d | %d | %.0f | %.0f | %d | %.1f | %.1f | %.0f | %.1f |\n",
			c.Scenario, c.Members, strconv.FormatFloat(float64(c.PartitionMs)/1000, 'f', -1, 64), c.Loss, c.Clean, c.Runs,
			c.Forks, c.Lost, c.Unrecoverable, c.Readmitted, c.Violations, c.ConvergeP50, c.ConvergeP99, c.Unconverged,
			c.RolledBack, c.ReAdds, c.BytesPerMemberCommit, c.Undecryptable)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// SweepCharts draws convergence p50 and p99 against group size, one line
// per (scenario, partition, loss).
func SweepCharts(cells []*Cell) map[string]*LineChart {
	sizes := map[int]bool{}
	type lineKey struct {
		sc   string
		p    Time
		loss float64
	}
	var keys []lineKey
	seen := map[lineKey]bool{}
	for _, c := range cells {
		sizes[c.Members] = true
		k := lineKey{c.Scenario, c.PartitionMs, c.Loss}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	var xs []int
	for n := range sizes {
		xs = append(xs, n)
	}
	sort.Ints(xs)
	labels := make([]string, len(xs))
	for i, n := range xs {
		labels[i] = strconv.Itoa(n)
	}
	charts := map[string]*LineChart{}
	for _, which := range []string{"p50", "p99"} {
		ch := &LineChart{Title: "time to converge after heal, " + which, XLabel: "members", YLabel: "ms", X: labels}
		for _, k := range keys {
			s := Series{Name: fmt.Sprintf("%s %gs loss %.2f", k.sc, float64(k.p)/1000, k.loss), Y: make([]float64, len(xs))}
			for i := range s.Y {
				s.Y[i] = math.NaN()
			}
			for _, c := range cells {
				if (lineKey{c.Scenario, c.PartitionMs, c.Loss}) != k {
					continue
				}
				i := sort.SearchInts(xs, c.Members)
				if which == "p50" {
					s.Y[i] = c.ConvergeP50
				} else {
					s.Y[i] = c.ConvergeP99
				}
			}
			ch.Series = append(ch.Series, s)
		}
		charts["converge_"+which] = ch
	}
	return charts
}
