package mls

import (
	"errors"
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

var (
	// ErrNotForUs: the Welcome holds no secrets for the given KeyPackage.
	ErrNotForUs = errors.New("mls: Welcome is not addressed to this KeyPackage")
	// ErrInvalidWelcome: the Welcome or its GroupInfo failed a check of
	// §12.4.3.1; the message says which.
	ErrInvalidWelcome = errors.New("mls: invalid Welcome")
	// ErrUnknownPSK: a PSK the Welcome or a commit requires is not known.
	ErrUnknownPSK = errors.New("mls: unknown pre-shared key")
)

// PSKStore resolves the pre-shared keys named in GroupSecrets or PSK
// proposals: external PSKs by id, resumption PSKs by group and epoch.
type PSKStore interface {
	PSK(id *wire.PreSharedKeyID) ([]byte, error)
}

// groupInfoLabel is the SignWithLabel label of GroupInfoTBS (§12.4.3).
const groupInfoLabel = "GroupInfoTBS"

// SignGroupInfo sets gi.Signature over GroupInfoTBS.
func SignGroupInfo(key *suite.SigningKey, gi *wire.GroupInfo) error {
	tbs, err := gi.TBS()
	if err != nil {
		return err
	}
	gi.Signature, err = key.SignWithLabel(groupInfoLabel, tbs)
	return err
}

// VerifyGroupInfo checks gi's signature with the signer's key.
func VerifyGroupInfo(cs *suite.Suite, signerPub []byte, gi *wire.GroupInfo) error {
	tbs, err := gi.TBS()
	if err != nil {
		return err
	}
	return cs.VerifyWithLabel(signerPub, groupInfoLabel, tbs, gi.Signature)
}

// OpenedWelcome is what a new member learns from a Welcome: its
// GroupSecrets, the GroupInfo, and the secrets of the epoch it joins.
type OpenedWelcome struct {
	GroupSecrets *wire.GroupSecrets
	GroupInfo    *wire.GroupInfo
	PSKSecret    []byte
	Epoch        *keyschedule.Epoch
}

// OpenWelcome decrypts the part of a Welcome addressed to kp (§12.4.3.1):
// it finds the EncryptedGroupSecrets by KeyPackageRef, opens them with the
// init key, resolves the PSKs, decrypts the GroupInfo, derives the epoch's
// key schedule from the GroupInfo's GroupContext, and checks the
// confirmation tag. The GroupInfo's signature is not checked here, since
// the signer's key is in the ratchet tree; call VerifyGroupInfo with it.
func OpenWelcome(cs *suite.Suite, w *wire.Welcome, kp *wire.KeyPackage, initPriv []byte, psks PSKStore) (*OpenedWelcome, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidWelcome}, args...)...)
	}
	if w.CipherSuite != wire.CipherSuite(cs.ID()) || kp.CipherSuite != w.CipherSuite {
		return nil, bad("cipher suite %v, KeyPackage %v, expected %v", w.CipherSuite, kp.CipherSuite, cs.ID())
	}
	kpBytes, err := codec.Marshal(kp)
	if err != nil {
		return nil, err
	}
	egs := w.Find(cs.MakeKeyPackageRef(kpBytes))
	if egs == nil {
		return nil, ErrNotForUs
	}
	plain, err := cs.DecryptWithLabel(initPriv, "Welcome", w.EncryptedGroupInfo,
		egs.EncryptedGroupSecrets.KEMOutput, egs.EncryptedGroupSecrets.Ciphertext)
	if err != nil {
		return nil, bad("group secrets: %w", err)
	}
	defer clear(plain)
	gs := new(wire.GroupSecrets)
	if err := codec.Unmarshal(plain, gs); err != nil {
		return nil, bad("group secrets: %w", err)
	}
	pskSecret, err := resolvePSKs(cs, gs.PSKs, psks, nil)
	if err != nil {
		return nil, err
	}
	welcomeSecret, err := keyschedule.WelcomeSecret(cs, gs.JoinerSecret, pskSecret)
	if err != nil {
		return nil, err
	}
	defer clear(welcomeSecret)
	key, nonce, err := keyschedule.WelcomeKeyNonce(cs, welcomeSecret)
	if err != nil {
		return nil, err
	}
	giBytes, err := cs.Open(key, nonce, nil, w.EncryptedGroupInfo)
	clear(key)
	if err != nil {
		return nil, bad("group info: %w", err)
	}
	gi := new(wire.GroupInfo)
	if err := codec.Unmarshal(giBytes, gi); err != nil {
		return nil, bad("group info: %w", err)
	}
	if gi.GroupContext.CipherSuite != w.CipherSuite {
		return nil, bad("GroupInfo suite %v in a Welcome of %v", gi.GroupContext.CipherSuite, w.CipherSuite)
	}
	gc, err := codec.Marshal(&gi.GroupContext)
	if err != nil {
		return nil, err
	}
	epoch, err := keyschedule.FromJoiner(cs, gs.JoinerSecret, pskSecret, gc)
	if err != nil {
		return nil, err
	}
	if !cs.VerifyMAC(epoch.ConfirmationKey, gi.GroupContext.ConfirmedTranscriptHash, gi.ConfirmationTag) {
		epoch.Wipe()
		return nil, bad("confirmation tag does not match the derived epoch")
	}
	return &OpenedWelcome{GroupSecrets: gs, GroupInfo: gi, PSKSecret: pskSecret, Epoch: epoch}, nil
}

// resolvePSKs looks up every PSK and chains them into psk_secret (§8.4).
// own, if not nil, answers first (a group's own resumption PSKs).
func resolvePSKs(cs *suite.Suite, ids []wire.PreSharedKeyID, store PSKStore, own func(*wire.PreSharedKeyID) ([]byte, bool)) ([]byte, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	psks := make([]keyschedule.PSK, len(ids))
	for i := range ids {
		var secret []byte
		if own != nil {
			secret, _ = own(&ids[i])
		}
		if secret == nil {
			if store == nil {
				return nil, fmt.Errorf("%w: %v and no PSK store", ErrUnknownPSK, ids[i].PSKType)
			}
			var err error
			if secret, err = store.PSK(&ids[i]); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrUnknownPSK, err)
			}
		}
		id, err := codec.Marshal(&ids[i])
		if err != nil {
			return nil, err
		}
		psks[i] = keyschedule.PSK{ID: id, Secret: secret}
	}
	return keyschedule.PSKSecret(cs, psks)
}
