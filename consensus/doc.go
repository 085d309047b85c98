// Package consensus orders commits for one MLS group without a central
// delivery service. It is a pure, deterministic state machine in the style
// of etcd-io/raft: input goes in through Step (an Envelope from the network)
// and Tick (one unit of logical time), local actions through Send, Propose
// and Commit; output comes out as a Ready value (envelopes to broadcast,
// application messages to deliver, events, state to persist) that the caller
// acts on and hands back with Advance. The package starts no goroutine,
// reads no clock and draws randomness only from the io.Reader in Config.
//
// # What it owns
//
//   - Epoch ids (EpochID) derived from epoch secrets, and an epoch tree per
//     group: every commit seen on a retained epoch becomes a child node.
//   - The ranking of rival commits on one parent (RankRule): removals first,
//     then a per-epoch order of committers no committer can grind.
//   - Equivocation: two commits signed by one member on one parent epoch are
//     turned into Evidence any member of that epoch can verify; both lose.
//   - The apply policy (ApplyPolicy): apply the best commit at once and
//     switch branch when a better rival arrives inside the retention window,
//     or wait then decide.
//   - Finality: an epoch older than the window on the head chain is final;
//     its rivals and its parent's retained secrets are released.
//   - The membership policy hook (MembershipPolicy) every member applies
//     before accepting a commit, with a built-in admin policy.
//   - The one wire format of the ordering layer: Envelope.
//
// The protocol, its wire format and its security argument are written down
// in docs/ordering.md. Package consensustest wires several Cores over a
// controllable in-memory network and runs the interaction scripts of
// testdata/ (golden transcripts, each replayed twice byte for byte). Fork detection and healing after partitions longer
// than the window belong to package fork, built on this one.
package consensus
