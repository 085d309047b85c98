package mls

import (
	"bytes"
	"fmt"
	"io"

	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// CreateConfig is what a group's creator supplies.
type CreateConfig struct {
	// GroupID names the group; nil draws KDF.Nh random bytes, which §11
	// recommends so that honest creators never collide.
	GroupID []byte
	// KeyPackage is the creator's own; its LeafNode becomes leaf 0.
	KeyPackage *KeyPackageBundle
	// SigningKey must match the KeyPackage's signature key.
	SigningKey *suite.SigningKey
	// Extensions are the GroupContext extensions of epoch 0.
	Extensions wire.Extensions
	// Window bounds out-of-order message keys (zero: the default).
	Window secrettree.Window
	// PSKs resolves PSKs named by later commits.
	PSKs PSKStore
	// PastEpochs is how many earlier epochs' application messages still
	// open after a commit (late delivery); 0 means DefaultPastEpochs and
	// a negative value keeps none. Their keys are deleted after that.
	PastEpochs int
	// Credentials, Now and MaxLifetime are the policy for proposals and
	// commits, as in JoinConfig: KeyPackages of later Adds must be valid
	// at Now (Unix seconds; the engine reads no clock, so the zero value
	// admits only KeyPackages valid at time 0). SetNow moves it on.
	Credentials      CredentialValidator
	Now, MaxLifetime uint64
}

// CreateGroup starts a one-member group at epoch 0 (RFC 9420 §11): a tree
// of the creator's leaf, an empty confirmed transcript hash, a fresh epoch
// secret read from rand, and the interim transcript hash from the
// confirmation tag over the empty transcript.
func CreateGroup(rand io.Reader, cs *suite.Suite, cfg CreateConfig) (*Group, error) {
	kp := cfg.KeyPackage.KeyPackage
	if kp.CipherSuite != wire.CipherSuite(cs.ID()) {
		return nil, fmt.Errorf("mls: KeyPackage of suite %v for a group of %v", kp.CipherSuite, cs.ID())
	}
	if cfg.SigningKey == nil || !bytes.Equal(cfg.SigningKey.PublicKey(), kp.LeafNode.SignatureKey) {
		return nil, fmt.Errorf("mls: signing key does not match the KeyPackage")
	}
	groupID := cfg.GroupID
	if groupID == nil {
		groupID = make([]byte, cs.HashSize())
		if _, err := io.ReadFull(rand, groupID); err != nil {
			return nil, fmt.Errorf("mls: reading randomness: %w", err)
		}
	}
	leaf := kp.LeafNode
	tree, err := ratchettree.NewWithLeaf(cs, &leaf)
	if err != nil {
		return nil, err
	}
	treeHash, err := tree.TreeHash()
	if err != nil {
		return nil, err
	}
	epochSecret := make([]byte, cs.HashSize())
	defer clear(epochSecret)
	if _, err := io.ReadFull(rand, epochSecret); err != nil {
		return nil, fmt.Errorf("mls: reading randomness: %w", err)
	}
	epoch, err := keyschedule.FromEpochSecret(cs, epochSecret)
	if err != nil {
		return nil, err
	}
	g := &Group{
		suite: cs,
		context: wire.GroupContext{
			Version:                 wire.ProtocolVersionMLS10,
			CipherSuite:             wire.CipherSuite(cs.ID()),
			GroupID:                 append([]byte{}, groupID...),
			Epoch:                   0,
			TreeHash:                treeHash,
			ConfirmedTranscriptHash: []byte{},
			Extensions:              cfg.Extensions,
		},
		tree:       tree,
		ownLeaf:    treemath.LeafIndex(0),
		pathKeys:   map[treemath.NodeIndex][]byte{0: append([]byte{}, cfg.KeyPackage.EncryptionPrivate...)},
		epoch:      epoch,
		signingKey: cfg.SigningKey,
		pastEpochs: pastEpochsSetting(cfg.PastEpochs),
		psks:       cfg.PSKs,
		policy:     ProposalCheck{Now: cfg.Now, MaxLifetime: cfg.MaxLifetime, Credentials: cfg.Credentials},
	}
	tag := epoch.ConfirmationTag(cs, nil)
	if g.interimTranscriptHash, err = keyschedule.InterimTranscriptHash(cs, nil, tag); err != nil {
		return nil, err
	}
	if err := g.startFraming(cfg.Window); err != nil {
		return nil, err
	}
	return g, nil
}
