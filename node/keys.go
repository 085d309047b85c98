package node

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/store"
)

// loadIdentity reads the identity from the store, or stores the one given
// with WithIdentity (or the host's, or a fresh one).
func (n *Node) loadIdentity(ctx context.Context) error {
	stored, err := n.st.Identity(ctx)
	switch {
	case err == nil:
		if len(stored.SignaturePrivate) != ed25519.SeedSize {
			return fmt.Errorf("node: stored identity: %w: seed of %d bytes", store.ErrCorrupt, len(stored.SignaturePrivate))
		}
		priv, err := crypto.UnmarshalEd25519PrivateKey(ed25519.NewKeyFromSeed(stored.SignaturePrivate))
		if err != nil {
			return fmt.Errorf("node: stored identity: %w", err)
		}
		if given := n.givenIdentity(); given != nil && !given.Equals(priv) {
			return fmt.Errorf("%w: the store belongs to another identity", ErrInvalidArgument)
		}
		n.priv = priv
	case errors.Is(err, store.ErrNotFound):
		priv := n.givenIdentity()
		if priv == nil {
			_, edPriv, err := ed25519.GenerateKey(n.opts.rand)
			if err != nil {
				return err
			}
			if priv, err = crypto.UnmarshalEd25519PrivateKey(edPriv); err != nil {
				return err
			}
		}
		if priv.Type() != crypto.Ed25519 {
			return fmt.Errorf("%w: identity key type %v", ErrUnsupportedSuite, priv.Type())
		}
		raw, err := priv.Raw()
		if err != nil {
			return err
		}
		id, err := peer.IDFromPrivateKey(priv)
		if err != nil {
			return err
		}
		// The stored credential is the plain form naming the peer id; the
		// credential of the running suite is derived again on every load.
		cred := credentialOf(id)
		credBytes, err := codec.Marshal(&cred)
		if err != nil {
			return err
		}
		if err := n.st.PutIdentity(ctx, store.Identity{
			Suite:            uint16(n.opts.suite),
			Credential:       credBytes,
			SignaturePublic:  append([]byte(nil), raw[32:]...),
			SignaturePrivate: append([]byte(nil), raw[:32]...),
		}); err != nil {
			return fmt.Errorf("node: storing the identity: %w", err)
		}
		n.priv = priv
	default:
		return fmt.Errorf("node: reading the identity: %w", err)
	}
	var err2 error
	if n.id, err2 = peer.IDFromPrivateKey(n.priv); err2 != nil {
		return err2
	}
	if n.sig, err2 = signingKeyOf(n.cs, n.priv); err2 != nil {
		return err2
	}
	n.cred, err2 = credentialFor(n.cs, n.priv, n.id, n.sig)
	return err2
}

func (n *Node) givenIdentity() crypto.PrivKey {
	if n.opts.identity != nil {
		return n.opts.identity
	}
	if n.opts.host != nil {
		return n.opts.host.Peerstore().PrivKey(n.opts.host.ID())
	}
	return nil
}

// InitStore creates a store in dir with a fresh identity (what `mlsnode
// init` does) and returns the peer id. It refuses a directory that already
// holds an identity.
func InitStore(ctx context.Context, dir string) (peer.ID, error) {
	st, err := store.OpenDir(ctx, dir)
	if err != nil {
		return "", err
	}
	defer st.Close()
	if id, err := st.Identity(ctx); err == nil {
		p, _ := peerOfStoredIdentity(id)
		return p, fmt.Errorf("%w: %s already holds identity %s", ErrInvalidArgument, dir, p)
	}
	n := &Node{st: st, opts: defaultOptions()}
	n.cs, _ = checkSuite(DefaultSuite)
	if err := n.loadIdentity(ctx); err != nil {
		return "", err
	}
	return n.id, nil
}

func peerOfStoredIdentity(id store.Identity) (peer.ID, error) {
	pub, err := crypto.UnmarshalEd25519PublicKey(id.SignaturePublic)
	if err != nil {
		return "", err
	}
	return peer.IDFromPublicKey(pub)
}

// keyPackages are this node's published KeyPackages with their private
// keys, by KeyPackageRef (hex). They are in the store too.
type keyPackages struct {
	mu      sync.Mutex
	bundles map[string]*mls.KeyPackageBundle
	last    bool
}

func (n *Node) kpsInit(ctx context.Context) error {
	n.kps = &keyPackages{bundles: map[string]*mls.KeyPackageBundle{}}
	stored, err := n.st.KeyPackages(ctx)
	if err != nil {
		return fmt.Errorf("node: reading KeyPackages: %w", err)
	}
	for _, s := range stored {
		var kp wire.KeyPackage
		if err := codec.Unmarshal(s.Encoded, &kp); err != nil {
			n.log.Warn("dropping an unreadable stored KeyPackage", "err", err)
			continue
		}
		n.kps.bundles[hex.EncodeToString(s.Ref)] = &mls.KeyPackageBundle{
			KeyPackage: &kp, InitPrivate: s.InitPrivate, EncryptionPrivate: s.EncryptionPrivate,
		}
		if s.LastResort {
			n.kps.last = true
		}
	}
	return n.kpsRefill(ctx)
}

