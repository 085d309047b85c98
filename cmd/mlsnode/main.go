package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `mlsnode: MLS groups over libp2p with no central delivery service

Usage:
  mlsnode init     [flags]              create the identity and the store
  mlsnode run      [flags]              run the daemon
  mlsnode demo     [flags]              several nodes in one process: partition, heal, converge
  mlsnode sim      [flags] SCENARIO     the deterministic simulator (mlsnode sim list)
  mlsnode sim --network gossip SCENARIO real nodes on real gossipsub, in-memory network
  mlsnode id       [flags]              this node's peer id and addresses
  mlsnode peers    [flags]              connected peers
  mlsnode connect  [flags] <multiaddr>  dial a peer
  mlsnode group create                  create a group, print its id
  mlsnode group invite  <group> <peer>  add a peer (by peer id) to a group
  mlsnode group join    <group>         accept an invitation
  mlsnode group leave   <group>
  mlsnode group remove  <group> <peer>
  mlsnode group update  <group>         commit fresh keys (a new epoch)
  mlsnode group members <group>         members: peer id, key fingerprint, added by
  mlsnode group status  [group]
  mlsnode group history <group>         messages delivered so far
  mlsnode send  <group> <text>          send an application message
  mlsnode tail  [group]                 follow events (JSON lines)
  mlsnode net block|unblock <peer>      gate a peer (cut and heal a partition)

Client verbs talk to the daemon through its control API (--control, default
the unix socket in the data directory). Every command takes -h.
Configuration: flags, then MLSNODE_* environment variables, then
<data-dir>/config.json.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches a command line and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	case "init":
		return cmdInit(ctx, rest, stdout, stderr)
	case "run":
		return cmdRun(ctx, rest, stdout, stderr)
	case "demo":
		return cmdDemo(ctx, rest, stdout, stderr)
	case "sim":
		if gossip, rest := isGossipNetwork(rest); gossip {
			return runGossipSim(ctx, rest, stdout, stderr)
		}
		return runSim(rest, stdout, stderr)
	case "id", "peers", "connect", "group", "send", "tail", "net":
		return cmdClient(ctx, cmd, rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "mlsnode: unknown command %q\n\n%s", cmd, usage)
	return 2
}
