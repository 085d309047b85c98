// Package testvectors finds and loads the official RFC 9420 test vectors
// (mlswg/mls-implementations, test-vectors/) for the project's tests.
//
// The folder is MLS_TEST_VECTORS if set, else ../shared/testdata/mls-vectors
// relative to the module root. The vectors are never copied into this
// repository. When the folder is missing, a test skips with a loud message,
// except under CI (CI=true), where a missing folder fails the test: a CI run
// must never pass by skipping the vectors.
package testvectors
