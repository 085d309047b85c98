// Package node is mlsnode's library face: one Node ties the MLS engine, the
// commit-ordering and fork-healing cores, the store and the libp2p overlay
// together.
//
// # Shape
//
// New(opts...) builds a Node from functional options (With...). A Node
// offers CreateGroup, Invite (by peer id), Join, Leave, Remove, Send,
// Members, Status and a Subscribe stream of events (messages, members
// joined and left, epoch changes, branch switches, healed forks). It is
// safe for concurrent use; Close flushes and stops.
//
// Each group is owned by one event-loop goroutine (go-libp2p-pubsub's
// habit: one loop owns the state). The loop drives the group's pure
// ordering machine (fork.Member) through Step, Tick, Ready and Advance,
// raft-style: every Ready's state is written to the store atomically
// before any of its messages leave the node, so a crash never sends what
// a restart would not remember. Real time enters only here (a ticker, the
// clock for KeyPackage lifetimes), and randomness from crypto/rand; the
// cores take both as parameters.
//
// # Identity
//
// A member's MLS credential is bound to its libp2p peer id: see
// identity.go and docs/node.md.
package node
