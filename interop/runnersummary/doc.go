// Command runnersummary condenses the JSON that the MLS working group's
// interop test-runner (mlswg/mls-implementations, interop/test-runner)
// prints into one line per script and handshake mode: how many runs
// (suite × assignment of actors to clients) passed, which suites failed,
// and the distinct errors with the step that failed.
//
//	test-runner -client ... -config commit.json > commit.out.json
//	go run -C interop ./runnersummary commit.out.json ...
//
// It exits non-zero if any run failed or a file holds no runner output.
package main
