package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The sub-command through its entry point: seed printed, same flags give
// byte-identical JSON, bad input is a usage error (exit 2) with a message.
func TestRunSim(t *testing.T) {
	dir := t.TempDir()
	runOnce := func(name string) (int, string, []byte) {
		var out, errb bytes.Buffer
		path := filepath.Join(dir, name)
		code := runSim([]string{"--member", "toy", "--seed", "3", "--members", "8", "--json", path,
			"--plot", filepath.Join(dir, name+".svg"), "--progress", "never", "split-brain"}, &out, &errb)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v; stderr: %s", err, errb.String())
		}
		return code, out.String(), b
	}
	code, out, a := runOnce("a.json")
	_, _, b := runOnce("b.json")
	if !strings.HasPrefix(out, "seed 3: split-brain") {
		t.Fatalf("output does not start with the seed: %q", out)
	}
	if code != 0 && code != 3 {
		t.Fatalf("exit code %d", code)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same seed and flags gave different JSON")
	}
	if svg, err := os.ReadFile(filepath.Join(dir, "a.json.svg")); err != nil || !bytes.HasPrefix(svg, []byte("<svg")) {
		t.Fatalf("no plot: %v", err)
	}
	for _, bad := range [][]string{
		{"--member", "toy", "no-such-scenario"},
		{"--member", "toy", "--plot", "x.png", "split-brain"},
		{"--member", "nope", "split-brain"},
		{"--member", "toy", "--latency", "gauss:1:2", "split-brain"},
		{"--member", "toy"},
	} {
		var out, errb bytes.Buffer
		if code := runSim(bad, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%v: exit %d, stderr %q", bad, code, errb.String())
		}
	}
	var out2, errb2 bytes.Buffer
	if code := runSim([]string{"list"}, &out2, &errb2); code != 0 || !strings.Contains(out2.String(), "split-brain") {
		t.Fatalf("list: %d %q", code, out2.String())
	}
}

// A sweep writes its CSV, summary and plots.
func TestRunSweep(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	code := runSim([]string{"sweep", "--member", "toy", "--scenarios", "isolate-one", "--members-list", "6,8",
		"--seeds", "1-2", "--workers", "2", "--out", dir}, &out, &errb)
	if code != 0 && code != 3 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	csv, err := os.ReadFile(filepath.Join(dir, "sweep.csv"))
	if err != nil || strings.Count(string(csv), "\n") != 5 {
		t.Fatalf("sweep.csv: %v\n%s", err, csv)
	}
	for _, f := range []string{"summary.md", "converge_p50.svg", "converge_p99.svg"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	// summarize reads the CSV back to the same table.
	sumDir := filepath.Join(dir, "sum")
	if code := runSim([]string{"summarize", "--out", sumDir, filepath.Join(dir, "sweep.csv")}, &out, &errb); code != 0 {
		t.Fatalf("summarize: exit %d: %s", code, errb.String())
	}
	a, _ := os.ReadFile(filepath.Join(dir, "summary.md"))
	b, _ := os.ReadFile(filepath.Join(sumDir, "summary.md"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("summary from the CSV differs:\n%s\n%s", a, b)
	}
	if code := runSim([]string{"summarize", filepath.Join(dir, "summary.md")}, &out, &errb); code != 2 {
		t.Fatalf("summarize of a non-CSV: exit %d", code)
	}
}
