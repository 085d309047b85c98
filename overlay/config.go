package overlay

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Protocol ids of the overlay's stream protocols.
const (
	SyncProtocol       protocol.ID = "/mlsnode/sync/1.0.0"
	KeyPackageProtocol protocol.ID = "/mlsnode/kp/1.0.0"
	MailboxProtocol    protocol.ID = "/mlsnode/mail/1.0.0"
)

// TopicPrefix starts the name of every group topic; the group id follows in
// lower-case hex.
const TopicPrefix = "/mlsnode/group/1/"

// MDNSServiceName is the service name announced and browsed on the LAN.
const MDNSServiceName = "mlsnode"

// ValidationResult is the caller's verdict on a group message.
type ValidationResult int

const (
	// Accept delivers the message and relays it.
	Accept ValidationResult = iota
	// Ignore drops the message without relaying it and without touching the
	// sender's score. The answer for well-formed messages that cannot be
	// checked here and now: an unknown epoch, another branch, a group this
	// node has left.
	Ignore
	// Reject drops the message and lowers the relaying peer's score. Only
	// for messages no honest peer would relay: garbage, bad signatures.
	Reject
)

func (v ValidationResult) String() string {
	switch v {
	case Accept:
		return "accept"
	case Ignore:
		return "ignore"
	case Reject:
		return "reject"
	}
	return fmt.Sprintf("ValidationResult(%d)", int(v))
}

// Validator judges group messages before gossipsub delivers or relays them.
// from is the peer that relayed the message (messages carry no author);
// group is the topic's group id; data is the payload the publisher passed to
// Publish; it aliases the received message, so it must not be modified
// (keeping it is fine). It runs on gossipsub's validation workers,
// concurrently, and must not block for long.
type Validator interface {
	Validate(from peer.ID, group []byte, data []byte) ValidationResult
}

// ValidatorFunc adapts a function to Validator.
type ValidatorFunc func(from peer.ID, group []byte, data []byte) ValidationResult

// Validate calls f.
func (f ValidatorFunc) Validate(from peer.ID, group []byte, data []byte) ValidationResult {
	return f(from, group, data)
}

// SyncHandler answers catch-up requests (missing commits by epoch id,
// beacons, GroupInfo). Requests and responses are opaque to the overlay. An
// error is sent back to the requester as a RemoteError.
type SyncHandler interface {
	HandleSync(from peer.ID, req []byte) ([]byte, error)
}

// SyncHandlerFunc adapts a function to SyncHandler.
type SyncHandlerFunc func(from peer.ID, req []byte) ([]byte, error)

// HandleSync calls f.
func (f SyncHandlerFunc) HandleSync(from peer.ID, req []byte) ([]byte, error) { return f(from, req) }

// WelcomeHandler receives Welcome messages (the encoded MLSMessage) for
// this node. from is the peer that handed it over: the inviter, or a peer
// that kept it in its mailbox. Returning nil acknowledges the Welcome; an
// error is reported back but the Welcome is dropped either way, because a
// Welcome this node cannot use will not become usable by re-sending it.
// The handler must persist what it needs before it returns.
type WelcomeHandler func(from peer.ID, welcome []byte) error

// KeyPackageCheck is the caller's check of a KeyPackage before the overlay
// caches or returns it: the owner's MLS signature, lifetime, and that the
// credential belongs to the owner peer. The overlay has already checked that
// raw parses as an MLSMessage carrying a KeyPackage.
type KeyPackageCheck func(owner peer.ID, kp *wire.KeyPackage, raw []byte) error

