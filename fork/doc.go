// Package fork detects forks of an MLS group that the consensus layer
// cannot see by itself, and heals those older than its retention window.
// It is a pure, deterministic state machine like package consensus: no
// goroutine, no clock (Tick), randomness from the caller.
//
// # What it owns
//
//   - Signed head beacons (Beacon): "my head is epoch N with id X",
//     signed with the member's MLS signature key under the label
//     "mlsnode beacon", sent every BeaconInterval ticks, on every head
//     change and on demand to a peer that is elsewhere.
//   - Detection: a beacon or any envelope naming an epoch id this member
//     does not know yields a FetchRequest to the peer it came from; the
//     FetchResponse carries the commits after the newest epoch both retain,
//     or, when there is none, a BranchInfo (signed GroupInfo, head chain
//     ids, members' latest beacons). Nothing relies on gossip redelivery:
//     application messages gossip lost are named in beacons (nacks) against
//     the message counts authors announce, and re-sent by their authors;
//     when the author is gone, relayed by members that delivered them: the
//     original envelope to a member that still opens its epoch (beacons
//     say from which epoch on, opens_from), the author's signed content
//     HPKE-encrypted to a member of the epoch that released its keys
//     (RelayedContent, KindRelayed). A point-to-point re-send carries
//     the author's signature of the message as sealed in its epoch
//     (SealedProof), so that a member that got it only that way can
//     relay it too.
//   - Healing after a partition longer than the window: the survivor rule
//     (Survivor); re-adding the losing branch in one batch commit from
//     its members' join requests (their own Adds as new-member
//     proposals, KindJoinRequest), with each member's own external
//     commit as the fallback; re-applying the losing branch's removals
//     (by its rejoiners, and by the survivors when none of them does:
//     a removal is never lost to a fork), and re-sending messages sent
//     after the fork so that none is lost.
//   - The removed set (ExtensionTypeRemoved), a GroupContext extension
//     every commit keeps up to date, through which survivors refuse an
//     external commit by a removed member.
//   - Member: consensus.Core plus all of the above, with the Step, Tick,
//     Ready, Advance shape. This is what the simulator and the node drive.
//
// The wire formats, the survivor rule and its limits are written down in
// docs/ordering.md, "Fork detection and healing".
//
// # Driving a Member
//
// The caller owns the network, the store and the clock:
//
//	m, err := fork.New(fork.Config{
//	    Core: consensus.Config{Group: g, SigningKey: key, Rand: rng, WindowTicks: 20},
//	})
//	// after a restart: Core.Group nil, Persist: the last Ready.Persist,
//	// State: the last Ready.State.
//	...
//	m.Step(fork.PeerID(peer), &env) // every envelope of the group, any kind
//	m.Tick()                        // one unit of logical time
//	m.Send(data); m.Commit(props...); m.Propose(p)
//	for m.HasReady() {
//	    rd := m.Ready()
//	    // persist rd.Persist and rd.State atomically, then:
//	    // broadcast rd.Messages on the group's topic,
//	    // send each rd.Direct[i].Envelope to rd.Direct[i].To point to point
//	    //   (and Step the peer's answer with from = that peer),
//	    // deliver rd.Delivered, log rd.Events and rd.Fork.
//	    m.Advance(rd)
//	}
//
// A Member may replace its consensus core (a rejoin by external commit):
// Core() returns the current one, and the next Ready.Persist describes the
// new branch in full.
//
// # Bounds
//
// Every piece of state fed by the network is bounded: beacon bookkeeping
// by the rosters of the trees beacons verify against, pending beacons by
// MaxPendingBeacons, fetches in flight by MaxInflightFetches, fetches
// served by ServeBudget per peer per beacon interval and MaxServePeers,
// responses by MaxFetchResponseSize, history by MaxHistory, the sent log
// by MaxSentLog, remembered message ids by MaxSeen, the removed set by
// MaxRemoved, held join requests by MaxJoinRequests, a batch by MaxBatch,
// held point-to-point re-sends by the core's held-message bounds, the
// records that check relayed contents by maxContextHashes and
// maxAuthorKeys, an author's records of the epochs it sent in by
// maxSealRecords, rival branches set aside for a third by maxSetAside.
package fork
