// Package memnet runs overlays on libp2p's in-memory network
// (p2p/net/mock) for the simulator's gossip mode and for tests: real
// gossipsub and the real overlay protocols, no sockets.
//
// The in-memory network has pitfalls (ARCHITECTURE.md): unlinking two peers
// leaves their connections up, nothing re-dials after a heal, and under
// -race a message already in flight can cross a cut. Cut therefore blocks
// each peer in the other's overlay (gossipsub RPCs from the other side are
// dropped by an RPC inspector, nothing is forwarded to it, stream requests
// are refused) and unlinks them; see Cut for why it leaves the connection
// open. Heal undoes both.
package memnet
