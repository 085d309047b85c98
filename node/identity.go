package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Identity binding.
//
// A member's MLS credential is a basic credential whose identity is the
// bytes of its libp2p peer id. The node only runs cipher suites whose
// signature scheme is Ed25519 (suites 1 and 3), and uses the libp2p
// identity key itself as the MLS signature key. An Ed25519 peer id embeds
// its public key (identity multihash), so the binding is checked without
// any extra signature: a leaf is accepted only if the public key inside the
// peer id named by its credential equals the leaf's signature key. Whoever
// signs as that leaf therefore holds the peer's libp2p key.

// SupportedSuites are the cipher suites a Node runs: those that sign with
// Ed25519, the scheme of the libp2p identity key.
var SupportedSuites = []suite.ID{1, 3}

// DefaultSuite is MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.
const DefaultSuite suite.ID = 1

func checkSuite(id suite.ID) (*suite.Suite, error) {
	for _, s := range SupportedSuites {
		if s == id {
			return suite.Lookup(id)
		}
	}
	return nil, fmt.Errorf("%w: %d (the libp2p identity signs with Ed25519; use suite 1 or 3)", ErrUnsupportedSuite, id)
}

// credentialOf is the basic credential naming peer id p.
func credentialOf(p peer.ID) wire.Credential {
	return wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(p)}
}

// signingKeyOf turns the libp2p Ed25519 identity into the MLS signing key.
func signingKeyOf(cs *suite.Suite, priv crypto.PrivKey) (*suite.SigningKey, error) {
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: identity key type %v is not Ed25519", ErrUnsupportedSuite, priv.Type())
	}
	raw, err := priv.Raw() // seed || public key
	if err != nil {
		return nil, err
	}
	return cs.NewSigningKey(raw[:32])
}

// PeerOfCredential returns the peer id a credential names, after checking
// that the peer id's embedded Ed25519 public key is signatureKey.
func PeerOfCredential(cred *wire.Credential, signatureKey []byte) (peer.ID, error) {
	if cred == nil || cred.CredentialType != wire.CredentialTypeBasic {
		return "", fmt.Errorf("%w: not a basic credential", ErrBadCredential)
	}
	p, err := peer.IDFromBytes(cred.Identity)
	if err != nil {
		return "", fmt.Errorf("%w: identity is not a peer id: %v", ErrBadCredential, err)
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return "", fmt.Errorf("%w: peer id %s does not embed its key: %v", ErrBadCredential, p, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return "", fmt.Errorf("%w: peer id %s is not an Ed25519 identity", ErrBadCredential, p)
	}
	raw, err := pub.Raw()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadCredential, err)
	}
	if !bytes.Equal(raw, signatureKey) {
		return "", fmt.Errorf("%w: signature key of %s differs from its identity key", ErrBadCredential, p)
	}
	return p, nil
}

// CredentialValidator is the mls.CredentialValidator a Node installs in
// every group: it accepts exactly the credentials PeerOfCredential accepts.
type CredentialValidator struct{}

// Validate implements mls.CredentialValidator.
func (CredentialValidator) Validate(cred *wire.Credential, signatureKey []byte) error {
	_, err := PeerOfCredential(cred, signatureKey)
	return err
}

// Fingerprint is a short rendering of a member's signature key for
// out-of-band comparison: the first 10 bytes of SHA-256("mlsnode
// fingerprint" || key) in five groups of four hex digits.
func Fingerprint(signatureKey []byte) string {
	h := sha256.New()
	h.Write([]byte("mlsnode fingerprint"))
	h.Write(signatureKey)
	sum := hex.EncodeToString(h.Sum(nil)[:10])
	parts := make([]string, 0, 5)
	for i := 0; i < len(sum); i += 4 {
		parts = append(parts, sum[i:i+4])
	}
	return strings.Join(parts, " ")
}
