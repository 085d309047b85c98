package mls

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/mlsnode/mlsnode/mls/ratchettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// ExtensionTypeLastResort marks a KeyPackage that may be used more than
// once when its owner has no others left (RFC 9420 §16.8; code point 0x000a
// of the MLS extensions registry). It must be listed in the leaf's
// capabilities like any non-default extension.
const ExtensionTypeLastResort wire.ExtensionType = 0x000a

// ErrInvalidKeyPackage is wrapped by every validation failure of a
// KeyPackage; the message says which rule failed.
var ErrInvalidKeyPackage = errors.New("mls: invalid KeyPackage")

// CredentialValidator is the application's check of a credential and of
// its binding to a signature key (§5.3.1). The engine cannot decide which
// identities are acceptable; the application must. It is the same
// interface the ratchet tree uses when validating a joined tree.
type CredentialValidator = ratchettree.CredentialValidator

// KeyPackageOptions shape a new KeyPackage. The zero value is not usable:
// a lifetime must be given, since the engine reads no clock.
type KeyPackageOptions struct {
	// Lifetime in seconds since the Unix epoch (§7.2).
	Lifetime wire.Lifetime
	// Capabilities to advertise. Nil advertises mls10, the KeyPackage's
	// suite, and basic and X.509 credentials; non-default extensions used
	// in the KeyPackage are added automatically either way.
	Capabilities *wire.Capabilities
	// LeafExtensions go into the LeafNode, Extensions into the KeyPackage.
	LeafExtensions wire.Extensions
	Extensions     wire.Extensions
	// LastResort adds the last_resort extension (§16.8).
	LastResort bool
}

// KeyPackageBundle is a KeyPackage with the private keys its owner needs
// when the KeyPackage is used: the init key opens the Welcome, the
// encryption key becomes the leaf key.
type KeyPackageBundle struct {
	KeyPackage        *wire.KeyPackage
	InitPrivate       []byte
	EncryptionPrivate []byte
}

// Wipe zeroes the bundle's private keys, once the KeyPackage is used.
func (b *KeyPackageBundle) Wipe() {
	clear(b.InitPrivate)
	clear(b.EncryptionPrivate)
}

// isDefaultExtension reports the extension types of RFC 9420 that every
// client implements and that must not be listed in capabilities (§7.2).
func isDefaultExtension(t wire.ExtensionType) bool { return t >= 1 && t <= 5 }

// NewKeyPackage makes a signed KeyPackage for cred and the signing key,
// with fresh init and leaf HPKE keys derived from bytes read from rand.
func NewKeyPackage(rand io.Reader, cs *suite.Suite, cred wire.Credential, signingKey *suite.SigningKey, opts KeyPackageOptions) (*KeyPackageBundle, error) {
	if opts.Lifetime.NotAfter <= opts.Lifetime.NotBefore {
		return nil, fmt.Errorf("mls: KeyPackage lifetime [%d, %d] is empty", opts.Lifetime.NotBefore, opts.Lifetime.NotAfter)
	}
	initPriv, initPub, err := cs.GenerateKeyPair(rand)
	if err != nil {
		return nil, err
	}
	encPriv, encPub, err := cs.GenerateKeyPair(rand)
	if err != nil {
		return nil, err
	}
	caps := wire.Capabilities{
		Versions:     []wire.ProtocolVersion{wire.ProtocolVersionMLS10},
		CipherSuites: []wire.CipherSuite{wire.CipherSuite(cs.ID())},
		Credentials:  []wire.CredentialType{wire.CredentialTypeBasic, wire.CredentialTypeX509},
	}
	if opts.Capabilities != nil {
		caps = cloneCapabilities(opts.Capabilities)
	}
	extensions := slices.Clone(opts.Extensions)
	if opts.LastResort {
		extensions = append(extensions, wire.Extension{ExtensionType: ExtensionTypeLastResort})
	}
	// §10: extensions used in the KeyPackage or its LeafNode must be
	// listed in the capabilities; list them rather than fail.
	for _, list := range []wire.Extensions{opts.LeafExtensions, extensions} {
		for _, e := range list {
			if !isDefaultExtension(e.ExtensionType) && !slices.Contains(caps.Extensions, e.ExtensionType) {
				caps.Extensions = append(caps.Extensions, e.ExtensionType)
			}
		}
	}
	if !slices.Contains(caps.Credentials, cred.CredentialType) {
		caps.Credentials = append(caps.Credentials, cred.CredentialType)
	}
	lifetime := opts.Lifetime
	leaf := wire.LeafNode{
		EncryptionKey:  encPub,
		SignatureKey:   signingKey.PublicKey(),
		Credential:     cred,
		Capabilities:   caps,
		LeafNodeSource: wire.LeafNodeSourceKeyPackage,
		Lifetime:       &lifetime,
		Extensions:     slices.Clone(opts.LeafExtensions),
	}
	leafTBS, err := leaf.TBS(nil, 0)
	if err != nil {
		return nil, err
	}
	if leaf.Signature, err = signingKey.SignWithLabel("LeafNodeTBS", leafTBS); err != nil {
		return nil, err
	}
	kp := &wire.KeyPackage{
		Version:     wire.ProtocolVersionMLS10,
		CipherSuite: wire.CipherSuite(cs.ID()),
		InitKey:     initPub,
		LeafNode:    leaf,
		Extensions:  extensions,
	}
	tbs, err := kp.TBS()
	if err != nil {
		return nil, err
	}
	if kp.Signature, err = signingKey.SignWithLabel("KeyPackageTBS", tbs); err != nil {
		return nil, err
	}
	return &KeyPackageBundle{KeyPackage: kp, InitPrivate: initPriv, EncryptionPrivate: encPriv}, nil
}