// Limits bound what the overlay accepts and keeps.
type Limits struct {
	// MaxMessageSize bounds a group payload (default 1 MiB). Gossipsub's
	// own RPC limit is set a little above it.
	MaxMessageSize int
	// MaxSyncRequest and MaxSyncResponse bound sync frames (defaults
	// 64 KiB and 16 MiB).
	MaxSyncRequest  int
	MaxSyncResponse int
	// MaxKeyPackageSize bounds one KeyPackage (default 64 KiB).
	MaxKeyPackageSize int
	// KeyPackagesPerOwner bounds the cache per owner (default 16),
	// KeyPackageOwners the owners kept (default 1024) and KeyPackageBytes
	// its total size (default 32 MiB).
	KeyPackagesPerOwner int
	KeyPackageOwners    int
	KeyPackageBytes     int
	// MaxWelcomeSize bounds one Welcome (default 4 MiB: a Welcome may carry
	// the whole ratchet tree). MailPerRecipient (default 16), MailRecipients
	// (default 1024), MailBytes (default 64 MiB) and MailPerDepositor
	// (default 64) bound the mailboxes.
	MaxWelcomeSize   int
	MailPerRecipient int
	MailRecipients   int
	MailBytes        int
	MailPerDepositor int
	// RequestRate and RequestBurst limit stream requests (all protocols
	// together) per remote peer (defaults 50/s, burst 100).
	RequestRate  float64
	RequestBurst int
	// StreamTimeout bounds one request/response exchange (default 20s).
	StreamTimeout time.Duration
}

func (l *Limits) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxMessageSize, 1<<20)
	def(&l.MaxSyncRequest, 64<<10)
	def(&l.MaxSyncResponse, 16<<20)
	def(&l.MaxKeyPackageSize, 64<<10)
	def(&l.KeyPackagesPerOwner, 16)
	def(&l.KeyPackageOwners, 1024)
	def(&l.KeyPackageBytes, 32<<20)
	def(&l.MaxWelcomeSize, 4<<20)
	def(&l.MailPerRecipient, 16)
	def(&l.MailRecipients, 1024)
	def(&l.MailBytes, 64<<20)
	def(&l.MailPerDepositor, 64)
	def(&l.RequestBurst, 100)
	if l.RequestRate <= 0 {
		l.RequestRate = 50
	}
	if l.StreamTimeout <= 0 {
		l.StreamTimeout = 20 * time.Second
	}
}

// Config configures an Overlay. The zero value of every field but Identity
// is usable.
type Config struct {
	// Identity is the host's private key (required by New; NewWithHost
	// takes the host's own). The caller keeps it, e.g. as MarshalIdentity
	// bytes in its store.
	Identity crypto.PrivKey
	// ListenAddrs are multiaddrs to listen on. Default: TCP and QUIC on all
	// interfaces, ports chosen by the system.
	ListenAddrs []string
	// Bootstrap are multiaddrs, each ending in /p2p/<peer id>, dialled at
	// start and again whenever the node has no connections.
	Bootstrap []string
	// MDNS turns on discovery on the local network.
	MDNS bool

	// Validator judges group messages; nil accepts every message that
	// passes the overlay's own checks.
	Validator Validator
	// SyncHandler answers sync requests; nil refuses them.
	SyncHandler SyncHandler
	// WelcomeHandler receives Welcomes; nil refuses direct delivery (peers
	// then deposit them in mailboxes).
	WelcomeHandler WelcomeHandler
	// KeyPackageCheck is run on KeyPackages before they are cached and
	// before FetchKeyPackage returns one; nil checks structure only.
	KeyPackageCheck KeyPackageCheck

	Limits Limits

	// HeartbeatInterval is gossipsub's heartbeat (default 1s; tests and the
	// simulator shorten it).
	HeartbeatInterval time.Duration
	// Logger receives the overlay's diagnostics (default: discard).
	Logger *slog.Logger
}

func (c *Config) withDefaults() Config {
	out := *c
	out.Limits.setDefaults()
	if out.HeartbeatInterval <= 0 {
		out.HeartbeatInterval = time.Second
	}
	if out.Logger == nil {
		out.Logger = slog.New(slog.DiscardHandler)
	}
	if len(out.ListenAddrs) == 0 {
		out.ListenAddrs = []string{"/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"}
	}
	return out
}
