// Package keyschedule derives the secrets of an MLS epoch (RFC 9420 §8):
// the joiner, welcome and epoch secrets, the epoch-derived secrets of
// Table 4 (sender data, encryption, exporter, external, confirmation,
// membership, resumption, epoch authenticator, init), the PSK secret
// (§8.4), the exporter (§8.5), the external key pair (§8, §8.3) and the
// transcript hashes (§8.2).
//
// The package works on encoded structs (the GroupContext, PreSharedKeyID,
// ConfirmedTranscriptHashInput) so that it depends only on the cipher
// suite; the caller encodes them with mls/wire. Nothing here keeps state
// between calls: an Epoch value holds the secrets of one epoch, and Wipe
// deletes them.
package keyschedule
