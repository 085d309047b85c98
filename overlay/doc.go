// Package overlay is mlsnode's network edge: a libp2p host and the
// protocols that carry MLS groups between peers with no central delivery
// service.
//
// # What it owns
//
//   - The host (host.go): TCP and QUIC on configurable multiaddrs, the
//     identity key the caller passes in (MarshalIdentity/UnmarshalIdentity
//     keep it in the caller's store), a connection gater (gater.go) for
//     banned and blocked peers, and libp2p's resource manager with limits
//     for each of the protocols below.
//   - Group gossip (gossip.go): one gossipsub topic per MLS group. Flood
//     publish is on (a publish before the first heartbeat would otherwise
//     reach nobody), messages carry no pubsub author or signature (MLS signs
//     its own messages) and are named by the SHA-256 of their bytes, and
//     queues are raised. Every message is a small frame (frame.go) naming
//     its group; the overlay checks the frame and the size itself and then
//     asks the caller's Validator, whose Accept/Ignore/Reject it passes to
//     gossipsub. Peer scoring is on so that Reject lowers a peer's score and
//     Ignore does not: a member of the other side of a partition sends
//     commits of an unknown branch, which must be ignored, never punished.
//   - Catch-up (sync.go): a request/response protocol whose requests and
//     responses are opaque to the overlay; the caller's SyncHandler answers.
//   - The KeyPackage directory (keypackage.go): owners place their
//     KeyPackages at peers so that they can be invited while offline; each
//     is handed out once, except a last-resort KeyPackage.
//   - Welcome delivery (mailbox.go): direct to the invitee when it can be
//     reached, otherwise deposited in bounded mailboxes at peers that hand
//     it over when the invitee connects.
//   - Discovery (discovery.go): bootstrap multiaddrs and mDNS on a LAN.
//   - A repair (repair.go) for a gossipsub race on quick reconnects that
//     leaves two connected peers deaf to each other's subscriptions.
//
// Package overlay/memnet builds overlays on libp2p's in-memory network
// (p2p/net/mock) with a partition guard (Cut, Heal) for the simulator.
//
// # What it does not own
//
// The overlay never interprets group traffic beyond its own frame: the
// consensus Envelope, MLS signatures, membership and epochs are the
// caller's (node's) business, reached through the Validator, SyncHandler,
// WelcomeHandler and KeyPackageCheck hooks. The only MLS decoding here is
// structural: a KeyPackage or Welcome must parse as an MLSMessage of the
// right wire format (mls/wire) before it is cached or stored.
//
// # Bad input
//
// Every decoder returns an error wrapping ErrMalformed or ErrTooLarge and
// never panics. A peer that sends garbage on a stream protocol is charged a
// penalty that feeds gossipsub's application-specific score; garbage on a
// group topic is rejected, which gossipsub scores itself. Requests are
// rate-limited per peer.
package overlay
