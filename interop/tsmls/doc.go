// Package tsmls holds the cross-implementation test against ts-mls
// (tsmls_test.go): a Go test drives peer.mjs, a small node script of ours
// around the ts-mls library (pinned in package.json and
// package-lock.json), and the two exchange nothing but RFC 9420 bytes.
// .ci/run installs ts-mls with npm ci into node_modules/, which git
// ignores. The package has no code outside its test.
package tsmls
