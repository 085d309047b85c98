package suite

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

func TestTable(t *testing.T) {
	if got := All(); len(got) != 7 || got[0] != 1 || got[6] != 7 {
		t.Fatalf("All() = %v", got)
	}
	want := map[ID]struct{ nh, nk, nsk, npk int }{
		1: {32, 16, 32, 32}, 2: {32, 16, 32, 65}, 3: {32, 32, 32, 32},
		4: {64, 32, 56, 56}, 5: {64, 32, 66, 133}, 6: {64, 32, 56, 56}, 7: {48, 32, 48, 97},
	}
	for _, id := range All() {
		s, err := Lookup(id)
		if err != nil || s.ID() != id {
			t.Fatalf("Lookup(%d) = %v, %v", id, s, err)
		}
		w := want[id]
		if s.HashSize() != w.nh || s.AEADKeySize() != w.nk || s.HPKEPrivateKeySize() != w.nsk ||
			s.HPKEPublicKeySize() != w.npk || s.AEADNonceSize() != 12 || len(s.Hash(nil)) != w.nh {
			t.Errorf("%v: sizes %d %d %d %d", id, s.HashSize(), s.AEADKeySize(), s.HPKEPrivateKeySize(), s.HPKEPublicKeySize())
		}
		if len(s.Extract(nil, nil)) != w.nh || len(s.MAC([]byte("k"), nil)) != w.nh {
			t.Errorf("%v: Extract/MAC size", id)
		}
		if !s.VerifyMAC([]byte("k"), []byte("d"), s.MAC([]byte("k"), []byte("d"))) ||
			s.VerifyMAC([]byte("k"), []byte("e"), s.MAC([]byte("k"), []byte("d"))) {
			t.Errorf("%v: VerifyMAC", id)
		}
	}
	if MLS_256_DHKEMP384_AES256GCM_SHA384_P384.String() != "MLS_256_DHKEMP384_AES256GCM_SHA384_P384" ||
		ID(0).String() != "CipherSuite(0x0000)" || ID(0xfafa).String() != "CipherSuite(0xfafa)" {
		t.Error("String")
	}
	for _, id := range []ID{0, 8, 0x0a0a, 0xffff} {
		if _, err := Lookup(id); !errors.Is(err, ErrUnsupportedSuite) {
			t.Errorf("Lookup(%v) err = %v", id, err)
		}
	}
}

// TestRefs checks the §5.2 labels and that RefHash is Hash of the encoded
// RefHashInput.
func TestRefs(t *testing.T) {
	s, _ := Lookup(1)
	v := bytes.Repeat([]byte{7}, 70) // a 2-byte varint length
	enc := append([]byte{byte(len(KeyPackageRefLabel))}, KeyPackageRefLabel...)
	enc = append(append(enc, 0x40, 70), v...)
	if !bytes.Equal(s.MakeKeyPackageRef(v), s.Hash(enc)) {
		t.Error("MakeKeyPackageRef")
	}
	if bytes.Equal(s.MakeProposalRef(v), s.MakeKeyPackageRef(v)) ||
		!bytes.Equal(s.MakeProposalRef(v), s.RefHash("MLS 1.0 Proposal Reference", v)) {
		t.Error("MakeProposalRef")
	}
}

// TestDeterminism: every output that uses randomness is a function of the
// reader's bytes, so equal seeds give equal keys, ciphertexts, exports and
// signatures (and another seed gives other ones).
func TestDeterminism(t *testing.T) {
	for _, id := range All() {
		s, _ := Lookup(id)
		run := func(seed uint64) [][]byte {
			r := seeded(seed)
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
			xkem, xsec, err := s.HPKEExport(r, hpub, nil, []byte("x"), 32)
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
			sig2, _ := s.SignWithLabel(sp, "l", []byte("msg"))
			if !bytes.Equal(sig, sig2) {
				t.Errorf("%v: signing the same message twice differs", id)
			}
			return [][]byte{hp, hpub, sp, spub, kem, ct, xkem, xsec, sig}
		}
		a, b, c := run(42), run(42), run(43)
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Errorf("%v: output %d differs between equal seeds", id, i)
			}
			if bytes.Equal(a[i], c[i]) {
				t.Errorf("%v: output %d equal under another seed", id, i)
			}
		}
	}
}

