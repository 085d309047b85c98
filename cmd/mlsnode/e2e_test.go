package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mlsnode/mlsnode/node"
)

// The end-to-end test runs three real daemon processes of the mlsnode
// binary on loopback, each with its own on-disk store, and drives them
// only through the control API. TestMain builds the binary once.

var mlsnodeBin string

func TestMain(m *testing.M) {
	code := func() int {
		if os.Getenv("MLSNODE_SKIP_E2E") != "" {
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "mlsnode-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		mlsnodeBin = filepath.Join(dir, "mlsnode")
		out, err := exec.Command("go", "build", "-o", mlsnodeBin, ".").CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "building mlsnode: %v\n%s", err, out)
			return 1
		}
		return m.Run()
	}()
	os.Exit(code)
}

type daemon struct {
	t      *testing.T
	name   string
	dir    string
	cmd    *exec.Cmd
	peer   string
	addrs  []string
	c      *controlClient
	exited chan struct{}
	logMu  sync.Mutex
	log    []string
}

func initDaemon(t *testing.T, root, name string) *daemon {
	t.Helper()
	dir := filepath.Join(root, name)
	out, err := exec.Command(mlsnodeBin, "init", "--data-dir", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("init %s: %v\n%s", name, err, out)
	}
	return &daemon{t: t, name: name, dir: dir}
}

func (d *daemon) start(bootstrap ...string) {
	t := d.t
	t.Helper()
	args := []string{"run", "--data-dir", d.dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--tick", "50ms", "--log-level", "debug",
		"--metrics", "127.0.0.1:0"}
	for _, b := range bootstrap {
		args = append(args, "--bootstrap", b)
	}
	cmd := exec.Command(mlsnodeBin, args...)
	cmd.Env = append(os.Environ(), "MLSNODE_HEARTBEAT=200ms")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d.cmd, d.exited = cmd, make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			d.logMu.Lock()
			d.log = append(d.log, sc.Text())
			d.logMu.Unlock()
		}
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "ready ") {
				ready <- sc.Text()
			}
		}
		cmd.Wait()
		close(d.exited)
	}()
	select {
	case line := <-ready:
		for _, f := range strings.Fields(line) {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "peer":
				d.peer = v
			case "addrs":
				d.addrs = strings.Split(v, ",")
			}
		}
	case <-d.exited:
		t.Fatalf("%s exited before it was ready:\n%s", d.name, d.logs(30))
	case <-time.After(30 * time.Second):
		t.Fatalf("%s not ready in time:\n%s", d.name, d.logs(30))
	}
	d.c = newControlClient("unix:"+filepath.Join(d.dir, "control.sock"), "")
	t.Cleanup(func() { d.kill() })
}

func (d *daemon) logs(last int) string {
	d.logMu.Lock()
	defer d.logMu.Unlock()
	from := max(0, len(d.log)-last)
	return strings.Join(d.log[from:], "\n")
}

// loopbackAddr is the daemon's address on 127.0.0.1.
func (d *daemon) loopbackAddr() string {
	for _, a := range d.addrs {
		if strings.HasPrefix(a, "/ip4/127.0.0.1/") {
			return a
		}
	}
	return d.addrs[0]
}

func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		d.cmd.Process.Kill()
		<-d.exited
	}
}

// stop ends the daemon with SIGTERM and checks that it exits cleanly.
func (d *daemon) stop() {
	d.t.Helper()
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(20 * time.Second):
		d.t.Fatalf("%s did not stop on SIGTERM", d.name)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		d.t.Fatalf("%s exited with %d:\n%s", d.name, code, d.logs(20))
	}
}

func (d *daemon) call(verb string, req *request, out any) {
	d.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.c.call(ctx, verb, req, out); err != nil {
		d.t.Fatalf("%s %s: %v\n%s", d.name, verb, err, d.logs(30))
	}
}

