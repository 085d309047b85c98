// Command mlsnode runs MLS groups between peers with no central delivery
// service.
//
// It owns the program around package node: configuration (flags, MLSNODE_*
// environment variables, <data-dir>/config.json; config.go), the daemon
// with its Prometheus endpoint (daemon.go), the local control API that
// only the node's owner may drive (unix socket 0600 checked with
// SO_PEERCRED, or loopback TCP with a token; api.go, control.go) and its
// client verbs (client.go, clientcmd.go), the one-command demo (demo.go),
// and the dispatch to the simulator (sim.go, the sim helper's).
//
// See `mlsnode help` and docs/node.md.
package main
