package mls

import (
	"bytes"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/treemath"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// JoinConfig is what a new member brings to JoinFromWelcome.
type JoinConfig struct {
	// KeyPackage is the bundle the Welcome was made for.
	KeyPackage *KeyPackageBundle
	// RatchetTree is the tree obtained out of band, used when the
	// GroupInfo carries no ratchet_tree extension (§12.4.3.3).
	RatchetTree wire.RatchetTree
	// PSKs resolves the PSKs the Welcome names.
	PSKs PSKStore
	// Credentials validates every member's credential (§5.3.1). Nil skips
	// the check, which only tests should do.
	Credentials CredentialValidator
	// SigningKey signs what the member sends; it must match the
	// KeyPackage's signature key. Nil joins as a passive member.
	SigningKey *suite.SigningKey
	// Window bounds out-of-order application and handshake keys; the zero
	// value means secrettree.DefaultWindow.
	Window secrettree.Window
	// PastEpochs is how many earlier epochs' application messages still
	// open after a commit (late delivery); 0 means DefaultPastEpochs and
	// a negative value keeps none. Their keys are deleted after that.
	PastEpochs int
	// Now, if not zero, is the time (Unix seconds) against which leaf
	// lifetimes are checked; MaxLifetime bounds them (§7.2).
	Now, MaxLifetime uint64
}

// JoinFromWelcome joins a group from a Welcome (RFC 9420 §12.4.3.1): it
// opens the Welcome, takes the ratchet tree from the GroupInfo or the
// config, validates it (tree hash, parent hashes, signatures, keys,
// credentials), verifies the GroupInfo signature with the signer's leaf,
// finds the joiner's own leaf, and derives the private keys of the path
// secret it was sent, checking each against the tree.
func JoinFromWelcome(cs *suite.Suite, w *wire.Welcome, cfg JoinConfig) (*Group, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidWelcome}, args...)...)
	}
	kp := cfg.KeyPackage.KeyPackage
	opened, err := OpenWelcome(cs, w, kp, cfg.KeyPackage.InitPrivate, cfg.PSKs)
	if err != nil {
		return nil, err
	}
	gi := opened.GroupInfo
	tree, err := verifiedGroupInfoTree(cs, gi, cfg.RatchetTree, cfg.Credentials, cfg.Now, cfg.MaxLifetime)
	if err != nil {
		return nil, err
	}
	want, err := codec.Marshal(&kp.LeafNode)
	if err != nil {
		return nil, err
	}
	own, ok := tree.FindLeaf(func(_ ratchettree.LeafIndex, ln *wire.LeafNode) bool {
		got, err := codec.Marshal(ln)
		return err == nil && bytes.Equal(got, want)
	})
	if !ok {
		return nil, bad("the KeyPackage's leaf is not in the tree")
	}
	g := &Group{
		suite:      cs,
		context:    gi.GroupContext,
		tree:       tree,
		ownLeaf:    own,
		pathKeys:   map[treemath.NodeIndex][]byte{own.Node(): append([]byte{}, cfg.KeyPackage.EncryptionPrivate...)},
		epoch:      opened.Epoch,
		psks:       cfg.PSKs,
		pastEpochs: pastEpochsSetting(cfg.PastEpochs),
		joinedPSKs: opened.GroupSecrets.PSKs,
		policy:     ProposalCheck{Now: cfg.Now, MaxLifetime: cfg.MaxLifetime, Credentials: cfg.Credentials},
	}
	if cfg.SigningKey != nil {
		if !bytes.Equal(cfg.SigningKey.PublicKey(), kp.LeafNode.SignatureKey) {
			return nil, fmt.Errorf("mls: signing key does not match the KeyPackage")
		}
		g.signingKey = cfg.SigningKey
	}
	if err := g.startFraming(cfg.Window); err != nil {
		return nil, err
	}
	if g.interimTranscriptHash, err = keyschedule.InterimTranscriptHash(cs, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag); err != nil {
		return nil, err
	}
	if ps := opened.GroupSecrets.PathSecret; ps != nil {
		if err := g.installPathSecret(treemath.LeafIndex(gi.Signer), ps.PathSecret); err != nil {
			return nil, bad("path secret: %w", err)
		}
	}
	return g, nil
}