type failingReader struct{ n int } // gives n bytes, then fails

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("reader exhausted")
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

// noPanic runs f and turns a panic into a test failure.
func noPanic(t *testing.T, name string, f func() error) (err error) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Errorf("%s panicked: %v", name, p)
			err = fmt.Errorf("panic")
		}
	}()
	return f()
}

// anyErr is a "want" that accepts any non-nil error.
var anyErr = errors.New("any error")

// TestBadInput: malformed keys, kem_outputs, ciphertexts and signatures
// give errors wrapping the right sentinel, and nothing panics.
func TestBadInput(t *testing.T) {
	for _, id := range All() {
		t.Run(fmt.Sprint(id), func(t *testing.T) { badInput(t, id) })
	}
}

func badInput(t *testing.T, id ID) {
	s, _ := Lookup(id)
	r := seeded(3)
	priv, pub, _ := s.GenerateKeyPair(r)
	spriv, spub, _ := s.GenerateSignatureKey(r)
	ctx := []byte("ctx")
	kem, ct, err := s.EncryptWithLabel(r, pub, "l", ctx, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := s.SignWithLabel(spriv, "l", []byte("m"))
	flip := func(b []byte, i int) []byte { c := append([]byte{}, b...); c[i%len(c)] ^= 1; return c }
	ff := func(n int) []byte { return bytes.Repeat([]byte{0xff}, n) }
	long := func(b []byte) []byte { return append(append([]byte{}, b...), 0) }
	isNIST := s.kem.curve != nil && !s.kem.isX()

	enc := func(p []byte) func() error {
		return func() error { _, _, err := s.EncryptWithLabel(r, p, "l", nil, nil); return err }
	}
	dec := func(sk, k, c []byte) func() error {
		return func() error { _, err := s.DecryptWithLabel(sk, "l", ctx, k, c); return err }
	}
	key, nonce := make([]byte, s.AEADKeySize()), make([]byte, s.AEADNonceSize())
	sealed, _ := s.Seal(key, nonce, []byte("aad"), []byte("x"))

	type tc struct {
		name string
		f    func() error
		want error
	}
	cases := []tc{}
	if s.kem.isX() {
		// X25519/X448 keys are byte strings of exactly Nsk bytes; NIST
		// scalars may be short (TestShortHPKEScalar).
		cases = append(cases,
			tc{"short private key", dec(priv[1:], kem, ct), ErrInvalidKey},
			tc{"PublicKey of short key", func() error { _, err := s.PublicKey(priv[1:]); return err }, ErrInvalidKey})
	}
	cases = append(cases, []tc{
		// HPKE keys.
		{"empty public key", enc(nil), ErrInvalidKey},
		{"short public key", enc(pub[:len(pub)-1]), ErrInvalidKey},
		{"long public key", enc(long(pub)), ErrInvalidKey},
		{"long private key", dec(long(priv), kem, ct), ErrInvalidKey},
		{"empty private key", dec(nil, kem, ct), ErrInvalidKey},
		// kem_output and ciphertext.
		{"empty kem_output", dec(priv, nil, ct), ErrDecrypt},
		{"truncated kem_output", dec(priv, kem[:len(kem)-1], ct), ErrDecrypt},
		{"long kem_output", dec(priv, long(kem), ct), ErrDecrypt},
		{"tampered kem_output", dec(priv, flip(kem, 5), ct), ErrDecrypt},
		{"tampered ciphertext", dec(priv, kem, flip(ct, 3)), ErrDecrypt},
		{"tampered tag", dec(priv, kem, flip(ct, len(ct)-1)), ErrDecrypt},
		{"truncated ciphertext", dec(priv, kem, ct[:len(ct)-1]), ErrDecrypt},
		{"ciphertext shorter than tag", dec(priv, kem, ct[:5]), ErrDecrypt},
		{"empty ciphertext", dec(priv, kem, nil), ErrDecrypt},
		{"wrong context", func() error { _, err := s.DecryptWithLabel(priv, "l", []byte("other"), kem, ct); return err }, ErrDecrypt},
		{"wrong label", func() error { _, err := s.DecryptWithLabel(priv, "m", ctx, kem, ct); return err }, ErrDecrypt},
		{"other private key", func() error {
			other, _, _ := s.GenerateKeyPair(r)
			_, err := s.DecryptWithLabel(other, "l", ctx, kem, ct)
			return err
		}, ErrDecrypt},
		// Exporter.
		{"export negative length", func() error { _, _, err := s.HPKEExport(r, pub, nil, nil, -1); return err }, anyErr},
		{"export too long", func() error { _, _, err := s.HPKEExport(r, pub, nil, nil, 255*s.HashSize()+1); return err }, anyErr},
		{"export receive too long", func() error {
			_, err := s.HPKEExportReceive(priv, kem, nil, nil, 255*s.HashSize()+1)
			return err
		}, anyErr},
		{"export short kem_output", func() error { _, err := s.HPKEExportReceive(priv, kem[1:], nil, nil, 32); return err }, ErrDecrypt},
		// Randomness that runs out.
		{"GenerateKeyPair reader fails", func() error { _, _, err := s.GenerateKeyPair(&failingReader{3}); return err }, anyErr},
		{"GenerateSignatureKey reader fails", func() error { _, _, err := s.GenerateSignatureKey(&failingReader{3}); return err }, anyErr},
		{"EncryptWithLabel reader fails", func() error {
			_, _, err := s.EncryptWithLabel(&failingReader{1}, pub, "l", nil, nil)
			return err
		}, anyErr},
		{"EncryptWithLabel empty reader", func() error {
			_, _, err := s.EncryptWithLabel(bytes.NewReader(nil), pub, "l", nil, nil)
			return err
		}, io.EOF},
		// Signatures.
		{"tampered signature", func() error { return s.VerifyWithLabel(spub, "l", []byte("m"), flip(sig, 10)) }, ErrInvalidSignature},
		{"truncated signature", func() error { return s.VerifyWithLabel(spub, "l", []byte("m"), sig[:len(sig)-1]) }, ErrInvalidSignature},
		{"long signature", func() error { return s.VerifyWithLabel(spub, "l", []byte("m"), long(sig)) }, ErrInvalidSignature},
		{"empty signature", func() error { return s.VerifyWithLabel(spub, "l", []byte("m"), nil) }, ErrInvalidSignature},
		{"other content", func() error { return s.VerifyWithLabel(spub, "l", []byte("n"), sig) }, ErrInvalidSignature},
		{"other label", func() error { return s.VerifyWithLabel(spub, "k", []byte("m"), sig) }, ErrInvalidSignature},
		{"short verification key", func() error { return s.VerifyWithLabel(spub[:len(spub)-1], "l", []byte("m"), sig) }, ErrInvalidKey},
		{"empty verification key", func() error { return s.VerifyWithLabel(nil, "l", []byte("m"), sig) }, ErrInvalidKey},
		{"long signing key", func() error { _, err := s.SignWithLabel(long(spriv), "l", nil); return err }, ErrInvalidKey},
		{"short EdDSA signing key", func() error {
			if s.sig == sigECDSA {
				return ErrInvalidKey // ECDSA scalars may be short; see TestShortECDSAScalar
			}
			_, err := s.SignWithLabel(spriv[1:], "l", nil)
			return err
		}, ErrInvalidKey},
		{"NewSigningKey of empty key", func() error { _, err := s.NewSigningKey(nil); return err }, ErrInvalidKey},
		// AEAD.
		{"AEAD short key", func() error { _, err := s.Seal(key[1:], nonce, nil, nil); return err }, ErrInvalidKey},
		{"AEAD long key", func() error { _, err := s.Open(long(key), nonce, nil, sealed); return err }, ErrInvalidKey},
		{"AEAD short nonce", func() error { _, err := s.Seal(key, nonce[1:], nil, nil); return err }, ErrInvalidKey},
		{"AEAD long nonce", func() error { _, err := s.Open(key, long(nonce), nil, sealed); return err }, ErrInvalidKey},
		{"AEAD tampered", func() error { _, err := s.Open(key, nonce, []byte("aad"), flip(sealed, 0)); return err }, ErrDecrypt},
		{"AEAD wrong aad", func() error { _, err := s.Open(key, nonce, []byte("aae"), sealed); return err }, ErrDecrypt},
		{"AEAD truncated", func() error { _, err := s.Open(key, nonce, []byte("aad"), sealed[:3]); return err }, ErrDecrypt},
		{"AEAD empty", func() error { _, err := s.Open(key, nonce, []byte("aad"), nil); return err }, ErrDecrypt},
		// KDF lengths.
		{"Expand negative", func() error { _, err := s.Expand(key, nil, -1); return err }, anyErr},
		{"Expand too long", func() error { _, err := s.Expand(key, nil, 255*s.HashSize()+1); return err }, anyErr},
		{"ExpandWithLabel too long", func() error { _, err := s.ExpandWithLabel(key, "l", nil, 0x10000); return err }, anyErr},
		{"DeriveTreeSecret negative", func() error { _, err := s.DeriveTreeSecret(key, "l", 0, -5); return err }, anyErr},
	}...)
	if isNIST {
		n := s.kem.nsk
		point := append([]byte{4}, ff(len(pub)-1)...) // not on the curve
		cases = append(cases,
			tc{"HPKE private key zero", dec(make([]byte, n), kem, ct), ErrInvalidKey},
			tc{"HPKE private key >= order", dec(ff(n), kem, ct), ErrInvalidKey},
			tc{"PublicKey of zero", func() error { _, err := s.PublicKey(make([]byte, n)); return err }, ErrInvalidKey},
			tc{"public key off the curve", enc(point), ErrInvalidKey},
			tc{"compressed-style public key", enc(append([]byte{2}, pub[1:]...)), ErrInvalidKey},
			tc{"kem_output off the curve", dec(priv, point, ct), ErrDecrypt},
			tc{"kem_output identity encoding", dec(priv, make([]byte, len(pub)), ct), ErrDecrypt},
		)
	} else {
		// X25519/X448: the all-zero public key is of low order, so the DH
		// output is zero and HPKE must refuse it (RFC 9180 §7.1.4).
		cases = append(cases,
			tc{"low-order public key", enc(make([]byte, len(pub))), ErrInvalidKey},
			tc{"low-order kem_output", dec(priv, make([]byte, len(kem)), ct), ErrDecrypt},
		)
	}
	if s.sig == sigECDSA {
		n := len(spriv)
		cases = append(cases,
			tc{"ECDSA signing key zero", func() error { _, err := s.SignWithLabel(make([]byte, n), "l", nil); return err }, ErrInvalidKey},
			tc{"ECDSA signing key >= order", func() error { _, err := s.SignWithLabel(ff(n), "l", nil); return err }, ErrInvalidKey},
			tc{"ECDSA verification key off the curve", func() error {
				return s.VerifyWithLabel(append([]byte{4}, ff(len(spub)-1)...), "l", []byte("m"), sig)
			}, ErrInvalidKey},
			tc{"ECDSA signature not DER", func() error { return s.VerifyWithLabel(spub, "l", []byte("m"), ff(len(sig))) }, ErrInvalidSignature},
		)
	}
	for _, c := range cases {
		err := noPanic(t, c.name, c.f)
		switch {
		case c.want == anyErr:
			if err == nil {
				t.Errorf("%s: no error", c.name)
			}
		case !errors.Is(err, c.want):
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

// TestConcurrentUse shares each *Suite between goroutines (run with -race).
func TestConcurrentUse(t *testing.T) {
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := seeded(uint64(100 + g))
			for _, id := range All() {
				s, _ := Lookup(id)
				priv, pub, _ := s.GenerateKeyPair(r)
				kem, ct, err := s.EncryptWithLabel(r, pub, "l", nil, []byte("m"))
				if err == nil {
					_, err = s.DecryptWithLabel(priv, "l", nil, kem, ct)
				}
				spriv, spub, _ := s.GenerateSignatureKey(r)
				sig, _ := s.SignWithLabel(spriv, "l", []byte("m"))
				if err == nil {
					err = s.VerifyWithLabel(spub, "l", []byte("m"), sig)
				}
				if err != nil {
					t.Errorf("%v: %v", id, err)
				}
			}
		})
	}
	wg.Wait()
}

// TestShortECDSAScalar: a big-endian ECDSA scalar without its leading zero
// bytes (as in the RFC 9420 P-521 message-protection vector) is the same
// key as the padded one.
func TestShortECDSAScalar(t *testing.T) {
	for _, id := range []ID{2, 5, 7} {
		s, _ := Lookup(id)
		size := (s.curve.Params().N.BitLen() + 7) / 8
		scalar := make([]byte, size)
		scalar[size-1] = 7
		full, err := s.SignaturePublicKey(scalar)
		if err != nil {
			t.Fatal(err)
		}
		short, err := s.SignaturePublicKey(scalar[size-3:])
		if err != nil || !bytes.Equal(full, short) {
			t.Fatalf("%v: short scalar gives %x, %v", id, short, err)
		}
		sig, err := s.SignWithLabel(scalar[size-3:], "l", []byte("m"))
		if err != nil || s.VerifyWithLabel(full, "l", []byte("m"), sig) != nil {
			t.Fatalf("%v: signing with a short scalar: %v", id, err)
		}
	}
}

// TestShortHPKEScalar: a NIST-curve HPKE private key without its leading
// zero bytes (as in the RFC 9420 P-521 passive-client vectors) is the same
// key as the padded one.
func TestShortHPKEScalar(t *testing.T) {
	for _, id := range []ID{2, 5, 7} {
		s, _ := Lookup(id)
		scalar := make([]byte, s.kem.nsk)
		scalar[len(scalar)-1] = 9
		full, err := s.PublicKey(scalar)
		if err != nil {
			t.Fatal(err)
		}
		short := scalar[len(scalar)-2:]
		if got, err := s.PublicKey(short); err != nil || !bytes.Equal(got, full) {
			t.Fatalf("%v: short scalar: %x, %v", id, got, err)
		}
		kem, ct, err := s.EncryptWithLabel(seeded(1), full, "l", nil, []byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := s.DecryptWithLabel(short, "l", nil, kem, ct); err != nil || string(pt) != "m" {
			t.Fatalf("%v: decrypt with short scalar: %v", id, err)
		}
	}
}

// TestLabelEncryptorMatchesEncryptWithLabel: for the same randomness the
// encryptor's output is byte for byte EncryptWithLabel's, in every suite,
// and it decrypts with DecryptWithLabel.
func TestLabelEncryptorMatchesEncryptWithLabel(t *testing.T) {
	for _, id := range All() {
		s, _ := Lookup(id)
		priv, pub, err := s.GenerateKeyPair(seeded(1))
		if err != nil {
			t.Fatal(err)
		}
		context := bytes.Repeat([]byte{7}, 1000)
		e, err := s.NewLabelEncryptor("Welcome", context)
		if err != nil {
			t.Fatal(err)
		}
		k1, c1, err := e.Encrypt(seeded(2), pub, []byte("group secrets"))
		if err != nil {
			t.Fatal(err)
		}
		k2, c2, err := s.EncryptWithLabel(seeded(2), pub, "Welcome", context, []byte("group secrets"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k1, k2) || !bytes.Equal(c1, c2) {
			t.Fatalf("%v: encryptor output differs from EncryptWithLabel", id)
		}
		if pt, err := s.DecryptWithLabel(priv, "Welcome", context, k1, c1); err != nil || string(pt) != "group secrets" {
			t.Fatalf("%v: %v", id, err)
		}
		if _, _, err := e.Encrypt(seeded(3), pub[:5], nil); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("%v: short key: %v", id, err)
		}
	}
}
