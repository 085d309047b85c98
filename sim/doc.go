// Package sim is a deterministic discrete-event simulator of mlsnode groups.
//
// It owns a virtual clock in milliseconds, an event queue with deterministic
// tie-breaking, an in-memory network (per-link latency distributions, loss,
// duplication, reordering, partitions and churn), a workload generator, the
// invariant checkers and the measures of ARCHITECTURE.md ("Measures the
// simulator reports"), and the writers for JSON, CSV and SVG plots.
//
// # Determinism
//
// All randomness comes from one seed. Each purpose (network, faults,
// workload, tick phases, each member's cryptographic randomness) draws from
// its own stream derived from the seed and the purpose's name, so adding a
// draw in one place never shifts another. Events at the same virtual time run
// in the order they were scheduled. Nothing reads the wall clock, starts a
// goroutine or iterates over a map where order matters, so a seed and a
// Config replay byte for byte.
//
// # What is simulated
//
// The simulator drives members through the Member interface: a pure state
// machine that takes delivered bytes and ticks and hands out messages to
// send, application messages delivered, and what it can say about its head
// epoch. The production adapter wraps the real fork.Member with the real
// MLS engine; tests of the engine itself use a small toy member.
//
// # Observers
//
// Measures and invariants come from observing members (what they really
// sent, delivered and merged), never from what the workload asked for. The
// invariant checkers are separate observers that run after every event.
package sim
