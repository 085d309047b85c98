package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrBadCSV is returned for a sweep CSV that cannot be read back.
var ErrBadCSV = errors.New("sim: bad sweep CSV")

// ReadCSV reads the rows of a sweep CSV back into results carrying the
// columns of CSVHeader, so that sweeps run separately (for example one per
// group size) can be summarised together. Columns added later
// (vacuous, converge_ms_all) may be missing: then a run's convergence
// samples are its p50 when it had exactly one heal, and none otherwise.
func ReadCSV(r io.Reader) ([]*Result, error) {
	rows, err := csv.NewReader(r).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadCSV, err)
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadCSV)
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	// The last columns came later: files written before them still read.
	for _, h := range CSVHeader[:len(CSVHeader)-3] {
		if _, ok := col[h]; !ok {
			return nil, fmt.Errorf("%w: no column %q", ErrBadCSV, h)
		}
	}
	var out []*Result
	for n, row := range rows[1:] {
		var bad error
		get := func(h string) string {
			if i, ok := col[h]; ok && i < len(row) {
				return row[i]
			}
			return ""
		}
		num := func(h string) int {
			v, err := strconv.Atoi(get(h))
			if err != nil && bad == nil {
				bad = fmt.Errorf("%w: row %d, %s: %q", ErrBadCSV, n+2, h, get(h))
			}
			return v
		}
		flt := func(h string) Fixed {
			v, err := strconv.ParseFloat(get(h), 64)
			if err != nil && bad == nil {
				bad = fmt.Errorf("%w: row %d, %s: %q", ErrBadCSV, n+2, h, get(h))
			}
			return Fixed(v)
		}
		r := &Result{
			Scenario: get("scenario"), Members: num("members"), PartitionMs: uint64(num("partition_ms")), Loss: flt("loss"),
			Seed: uint64(num("seed")), Rank: get("rank"), Apply: get("apply"),
			ForksRemaining: num("forks_remaining"), LostMessages: num("lost_messages"),
			ReadmittedRemoved: num("readmitted_removed"), InvariantViolations: num("invariant_violations"),
			ConvergeP50: flt("converge_ms_p50"), ConvergeP99: flt("converge_ms_p99"),
			Samples: num("converge_samples"), Unconverged: num("heals_unconverged"),
			CommitsFinalChain: num("commits_on_final_chain"), CommitsRolledBack: num("commits_rolled_back"),
			ReAdds: num("re_adds"), Undecryptable: num("undecryptable_messages"),
			BytesPerMemberPerCommit: flt("bytes_per_member_per_commit"),
			MessagesSent:            num("messages_sent"), MessagesDelivered: num("messages_delivered"),
			Vacuous: get("vacuous") == "true",
		}
		if _, ok := col["unrecoverable_by_design"]; ok {
			r.UnrecoverableByDesign = num("unrecoverable_by_design")
		}
		if bad != nil {
			return nil, bad
		}
		if all, ok := col["converge_ms_all"]; ok && all < len(row) {
			for _, f := range strings.Fields(row[all]) {
				v, err := strconv.ParseFloat(f, 64)
				if err != nil {
					return nil, fmt.Errorf("%w: row %d, converge_ms_all: %q", ErrBadCSV, n+2, f)
				}
				r.ConvergeAll = append(r.ConvergeAll, Fixed(v))
			}
		} else if r.Samples == 1 {
			r.ConvergeAll = []Fixed{r.ConvergeP50}
		}
		out = append(out, r)
	}
	return out, nil
}
