package node

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/hkdf"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Identity binding.
//
// A member's MLS credential is a basic credential that names its libp2p
// peer id, and a leaf is accepted only if its signature key is bound to
// that peer. A node's libp2p identity is an Ed25519 key, and an Ed25519
// peer id embeds its public key (identity multihash), so the check needs
// nothing but the credential and the leaf:
//
//   - In the suites that sign with Ed25519 (1 and 3) the libp2p identity
//     key is the MLS signature key. The credential's identity is the bytes
//     of the peer id, and the binding is that the key inside the peer id
//     equals the leaf's signature key.
//   - In the other suites (ECDSA P-256, P-384, P-521; Ed448) the MLS
//     signature key is derived from the identity key (HKDF-SHA256 with a
//     label naming the suite), so a node has one secret to keep and gets
//     the same MLS key after every restart. The identity key vouches for it:
//     the credential's identity is
//
//         "mlsnode/bind/v1" || opaque peer_id<V> || opaque binding<V>
//
//     where binding is the identity key's signature over
//     "mlsnode identity binding v1" || opaque signature_key<V>. A peer id
//     never starts with that prefix (its first byte is a multihash code,
//     0x00 or 0x12), so the two forms cannot be confused.
//
// Whoever signs as a leaf therefore holds the peer's libp2p key, or was
// given a signature key that the holder of that libp2p key vouched for.

// SupportedSuites are the cipher suites a Node runs: all seven of RFC 9420.
var SupportedSuites = suite.All()

// DefaultSuite is MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519.
const DefaultSuite suite.ID = 1

// bindingPrefix starts the identity of a credential whose signature key is
// vouched for by the peer's identity key rather than equal to it.
const bindingPrefix = "mlsnode/bind/v1"

// bindingLabel is what the identity key signs, before the signature key.
const bindingLabel = "mlsnode identity binding v1"

// maxBoundIdentity bounds what PeerOfCredential parses: a peer id (at most
// a few dozen bytes for an Ed25519 identity) and a 64-byte signature.
const maxBoundIdentity = 512

func checkSuite(id suite.ID) (*suite.Suite, error) {
	cs, err := suite.Lookup(id)
	if err != nil {
		return nil, fmt.Errorf("%w: %d: %v", ErrUnsupportedSuite, id, err)
	}
	return cs, nil
}

// signsWithIdentityKey reports whether cs's signature scheme is Ed25519,
// the scheme of the libp2p identity key, so that the identity key itself
// can sign as the MLS leaf.
func signsWithIdentityKey(cs *suite.Suite) bool {
	return cs.ID() == 1 || cs.ID() == 3
}

// signingKeyOf is the MLS signing key of the node whose libp2p identity
// is priv, in suite cs: the identity key itself in the Ed25519 suites, a
// key derived from it in the others.
func signingKeyOf(cs *suite.Suite, priv crypto.PrivKey) (*suite.SigningKey, error) {
	if priv.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("%w: identity key type %v is not Ed25519", ErrUnsupportedSuite, priv.Type())
	}
	raw, err := priv.Raw() // seed || public key
	if err != nil {
		return nil, err
	}
	if signsWithIdentityKey(cs) {
		return cs.NewSigningKey(raw[:32])
	}
	// HKDF's output stream is the randomness GenerateSignatureKey reads,
	// so the key is a function of the identity and the suite alone. The
	// label keeps keys of different suites (and of any other use of the
	// identity key) independent.
	info := fmt.Sprintf("mlsnode mls signature key v1 suite %d", cs.ID())
	sk, _, err := cs.GenerateSignatureKey(hkdf.New(sha256.New, raw[:32], nil, []byte(info)))
	if err != nil {
		return nil, fmt.Errorf("node: deriving the MLS signature key: %w", err)
	}
	return cs.NewSigningKey(sk)
}

