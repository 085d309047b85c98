package forktest

import (
	"bufio"
	"fmt"
	"github.com/mlsnode/mlsnode/consensus"
	"strconv"
	"strings"
)

// Run executes a script and returns it with every command's expected
// output replaced by the actual output. A test compares the result with
// the file (golden) and rewrites the file under -update.
//
// A script is a list of blocks:
//
//	# comment
//	command arg...
//	----
//	output line
//	output line
//	<blank line>
//
// Commands:
//
//	group seed=N members=a,b,c [window=N] [beacon=N] [heal=N] [adversary=x,y] [rejoin=external]
//	send <from> <text>          a member sends an application message
//	commit <by>                 an empty commit (fresh path)
//	remove <by> <victim>...     commit the removal of members
//	add <by> <name>             commit the addition of a new node
//	partition a,b c,d           cut every link between the sides
//	drop <from> <to>            cut one direction of one link
//	delay <from> <to> <ticks>   hold that direction's packets for ticks
//	heal                        restore every link, lift every delay
//	deliver                     deliver everything in flight
//	tick [n]                    n rounds of: every member ticks, deliver all
//	status                      every node's head and roster
//	check                       convergence, lost messages, duplicates
//	delivered                   what each node delivered
//
// Every command's output starts with the log of what happened during it
// (fork events, branch switches, removals, joins).
func Run(script string) (string, error) {
	var out strings.Builder
	var net *Network
	sc := bufio.NewScanner(strings.NewReader(script))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			out.WriteString(line + "\n")
			continue
		}
		cmd := line
		out.WriteString(cmd + "\n")
		// Skip the expected output.
		if i+1 < len(lines) && lines[i+1] == "----" {
			i += 2
			for i < len(lines) && lines[i] != "" {
				i++
			}
		} else if i+1 < len(lines) && strings.TrimSpace(lines[i+1]) == "" {
			i++
		}
		result, n2, err := runCommand(net, cmd)
		if err != nil {
			return "", fmt.Errorf("line %q: %w", cmd, err)
		}
		net = n2
		out.WriteString("----\n")
		out.WriteString(result)
		out.WriteString("\n")
	}
	return out.String(), nil
}

func runCommand(net *Network, line string) (string, *Network, error) {
	fields := strings.Fields(line)
	cmd, args := fields[0], fields[1:]
	var b strings.Builder
	if cmd != "group" && net == nil {
		return "", nil, fmt.Errorf("no group yet")
	}
	var err error
	switch cmd {
	case "group":
		kv := keyValues(args)
		opts := Options{}
		opts.Seed, _ = strconv.ParseUint(kv["seed"], 10, 64)
		opts.WindowTicks, _ = strconv.ParseUint(kv["window"], 10, 64)
		opts.BeaconInterval, _ = strconv.ParseUint(kv["beacon"], 10, 64)
		opts.HealDelay, _ = strconv.ParseUint(kv["heal"], 10, 64)
		if kv["apply"] != "" {
			if opts.Apply, err = consensus.ApplyByName(kv["apply"]); err != nil {
				return "", nil, err
			}
		}
		opts.ExternalRejoin = kv["rejoin"] == "external"
		if kv["adversary"] != "" {
			opts.Adversaries = strings.Split(kv["adversary"], ",")
		}
		net, err = New(opts, strings.Split(kv["members"], ",")...)
		if err == nil {
			net.Deliver(1 << 20)
			net.Status(&b)
		}
	case "send":
		err = net.Send(args[0], strings.Join(args[1:], " "))
	case "commit":
		err = net.Commit(args[0])
	case "remove":
		err = net.Remove(args[0], args[1:]...)
	case "add":
		err = net.Add(args[0], args[1])
	case "partition":
		var sides [][]string
		for _, a := range args {
			sides = append(sides, strings.Split(a, ","))
		}
		net.Partition(sides...)
	case "drop":
		net.Drop(args[0], args[1])
	case "delay":
		ticks, _ := strconv.ParseUint(args[2], 10, 64)
		net.Delay(args[0], args[1], ticks)
	case "heal":
		net.Heal()
	case "deliver":
		net.Deliver(1 << 20)
	case "tick":
		n := 1
		if len(args) > 0 {
			n, _ = strconv.Atoi(args[0])
		}
		for range n {
			net.Tick()
		}
	case "status":
		net.Status(&b)
	case "check":
		net.Check(&b)
	case "delivered":
		net.Delivered(&b)
	default:
		return "", net, fmt.Errorf("unknown command %q", cmd)
	}
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
	}
	var logb strings.Builder
	if net != nil {
		for _, l := range net.TakeLog() {
			logb.WriteString(l + "\n")
		}
	}
	res := logb.String() + b.String()
	if res == "" {
		res = "ok\n"
	}
	return res, net, nil
}

func keyValues(args []string) map[string]string {
	kv := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		kv[k] = v
	}
	return kv
}
