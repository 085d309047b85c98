// Package mls is the face of the RFC 9420 engine: the objects an
// application handles directly. It builds on the layer packages below it
// (codec, suite, treemath, keyschedule, secrettree, wire, framing,
// ratchettree, treekem) and, as it grows, holds the group state machine:
// proposals, commits staged and merged, Welcome and external joins.
//
// So far it offers KeyPackages (§10): NewKeyPackage makes a signed
// KeyPackage with fresh init and leaf keys drawn from the caller's
// randomness, and ValidateKeyPackage applies the checks of §10.1 and §7.3
// that a member makes before it adds the KeyPackage's owner to a group.
//
// Like every package of the engine, mls reads no clock and no global
// randomness: time is a parameter and randomness an io.Reader, so a
// simulation replays from a seed.
package mls