// installPathSecret derives the private keys the committer sent the joiner
// (§12.4.3.1): the path secret belongs to the lowest common ancestor of the
// joiner's and the committer's leaves, and each further non-blank node up
// to the root takes the next path secret. Every derived public key must
// equal the one in the tree, or the tree and the secrets disagree.
func (g *Group) installPathSecret(committer treemath.LeafIndex, pathSecret []byte) error {
	if committer == g.ownLeaf {
		return fmt.Errorf("committer is the joiner")
	}
	lca := treemath.CommonAncestor(g.ownLeaf.Node(), committer.Node())
	nodes := []treemath.NodeIndex{lca}
	for _, x := range treemath.DirectPath(lca, g.tree.LeafCount()) {
		if !g.tree.IsBlank(x) {
			nodes = append(nodes, x)
		}
	}
	secret := append([]byte{}, pathSecret...)
	defer func() { clear(secret) }()
	for i, x := range nodes {
		if i > 0 {
			next, err := g.suite.DeriveSecret(secret, "path")
			if err != nil {
				return err
			}
			clear(secret)
			secret = next
		}
		nodeSecret, err := g.suite.DeriveSecret(secret, "node")
		if err != nil {
			return err
		}
		priv, pub, err := g.suite.DeriveKeyPair(nodeSecret)
		clear(nodeSecret)
		if err != nil {
			return err
		}
		if !bytes.Equal(pub, g.tree.EncryptionKey(x)) {
			clear(priv)
			return fmt.Errorf("derived key of node %d does not match the tree", x)
		}
		g.pathKeys[x] = priv
	}
	return nil
}

// verifiedGroupInfoTree takes the ratchet tree of a GroupInfo (its
// ratchet_tree extension, else the one given out of band), validates it
// against the GroupInfo's tree hash and required capabilities (§12.4.3.1),
// and verifies the GroupInfo's signature with the signer's leaf. Joining
// by Welcome and by external commit both start here.
func verifiedGroupInfoTree(cs *suite.Suite, gi *wire.GroupInfo, outOfBand wire.RatchetTree,
	creds CredentialValidator, now, maxLifetime uint64) (*ratchettree.Tree, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidWelcome}, args...)...)
	}
	rt := outOfBand
	if ext := gi.Extensions.Find(wire.ExtensionTypeRatchetTree); ext != nil {
		rt = nil
		if err := codec.Unmarshal(ext.ExtensionData, &rt); err != nil {
			return nil, bad("ratchet_tree extension: %w", err)
		}
	}
	if rt == nil {
		return nil, bad("no ratchet tree in the GroupInfo and none given")
	}
	tree, err := ratchettree.FromWire(cs, rt)
	if err != nil {
		return nil, bad("ratchet tree: %w", err)
	}
	opts := ratchettree.ValidateOptions{TreeHash: gi.GroupContext.TreeHash, Credentials: creds, Now: now, MaxLifetime: maxLifetime}
	if ext := gi.GroupContext.Extensions.Find(wire.ExtensionTypeRequiredCapabilities); ext != nil {
		rc := new(wire.RequiredCapabilities)
		if err := codec.Unmarshal(ext.ExtensionData, rc); err != nil {
			return nil, bad("required_capabilities: %w", err)
		}
		opts.RequiredCapabilities = rc
	}
	if err := tree.Validate(gi.GroupContext.GroupID, opts); err != nil {
		return nil, bad("ratchet tree: %w", err)
	}
	signer := tree.Leaf(treemath.LeafIndex(gi.Signer))
	if signer == nil {
		return nil, bad("GroupInfo signer %d is not a member", gi.Signer)
	}
	if err := VerifyGroupInfo(cs, signer.SignatureKey, gi); err != nil {
		return nil, bad("GroupInfo signature: %w", err)
	}
	return tree, nil
}
