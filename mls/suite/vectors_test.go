package suite

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
)

type hx = testvectors.Hex

// TestCryptoBasicsVectors runs crypto-basics.json of the MLS interop test
// vectors: one case per suite.
func TestCryptoBasicsVectors(t *testing.T) {
	var cases []struct {
		CipherSuite ID `json:"cipher_suite"`
		RefHash     struct {
			Label string `json:"label"`
			Value hx     `json:"value"`
			Out   hx     `json:"out"`
		} `json:"ref_hash"`
		ExpandWithLabel struct {
			Secret  hx     `json:"secret"`
			Label   string `json:"label"`
			Context hx     `json:"context"`
			Length  int    `json:"length"`
			Out     hx     `json:"out"`
		} `json:"expand_with_label"`
		DeriveSecret struct {
			Secret hx     `json:"secret"`
			Label  string `json:"label"`
			Out    hx     `json:"out"`
		} `json:"derive_secret"`
		DeriveTreeSecret struct {
			Secret     hx     `json:"secret"`
			Label      string `json:"label"`
			Generation uint32 `json:"generation"`
			Length     int    `json:"length"`
			Out        hx     `json:"out"`
		} `json:"derive_tree_secret"`
		SignWithLabel struct {
			Priv      hx     `json:"priv"`
			Pub       hx     `json:"pub"`
			Content   hx     `json:"content"`
			Label     string `json:"label"`
			Signature hx     `json:"signature"`
		} `json:"sign_with_label"`
		EncryptWithLabel struct {
			Priv       hx     `json:"priv"`
			Pub        hx     `json:"pub"`
			Label      string `json:"label"`
			Context    hx     `json:"context"`
			Plaintext  hx     `json:"plaintext"`
			KEMOutput  hx     `json:"kem_output"`
			Ciphertext hx     `json:"ciphertext"`
		} `json:"encrypt_with_label"`
	}
	testvectors.Load(t, "crypto-basics.json", &cases)
	seen := map[ID]bool{}
	for _, c := range cases {
		seen[c.CipherSuite] = true
		t.Run(c.CipherSuite.String(), func(t *testing.T) {
			s, err := Lookup(c.CipherSuite)
			if err != nil {
				t.Fatal(err)
			}

			if got := s.RefHash(c.RefHash.Label, c.RefHash.Value); !bytes.Equal(got, c.RefHash.Out) {
				t.Errorf("RefHash = %x, want %x", got, []byte(c.RefHash.Out))
			}
			e := c.ExpandWithLabel
			if got, err := s.ExpandWithLabel(e.Secret, e.Label, e.Context, e.Length); err != nil || !bytes.Equal(got, e.Out) {
				t.Errorf("ExpandWithLabel = %x, %v; want %x", got, err, []byte(e.Out))
			}
			d := c.DeriveSecret
			if got, err := s.DeriveSecret(d.Secret, d.Label); err != nil || !bytes.Equal(got, d.Out) {
				t.Errorf("DeriveSecret = %x, %v; want %x", got, err, []byte(d.Out))
			}
			dt := c.DeriveTreeSecret
			if got, err := s.DeriveTreeSecret(dt.Secret, dt.Label, dt.Generation, dt.Length); err != nil || !bytes.Equal(got, dt.Out) {
				t.Errorf("DeriveTreeSecret = %x, %v; want %x", got, err, []byte(dt.Out))
			}

			sg := c.SignWithLabel
			if err := s.VerifyWithLabel(sg.Pub, sg.Label, sg.Content, sg.Signature); err != nil {
				t.Errorf("VerifyWithLabel(vector signature): %v", err)
			}
			if pub, err := s.SignaturePublicKey(sg.Priv); err != nil || !bytes.Equal(pub, sg.Pub) {
				t.Errorf("SignaturePublicKey = %x, %v; want %x", pub, err, []byte(sg.Pub))
			}
			sig, err := s.SignWithLabel(sg.Priv, sg.Label, sg.Content)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyWithLabel(sg.Pub, sg.Label, sg.Content, sig); err != nil {
				t.Errorf("VerifyWithLabel(own signature): %v", err)
			}
			if s.sig != sigECDSA && !bytes.Equal(sig, sg.Signature) {
				t.Errorf("EdDSA signature = %x, want the vector's %x", sig, []byte(sg.Signature))
			}
			if err := s.VerifyWithLabel(sg.Pub, sg.Label+"x", sg.Content, sg.Signature); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("vector signature verified under another label: %v", err)
			}
			sk, err := s.NewSigningKey(sg.Priv)
			if err != nil || !bytes.Equal(sk.PublicKey(), sg.Pub) {
				t.Errorf("NewSigningKey: %v", err)
			}

			ew := c.EncryptWithLabel
			pt, err := s.DecryptWithLabel(ew.Priv, ew.Label, ew.Context, ew.KEMOutput, ew.Ciphertext)
			if err != nil || !bytes.Equal(pt, ew.Plaintext) {
				t.Errorf("DecryptWithLabel(vector) = %x, %v; want %x", pt, err, []byte(ew.Plaintext))
			}
			if pub, err := s.PublicKey(ew.Priv); err != nil || !bytes.Equal(pub, ew.Pub) {
				t.Errorf("PublicKey(priv) = %x, %v; want %x", pub, err, []byte(ew.Pub))
			}
			kem, ct, err := s.EncryptWithLabel(seeded(1), ew.Pub, ew.Label, ew.Context, ew.Plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := s.DecryptWithLabel(ew.Priv, ew.Label, ew.Context, kem, ct); err != nil || !bytes.Equal(pt, ew.Plaintext) {
				t.Errorf("round trip = %x, %v", pt, err)
			}
		})
	}
	for _, id := range All() {
		if !seen[id] {
			t.Errorf("crypto-basics.json has no case for %v", id)
		}
	}
	testvectors.Report(t, "crypto-basics.json", len(cases))
}

