package suite

import (
	"bytes"
	"crypto/hpke"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
)

type hx = testvectors.Hex

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
	for _, c := range cases {
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
				t.Errorf("ExpandWithLabel = %x, %v", got, err)
			}
			d := c.DeriveSecret
			if got, err := s.DeriveSecret(d.Secret, d.Label); err != nil || !bytes.Equal(got, d.Out) {
				t.Errorf("DeriveSecret = %x, %v", got, err)
			}
			dt := c.DeriveTreeSecret
			if got, err := s.DeriveTreeSecret(dt.Secret, dt.Label, dt.Generation, dt.Length); err != nil || !bytes.Equal(got, dt.Out) {
				t.Errorf("DeriveTreeSecret = %x, %v", got, err)
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
				t.Errorf("EdDSA signature differs from the vector")
			}
			if err := s.VerifyWithLabel(sg.Pub, "other label", sg.Content, sg.Signature); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("signature verified under another label: %v", err)
			}

			ew := c.EncryptWithLabel
			pt, err := s.DecryptWithLabel(ew.Priv, ew.Label, ew.Context, ew.KEMOutput, ew.Ciphertext)
			if err != nil || !bytes.Equal(pt, ew.Plaintext) {
				t.Errorf("DecryptWithLabel(vector) = %x, %v", pt, err)
			}
			if pub, err := s.PublicKey(ew.Priv); err != nil || !bytes.Equal(pub, ew.Pub) {
				t.Errorf("PublicKey(priv) = %x, %v", pub, err)
			}
			kem, ct, err := s.EncryptWithLabel(seeded(1), ew.Pub, ew.Label, ew.Context, ew.Plaintext)
			if err != nil {
				t.Fatal(err)
			}
			if pt, err := s.DecryptWithLabel(ew.Priv, ew.Label, ew.Context, kem, ct); err != nil || !bytes.Equal(pt, ew.Plaintext) {
				t.Errorf("round trip: %x, %v", pt, err)
			}
		})
	}
	testvectors.Report(t, "crypto-basics.json", len(cases))
}

func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	return rand.NewChaCha8(s)
}

// TestDeriveKeyPairCrossCheck compares DeriveKeyPair with Go's crypto/hpke
// (X25519 and the NIST curves, any ikm length) and with circl (every KEM,
// ikm of exactly Nsk bytes, the one length circl accepts).
func TestDeriveKeyPairCrossCheck(t *testing.T) {
	goKEM := map[uint16]uint16{0x10: 0x10, 0x11: 0x11, 0x12: 0x12, 0x20: 0x20}
	r := seeded(7)
	for _, id := range All() {
		s, _ := Lookup(id)
		for _, n := range []int{s.kem.nsk, s.HashSize(), 16, 100} {
			ikm := make([]byte, n)
			r.Read(ikm)
			priv, pub, err := s.DeriveKeyPair(ikm)
			if err != nil {
				t.Fatalf("%v ikm %d: %v", id, n, err)
			}
			if got, err := s.PublicKey(priv); err != nil || !bytes.Equal(got, pub) {
				t.Fatalf("%v: PublicKey(priv) disagrees with DeriveKeyPair", id)
			}
			if kemID, ok := goKEM[s.kem.id]; ok {
				k, _ := hpke.NewKEM(kemID)
				gk, err := k.DeriveKeyPair(ikm)
				if err != nil {
					t.Fatal(err)
				}
				gb, _ := gk.Bytes()
				if !bytes.Equal(gb, priv) || !bytes.Equal(gk.PublicKey().Bytes(), pub) {
					t.Errorf("%v ikm %d: differs from crypto/hpke", id, n)
				}
			}
			if n == s.kem.nsk {
				cpub, cpriv := s.hpkeKEM.Scheme().DeriveKeyPair(ikm)
				cp, _ := cpub.MarshalBinary()
				if !bytes.Equal(cp, pub) {
					t.Errorf("%v: public key differs from circl", id)
				}
				cs, _ := cpriv.MarshalBinary()
				cpk, err := s.PublicKey(cs)
				if err != nil || !bytes.Equal(cpk, pub) {
					t.Errorf("%v: circl's private key gives another public key", id)
				}
			}
		}
	}
}

// TestRFC9180DeriveKeyPair checks known answers from RFC 9180 Appendix A
// (ikmE -> skEm, pkEm of the base-mode vectors).
func TestRFC9180DeriveKeyPair(t *testing.T) {
	for _, v := range []struct {
		suite           ID
		ikm, skEm, pkEm string
	}{
		// A.1.1 DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM
		{1, "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
			"52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
			"37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431"},
	} {
		s, _ := Lookup(v.suite)
		priv, pub, err := s.DeriveKeyPair(unhex(v.ikm))
		if err != nil {
			t.Fatal(err)
		}
		// The RFC lists the unclamped scalar; compare the public key, and
		// the private key after clamping.
		if !bytes.Equal(pub, unhex(v.pkEm)) {
			t.Errorf("%v: pkEm = %x", v.suite, pub)
		}
		want := unhex(v.skEm)
		want[0] &= 248
		want[31] = want[31]&127 | 64
		if !bytes.Equal(priv, want) {
			t.Errorf("%v: skEm = %x", v.suite, priv)
		}
	}
}

func unhex(s string) []byte {
	var h hx
	if err := h.UnmarshalJSON([]byte(`"` + s + `"`)); err != nil {
		panic(err)
	}
	return h
}

