package mls

import (
	"errors"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

func TestWelcomeVectors(t *testing.T) {
	var cases []struct {
		CipherSuite suite.ID        `json:"cipher_suite"`
		InitPriv    testvectors.Hex `json:"init_priv"`
		SignerPub   testvectors.Hex `json:"signer_pub"`
		KeyPackage  testvectors.Hex `json:"key_package"`
		Welcome     testvectors.Hex `json:"welcome"`
	}
	testvectors.Load(t, "welcome.json", &cases)
	for _, c := range cases {
		cs, err := suite.Lookup(c.CipherSuite)
		if err != nil {
			t.Fatal(err)
		}
		kpMsg, err := wire.ParseMLSMessage(c.KeyPackage)
		if err != nil || kpMsg.KeyPackage == nil {
			t.Fatalf("suite %d: key_package: %v", c.CipherSuite, err)
		}
		wMsg, err := wire.ParseMLSMessage(c.Welcome)
		if err != nil || wMsg.Welcome == nil {
			t.Fatalf("suite %d: welcome: %v", c.CipherSuite, err)
		}
		opened, err := OpenWelcome(cs, wMsg.Welcome, kpMsg.KeyPackage, c.InitPriv, nil)
		if err != nil {
			t.Fatalf("suite %d: %v", c.CipherSuite, err)
		}
		if err := VerifyGroupInfo(cs, c.SignerPub, opened.GroupInfo); err != nil {
			t.Errorf("suite %d: GroupInfo signature: %v", c.CipherSuite, err)
		}
		// Negative: another init key cannot open it, and a Welcome for
		// another KeyPackage is not ours.
		wrong := append([]byte{}, c.InitPriv...)
		wrong[0] ^= 0x40
		if _, err := OpenWelcome(cs, wMsg.Welcome, kpMsg.KeyPackage, wrong, nil); !errors.Is(err, ErrInvalidWelcome) {
			t.Errorf("suite %d: wrong init key: err = %v", c.CipherSuite, err)
		}
		other := *kpMsg.KeyPackage
		other.Signature = append([]byte{1}, other.Signature...)
		if _, err := OpenWelcome(cs, wMsg.Welcome, &other, c.InitPriv, nil); !errors.Is(err, ErrNotForUs) {
			t.Errorf("suite %d: foreign KeyPackage: err = %v", c.CipherSuite, err)
		}
		// A tampered GroupInfo signature is caught.
		opened.GroupInfo.Signature[0] ^= 1
		if err := VerifyGroupInfo(cs, c.SignerPub, opened.GroupInfo); !errors.Is(err, suite.ErrInvalidSignature) {
			t.Errorf("suite %d: tampered GroupInfo signature: err = %v", c.CipherSuite, err)
		}
	}
	testvectors.Report(t, "welcome.json", len(cases))
}
