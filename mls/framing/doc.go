// Package framing protects and unprotects MLS messages (RFC 9420 §6): it
// signs a FramedContent into an AuthenticatedContent (§6.1), wraps it in a
// PublicMessage with a membership tag (§6.2) or a PrivateMessage with
// encrypted content and sender data (§6.3), and reverses both.
//
// An Epoch value carries the keys of one epoch that framing needs: the
// GroupContext, the membership key, the sender-data secret and the secret
// tree. The package holds no other state and uses no randomness except the
// reuse guard, read from the caller's io.Reader.
//
// Unprotecting a PrivateMessage finds the key for the sender's generation
// without consuming it, decrypts, and hands the result to the caller's
// verify function (which checks the signature against the sender's leaf);
// only when that succeeds is the key deleted. A forged or replayed message
// therefore changes nothing, and an insider cannot burn another member's
// keys by claiming its leaf.
package framing
