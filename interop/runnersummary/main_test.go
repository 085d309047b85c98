package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// A shortened real output of the runner: two suites, both modes, one
// failure in suite 2 with PrivateMessage handshakes.
const sample = `{
  "scripts": {
    "with_psk": [
      {"cipher_suite": 1, "actors": {"alice": "mlsnode"}, "encrypt_flag": true},
      {"cipher_suite": 1, "actors": {"alice": "mlsnode"}, "encrypt_flag": false},
      {"cipher_suite": 2, "actors": {"alice": "mlsnode"}, "encrypt_flag": true,
       "error": "Unknown action: preSharedKeyProposal", "failed_step": 4, "failed_step_json": "{}"},
      {"cipher_suite": 2, "actors": {"alice": "mlsnode"}, "encrypt_flag": false}
    ]
  }
}`

func TestReport(t *testing.T) {
	var out output
	if err := json.Unmarshal([]byte(sample), &out); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if report(&buf, "welcome_join", out) {
		t.Error("a failed run was reported as all passed")
	}
	got := buf.String()
	for _, want := range []string{
		"with_psk                                 public          2/2",
		"with_psk                                 private         1/2  failing suites [2]",
		"1× step 4: Unknown action: preSharedKeyProposal",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("summary lacks %q:\n%s", want, got)
		}
	}
	if strings.Index(got, "public") > strings.Index(got, "private") {
		t.Errorf("public should come first:\n%s", got)
	}
}

func TestReportAllPassed(t *testing.T) {
	out := output{Scripts: map[string][]result{"empty": {{CipherSuite: 3}, {CipherSuite: 3, Encrypt: true}}}}
	var buf bytes.Buffer
	if !report(&buf, "commit", out) {
		t.Errorf("all runs passed, but the report says otherwise:\n%s", buf.String())
	}
}
