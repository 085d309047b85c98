// Package secrettree derives the per-sender message keys of an MLS epoch
// (RFC 9420 §9): a tree of secrets with the ratchet tree's shape rooted at
// the epoch's encryption_secret, and at each leaf two hash ratchets, one for
// handshake and one for application messages.
//
// The tree follows the deletion schedule of §9.2. A node secret is deleted
// (its bytes zeroed and dropped) as soon as its children are derived; a leaf
// secret as soon as its two ratchets are started; a ratchet secret as soon
// as the next one is derived; and a key and nonce as soon as the caller
// reports that they protected or opened a message (Consume). Only the
// unconsumed frontier is held, so memory grows with the senders actually
// heard from, not with the group size.
//
// Out-of-order delivery is bounded by a Window: a receiver ratchets at most
// MaxForward generations ahead of the newest generation seen, and keeps at
// most MaxRetained skipped keys per ratchet, oldest evicted first. Keys
// outside the window are gone for good; asking for them yields
// ErrGenerationConsumed or ErrTooFarAhead.
//
// Key reports the key and nonce for a generation without changing anything,
// so a failed decryption leaves the tree as it was; Consume then deletes
// them. Next serves senders and consumes at once.
package secrettree
