// Package consensustest wires several members' consensus.Cores together
// over a controllable in-memory network (deliver, drop, delay, partition,
// heal, tick), in the spirit of etcd-io/raft's rafttest, and runs
// data-driven interaction scripts against it, rendering everything that
// happens deterministically so that a run can be compared byte for byte
// with a golden file. Package fork extends it with its own commands.
package consensustest
