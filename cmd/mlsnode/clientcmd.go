package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/mlsnode/mlsnode/node"
)

// cmdClient runs a client verb against the daemon's control API.
func cmdClient(ctx context.Context, verb string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mlsnode "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cf := newConfigFlags(fs, false)
	asJSON := fs.Bool("json", false, "print the raw JSON result")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return 2
	}
	cfg, err := cf.load(os.Getenv)
	if err != nil {
		fmt.Fprintln(stderr, "mlsnode:", err)
		return 2
	}
	token := ""
	if strings.HasPrefix(cfg.controlAddr(), "tcp:") {
		b, err := os.ReadFile(cfg.tokenPath())
		if err != nil {
			fmt.Fprintln(stderr, "mlsnode: reading the control token:", err)
			return 1
		}
		token = strings.TrimSpace(string(b))
	}
	c := newControlClient(cfg.controlAddr(), token)
	if verb == "group" || verb == "net" {
		if len(pos) == 0 {
			fmt.Fprintf(stderr, "mlsnode %s: missing sub-command\n", verb)
			return 2
		}
		verb, pos = verb+"/"+pos[0], pos[1:]
	}
	req, err := clientRequest(verb, pos)
	if err != nil {
		fmt.Fprintf(stderr, "mlsnode %s: %v\n", verb, err)
		return 2
	}
	if verb == "tail" {
		enc := json.NewEncoder(stdout)
		err = c.tail(ctx, req, func(e node.Event) bool { return enc.Encode(e) == nil })
		if err != nil {
			fmt.Fprintln(stderr, "mlsnode tail:", err)
			return 1
		}
		return 0
	}
	var out json.RawMessage
	if err := c.call(ctx, verb, req, &out); err != nil {
		fmt.Fprintf(stderr, "mlsnode %s: %v\n", verb, err)
		if errors.Is(err, ErrBadRequest) || errors.Is(err, ErrNotFound) {
			return 2
		}
		return 1
	}
	if *asJSON {
		fmt.Fprintln(stdout, string(out))
		return 0
	}
	printResult(stdout, verb, out)
	return 0
}

// clientRequest builds the request of a verb from its positional arguments.
func clientRequest(verb string, pos []string) (*request, error) {
	need := func(names ...string) error {
		if len(pos) != len(names) {
			return fmt.Errorf("want %d argument(s): %s", len(names), strings.Join(names, " "))
		}
		return nil
	}
	switch verb {
	case "id", "peers", "group/create":
		return &request{}, need()
	case "connect":
		return &request{Addr: first(pos)}, need("<multiaddr>")
	case "group/invite", "group/remove":
		if err := need("<group>", "<peer>"); err != nil {
			return nil, err
		}
		return &request{Group: pos[0], Peer: pos[1]}, nil
	case "group/join", "group/leave", "group/members", "group/history", "group/update":
		return &request{Group: first(pos)}, need("<group>")
	case "group/status", "tail":
		if len(pos) > 1 {
			return nil, errors.New("want at most one argument: [group]")
		}
		return &request{Group: first(pos)}, nil
	case "send":
		if len(pos) < 2 {
			return nil, errors.New("want: <group> <text>")
		}
		return &request{Group: pos[0], Data: []byte(strings.Join(pos[1:], " "))}, nil
	case "net/block", "net/unblock":
		return &request{Peer: first(pos)}, need("<peer>")
	}
	return nil, fmt.Errorf("unknown verb %q", verb)
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// printResult renders a result for people; --json prints it raw.
func printResult(w io.Writer, verb string, raw json.RawMessage) {
	switch verb {
	case "id":
		var r idResult
		if json.Unmarshal(raw, &r) == nil {
			fmt.Fprintln(w, r.Peer)
			for _, a := range r.Addrs {
				fmt.Fprintf(w, "  %s/p2p/%s\n", a, r.Peer)
			}
			return
		}
	case "group/create":
		var r map[string]string
		if json.Unmarshal(raw, &r) == nil {
			fmt.Fprintln(w, r["group"])
			return
		}
	case "send":
		var r map[string]string
		if json.Unmarshal(raw, &r) == nil {
			fmt.Fprintln(w, r["message_id"])
			return
		}
	case "group/members":
		var r struct {
			Members []node.Member
			Removed []node.MembershipChange
		}
		if json.Unmarshal(raw, &r) == nil {
			tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LEAF\tPEER\tFINGERPRINT\tADDED BY\tEPOCH")
			for _, m := range r.Members {
				self := ""
				if m.Self {
					self = " (self)"
				}
				fmt.Fprintf(tw, "%d\t%s%s\t%s\t%s\t%d\n", m.Leaf, m.Peer, self, m.Fingerprint, orDash(m.AddedBy), m.AddedEpoch)
			}
			tw.Flush()
			for _, c := range r.Removed {
				if c.Actor == c.Peer {
					// fork's healing: an external commit that rejoins a
					// member removes its old leaf.
					fmt.Fprintf(w, "rejoined in epoch %d: %s (its external commit replaced its old leaf)\n", c.Epoch, c.Peer)
					continue
				}
				fmt.Fprintf(w, "removed in epoch %d: %s by %s\n", c.Epoch, c.Peer, orDash(c.Actor))
			}
			return
		}
	case "peers":
		var r struct{ Peers []node.PeerInfo }
		if json.Unmarshal(raw, &r) == nil {
			for _, p := range r.Peers {
				fmt.Fprintf(w, "%s %s\n", p.Peer, strings.Join(p.Addrs, " "))
			}
			return
		}
	case "connect", "group/invite", "group/join", "group/leave", "group/remove", "group/update", "net/block", "net/unblock":
		fmt.Fprintln(w, "ok")
		return
	}
	var v any
	if json.Unmarshal(raw, &v) == nil {
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(w, string(b))
		return
	}
	fmt.Fprintln(w, string(raw))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// parseInterleaved parses flags that may come before, between or after
// the positional arguments ("group create --data-dir x").
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}
