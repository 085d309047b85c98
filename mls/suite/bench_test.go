package suite

import (
	"fmt"
	"testing"
)

// benchSuites runs f as one sub-benchmark per suite, named suite=N.
func benchSuites(b *testing.B, f func(b *testing.B, s *Suite)) {
	for _, id := range All() {
		s, _ := Lookup(id)
		b.Run(fmt.Sprintf("suite=%d", id), func(b *testing.B) { f(b, s) })
	}
}

func BenchmarkEncryptWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		r := seeded(9)
		_, pub, _ := s.GenerateKeyPair(r)
		msg := make([]byte, 100)
		for b.Loop() {
			if _, _, err := s.EncryptWithLabel(r, pub, "UpdatePathNode", nil, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDecryptWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		r := seeded(9)
		priv, pub, _ := s.GenerateKeyPair(r)
		kem, ct, _ := s.EncryptWithLabel(r, pub, "UpdatePathNode", nil, make([]byte, 100))
		for b.Loop() {
			if _, err := s.DecryptWithLabel(priv, "UpdatePathNode", nil, kem, ct); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDeriveKeyPair(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		secret := make([]byte, s.HashSize())
		for b.Loop() {
			if _, _, err := s.DeriveKeyPair(secret); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSignWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		priv, _, _ := s.GenerateSignatureKey(seeded(9))
		msg := make([]byte, 100)
		for b.Loop() {
			if _, err := s.SignWithLabel(priv, "FramedContentTBS", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkSigningKey signs with a key parsed once (SigningKey).
func BenchmarkSigningKey(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		priv, _, _ := s.GenerateSignatureKey(seeded(9))
		k, _ := s.NewSigningKey(priv)
		msg := make([]byte, 100)
		for b.Loop() {
			if _, err := k.SignWithLabel("FramedContentTBS", msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerifyWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		priv, pub, _ := s.GenerateSignatureKey(seeded(9))
		msg := make([]byte, 100)
		sig, _ := s.SignWithLabel(priv, "FramedContentTBS", msg)
		for b.Loop() {
			if err := s.VerifyWithLabel(pub, "FramedContentTBS", msg, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkExpandWithLabel(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		secret := make([]byte, s.HashSize())
		for b.Loop() {
			if _, err := s.ExpandWithLabel(secret, "key", nil, 32); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkSeal100(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		key, nonce, msg := make([]byte, s.AEADKeySize()), make([]byte, s.AEADNonceSize()), make([]byte, 100)
		b.SetBytes(100)
		for b.Loop() {
			if _, err := s.Seal(key, nonce, nil, msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkOpen100(b *testing.B) {
	benchSuites(b, func(b *testing.B, s *Suite) {
		key, nonce := make([]byte, s.AEADKeySize()), make([]byte, s.AEADNonceSize())
		sealed, _ := s.Seal(key, nonce, nil, make([]byte, 100))
		b.SetBytes(100)
		for b.Loop() {
			if _, err := s.Open(key, nonce, nil, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A beacon-sized check with real crypto, and the same check answered by a
// shared verdict (what the simulator's other members pay).
func BenchmarkVerifyMemo(b *testing.B) {
	s, _ := Lookup(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	r := seeded(9)
	priv, pub, _ := s.GenerateSignatureKey(r)
	content := make([]byte, 120)
	sig, _ := s.SignWithLabel(priv, "Beacon", content)
	b.Run("alone", func(b *testing.B) {
		for b.Loop() {
			if err := s.VerifyWithLabel(pub, "Beacon", content, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("shared", func(b *testing.B) {
		m := s.WithVerifyMemo(NewVerifyMemo(16))
		for b.Loop() {
			if err := m.VerifyWithLabel(pub, "Beacon", content, sig); err != nil {
				b.Fatal(err)
			}
		}
	})
}