func (d *daemon) status(group string) (node.GroupStatus, bool) {
	var st node.Status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.c.call(ctx, "group/status", &request{}, &st); err != nil {
		return node.GroupStatus{}, false
	}
	for _, g := range st.Groups {
		if g.Group == group {
			return g, true
		}
	}
	return node.GroupStatus{}, false
}

func (d *daemon) history(group string) map[string]string {
	var out struct{ Messages []node.Event }
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.c.call(ctx, "group/history", &request{Group: group}, &out); err != nil {
		return nil
	}
	m := map[string]string{}
	for _, e := range out.Messages {
		m[e.MessageID] = string(e.Data)
	}
	return m
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, what string, limit time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not reached in %v: %s", what, limit, detail)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func converged(group string, ds ...*daemon) func() (bool, string) {
	return func() (bool, string) {
		var heads []string
		for _, d := range ds {
			st, ok := d.status(group)
			if !ok {
				heads = append(heads, d.name+":-")
				continue
			}
			heads = append(heads, fmt.Sprintf("%s:%d/%s/%d", d.name, st.Epoch, st.EpochID[:8], st.Members))
		}
		first := heads[0][strings.Index(heads[0], ":"):]
		for _, h := range heads {
			if h[strings.Index(h, ":"):] != first || strings.HasSuffix(h, ":-") || !strings.HasSuffix(h, fmt.Sprintf("/%d", len(ds))) {
				return false, strings.Join(heads, " ")
			}
		}
		return true, ""
	}
}

// sentLog records what each daemon sent.
type sentLog struct {
	mu   sync.Mutex
	byID map[string]string // id -> sender name
	text map[string]string
}

func (s *sentLog) send(t *testing.T, d *daemon, group, text string) {
	t.Helper()
	var out map[string]string
	d.call("send", &request{Group: group, Data: []byte(text)}, &out)
	s.mu.Lock()
	s.byID[out["message_id"]] = d.name
	s.text[out["message_id"]] = text
	s.mu.Unlock()
}

// allDelivered: every daemon holds every message the others sent.
func (s *sentLog) allDelivered(group string, ds ...*daemon) func() (bool, string) {
	return func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		var missing []string
		for _, d := range ds {
			h := d.history(group)
			for id, from := range s.byID {
				if from == d.name {
					continue
				}
				if _, ok := h[id]; !ok {
					missing = append(missing, fmt.Sprintf("%s lacks %q", d.name, s.text[id]))
				}
			}
		}
		sort.Strings(missing)
		return len(missing) == 0, fmt.Sprintf("%d missing: %s", len(missing), strings.Join(missing, "; "))
	}
}

