package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// result is the part of the runner's ScriptResult that the summary uses.
type result struct {
	CipherSuite uint32 `json:"cipher_suite"`
	Encrypt     bool   `json:"encrypt_flag"`
	Error       any    `json:"error"`
	FailedStep  *int   `json:"failed_step"`
}

type output struct {
	Scripts map[string][]result `json:"scripts"`
}

// line is the summary of one script in one handshake mode.
type line struct {
	Script, Mode  string
	Passed, Total int
	FailedSuites  []uint32
	Errors        map[string]int
}

func summarize(out output) []line {
	var lines []line
	for name, results := range out.Scripts {
		for _, mode := range []string{"public", "private"} {
			l := line{Script: name, Mode: mode, Errors: map[string]int{}}
			failed := map[uint32]bool{}
			for _, r := range results {
				if r.Encrypt != (mode == "private") {
					continue
				}
				l.Total++
				if r.FailedStep == nil {
					l.Passed++
					continue
				}
				failed[r.CipherSuite] = true
				l.Errors[fmt.Sprintf("step %d: %v", *r.FailedStep, r.Error)]++
			}
			if l.Total == 0 {
				continue
			}
			for cs := range failed {
				l.FailedSuites = append(l.FailedSuites, cs)
			}
			sort.Slice(l.FailedSuites, func(i, j int) bool { return l.FailedSuites[i] < l.FailedSuites[j] })
			lines = append(lines, l)
		}
	}
	sort.Slice(lines, func(i, j int) bool {
		if lines[i].Script != lines[j].Script {
			return lines[i].Script < lines[j].Script
		}
		return lines[i].Mode > lines[j].Mode // public first
	})
	return lines
}

// report writes the summary of one output file and says whether every
// run passed.
func report(w io.Writer, name string, out output) bool {
	ok := true
	for _, l := range summarize(out) {
		row := fmt.Sprintf("%-32s %-40s %-7s %11s", name, l.Script, l.Mode, fmt.Sprintf("%d/%d", l.Passed, l.Total))
		if len(l.FailedSuites) > 0 {
			ok = false
			row += fmt.Sprintf("  failing suites %v", l.FailedSuites)
		}
		fmt.Fprintln(w, row)
		var errs []string
		for e := range l.Errors {
			errs = append(errs, e)
		}
		sort.Strings(errs)
		for _, e := range errs {
			fmt.Fprintf(w, "    %4d× %s\n", l.Errors[e], e)
		}
	}
	return ok
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: runnersummary RUNNER-OUTPUT.json ...")
		os.Exit(2)
	}
	ok := true
	for _, path := range os.Args[1:] {
		data, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			ok = false
			continue
		}
		var out output
		if err := json.Unmarshal(data, &out); err != nil || out.Scripts == nil {
			fmt.Printf("%s: no runner output (the runner crashed or was not run): %v\n", path, err)
			ok = false
			continue
		}
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		if !report(os.Stdout, name, out) {
			ok = false
		}
	}
	if !ok {
		os.Exit(1)
	}
}
