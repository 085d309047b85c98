package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlsnode/mlsnode/node"
)

// controlFixture is a real node (in-memory store, loopback TCP) behind a
// control server on a unix socket and one on loopback TCP with a token.
type controlFixture struct {
	n      *node.Node
	sock   string
	unix   *controlClient
	tcp    string
	token  string
	group  string
	epochs string
}

func newControlFixture(t *testing.T) *controlFixture {
	t.Helper()
	ctx := context.Background()
	n, err := node.New(ctx, node.WithMemoryStore(), node.WithListenAddrs("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	dir, err := os.MkdirTemp("", "mlsctl") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := &controlFixture{n: n, sock: filepath.Join(dir, "c.sock"), token: "test-token-0123456789"}
	log := slog.New(slog.DiscardHandler)
	ln, unix, err := listenControl("unix:" + f.sock)
	if err != nil || !unix {
		t.Fatal(err)
	}
	us := newControlServer(n, ln, true, "", log)
	go us.serve()
	t.Cleanup(func() { us.shutdown(context.Background()) })
	tln, unix, err := listenControl("tcp:127.0.0.1:0")
	if err != nil || unix {
		t.Fatal(err)
	}
	ts := newControlServer(n, tln, false, f.token, log)
	go ts.serve()
	t.Cleanup(func() { ts.shutdown(context.Background()) })
	f.tcp = "tcp:" + tln.Addr().String()
	f.unix = newControlClient("unix:"+f.sock, "")
	var out map[string]string
	if err := f.unix.call(ctx, "group/create", nil, &out); err != nil {
		t.Fatal(err)
	}
	f.group = out["group"]
	f.epochs = f.state(t)
	return f
}

// state summarises what the node holds, to check that bad input changed
// nothing.
func (f *controlFixture) state(t *testing.T) string {
	t.Helper()
	st := f.n.Status()
	msgs, err := f.n.Messages(f.group)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%+v msgs=%d", st.Groups, len(msgs))
}

// rawPost sends body to a verb over the unix socket and returns status
// and the decoded error.
func (f *controlFixture) rawPost(t *testing.T, verb string, body io.Reader) (int, *apiError) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", f.sock)
	}}}
	resp, err := hc.Post("http://mlsnode"+apiPrefix+verb, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		return resp.StatusCode, nil
	}
	var eb errorBody
	if err := decodeStrict(bytes.NewReader(data), &eb); err != nil || eb.Error == nil {
		t.Fatalf("status %d with a body that is not an API error: %q", resp.StatusCode, data)
	}
	return resp.StatusCode, eb.Error
}

func TestControlRejectsBadInput(t *testing.T) {
	f := newControlFixture(t)
	cases := []struct {
		name   string
		verb   string
		body   string
		status int
		code   string
	}{
		{"garbage", "send", "\x00\xff not json", 400, codeBadRequest},
		{"empty body", "group/members", "", 400, codeBadRequest},
		{"array", "send", "[1,2,3]", 400, codeBadRequest},
		{"unknown field", "group/members", `{"group":"` + f.group + `","admin":true}`, 400, codeBadRequest},
		{"trailing data", "group/members", `{"group":"` + f.group + `"}{"group":"x"}`, 400, codeBadRequest},
		{"wrong type", "send", `{"group":7,"data":"aGk="}`, 400, codeBadRequest},
		{"bad base64", "send", `{"group":"` + f.group + `","data":"***"}`, 400, codeBadRequest},
		{"missing group", "send", `{"data":"aGk="}`, 400, codeBadRequest},
		{"empty message", "send", `{"group":"` + f.group + `"}`, 400, codeBadRequest},
		{"group not hex", "group/members", `{"group":"zz"}`, 400, codeBadRequest},
		{"unknown group", "group/members", `{"group":"00ff"}`, 404, codeNotFound},
		{"bad peer id", "group/invite", `{"group":"` + f.group + `","peer":"not-a-peer"}`, 400, codeBadRequest},
		{"bad multiaddr", "connect", `{"addr":"/ip9/nowhere"}`, 400, codeBadRequest},
		{"unknown verb", "group/explode", `{}`, 404, codeNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, aerr := f.rawPost(t, c.verb, strings.NewReader(c.body))
			if status != c.status || aerr == nil || aerr.Code != c.code {
				t.Fatalf("got %d %+v, want %d %s", status, aerr, c.status, c.code)
			}
		})
	}
	if got := f.state(t); got != f.epochs {
		t.Fatalf("bad input changed the node:\n got %s\nwant %s", got, f.epochs)
	}
}

