package suite

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

// A memo gives the verdict the suite computes, for good and bad
// signatures alike, and a change to any input misses it: a memoised
// success never vouches for a different key, message or signature.
func TestVerifyMemoSameVerdicts(t *testing.T) {
	for _, id := range []ID{MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, MLS_128_DHKEMP256_AES128GCM_SHA256_P256, MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448} {
		plain, err := Lookup(id)
		if err != nil {
			t.Fatal(err)
		}
		memo := NewVerifyMemo(16)
		s := plain.WithVerifyMemo(memo)
		r := rand.NewChaCha8([32]byte{byte(id)})
		priv, pub, _ := s.GenerateSignatureKey(r)
		_, otherPub, _ := s.GenerateSignatureKey(r)
		content := []byte("content")
		sig, err := s.SignWithLabel(priv, "L", content)
		if err != nil {
			t.Fatal(err)
		}
		badSig := bytes.Clone(sig)
		badSig[len(badSig)/2] ^= 1
		cases := []struct {
			name    string
			pub     []byte
			label   string
			content []byte
			sig     []byte
		}{
			{"genuine", pub, "L", content, sig},
			{"other key", otherPub, "L", content, sig},
			{"other label", pub, "M", content, sig},
			{"other content", pub, "L", []byte("contenT"), sig},
			{"flipped signature", pub, "L", content, badSig},
			{"short key", pub[:len(pub)-1], "L", content, sig},
		}
		for round := 0; round < 2; round++ { // the second round is answered by the memo
			for _, c := range cases {
				want := plain.VerifyWithLabel(c.pub, c.label, c.content, c.sig)
				got := s.VerifyWithLabel(c.pub, c.label, c.content, c.sig)
				if (want == nil) != (got == nil) || (want != nil && !errors.Is(got, ErrInvalidSignature) && !errors.Is(got, ErrInvalidKey)) {
					t.Fatalf("%v %s round %d: memo says %v, suite says %v", id, c.name, round, got, want)
				}
				if c.name == "genuine" && got != nil {
					t.Fatalf("%v: genuine signature refused: %v", id, got)
				}
				if c.name != "genuine" && got == nil {
					t.Fatalf("%v %s: accepted", id, c.name)
				}
			}
		}
		hits, misses := memo.Stats()
		if hits != uint64(len(cases)) || misses != uint64(len(cases)) {
			t.Fatalf("%v: hits %d misses %d, want %d each", id, hits, misses, len(cases))
		}
	}
}

// A full memo starts afresh rather than growing, and still answers right.
func TestVerifyMemoBounded(t *testing.T) {
	plain, _ := Lookup(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	memo := NewVerifyMemo(3)
	s := plain.WithVerifyMemo(memo)
	priv, pub, _ := s.GenerateSignatureKey(rand.NewChaCha8([32]byte{1}))
	for i := 0; i < 10; i++ {
		content := []byte{byte(i)}
		sig, _ := s.SignWithLabel(priv, "L", content)
		if err := s.VerifyWithLabel(pub, "L", content, sig); err != nil {
			t.Fatal(err)
		}
		if err := s.VerifyWithLabel(pub, "L", []byte{byte(i + 1)}, sig); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("wrong content accepted: %v", err)
		}
		memo.mu.Lock()
		n := len(memo.verdicts)
		memo.mu.Unlock()
		if n > 3 {
			t.Fatalf("memo holds %d verdicts, limit 3", n)
		}
	}
}

// Members in parallel share one memo (run under -race).
func TestVerifyMemoConcurrent(t *testing.T) {
	plain, _ := Lookup(MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519)
	s := plain.WithVerifyMemo(NewVerifyMemo(64))
	priv, pub, _ := s.GenerateSignatureKey(rand.NewChaCha8([32]byte{2}))
	sigs := make([][]byte, 8)
	for i := range sigs {
		sigs[i], _ = s.SignWithLabel(priv, "L", []byte{byte(i)})
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, sig := range sigs {
				if err := s.VerifyWithLabel(pub, "L", []byte{byte(i)}, sig); err != nil {
					errs <- err
				}
				if err := s.VerifyWithLabel(pub, "L", []byte{byte(i)}, sigs[(i+1)%len(sigs)]); err == nil {
					errs <- errors.New("a signature over other content accepted")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
