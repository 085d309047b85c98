// Package store keeps everything an mlsnode node must not lose, on any
// github.com/ipfs/go-datastore Batching datastore.
//
// # What it keeps
//
// Per group (Group): the state of the head epoch and of every retained
// earlier epoch (opaque bytes from mls.Group.MarshalState), secrets bound
// to an epoch or to the group, the staged rival commits the ordering layer
// is still weighing, the outbox of messages not yet final, received
// application messages, and the commits seen (the local view of the epoch
// tree). Per node: the identity, KeyPackages with their private keys, and
// PSKs.
//
// # Transitions
//
// A Transaction collects every change of one step of the ordering layer
// (merge a commit, set the new head, drop superseded epochs and their keys,
// move or acknowledge outbox entries, record received messages) and
// commits them in one go-datastore batch. On the default backend, leveldb,
// a batch is one synced journal record, so a crash leaves either the state
// before the transaction or the state after it, never a mix.
//
// # Deletion
//
// Deleted values are purged from the backend's files, not only hidden:
// on leveldb the store compacts the key ranges a transaction deleted right
// after the batch commits, and a marker written in the same batch makes
// the next Open finish the purge if the process died in between. What this
// does and does not guarantee is written in docs/store.md.
//
// # Encryption at rest
//
// With WithPassphrase every stored value (but the schema and KDF records)
// is sealed with XChaCha20-Poly1305 under a key derived from the passphrase
// by Argon2id; the record's key is the associated data, so a value moved
// to another key does not open.
//
// # Errors
//
// A damaged value is reported as a *RecordError naming the group and the
// record kind (errors.Is(err, ErrCorrupt)); other records and groups stay
// readable. A store written by a newer schema is refused with a
// *SchemaError (errors.Is(err, ErrSchemaVersion)), a wrong passphrase with
// ErrWrongPassphrase.
package store