func TestControlRejectsOversized(t *testing.T) {
	f := newControlFixture(t)
	// A syntactically endless JSON string: the limit must stop the read.
	body := io.MultiReader(strings.NewReader(`{"group":"`+f.group+`","data":"`), strings.NewReader(strings.Repeat("A", maxRequestBytes+1024)), strings.NewReader(`"}`))
	status, aerr := f.rawPost(t, "send", body)
	if status != http.StatusRequestEntityTooLarge || aerr.Code != codeTooLarge {
		t.Fatalf("got %d %+v", status, aerr)
	}
	if !errors.Is(aerr, ErrTooLarge) {
		t.Fatal("apiError does not match ErrTooLarge")
	}
	// A message over the message limit but under the request limit.
	big := make([]byte, maxMessageBytes+1)
	err := f.unix.call(context.Background(), "send", &request{Group: f.group, Data: big}, nil)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized message: %v", err)
	}
	// Oversized headers.
	conn, err := net.Dial("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /v1/id HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("b", 64<<10))
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.Contains(line, "431") {
		t.Fatalf("oversized header answered %q", line)
	}
	if got := f.state(t); got != f.epochs {
		t.Fatalf("oversized input changed the node:\n got %s\nwant %s", got, f.epochs)
	}
}

func TestControlRequiresToken(t *testing.T) {
	f := newControlFixture(t)
	ctx := context.Background()
	for _, tok := range []string{"", "wrong", f.token + "x"} {
		err := newControlClient(f.tcp, tok).call(ctx, "id", nil, nil)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("token %q: got %v, want unauthorized", tok, err)
		}
		// Refused before the body is read: a mutating call changes nothing.
		err = newControlClient(f.tcp, tok).call(ctx, "group/create", nil, nil)
		if !errors.Is(err, ErrUnauthorized) {
			t.Fatalf("token %q create: got %v", tok, err)
		}
	}
	var id idResult
	if err := newControlClient(f.tcp, f.token).call(ctx, "id", nil, &id); err != nil || id.Peer != f.n.ID().String() {
		t.Fatalf("with the token: %v %+v", err, id)
	}
	if got := f.state(t); got != f.epochs {
		t.Fatalf("unauthenticated calls changed the node:\n got %s\nwant %s", got, f.epochs)
	}
}

func TestControlTCPMustBeLoopback(t *testing.T) {
	for _, addr := range []string{"tcp:0.0.0.0:0", "tcp:192.0.2.1:0", "tcp:localhost:0", "tcp:nonsense"} {
		if ln, _, err := listenControl(addr); err == nil {
			ln.Close()
			t.Fatalf("%s: listening was allowed", addr)
		}
	}
}

func TestControlSocketIsPrivate(t *testing.T) {
	f := newControlFixture(t)
	fi, err := os.Stat(f.sock)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Fatalf("socket mode %o, want 600", perm)
	}
}

func TestControlSurvivesRawGarbage(t *testing.T) {
	f := newControlFixture(t)
	for _, junk := range [][]byte{
		{0, 1, 2, 3, 0xff, 0xfe},
		[]byte("GET / HTTP/9.9\r\n\r\n"),
		[]byte("POST /v1/send HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{"),
		bytes.Repeat([]byte("\r\n"), 10000),
	} {
		conn, err := net.Dial("unix", f.sock)
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(junk)
		conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		io.Copy(io.Discard, conn)
		conn.Close()
	}
	var id idResult
	if err := f.unix.call(context.Background(), "id", nil, &id); err != nil {
		t.Fatalf("control API down after garbage: %v", err)
	}
	if got := f.state(t); got != f.epochs {
		t.Fatalf("garbage changed the node:\n got %s\nwant %s", got, f.epochs)
	}
}

func FuzzControlRequest(f *testing.F) {
	f.Add([]byte(`{"group":"00","peer":"x","data":"aGk="}`))
	f.Add([]byte(`{"history":true}`))
	f.Add([]byte(`{"group":"00"} {}`))
	f.Add([]byte("\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var req request
		if err := decodeStrict(bytes.NewReader(b), &req); err != nil {
			return
		}
		// Whatever decodes must survive the client's own encoding.
		var again request
		if err := decodeStrict(bytes.NewReader(encodeJSON(&req)), &again); err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
	})
}

func TestControlTail(t *testing.T) {
	f := newControlFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	events := make(chan node.Event, 16)
	go f.unix.tail(ctx, &request{Group: f.group}, func(e node.Event) bool {
		events <- e
		return e.Kind != node.EventEpochChanged
	})
	time.Sleep(200 * time.Millisecond) // let the stream subscribe
	if err := f.unix.call(ctx, "group/update", &request{Group: f.group}, nil); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e := <-events:
			if e.Kind == node.EventEpochChanged {
				if e.Group != f.group || e.Epoch != 1 {
					t.Fatalf("event %+v", e)
				}
				return
			}
		case <-ctx.Done():
			t.Fatal("no epoch_changed event on the tail stream")
		}
	}
}
