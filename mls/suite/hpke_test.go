package suite

import (
	"bytes"
	gohpke "crypto/hpke"
	"fmt"
	"math/rand/v2"
	"testing"
)

func seeded(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// goHPKE returns Go's crypto/hpke KEM, KDF and AEAD for s, or ok=false for
// X448 (suites 4 and 6), which Go lacks.
func goHPKE(t testing.TB, s *Suite) (gohpke.KEM, gohpke.KDF, gohpke.AEAD, bool) {
	t.Helper()
	if s.kem.id == 0x0021 {
		return nil, nil, nil, false
	}
	kemID, kdfID, aeadID := s.hpke.Params()
	k, err := gohpke.NewKEM(uint16(kemID))
	if err != nil {
		t.Fatal(err)
	}
	kdf, err := gohpke.NewKDF(uint16(kdfID))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := gohpke.NewAEAD(uint16(aeadID))
	if err != nil {
		t.Fatal(err)
	}
	return k, kdf, aead, true
}

// TestDeriveKeyPairCrossCheck compares DeriveKeyPair, for every KEM and
// ikm of several lengths (Nsk, Nh, short, long), with Go's crypto/hpke
// (X25519 and the NIST curves, any length) and with circl (every KEM, ikm
// of exactly Nsk bytes, the only length circl accepts). P-384 has no RFC
// 9180 vector, so this is its known-answer check.
func TestDeriveKeyPairCrossCheck(t *testing.T) {
	r := seeded(7)
	for _, id := range All() {
		s, _ := Lookup(id)
		goKEM, _, _, haveGo := goHPKE(t, s)
		for _, n := range []int{s.KEMSeedSize(), s.HashSize(), 0, 16, 100} {
			ikm := make([]byte, n)
			r.Read(ikm)
			priv, pub, err := s.DeriveKeyPair(ikm)
			if err != nil {
				t.Fatalf("%v ikm %d: %v", id, n, err)
			}
			if len(priv) != s.HPKEPrivateKeySize() || len(pub) != s.HPKEPublicKeySize() {
				t.Fatalf("%v: key sizes %d, %d", id, len(priv), len(pub))
			}
			if got, err := s.PublicKey(priv); err != nil || !bytes.Equal(got, pub) {
				t.Fatalf("%v: PublicKey(priv) disagrees with DeriveKeyPair", id)
			}
			if haveGo {
				gk, err := goKEM.DeriveKeyPair(ikm)
				if err != nil {
					t.Fatal(err)
				}
				gb, err := gk.Bytes()
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gb, priv) || !bytes.Equal(gk.PublicKey().Bytes(), pub) {
					t.Errorf("%v ikm %d: differs from crypto/hpke", id, n)
				}
			}
			if n == s.KEMSeedSize() {
				cpub, cpriv := s.hpkeKEM.Scheme().DeriveKeyPair(ikm)
				cp, _ := cpub.MarshalBinary()
				if !bytes.Equal(cp, pub) {
					t.Errorf("%v: public key differs from circl", id)
				}
				cs, _ := cpriv.MarshalBinary()
				if cpk, err := s.PublicKey(cs); err != nil || !bytes.Equal(cpk, pub) {
					t.Errorf("%v: circl's private key gives another public key", id)
				}
			}
		}
	}
}

// TestHPKERoundTrip: for every suite, keys derived from Nh-byte secrets
// (as MLS derives node keys; circl alone would panic for suites 4-6)
// encrypt and decrypt, and both exporter sides agree.
func TestHPKERoundTrip(t *testing.T) {
	r := seeded(11)
	for _, id := range All() {
		s, _ := Lookup(id)
		secret := make([]byte, s.HashSize())
		r.Read(secret)
		priv, pub, err := s.DeriveKeyPair(secret)
		if err != nil {
			t.Fatal(err)
		}
		for _, size := range []int{0, 1, 100, 5000} {
			pt := make([]byte, size)
			r.Read(pt)
			kem, ct, err := s.EncryptWithLabel(r, pub, "UpdatePathNode", []byte("group context"), pt)
			if err != nil {
				t.Fatalf("%v: %v", id, err)
			}
			if len(kem) != s.HPKEPublicKeySize() || len(ct) != size+s.AEADOverhead() {
				t.Errorf("%v: kem_output %d, ciphertext %d bytes", id, len(kem), len(ct))
			}
			got, err := s.DecryptWithLabel(priv, "UpdatePathNode", []byte("group context"), kem, ct)
			if err != nil || !bytes.Equal(got, pt) {
				t.Errorf("%v size %d: DecryptWithLabel = %v", id, size, err)
			}
		}
		kem, sec, err := s.HPKEExport(r, pub, nil, []byte("MLS 1.0 external init secret"), s.HashSize())
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.HPKEExportReceive(priv, kem, nil, []byte("MLS 1.0 external init secret"), s.HashSize())
		if err != nil || !bytes.Equal(got, sec) || len(sec) != s.HashSize() {
			t.Errorf("%v: exporter sides disagree: %v", id, err)
		}
	}
}

// TestHPKEInteropGo encrypts with this package and decrypts with Go's
// crypto/hpke and the other way round, for the suites whose KEM Go has
// (all but X448). With the RFC 9180 vectors this covers suite 7 (P-384),
// which has none.
func TestHPKEInteropGo(t *testing.T) {
	r := seeded(13)
	for _, id := range All() {
		s, _ := Lookup(id)
		goKEM, kdf, aead, ok := goHPKE(t, s)
		if !ok {
			continue
		}
		t.Run(fmt.Sprint(id), func(t *testing.T) {
			priv, pub, err := s.GenerateKeyPair(r)
			if err != nil {
				t.Fatal(err)
			}
			gsk, err := goKEM.NewPrivateKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			gpk, err := goKEM.NewPublicKey(pub)
			if err != nil {
				t.Fatal(err)
			}
			info, _ := encryptContext("Welcome", []byte("ctx"))
			msg := []byte("group secrets")

			kem, ct, err := s.EncryptWithLabel(r, pub, "Welcome", []byte("ctx"), msg)
			if err != nil {
				t.Fatal(err)
			}
			rcp, err := gohpke.NewRecipient(kem, gsk, kdf, aead, info)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := rcp.Open(nil, ct); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("crypto/hpke Open of our ciphertext: %v", err)
			}

			enc, snd, err := gohpke.NewSender(gpk, kdf, aead, info)
			if err != nil {
				t.Fatal(err)
			}
			gct, err := snd.Seal(nil, msg)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := s.DecryptWithLabel(priv, "Welcome", []byte("ctx"), enc, gct); err != nil || !bytes.Equal(got, msg) {
				t.Errorf("DecryptWithLabel of crypto/hpke ciphertext: %v", err)
			}
			gexp, err := snd.Export("MLS 1.0 external init secret", s.HashSize())
			if err != nil {
				t.Fatal(err)
			}
			exp, err := s.HPKEExportReceive(priv, enc, info, []byte("MLS 1.0 external init secret"), s.HashSize())
			if err != nil || !bytes.Equal(exp, gexp) {
				t.Errorf("exporter differs from crypto/hpke: %v", err)
			}
		})
	}
}