// TestDeterminism: equal seeds give equal keys, ciphertexts and signatures.
func TestDeterminism(t *testing.T) {
	for _, id := range All() {
		s, _ := Lookup(id)
		run := func() [][]byte {
			r := seeded(42)
			hp, hpub, err := s.GenerateKeyPair(r)
			if err != nil {
				t.Fatal(err)
			}
			sp, spub, err := s.GenerateSignatureKey(r)
			if err != nil {
				t.Fatal(err)
			}
			kem, ct, err := s.EncryptWithLabel(r, hpub, "l", nil, []byte("msg"))
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.SignWithLabel(sp, "l", []byte("msg"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.VerifyWithLabel(spub, "l", []byte("msg"), sig); err != nil {
				t.Fatal(err)
			}
			return [][]byte{hp, hpub, sp, spub, kem, ct, sig}
		}
		a, b := run(), run()
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Errorf("%v: output %d differs between equal seeds", id, i)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, id := range All() {
		s, _ := Lookup(id)
		r := seeded(3)
		priv, pub, _ := s.GenerateKeyPair(r)
		spriv, spub, _ := s.GenerateSignatureKey(r)
		kem, ct, err := s.EncryptWithLabel(r, pub, "l", []byte("ctx"), []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		sig, _ := s.SignWithLabel(spriv, "l", []byte("m"))
		flip := func(b []byte, i int) []byte { c := append([]byte{}, b...); c[i%len(c)] ^= 1; return c }
		cases := []struct {
			name string
			err  error
			want error
		}{
			{"short public key", func() error { _, _, err := s.EncryptWithLabel(r, pub[:len(pub)-1], "l", nil, nil); return err }(), ErrInvalidKey},
			{"empty public key", func() error { _, _, err := s.EncryptWithLabel(r, nil, "l", nil, nil); return err }(), ErrInvalidKey},
			{"short private key", func() error { _, err := s.DecryptWithLabel(priv[1:], "l", []byte("ctx"), kem, ct); return err }(), ErrInvalidKey},
			{"truncated kem_output", func() error { _, err := s.DecryptWithLabel(priv, "l", []byte("ctx"), kem[:len(kem)-1], ct); return err }(), ErrDecrypt},
			{"tampered ciphertext", func() error { _, err := s.DecryptWithLabel(priv, "l", []byte("ctx"), kem, flip(ct, 3)); return err }(), ErrDecrypt},
			{"wrong context", func() error { _, err := s.DecryptWithLabel(priv, "l", []byte("other"), kem, ct); return err }(), ErrDecrypt},
			{"wrong label", func() error { _, err := s.DecryptWithLabel(priv, "m", []byte("ctx"), kem, ct); return err }(), ErrDecrypt},
			{"tampered signature", s.VerifyWithLabel(spub, "l", []byte("m"), flip(sig, 10)), ErrInvalidSignature},
			{"empty signature", s.VerifyWithLabel(spub, "l", []byte("m"), nil), ErrInvalidSignature},
			{"short signature key", s.VerifyWithLabel(spub[:len(spub)-1], "l", []byte("m"), sig), ErrInvalidKey},
			{"bad signing key", func() error { _, err := s.SignWithLabel(spriv[1:], "l", nil); return err }(), ErrInvalidKey},
			{"AEAD short key", func() error { _, err := s.Seal(make([]byte, 3), make([]byte, 12), nil, nil); return err }(), ErrInvalidKey},
			{"AEAD tampered", func() error {
				key := make([]byte, s.AEADKeySize())
				c, _ := s.Seal(key, make([]byte, 12), nil, []byte("x"))
				_, err := s.Open(key, make([]byte, 12), nil, flip(c, 0))
				return err
			}(), ErrDecrypt},
		}
		for _, c := range cases {
			if !errors.Is(c.err, c.want) {
				t.Errorf("%v %s: err = %v, want %v", id, c.name, c.err, c.want)
			}
		}
	}
	if _, err := Lookup(0x7777); !errors.Is(err, ErrUnsupportedSuite) {
		t.Errorf("Lookup(0x7777): %v", err)
	}
}

func BenchmarkPrimitives(b *testing.B) {
	for _, id := range All() {
		s, _ := Lookup(id)
		r := seeded(9)
		priv, pub, _ := s.GenerateKeyPair(r)
		spriv, spub, _ := s.GenerateSignatureKey(r)
		msg := make([]byte, 100)
		kem, ct, _ := s.EncryptWithLabel(r, pub, "bench", nil, msg)
		sig, _ := s.SignWithLabel(spriv, "bench", msg)
		secret := make([]byte, s.HashSize())
		key, nonce := make([]byte, s.AEADKeySize()), make([]byte, 12)
		sealed, _ := s.Seal(key, nonce, nil, msg)
		name := fmt.Sprintf("suite=%d", id)
		b.Run(name+"/EncryptWithLabel", func(b *testing.B) {
			for b.Loop() {
				s.EncryptWithLabel(r, pub, "bench", nil, msg)
			}
		})
		b.Run(name+"/DecryptWithLabel", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.DecryptWithLabel(priv, "bench", nil, kem, ct); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/SignWithLabel", func(b *testing.B) {
			for b.Loop() {
				s.SignWithLabel(spriv, "bench", msg)
			}
		})
		b.Run(name+"/VerifyWithLabel", func(b *testing.B) {
			for b.Loop() {
				if err := s.VerifyWithLabel(spub, "bench", msg, sig); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/ExpandWithLabel", func(b *testing.B) {
			for b.Loop() {
				s.ExpandWithLabel(secret, "bench", nil, 32)
			}
		})
		b.Run(name+"/Seal100", func(b *testing.B) {
			for b.Loop() {
				s.Seal(key, nonce, nil, msg)
			}
		})
		b.Run(name+"/Open100", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Open(key, nonce, nil, sealed); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
