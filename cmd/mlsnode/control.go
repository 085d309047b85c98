package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/node"
)

// controlNode is what the control API drives; *node.Node implements it.
type controlNode interface {
	ID() peer.ID
	Addrs() []string
	Peers() []node.PeerInfo
	Connect(ctx context.Context, addr string) error
	CreateGroup(ctx context.Context) (string, error)
	Invite(ctx context.Context, group string, p peer.ID) error
	Join(ctx context.Context, group string) error
	Leave(ctx context.Context, group string) error
	Remove(ctx context.Context, group string, p peer.ID) error
	Update(ctx context.Context, group string) error
	Members(group string) ([]node.Member, error)
	Status() node.Status
	Send(ctx context.Context, group string, data []byte) (string, error)
	Subscribe(buffer int) *node.Subscription
	Messages(group string) ([]node.Event, error)
	Block(p peer.ID)
	Unblock(p peer.ID)
}

// controlServer serves the control API. Only the node's owner may drive
// it: on a unix socket the socket file is 0600 inside a 0700 directory and
// the peer's uid (SO_PEERCRED) must be ours; on TCP the listener must be a
// loopback address and every request must carry the token.
type controlServer struct {
	n      controlNode
	log    *slog.Logger
	token  string // empty on a unix socket
	srv    *http.Server
	ln     net.Listener
	mux    *http.ServeMux
	served chan struct{}
}

type ctxKey int

const ctxUnixPeer ctxKey = iota

// listenControl opens the control listener: "unix:/path" or a path, or
// "tcp:127.0.0.1:port".
func listenControl(addr string) (net.Listener, bool, error) {
	switch {
	case strings.HasPrefix(addr, "tcp:"):
		hostport := strings.TrimPrefix(addr, "tcp:")
		host, _, err := net.SplitHostPort(hostport)
		if err != nil {
			return nil, false, fmt.Errorf("control address %q: %w", addr, err)
		}
		ip := net.ParseIP(host)
		if ip == nil || !ip.IsLoopback() {
			return nil, false, fmt.Errorf("control address %q: TCP control must listen on a loopback IP", addr)
		}
		ln, err := net.Listen("tcp", hostport)
		return ln, false, err
	default:
		path := strings.TrimPrefix(addr, "unix:")
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, false, err
		}
		// The umask keeps the socket private from the moment it exists;
		// the chmod makes it explicit.
		old := syscall.Umask(0o177)
		ln, err := net.Listen("unix", path)
		syscall.Umask(old)
		if err != nil {
			return nil, false, err
		}
		if err := os.Chmod(path, 0o600); err != nil {
			ln.Close()
			return nil, false, err
		}
		return ln, true, nil
	}
}

func newControlServer(n controlNode, ln net.Listener, unix bool, token string, log *slog.Logger) *controlServer {
	s := &controlServer{n: n, log: log, ln: ln, mux: http.NewServeMux(), served: make(chan struct{})}
	if !unix {
		s.token = token
	}
	for verb, h := range map[string]func(context.Context, *request) (any, error){
		"id":            s.handleID,
		"peers":         s.handlePeers,
		"connect":       s.handleConnect,
		"group/create":  s.handleCreate,
		"group/invite":  s.handleInvite,
		"group/join":    s.handleJoin,
		"group/leave":   s.handleLeave,
		"group/remove":  s.handleRemove,
		"group/update":  s.handleUpdate,
		"group/members": s.handleMembers,
		"group/status":  s.handleStatus,
		"group/history": s.handleHistory,
		"send":          s.handleSend,
		"net/block":     s.handleBlock,
		"net/unblock":   s.handleUnblock,
	} {
		s.mux.Handle("POST "+apiPrefix+verb, s.unary(h))
	}
	s.mux.HandleFunc("POST "+apiPrefix+"tail", s.handleTail)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, &apiError{Status: http.StatusNotFound, Code: codeNotFound, Message: "no such call: " + r.Method + " " + r.URL.Path})
	})
	s.srv = &http.Server{
		Handler:           s.authenticate(s.mux),
		ReadHeaderTimeout: 5 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if unix {
		s.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, ctxUnixPeer, peerUID(c))
		}
	}
	return s
}