// kpsRefill makes KeyPackages until the node holds opts.keyPackages
// ordinary ones and a last-resort one, and (re)publishes them all.
func (n *Node) kpsRefill(ctx context.Context) error {
	n.kps.mu.Lock()
	var fresh [][]byte
	have := len(n.kps.bundles)
	if n.kps.last {
		have--
	}
	mk := func(lastResort bool) error {
		now := n.opts.now()
		b, err := mls.NewKeyPackage(n.opts.rand, n.cs, n.cred, n.sig, mls.KeyPackageOptions{
			Lifetime: wire.Lifetime{
				NotBefore: kpNotBefore,
				NotAfter:  uint64(now.Add(n.opts.kpLifetime).Unix()),
			},
			LastResort: lastResort,
		})
		if err != nil {
			return err
		}
		enc, err := codec.Marshal(b.KeyPackage)
		if err != nil {
			return err
		}
		ref := n.cs.MakeKeyPackageRef(enc)
		if err := n.st.PutKeyPackage(ctx, store.KeyPackage{
			Ref: ref, Encoded: enc, InitPrivate: b.InitPrivate,
			EncryptionPrivate: b.EncryptionPrivate, LastResort: lastResort,
		}); err != nil {
			return err
		}
		n.kps.bundles[hex.EncodeToString(ref)] = b
		return nil
	}
	var err error
	for ; have < n.opts.keyPackages && err == nil; have++ {
		err = mk(false)
	}
	if !n.kps.last && err == nil {
		if err = mk(true); err == nil {
			n.kps.last = true
		}
	}
	for _, b := range n.kps.bundles {
		msg, e := codec.Marshal(wire.NewMLSMessage(b.KeyPackage))
		if e == nil {
			fresh = append(fresh, msg)
		}
	}
	n.kps.mu.Unlock()
	if err != nil {
		return fmt.Errorf("node: making KeyPackages: %w", err)
	}
	if n.ov != nil && len(fresh) > 0 {
		if _, err := n.ov.PublishKeyPackages(ctx, fresh); err != nil {
			n.log.Debug("publishing KeyPackages", "err", err)
		}
	}
	return nil
}

// kpFor finds the bundle a Welcome was made for.
func (n *Node) kpFor(w *wire.Welcome) (string, *mls.KeyPackageBundle) {
	n.kps.mu.Lock()
	defer n.kps.mu.Unlock()
	for _, s := range w.Secrets {
		ref := hex.EncodeToString(s.NewMember)
		if b, ok := n.kps.bundles[ref]; ok {
			return ref, b
		}
	}
	return "", nil
}

// kpUsed forgets an ordinary KeyPackage once a Welcome consumed it.
func (n *Node) kpUsed(ctx context.Context, ref string) {
	n.kps.mu.Lock()
	b, ok := n.kps.bundles[ref]
	lastResort := ok && mls.IsLastResort(b.KeyPackage)
	if ok && !lastResort {
		delete(n.kps.bundles, ref)
	}
	n.kps.mu.Unlock()
	if ok && !lastResort {
		raw, _ := hex.DecodeString(ref)
		if err := n.st.DeleteKeyPackage(ctx, raw); err != nil {
			n.log.Warn("deleting a used KeyPackage", "err", err)
		}
	}
}

// checkKeyPackage is the overlay's KeyPackageCheck: the KeyPackage is
// valid (signatures, lifetime now) and its credential is the owner's.
func (n *Node) checkKeyPackage(owner peer.ID, kp *wire.KeyPackage, _ []byte) error {
	if kp == nil {
		return fmt.Errorf("%w: nil KeyPackage", ErrInvalidArgument)
	}
	cs, err := checkSuite(suiteOf(kp))
	if err != nil {
		return err
	}
	p, err := PeerOfCredential(&kp.LeafNode.Credential, kp.LeafNode.SignatureKey)
	if err != nil {
		return err
	}
	if p != owner {
		return fmt.Errorf("%w: KeyPackage of %s offered as %s's", ErrBadCredential, p, owner)
	}
	return mls.ValidateKeyPackage(kp, mls.KeyPackageCheck{
		Suite:       cs,
		Credentials: CredentialValidator{},
		Now:         uint64(n.opts.now().Unix()),
	})
}

// kpNotBefore: KeyPackages this node makes have not_before = 0. The MLS
// engine checks an added KeyPackage's lifetime against the time its group
// was created, joined or loaded (ProposalCheck.Now is fixed then, and is 0
// for a group made by CreateGroup), not against the time of the commit, so
// a not_before of "an hour ago" would make a creator refuse every Add.
// not_after still bounds a KeyPackage's use.
const kpNotBefore = 0