func TestEndToEndThreeDaemons(t *testing.T) {
	if mlsnodeBin == "" {
		t.Skip("MLSNODE_SKIP_E2E is set: the end-to-end test with three daemon processes does not run")
	}
	root, err := os.MkdirTemp("", "e2e") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(root)
	a, b, c := initDaemon(t, root, "a"), initDaemon(t, root, "b"), initDaemon(t, root, "c")
	a.start()
	b.start(a.loopbackAddr())
	c.start(a.loopbackAddr(), b.loopbackAddr())

	// Create a group and invite by peer id; the invitees accept.
	var created map[string]string
	a.call("group/create", &request{}, &created)
	gid := created["group"]
	for _, d := range []*daemon{b, c} {
		a.call("group/invite", &request{Group: gid, Peer: d.peer}, nil)
		eventually(t, d.name+" invited", 10*time.Second, func() (bool, string) {
			var st node.Status
			d.call("group/status", &request{}, &st)
			for _, g := range st.Invitations {
				if g == gid {
					return true, ""
				}
			}
			return false, fmt.Sprint(st.Invitations)
		})
		d.call("group/join", &request{Group: gid}, nil)
	}
	eventually(t, "three members on one epoch", 15*time.Second, converged(gid, a, b, c))
	// a saw both Adds: it knows who added whom.
	var members struct{ Members []node.Member }
	a.call("group/members", &request{Group: gid}, &members)
	if len(members.Members) != 3 {
		t.Fatalf("members: %+v", members.Members)
	}
	for _, m := range members.Members {
		if m.Peer != a.peer && m.Peer != b.peer && m.Peer != c.peer {
			t.Fatalf("member %+v is not one of the daemons", m)
		}
		if m.Peer != a.peer && m.AddedBy != a.peer {
			t.Fatalf("member %s: added by %q, want a", m.Peer, m.AddedBy)
		}
	}

	sent := &sentLog{byID: map[string]string{}, text: map[string]string{}}
	for _, d := range []*daemon{a, b, c} {
		sent.send(t, d, gid, "hello from "+d.name)
	}
	eventually(t, "first messages delivered", 15*time.Second, sent.allDelivered(gid, a, b, c))

	// SIGKILL c while a and b keep sending, restart it: it catches up.
	stopTraffic := make(chan struct{})
	trafficDone := make(chan error, 2)
	for _, d := range []*daemon{a, b} {
		go func() {
			for i := 0; ; i++ {
				select {
				case <-stopTraffic:
					trafficDone <- nil
					return
				case <-time.After(20 * time.Millisecond):
				}
				text := fmt.Sprintf("%s traffic %d", d.name, i)
				var out map[string]string
				if err := d.c.call(context.Background(), "send", &request{Group: gid, Data: []byte(text)}, &out); err != nil {
					trafficDone <- fmt.Errorf("%s send: %w", d.name, err)
					return
				}
				sent.mu.Lock()
				sent.byID[out["message_id"]], sent.text[out["message_id"]] = d.name, text
				sent.mu.Unlock()
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	c.kill()
	time.Sleep(500 * time.Millisecond)
	close(stopTraffic)
	for range 2 {
		if err := <-trafficDone; err != nil {
			t.Fatal(err)
		}
	}
	c.start(a.loopbackAddr(), b.loopbackAddr())
	eventually(t, "c caught up after SIGKILL", 30*time.Second, sent.allDelivered(gid, a, b, c))
	eventually(t, "one epoch after the restart", 15*time.Second, converged(gid, a, b, c))
	sent.send(t, c, gid, "c is back")
	eventually(t, "c's message after restart", 15*time.Second, sent.allDelivered(gid, a, b, c))

	// Bad input on a daemon's control socket: it stays up, loses nothing.
	before := a.history(gid)
	conn, err := net.Dial("unix", filepath.Join(a.dir, "control.sock"))
	if err != nil {
		t.Fatal(err)
	}
	conn.Write([]byte("\x00\x01garbage\r\n\r\nPOST /v1/send HTTP/1.1\r\n\r\n{{{"))
	conn.Close()
	if err := a.c.call(context.Background(), "send", &request{Group: gid, Data: make([]byte, maxMessageBytes+1)}, nil); err == nil {
		t.Fatal("oversized send accepted")
	}
	if after := a.history(gid); len(after) != len(before) {
		t.Fatalf("history changed under bad input: %d -> %d", len(before), len(after))
	}

	// Cut {a, b} from {c} through the control API; both sides commit and
	// send; heal; everyone converges with every message.
	for _, pair := range [][2]*daemon{{a, c}, {b, c}} {
		pair[0].call("net/block", &request{Peer: pair[1].peer}, nil)
		pair[1].call("net/block", &request{Peer: pair[0].peer}, nil)
	}
	a.call("group/update", &request{Group: gid}, nil)
	c.call("group/update", &request{Group: gid}, nil)
	sent.send(t, a, gid, "a during the cut")
	sent.send(t, b, gid, "b during the cut")
	sent.send(t, c, gid, "c during the cut")
	eventually(t, "both sides moved on", 10*time.Second, func() (bool, string) {
		sa, _ := a.status(gid)
		sc, _ := c.status(gid)
		return sa.EpochID != sc.EpochID && sa.Epoch == sc.Epoch, fmt.Sprintf("a %d/%s c %d/%s", sa.Epoch, sa.EpochID[:8], sc.Epoch, sc.EpochID[:8])
	})
	// Stay cut longer than the retention window (20 ticks of 50ms), so
	// that healing is fork's (branch detection, survivor rule, rejoin and
	// re-send), not only the ordering rule's.
	time.Sleep(2500 * time.Millisecond)
	for _, pair := range [][2]*daemon{{a, c}, {b, c}} {
		pair[0].call("net/unblock", &request{Peer: pair[1].peer}, nil)
		pair[1].call("net/unblock", &request{Peer: pair[0].peer}, nil)
	}
	eventually(t, "converged after the heal", 30*time.Second, converged(gid, a, b, c))
	eventually(t, "nothing lost across the cut", 30*time.Second, sent.allDelivered(gid, a, b, c))
	healed := false
	for _, d := range []*daemon{a, b, c} {
		// A loser rejoins by external commit, or (fork's batch re-add)
		// is re-added by a survivor's commit.
		logs := d.logs(100000)
		healed = healed || strings.Contains(logs, "kind=rejoined") || strings.Contains(logs, "kind=readded")
	}
	if !healed {
		t.Fatal("no daemon rejoined or was re-added to a surviving branch: the cut did not exercise fork healing")
	}

	// The CLI verbs against a running daemon: a removes c, and
	// `group members` shows who is in, their fingerprints, who added and
	// who removed whom.
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(mlsnodeBin, append(args, "--data-dir", a.dir)...).CombinedOutput()
		if err != nil {
			t.Fatalf("mlsnode %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	cli("group", "remove", gid, c.peer)
	eventually(t, "c removed", 15*time.Second, converged(gid, a, b))
	out := cli("group", "members", gid)
	table, _, _ := strings.Cut(out, "\nre")
	if !strings.Contains(table, b.peer) || strings.Contains(table, c.peer) ||
		!strings.Contains(out, "removed in epoch") || !strings.Contains(out, c.peer+" by "+a.peer) ||
		!regexp.MustCompile(`[0-9a-f]{4}( [0-9a-f]{4}){4}`).MatchString(out) {
		t.Fatalf("group members output:\n%s", out)
	}
	eventually(t, "c knows it was removed", 15*time.Second, func() (bool, string) {
		_, in := c.status(gid)
		return !in, "c still lists the group"
	})

	// The Prometheus endpoint counts what happened.
	metrics := a.scrape()
	for _, name := range []string{"mlsnode_commits_total", "mlsnode_messages_delivered_total", "mlsnode_messages_sent_total", "mlsnode_peers"} {
		if metrics[name] <= 0 {
			t.Errorf("%s = %v on a", name, metrics[name])
		}
	}
	if _, ok := metrics["mlsnode_gossip_latency_seconds_count"]; !ok {
		t.Error("no gossip latency histogram")
	}

	for _, d := range []*daemon{a, b, c} {
		d.stop()
	}
}

// scrape reads the daemon's /metrics (its address is in the log).
func (d *daemon) scrape() map[string]float64 {
	d.t.Helper()
	var url string
	for _, line := range strings.Split(d.logs(100000), "\n") {
		if i := strings.Index(line, "msg=metrics addr="); i >= 0 {
			url = strings.Fields(line[i+len("msg=metrics addr="):])[0]
		}
	}
	if url == "" {
		d.t.Fatal("no metrics address in the log")
	}
	resp, err := http.Get(url)
	if err != nil {
		d.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && !strings.HasPrefix(f[0], "#") {
			if v, err := strconv.ParseFloat(f[1], 64); err == nil {
				out[f[0]] = v
			}
		}
	}
	return out
}
