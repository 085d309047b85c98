package overlay

import (
	"fmt"
	"io"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// GenerateIdentity makes a new Ed25519 host identity key from rand. The
// node generates it once and keeps MarshalIdentity's bytes in its store.
func GenerateIdentity(rand io.Reader) (crypto.PrivKey, error) {
	priv, _, err := crypto.GenerateEd25519Key(rand)
	if err != nil {
		return nil, fmt.Errorf("overlay: generate identity: %w", err)
	}
	return priv, nil
}

// MarshalIdentity encodes a host identity key in libp2p's protobuf form
// (crypto.MarshalPrivateKey), the bytes the node stores.
func MarshalIdentity(priv crypto.PrivKey) ([]byte, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: nil identity key", ErrBadConfig)
	}
	b, err := crypto.MarshalPrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("overlay: marshal identity: %w", err)
	}
	return b, nil
}

// UnmarshalIdentity decodes what MarshalIdentity produced. Bytes that do not
// decode give an error wrapping ErrMalformed.
func UnmarshalIdentity(b []byte) (crypto.PrivKey, error) {
	priv, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, malformed("identity key", err)
	}
	return priv, nil
}

// IdentityPeerID is the peer id a host with this identity key has.
func IdentityPeerID(priv crypto.PrivKey) (peer.ID, error) {
	return peer.IDFromPrivateKey(priv)
}
