package node

// PeerInfo is a connected libp2p peer.
type PeerInfo struct {
	Peer  string   `json:"peer"`
	Addrs []string `json:"addrs,omitempty"`
}

// Member is one leaf of a group's head epoch.
type Member struct {
	Leaf uint32 `json:"leaf"`
	// Peer is the libp2p peer id bound to the leaf's credential (checked:
	// the leaf's signature key is the peer's identity key, or one that key
	// signed for; see identity.go).
	Peer string `json:"peer"`
	// Fingerprint is a short rendering of the member's key to compare out
	// of band (Fingerprint).
	Fingerprint string `json:"fingerprint"`
	Self        bool   `json:"self,omitempty"`
	// AddedBy and AddedEpoch say who committed this member's Add, when this
	// node saw it (empty for the creator and for members already present
	// when this node joined).
	AddedBy    string `json:"added_by,omitempty"`
	AddedEpoch uint64 `json:"added_epoch,omitempty"`
}

// MembershipChange is one add or removal seen by this node.
type MembershipChange struct {
	Epoch   uint64 `json:"epoch"`
	Kind    string `json:"kind"` // "added", "removed", or "rejoined" (a member's external commit replaced its old leaf)
	Peer    string `json:"peer"`
	Actor   string `json:"actor"`
	EpochID string `json:"epoch_id"`
}

// GroupStatus describes one group as this node sees it.
type GroupStatus struct {
	Group   string `json:"group"`
	Epoch   uint64 `json:"epoch"`
	EpochID string `json:"epoch_id"`
	Members int    `json:"members"`
	// Delivered counts application messages delivered here (all time);
	// Sent those sent from here since the node started.
	Delivered uint64 `json:"delivered"`
	Sent      uint64 `json:"sent"`
	// Changes is the membership history seen by this node.
	Changes []MembershipChange `json:"changes,omitempty"`
	// RetainedEpochs counts the epochs of the ordering layer's epoch tree
	// (the head, its retained ancestors and rivals); it survives a restart.
	RetainedEpochs int `json:"retained_epochs"`
	// Ordering is the ordering layer's own summary (head, retained epochs,
	// forks seen), for diagnosis.
	Ordering string `json:"ordering,omitempty"`
}

// Status describes the node.
type Status struct {
	Peer        string        `json:"peer"`
	Addrs       []string      `json:"addrs"`
	Peers       int           `json:"peers"`
	Groups      []GroupStatus `json:"groups"`
	Invitations []string      `json:"invitations,omitempty"`
}
