package keyschedule

import (
	"io"

	"github.com/mlsnode/mlsnode/mls/suite"
)

// Epoch holds the secrets of one epoch (RFC 9420 §8, Table 4). The epoch
// secret itself is not kept: everything the group needs is derived from it
// at once, and it is deleted (§9.2).
type Epoch struct {
	JoinerSecret       []byte
	WelcomeSecret      []byte
	SenderDataSecret   []byte
	EncryptionSecret   []byte
	ExporterSecret     []byte
	ExternalSecret     []byte
	ConfirmationKey    []byte
	MembershipKey      []byte
	ResumptionPSK      []byte
	EpochAuthenticator []byte
	InitSecret         []byte // init_secret_[n], input to the next epoch
}

// Zero returns the all-zero string of KDF.Nh bytes that stands for an
// absent commit secret or PSK secret.
func Zero(s *suite.Suite) []byte { return make([]byte, s.HashSize()) }

// JoinerSecret is ExpandWithLabel(Extract(init_secret_[n-1],
// commit_secret), "joiner", GroupContext_[n], KDF.Nh). A nil commit secret
// stands for the zero vector.
func JoinerSecret(s *suite.Suite, prevInitSecret, commitSecret, groupContext []byte) ([]byte, error) {
	if commitSecret == nil {
		commitSecret = Zero(s)
	}
	prk := s.Extract(prevInitSecret, commitSecret)
	defer clear(prk)
	return s.ExpandWithLabel(prk, "joiner", groupContext, s.HashSize())
}

// FromJoiner derives the welcome secret and every epoch secret from the
// joiner secret, the PSK secret (nil for none) and the new GroupContext.
// Joiners from a Welcome start here with the joiner_secret of GroupSecrets.
func FromJoiner(s *suite.Suite, joinerSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	if pskSecret == nil {
		pskSecret = Zero(s)
	}
	member := s.Extract(joinerSecret, pskSecret)
	defer clear(member)
	e := &Epoch{JoinerSecret: append([]byte{}, joinerSecret...)}
	var err error
	if e.WelcomeSecret, err = s.DeriveSecret(member, "welcome"); err != nil {
		return nil, err
	}
	epochSecret, err := s.ExpandWithLabel(member, "epoch", groupContext, s.HashSize())
	if err != nil {
		return nil, err
	}
	defer clear(epochSecret)
	if err := e.deriveFromEpochSecret(s, epochSecret); err != nil {
		return nil, err
	}
	return e, nil
}

// FromEpochSecret derives the epoch-derived secrets of Table 4 from an
// epoch secret. A group's creator starts epoch 0 from a fresh random epoch
// secret (§11); there is no joiner or welcome secret then.
func FromEpochSecret(s *suite.Suite, epochSecret []byte) (*Epoch, error) {
	e := &Epoch{}
	if err := e.deriveFromEpochSecret(s, epochSecret); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Epoch) deriveFromEpochSecret(s *suite.Suite, epochSecret []byte) error {
	var err error
	for _, d := range []struct {
		label string
		dst   *[]byte
	}{
		{"sender data", &e.SenderDataSecret},
		{"encryption", &e.EncryptionSecret},
		{"exporter", &e.ExporterSecret},
		{"external", &e.ExternalSecret},
		{"confirm", &e.ConfirmationKey},
		{"membership", &e.MembershipKey},
		{"resumption", &e.ResumptionPSK},
		{"authentication", &e.EpochAuthenticator},
		{"init", &e.InitSecret},
	} {
		if *d.dst, err = s.DeriveSecret(epochSecret, d.label); err != nil {
			return err
		}
	}
	return nil
}

// Derive runs the whole schedule of Figure 22 for a new epoch.
func Derive(s *suite.Suite, prevInitSecret, commitSecret, pskSecret, groupContext []byte) (*Epoch, error) {
	joiner, err := JoinerSecret(s, prevInitSecret, commitSecret, groupContext)
	if err != nil {
		return nil, err
	}
	defer clear(joiner)
	return FromJoiner(s, joiner, pskSecret, groupContext)
}

// WelcomeSecret is DeriveSecret(Extract(joiner_secret, psk_secret),
// "welcome") (§8): all a joiner needs to decrypt a Welcome's GroupInfo,
// before it knows the GroupContext. A nil PSK secret is the zero vector.
func WelcomeSecret(s *suite.Suite, joinerSecret, pskSecret []byte) ([]byte, error) {
	if pskSecret == nil {
		pskSecret = Zero(s)
	}
	member := s.Extract(joinerSecret, pskSecret)
	defer clear(member)
	return s.DeriveSecret(member, "welcome")
}

// WelcomeKeyNonce derives the AEAD key and nonce that encrypt a Welcome's
// GroupInfo (§12.4.3.1).
func WelcomeKeyNonce(s *suite.Suite, welcomeSecret []byte) (key, nonce []byte, err error) {
	if key, err = s.ExpandWithLabel(welcomeSecret, "key", nil, s.AEADKeySize()); err != nil {
		return nil, nil, err
	}
	if nonce, err = s.ExpandWithLabel(welcomeSecret, "nonce", nil, s.AEADNonceSize()); err != nil {
		return nil, nil, err
	}
	return key, nonce, nil
}

// Export is MLS-Exporter(label, context, length) of §8.5.
func (e *Epoch) Export(s *suite.Suite, label string, context []byte, length int) ([]byte, error) {
	derived, err := s.DeriveSecret(e.ExporterSecret, label)
	if err != nil {
		return nil, err
	}
	defer clear(derived)
	return s.ExpandWithLabel(derived, "exported", s.Hash(context), length)
}

// ExternalKeyPair is KEM.DeriveKeyPair(external_secret): the key pair whose
// public half a GroupInfo publishes for external commits (§8, §12.4.3.2).
func (e *Epoch) ExternalKeyPair(s *suite.Suite) (priv, pub []byte, err error) {
	return s.DeriveKeyPair(e.ExternalSecret)
}

// ConfirmationTag is MAC(confirmation_key, confirmed_transcript_hash) (§6.1).
func (e *Epoch) ConfirmationTag(s *suite.Suite, confirmedTranscriptHash []byte) []byte {
	return s.MAC(e.ConfirmationKey, confirmedTranscriptHash)
}

// Wipe zeroes every secret of the epoch.
func (e *Epoch) Wipe() {
	for _, b := range [][]byte{e.JoinerSecret, e.WelcomeSecret, e.SenderDataSecret, e.EncryptionSecret,
		e.ExporterSecret, e.ExternalSecret, e.ConfirmationKey, e.MembershipKey, e.ResumptionPSK,
		e.EpochAuthenticator, e.InitSecret} {
		clear(b)
	}
}

// ExternalInitSecret is the init secret an external joiner sends to the
// group (§8.3): kem_output, context = SetupBaseS(external_pub, "");
// init_secret = context.export("MLS 1.0 external init secret", KDF.Nh).
func ExternalInitSecret(s *suite.Suite, rand io.Reader, externalPub []byte) (kemOutput, initSecret []byte, err error) {
	return s.HPKEExport(rand, externalPub, nil, []byte(externalInitLabel), s.HashSize())
}

// ReceiveExternalInit recovers the init secret from an ExternalInit
// proposal's kem_output with the group's external private key.
func ReceiveExternalInit(s *suite.Suite, externalPriv, kemOutput []byte) ([]byte, error) {
	return s.HPKEExportReceive(externalPriv, kemOutput, nil, []byte(externalInitLabel), s.HashSize())
}

const externalInitLabel = "MLS 1.0 external init secret"
