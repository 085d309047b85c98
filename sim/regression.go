package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Regression is a failing seed kept as a test case: the member kind and
// the whole Config replay it; Found records what it showed when found.
type Regression struct {
	Member string `json:"member"`
	Config Config `json:"config"`
	// Status is "open" while the bug it shows is not fixed (the test runs
	// it and skips loudly if it still fails), "fixed" once it must pass.
	Status string `json:"status"`
	Note   string `json:"note"`
	Found  struct {
		Forks, Lost, Readmitted, Violations int
		FirstViolations                     []Violation
	} `json:"found"`
}

// ErrBadRegression is returned for a regression file that does not parse.
var ErrBadRegression = errors.New("sim: bad regression case")

// RegressionName is the file name of a case.
func RegressionName(member string, c Config) string {
	rules := ""
	if c.Rank != "" || c.Apply != "" {
		rules = "-" + orDefault(c.Rank) + "-" + orDefault(c.Apply)
	}
	return fmt.Sprintf("%s-%s-n%d-p%d-l%03.0f%s-seed%d.json", member, c.Scenario, c.Members, c.PartitionMs, c.Net.Loss*100, rules, c.Seed)
}

// WriteRegressions writes a case for every failing result of a sweep.
func WriteRegressions(dir, member string, jobs []Config, results []*Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i, r := range results {
		if r == nil || r.Clean() {
			continue
		}
		reg := Regression{Member: member, Config: jobs[i], Status: "open", Note: "found by mlsnode sim sweep"}
		reg.Found.Forks, reg.Found.Lost, reg.Found.Readmitted, reg.Found.Violations = r.ForksRemaining, r.LostMessages, r.ReadmittedRemoved, r.InvariantViolations
		reg.Found.FirstViolations = r.Violations[:min(3, len(r.Violations))]
		b, err := json.MarshalIndent(reg, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, RegressionName(member, jobs[i])), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// LoadRegressions reads every *.json case in dir, sorted by name.
func LoadRegressions(dir string) (names []string, cases []Regression, err error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, n := range names {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			return nil, nil, err
		}
		var reg Regression
		if err := json.Unmarshal(b, &reg); err != nil {
			return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadRegression, n, err)
		}
		if reg.Status != "open" && reg.Status != "fixed" {
			return nil, nil, fmt.Errorf("%w: %s: status %q", ErrBadRegression, n, reg.Status)
		}
		cases = append(cases, reg)
	}
	return names, cases, nil
}