// credentialFor is the basic credential of the node with identity priv
// (peer id p) whose MLS signature key in its suite is sig.
func credentialFor(cs *suite.Suite, priv crypto.PrivKey, p peer.ID, sig *suite.SigningKey) (wire.Credential, error) {
	if signsWithIdentityKey(cs) {
		return credentialOf(p), nil
	}
	binding, err := priv.Sign(bindingMessage(sig.PublicKey()))
	if err != nil {
		return wire.Credential{}, fmt.Errorf("node: signing the identity binding: %w", err)
	}
	w := codec.NewWriter(nil)
	w.Raw([]byte(bindingPrefix))
	w.Opaque([]byte(p))
	w.Opaque(binding)
	identity, err := w.Bytes()
	if err != nil {
		return wire.Credential{}, err
	}
	return wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: identity}, nil
}

// credentialOf is the basic credential naming peer id p, the form of the
// Ed25519 suites.
func credentialOf(p peer.ID) wire.Credential {
	return wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: []byte(p)}
}

func bindingMessage(signatureKey []byte) []byte {
	w := codec.NewWriter(nil)
	w.Raw([]byte(bindingLabel))
	w.Opaque(signatureKey)
	msg, _ := w.Bytes() // a signature key is far below the varint limit
	return msg
}

// PeerOfCredential returns the peer id a credential names, after checking
// that signatureKey is bound to that peer: equal to the Ed25519 key the
// peer id embeds, or vouched for by that key's signature in the bound form.
func PeerOfCredential(cred *wire.Credential, signatureKey []byte) (peer.ID, error) {
	if cred == nil || cred.CredentialType != wire.CredentialTypeBasic {
		return "", fmt.Errorf("%w: not a basic credential", ErrBadCredential)
	}
	if bytes.HasPrefix(cred.Identity, []byte(bindingPrefix)) {
		return peerOfBoundIdentity(cred.Identity[len(bindingPrefix):], signatureKey)
	}
	p, pub, err := ed25519Peer(cred.Identity)
	if err != nil {
		return "", err
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

func peerOfBoundIdentity(body, signatureKey []byte) (peer.ID, error) {
	if len(body) > maxBoundIdentity {
		return "", fmt.Errorf("%w: bound identity of %d bytes", ErrBadCredential, len(body))
	}
	idBytes, binding, err := parseBound(body)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadCredential, err)
	}
	p, pub, err := ed25519Peer(idBytes)
	if err != nil {
		return "", err
	}
	ok, err := pub.Verify(bindingMessage(signatureKey), binding)
	if err != nil || !ok {
		return "", fmt.Errorf("%w: %s did not vouch for this signature key", ErrBadCredential, p)
	}
	return p, nil
}

// ed25519Peer parses b as a peer id that embeds an Ed25519 public key.
func ed25519Peer(b []byte) (peer.ID, crypto.PubKey, error) {
	p, err := peer.IDFromBytes(b)
	if err != nil {
		return "", nil, fmt.Errorf("%w: identity is not a peer id: %v", ErrBadCredential, err)
	}
	pub, err := p.ExtractPublicKey()
	if err != nil {
		return "", nil, fmt.Errorf("%w: peer id %s does not embed its key: %v", ErrBadCredential, p, err)
	}
	if pub.Type() != crypto.Ed25519 {
		return "", nil, fmt.Errorf("%w: peer id %s is not an Ed25519 identity", ErrBadCredential, p)
	}
	return p, pub, nil
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

// namedPeer is the peer id a credential identity names, in either form,
// without checking the binding: for credentials already validated (every
// leaf of a group's tree passed CredentialValidator on the way in).
func namedPeer(identity []byte) (peer.ID, bool) {
	if body, ok := bytes.CutPrefix(identity, []byte(bindingPrefix)); ok {
		idBytes, _, err := parseBound(body)
		if err != nil {
			return "", false
		}
		identity = idBytes
	}
	p, err := peer.IDFromBytes(identity)
	return p, err == nil
}

// parseBound splits the body of a bound identity (after bindingPrefix)
// into the peer id and the binding signature, strictly.
func parseBound(body []byte) (idBytes, binding []byte, err error) {
	r := codec.NewReader(body)
	r.Opaque("peer_id", &idBytes)
	r.Opaque("binding", &binding)
	return idBytes, binding, r.Finish("bound identity")
}