// rfc9180Case is one base-mode entry of testdata/rfc9180-base.json.
type rfc9180Case struct {
	CipherSuite ID     `json:"cipher_suite"`
	KEMID       uint16 `json:"kem_id"`
	Info        hx     `json:"info"`
	IKME        hx     `json:"ikmE"`
	SKEm        hx     `json:"skEm"`
	PKEm        hx     `json:"pkEm"`
	IKMR        hx     `json:"ikmR"`
	SKRm        hx     `json:"skRm"`
	PKRm        hx     `json:"pkRm"`
	Enc         hx     `json:"enc"`
	AAD         hx     `json:"aad"`
	PT          hx     `json:"pt"`
	CT          hx     `json:"ct"`
	Exports     []struct {
		Context hx  `json:"exporter_context"`
		L       int `json:"L"`
		Value   hx  `json:"exported_value"`
	} `json:"exports"`
}

func loadRFC9180(t testing.TB) []rfc9180Case {
	t.Helper()
	data, err := os.ReadFile("testdata/rfc9180-base.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []rfc9180Case
	if err := json.Unmarshal(data, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

// TestRFC9180Vectors checks DeriveKeyPair and the HPKE path against the
// RFC 9180 known answers for suites 1 to 6: ikmE -> (skEm, pkEm) and
// ikmR -> (skRm, pkRm); SealBase with the ephemeral key derived from ikmE
// gives enc and ct; OpenBase with skRm gives pt; both exporters give the
// exported values.
func TestRFC9180Vectors(t *testing.T) {
	cases := loadRFC9180(t)
	if len(cases) != 6 {
		t.Fatalf("%d RFC 9180 cases, want 6", len(cases))
	}
	for _, c := range cases {
		t.Run(c.CipherSuite.String(), func(t *testing.T) {
			s, err := Lookup(c.CipherSuite)
			if err != nil {
				t.Fatal(err)
			}
			if s.kem.id != c.KEMID {
				t.Fatalf("KEM %#x, vector has %#x", s.kem.id, c.KEMID)
			}
			for _, kp := range []struct {
				name        string
				ikm, sk, pk []byte
			}{{"E", c.IKME, c.SKEm, c.PKEm}, {"R", c.IKMR, c.SKRm, c.PKRm}} {
				priv, pub, err := s.DeriveKeyPair(kp.ikm)
				if err != nil {
					t.Fatal(err)
				}
				want := append([]byte{}, kp.sk...)
				if s.kem.isX() {
					clampX(want) // the vectors list X25519/X448 keys unclamped
				}
				if !bytes.Equal(priv, want) || !bytes.Equal(pub, kp.pk) {
					t.Errorf("DeriveKeyPair(ikm%s) = %x, %x; want %x, %x", kp.name, priv, pub, want, kp.pk)
				}
				// The unclamped vector key works as a private key too.
				if got, err := s.PublicKey(kp.sk); err != nil || !bytes.Equal(got, kp.pk) {
					t.Errorf("PublicKey(sk%sm) = %x, %v", kp.name, got, err)
				}
			}

			enc, ct, err := s.sealBase(bytes.NewReader(c.IKME), c.PKRm, c.Info, c.AAD, c.PT)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc, c.Enc) || !bytes.Equal(ct, c.CT) {
				t.Errorf("SealBase = %x, %x; want %x, %x", enc, ct, []byte(c.Enc), []byte(c.CT))
			}
			if pt, err := s.openBase(c.SKRm, c.Enc, c.Info, c.AAD, c.CT); err != nil || !bytes.Equal(pt, c.PT) {
				t.Errorf("OpenBase = %x, %v", pt, err)
			}
			for _, x := range c.Exports {
				enc, got, err := s.HPKEExport(bytes.NewReader(c.IKME), c.PKRm, c.Info, x.Context, x.L)
				if err != nil || !bytes.Equal(enc, c.Enc) || !bytes.Equal(got, x.Value) {
					t.Errorf("HPKEExport(%x) = %x, %x, %v; want %x", []byte(x.Context), enc, got, err, []byte(x.Value))
				}
				got, err = s.HPKEExportReceive(c.SKRm, c.Enc, c.Info, x.Context, x.L)
				if err != nil || !bytes.Equal(got, x.Value) {
					t.Errorf("HPKEExportReceive(%x) = %x, %v; want %x", []byte(x.Context), got, err, []byte(x.Value))
				}
			}
		})
	}
}