// peerUID is the uid of the process at the other end of a unix socket, or
// -1 when it cannot be read.
func peerUID(c net.Conn) int {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return -1
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return -1
	}
	uid := -1
	_ = raw.Control(func(fd uintptr) {
		cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
		if err == nil {
			uid = int(cred.Uid)
		}
	})
	return uid
}

func (s *controlServer) serve() error {
	defer close(s.served)
	err := s.srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func (s *controlServer) shutdown(ctx context.Context) error {
	return s.srv.Shutdown(ctx)
}

func (s *controlServer) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uid, ok := r.Context().Value(ctxUnixPeer).(int); ok {
			if uid != os.Getuid() {
				s.log.Warn("control: refused a unix client of another user", "uid", uid)
				writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "caller is not the node's user"})
				return
			}
		} else {
			got := strings.TrimPrefix(r.Header.Get(tokenHeader), "Bearer ")
			if s.token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
				s.log.Warn("control: refused a request without the token", "remote", r.RemoteAddr)
				writeError(w, &apiError{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: "missing or wrong token"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// readRequest reads and strictly decodes a bounded request body.
func readRequest(w http.ResponseWriter, r *http.Request) (*request, *apiError) {
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	var req request
	if err := decodeStrict(r.Body, &req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
				Message: fmt.Sprintf("request body over %d bytes", maxRequestBytes)}
		}
		return nil, &apiError{Status: http.StatusBadRequest, Code: codeBadRequest, Message: "malformed request: " + err.Error()}
	}
	return &req, nil
}

func (s *controlServer) unary(h func(context.Context, *request) (any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, aerr := readRequest(w, r)
		if aerr != nil {
			writeError(w, aerr)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		out, err := h(ctx, req)
		if err != nil {
			writeError(w, toAPIError(err))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(encodeJSON(out))
	})
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(encodeJSON(errorBody{Error: e}))
}

// toAPIError maps node errors onto API codes.
func toAPIError(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	code, status := codeInternal, http.StatusInternalServerError
	switch {
	case errors.Is(err, node.ErrInvalidArgument), errors.Is(err, node.ErrUnsupportedSuite):
		code, status = codeBadRequest, http.StatusBadRequest
	case errors.Is(err, node.ErrUnknownGroup), errors.Is(err, node.ErrNotMember),
		errors.Is(err, node.ErrNoKeyPackage), errors.Is(err, node.ErrNoInvitation):
		code, status = codeNotFound, http.StatusNotFound
	case errors.Is(err, node.ErrClosed),
		errors.Is(err, context.DeadlineExceeded):
		code, status = codeUnavailable, http.StatusServiceUnavailable
	}
	return &apiError{Status: status, Code: code, Message: err.Error()}
}

func badRequest(format string, args ...any) error {
	return &apiError{Status: http.StatusBadRequest, Code: codeBadRequest, Message: fmt.Sprintf(format, args...)}
}

func needGroup(req *request) error {
	if req.Group == "" {
		return badRequest("group is required")
	}
	return nil
}

func needPeer(req *request) (peer.ID, error) {
	if req.Peer == "" {
		return "", badRequest("peer is required")
	}
	p, err := peer.Decode(req.Peer)
	if err != nil {
		return "", badRequest("peer %q is not a peer id: %v", req.Peer, err)
	}
	return p, nil
}

type idResult struct {
	Peer  string   `json:"peer"`
	Addrs []string `json:"addrs"`
}

func (s *controlServer) handleID(context.Context, *request) (any, error) {
	return idResult{Peer: s.n.ID().String(), Addrs: s.n.Addrs()}, nil
}

func (s *controlServer) handlePeers(context.Context, *request) (any, error) {
	return map[string]any{"peers": s.n.Peers()}, nil
}

func (s *controlServer) handleConnect(ctx context.Context, req *request) (any, error) {
	if req.Addr == "" {
		return nil, badRequest("addr is required")
	}
	return struct{}{}, s.n.Connect(ctx, req.Addr)
}

func (s *controlServer) handleCreate(ctx context.Context, _ *request) (any, error) {
	g, err := s.n.CreateGroup(ctx)
	if err != nil {
		return nil, err
	}
	return map[string]string{"group": g}, nil
}

func (s *controlServer) handleInvite(ctx context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	p, err := needPeer(req)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.n.Invite(ctx, req.Group, p)
}

func (s *controlServer) handleJoin(ctx context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	return struct{}{}, s.n.Join(ctx, req.Group)
}

func (s *controlServer) handleLeave(ctx context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	return struct{}{}, s.n.Leave(ctx, req.Group)
}

func (s *controlServer) handleRemove(ctx context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	p, err := needPeer(req)
	if err != nil {
		return nil, err
	}
	return struct{}{}, s.n.Remove(ctx, req.Group, p)
}

func (s *controlServer) handleUpdate(ctx context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	return struct{}{}, s.n.Update(ctx, req.Group)
}

func (s *controlServer) handleMembers(_ context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	m, err := s.n.Members(req.Group)
	if err != nil {
		return nil, err
	}
	// Who removed whom, from the membership history this node saw.
	var removed []node.MembershipChange
	for _, g := range s.n.Status().Groups {
		if g.Group == req.Group {
			for _, c := range g.Changes {
				if c.Kind == "removed" || c.Kind == "rejoined" {
					removed = append(removed, c)
				}
			}
		}
	}
	return map[string]any{"members": m, "removed": removed}, nil
}

func (s *controlServer) handleStatus(_ context.Context, req *request) (any, error) {
	st := s.n.Status()
	if req.Group == "" {
		return st, nil
	}
	for _, g := range st.Groups {
		if g.Group == req.Group {
			return g, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", node.ErrUnknownGroup, req.Group)
}

func (s *controlServer) handleHistory(_ context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	msgs, err := s.n.Messages(req.Group)
	if err != nil {
		return nil, err
	}
	return map[string]any{"messages": msgs}, nil
}

func (s *controlServer) handleSend(ctx context.Context, req *request) (any, error) {
	if err := needGroup(req); err != nil {
		return nil, err
	}
	if len(req.Data) == 0 {
		return nil, badRequest("data is required")
	}
	if len(req.Data) > maxMessageBytes {
		return nil, &apiError{Status: http.StatusRequestEntityTooLarge, Code: codeTooLarge,
			Message: fmt.Sprintf("message of %d bytes over %d", len(req.Data), maxMessageBytes)}
	}
	id, err := s.n.Send(ctx, req.Group, req.Data)
	if err != nil {
		return nil, err
	}
	return map[string]string{"message_id": id}, nil
}

func (s *controlServer) handleBlock(_ context.Context, req *request) (any, error) {
	p, err := needPeer(req)
	if err != nil {
		return nil, err
	}
	s.n.Block(p)
	return struct{}{}, nil
}

func (s *controlServer) handleUnblock(_ context.Context, req *request) (any, error) {
	p, err := needPeer(req)
	if err != nil {
		return nil, err
	}
	s.n.Unblock(p)
	return struct{}{}, nil
}

// handleTail streams events as NDJSON until the client goes away. With
// history, the group's stored messages come first.
func (s *controlServer) handleTail(w http.ResponseWriter, r *http.Request) {
	req, aerr := readRequest(w, r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	sub := s.n.Subscribe(1024)
	defer sub.Close()
	var history []node.Event
	if req.History {
		if err := needGroup(req); err != nil {
			writeError(w, toAPIError(err))
			return
		}
		h, err := s.n.Messages(req.Group)
		if err != nil {
			writeError(w, toAPIError(err))
			return
		}
		history = h
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	for _, e := range history {
		w.Write(encodeJSON(e))
	}
	if fl != nil {
		fl.Flush()
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case e, ok := <-sub.C:
			if !ok {
				return
			}
			if req.Group != "" && e.Group != req.Group {
				continue
			}
			if _, err := w.Write(encodeJSON(e)); err != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
	}
}
