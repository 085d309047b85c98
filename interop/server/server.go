package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/mlsnode/mlsnode/interop/mlsclientpb"
	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Name is what the Name RPC reports to the harness.
const Name = "mlsnode"

// keyPackageLifetime is how long the KeyPackages this client makes are
// valid. The harness runs scripts in seconds; a day leaves room for a
// clock skew between implementations without making the leaf immortal.
const keyPackageLifetime = 24 * time.Hour

// Server is one interop client: the MLSClient service over the engine.
// The zero value is not usable; call New.
type Server struct {
	pb.UnimplementedMLSClientServer

	rand io.Reader
	now  func() time.Time

	mu      sync.Mutex
	nextID  uint32
	states  map[uint32]*member
	pending map[uint32]*transaction // KeyPackages awaiting a Welcome
	reinits map[uint32]*reinit
	signers map[uint32]*externalSigner
}

// Option configures a Server.
type Option func(*Server)

// WithRand sets the randomness source (default crypto/rand).
func WithRand(r io.Reader) Option { return func(s *Server) { s.rand = r } }

// WithClock sets the clock that KeyPackage lifetimes and lifetime checks
// use (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns an empty interop client.
func New(opts ...Option) *Server {
	s := &Server{
		rand: rand.Reader, now: time.Now,
		states: map[uint32]*member{}, pending: map[uint32]*transaction{},
		reinits: map[uint32]*reinit{}, signers: map[uint32]*externalSigner{},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// member is one state: a member's group plus what the harness asked of it.
type member struct {
	group      *mls.Group
	signingKey *suite.SigningKey
	identity   []byte
	// encrypt sends this member's handshake messages as PrivateMessage.
	encrypt bool
	psks    *pskStore
	// pending is this member's own commit, made but not yet merged.
	pending *mls.CommitResult
}

// transaction is a KeyPackage (with its private keys) that a later
// JoinGroup, HandleBranch or StorePSK names by id.
type transaction struct {
	cs         *suite.Suite
	bundle     *mls.KeyPackageBundle
	signingKey *suite.SigningKey
	identity   []byte
	psks       *pskStore
}

// reinit is a member of a group that committed a ReInit, holding the
// KeyPackage it brings to the new group.
type reinit struct {
	old     *member
	next    *transaction
	encrypt bool
}

// externalSigner is a non-member allowed to send proposals once a group
// lists it in external_senders (§12.1.8.1).
type externalSigner struct {
	cs     *suite.Suite
	key    *suite.SigningKey
	sender wire.ExternalSender
}

// pskStore holds the external PSKs the harness installs with StorePSK.
// A transaction's store follows it into the state it becomes.
type pskStore struct {
	mu   sync.Mutex
	keys map[string][]byte
}

func newPSKStore() *pskStore { return &pskStore{keys: map[string][]byte{}} }

func (p *pskStore) put(id, secret []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys[string(id)] = append([]byte(nil), secret...)
}

func (p *pskStore) PSK(id *wire.PreSharedKeyID) ([]byte, error) {
	if id.PSKType != wire.PSKTypeExternal {
		return nil, fmt.Errorf("interop: no resumption PSK store here (group %x epoch %d)", id.PSKGroupID, id.PSKEpoch)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if k, ok := p.keys[string(id.PSKID)]; ok {
		return k, nil
	}
	return nil, fmt.Errorf("interop: unknown external PSK %x", id.PSKID)
}

// chainPSKs resolves from the first store that knows the PSK: a resumed
// group's joiners need the old group's resumption PSKs and their own
// external ones.
type chainPSKs []mls.PSKStore

func (c chainPSKs) PSK(id *wire.PreSharedKeyID) ([]byte, error) {
	var errs []error
	for _, s := range c {
		k, err := s.PSK(id)
		if err == nil {
			return k, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

// newID hands out state, transaction, reinit and signer ids from one
// counter, so that StorePSK's state_or_transaction_id is unambiguous.
func (s *Server) newID() uint32 {
	s.nextID++
	return s.nextID
}

func (s *Server) state(id uint32) (*member, error) {
	m, ok := s.states[id]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no state %d", id)
	}
	// The engine reads no clock: lifetimes in the proposals this request
	// may carry are checked at the time of the request.
	m.group.SetNow(s.nowUnix())
	return m, nil
}

func (s *Server) nowUnix() uint64 { return uint64(s.now().Unix()) }

// lookupSuite maps the harness's cipher suite number to the engine's.
func lookupSuite(n uint32) (*suite.Suite, error) {
	if n > 0xffff {
		return nil, status.Errorf(codes.InvalidArgument, "cipher suite %d is not a uint16", n)
	}
	cs, err := suite.Lookup(suite.ID(n))
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "cipher suite %d: %v", n, err)
	}
	return cs, nil
}

// engineErr turns an engine failure into a gRPC status: input the engine
// rejected is FailedPrecondition, with the engine's message.
func engineErr(what string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Errorf(codes.FailedPrecondition, "%s: %v", what, err)
}

// Name reports the stack's name.
func (s *Server) Name(context.Context, *pb.NameRequest) (*pb.NameResponse, error) {
	return &pb.NameResponse{Name: Name}, nil
}

// SupportedCiphersuites lists the engine's suites (1 to 7).
func (s *Server) SupportedCiphersuites(context.Context, *pb.SupportedCiphersuitesRequest) (*pb.SupportedCiphersuitesResponse, error) {
	var out []uint32
	for _, id := range suite.All() {
		out = append(out, uint32(id))
	}
	return &pb.SupportedCiphersuitesResponse{Ciphersuites: out}, nil
}