func cloneCapabilities(c *wire.Capabilities) wire.Capabilities {
	return wire.Capabilities{
		Versions:     slices.Clone(c.Versions),
		CipherSuites: slices.Clone(c.CipherSuites),
		Extensions:   slices.Clone(c.Extensions),
		Proposals:    slices.Clone(c.Proposals),
		Credentials:  slices.Clone(c.Credentials),
	}
}

// KeyPackageCheck says what ValidateKeyPackage checks against.
type KeyPackageCheck struct {
	// Suite is the group's cipher suite; the KeyPackage must use it.
	Suite *suite.Suite
	// Now is the current time in seconds since the Unix epoch.
	Now uint64
	// MaxLifetime, if not zero, bounds not_after - not_before (§7.2:
	// applications must define one).
	MaxLifetime uint64
	// Credentials validates the credential; nil accepts any.
	Credentials CredentialValidator
}

// ValidateKeyPackage applies §10.1 and the KeyPackage cases of §7.3: suite
// and version, the leaf's source, lifetime, capabilities and extensions,
// both signatures, well-formed keys, and init_key != encryption_key.
// Group-wide rules (unique keys in the tree, required capabilities,
// credential types in use) are the group's to check.
func ValidateKeyPackage(kp *wire.KeyPackage, c KeyPackageCheck) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidKeyPackage}, args...)...)
	}
	cs := c.Suite
	if kp.Version != wire.ProtocolVersionMLS10 {
		return bad("version %v", kp.Version)
	}
	if kp.CipherSuite != wire.CipherSuite(cs.ID()) {
		return bad("cipher suite %v in a group of %v", kp.CipherSuite, cs.ID())
	}
	leaf := &kp.LeafNode
	if leaf.LeafNodeSource != wire.LeafNodeSourceKeyPackage || leaf.Lifetime == nil {
		return bad("leaf node source %v, want key_package", leaf.LeafNodeSource)
	}
	lt := leaf.Lifetime
	if c.Now < lt.NotBefore || c.Now > lt.NotAfter {
		return bad("lifetime [%d, %d] does not contain now (%d)", lt.NotBefore, lt.NotAfter, c.Now)
	}
	if c.MaxLifetime != 0 && lt.NotAfter-lt.NotBefore > c.MaxLifetime {
		return bad("lifetime of %d s exceeds the maximum %d s", lt.NotAfter-lt.NotBefore, c.MaxLifetime)
	}
	caps := &leaf.Capabilities
	if !slices.Contains(caps.Versions, wire.ProtocolVersionMLS10) || !slices.Contains(caps.CipherSuites, kp.CipherSuite) {
		return bad("capabilities do not list mls10 and suite %v", kp.CipherSuite)
	}
	if !slices.Contains(caps.Credentials, leaf.Credential.CredentialType) {
		return bad("credential type %v not in capabilities", leaf.Credential.CredentialType)
	}
	for _, list := range []wire.Extensions{leaf.Extensions, kp.Extensions} {
		for _, e := range list {
			if !isDefaultExtension(e.ExtensionType) && !slices.Contains(caps.Extensions, e.ExtensionType) {
				return bad("extension %v not in capabilities", e.ExtensionType)
			}
		}
	}
	for _, key := range [][]byte{kp.InitKey, leaf.EncryptionKey} {
		if len(key) != cs.HPKEPublicKeySize() {
			return bad("HPKE public key of %d bytes", len(key))
		}
	}
	if bytes.Equal(kp.InitKey, leaf.EncryptionKey) {
		return bad("init_key equals the leaf's encryption_key")
	}
	leafTBS, err := leaf.TBS(nil, 0)
	if err != nil {
		return bad("%v", err)
	}
	if err := cs.VerifyWithLabel(leaf.SignatureKey, "LeafNodeTBS", leafTBS, leaf.Signature); err != nil {
		return bad("leaf node signature: %w", err)
	}
	tbs, err := kp.TBS()
	if err != nil {
		return bad("%v", err)
	}
	if err := cs.VerifyWithLabel(leaf.SignatureKey, "KeyPackageTBS", tbs, kp.Signature); err != nil {
		return bad("signature: %w", err)
	}
	if c.Credentials != nil {
		if err := c.Credentials.Validate(&leaf.Credential, leaf.SignatureKey); err != nil {
			return bad("credential: %w", err)
		}
	}
	return nil
}

// IsLastResort reports whether kp carries the last_resort extension.
func IsLastResort(kp *wire.KeyPackage) bool {
	for _, e := range kp.Extensions {
		if e.ExtensionType == ExtensionTypeLastResort {
			return true
		}
	}
	return false
}
