// Package cores connects the simulator to the real code a node runs: each
// simulated member is a real MLS client (its own signature key, KeyPackages
// and group state, all randomness from the run's seed) driven through the
// consensus and fork cores, exactly as node/ drives them, with envelopes
// marshalled to bytes on the simulated network.
//
// The simulation's PKI is a directory of signature keys by member id; it is
// the CredentialValidator every member uses.
package cores
