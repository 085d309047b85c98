package sim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// JSON encodes a result with sorted keys and fixed float formatting, so the
// same seed and flags give the same bytes.
func (r *Result) JSON() ([]byte, error) {
	// Through a map: encoding/json writes map keys sorted.
	raw, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(out, '\n'), nil
}

// WriteTable prints the headline measures as an aligned table.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	ms := func(f Fixed) string { return strconv.FormatFloat(float64(f), 'f', 0, 64) + " ms" }
	row("scenario", fmt.Sprintf("%s (%d members, seed %d)", r.Scenario, r.Members, r.Seed))
	row("rules", fmt.Sprintf("rank=%s apply=%s suite=%d", orDefault(r.Rank), orDefault(r.Apply), r.Suite))
	row("forks remaining", r.ForksRemaining)
	row("lost messages", fmt.Sprintf("%d (of %d sent, %d deliveries)", r.LostMessages, r.MessagesSent, r.MessagesDelivered))
	row("removed readmitted", r.ReadmittedRemoved)
	row("invariant violations", r.InvariantViolations)
	row("converge p50 / p99", fmt.Sprintf("%s / %s (%d heals, %d never converged)", ms(r.ConvergeP50), ms(r.ConvergeP99), r.Samples, r.Unconverged))
	row("commits", fmt.Sprintf("%d on final chain, %d rolled back", r.CommitsFinalChain, r.CommitsRolledBack))
	row("re-adds", r.ReAdds)
	row("undecryptable", r.Undecryptable)
	row("bytes/member/commit", strconv.FormatFloat(float64(r.BytesPerMemberPerCommit), 'f', 0, 64))
	row("final group", fmt.Sprintf("%d members at epoch %d", r.FinalMembers, r.FinalEpoch))
	if r.RequestsRefused > 0 {
		row("requests refused", fmt.Sprintf("%d (first: %s)", r.RequestsRefused, r.FirstRefusal))
	}
	if r.Vacuous {
		row("VACUOUS", "nothing the workload asked for happened: this run proves nothing")
	}
	for i, v := range r.Violations {
		if i == 5 {
			row("", fmt.Sprintf("... %d more in the JSON", len(r.Violations)-5))
			break
		}
		row("violation", fmt.Sprintf("t=%dms %s: %s", v.At, v.Kind, v.Detail))
	}
	return tw.Flush()
}

func orDefault(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

// Clean reports whether the run met the must-show bar: no fork, no lost
// message, no removed member readmitted, no invariant broken.
func (r *Result) Clean() bool {
	return !r.Vacuous && r.ForksRemaining == 0 && r.LostMessages == 0 && r.ReadmittedRemoved == 0 && r.InvariantViolations == 0
}

// CSVHeader is the header of sweep CSV files.
var CSVHeader = []string{
	"scenario", "members", "partition_ms", "loss", "seed", "rank", "apply",
	"forks_remaining", "lost_messages", "readmitted_removed", "invariant_violations",
	"converge_ms_p50", "converge_ms_p99", "converge_samples", "heals_unconverged",
	"commits_on_final_chain", "commits_rolled_back", "re_adds", "undecryptable_messages",
	"bytes_per_member_per_commit", "messages_sent", "messages_delivered",
	"vacuous", "converge_ms_all", "unrecoverable_by_design",
}

// CSVRow is the result's row under CSVHeader.
func (r *Result) CSVRow() []string {
	f := func(x Fixed) string { return strconv.FormatFloat(float64(x), 'f', 3, 64) }
	i := strconv.Itoa
	return []string{
		r.Scenario, i(r.Members), strconv.FormatUint(r.PartitionMs, 10), f(r.Loss), strconv.FormatUint(r.Seed, 10), r.Rank, r.Apply,
		i(r.ForksRemaining), i(r.LostMessages), i(r.ReadmittedRemoved), i(r.InvariantViolations),
		f(r.ConvergeP50), f(r.ConvergeP99), i(r.Samples), i(r.Unconverged),
		i(r.CommitsFinalChain), i(r.CommitsRolledBack), i(r.ReAdds), i(r.Undecryptable),
		f(r.BytesPerMemberPerCommit), i(r.MessagesSent), i(r.MessagesDelivered),
		strconv.FormatBool(r.Vacuous), joinFixed(r.ConvergeAll), i(r.UnrecoverableByDesign),
	}
}

func joinFixed(xs []Fixed) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(float64(x), 'f', 3, 64)
	}
	return strings.Join(parts, " ")
}

// csvLine joins fields; none of ours needs quoting, but a comma or quote in
// a name is quoted anyway.
func csvLine(fields []string) string {
	var b bytes.Buffer
	for i, f := range fields {
		if i > 0 {
			b.WriteByte(',')
		}
		if strings.ContainsAny(f, ",\"\n") {
			f = `"` + strings.ReplaceAll(f, `"`, `""`) + `"`
		}
		b.WriteString(f)
	}
	b.WriteByte('\n')
	return b.String()
}
