package framing

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/keyschedule"
	"github.com/mlsnode/mlsnode/mls/secrettree"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
)

type hx = testvectors.Hex

type protectionCase struct {
	CipherSuite             suite.ID `json:"cipher_suite"`
	GroupID                 hx       `json:"group_id"`
	Epoch                   uint64   `json:"epoch"`
	TreeHash                hx       `json:"tree_hash"`
	ConfirmedTranscriptHash hx       `json:"confirmed_transcript_hash"`
	SignaturePriv           hx       `json:"signature_priv"`
	SignaturePub            hx       `json:"signature_pub"`
	EncryptionSecret        hx       `json:"encryption_secret"`
	SenderDataSecret        hx       `json:"sender_data_secret"`
	MembershipKey           hx       `json:"membership_key"`
	Proposal                hx       `json:"proposal"`
	ProposalPub             hx       `json:"proposal_pub"`
	ProposalPriv            hx       `json:"proposal_priv"`
	Commit                  hx       `json:"commit"`
	CommitPub               hx       `json:"commit_pub"`
	CommitPriv              hx       `json:"commit_priv"`
	Application             hx       `json:"application"`
	ApplicationPriv         hx       `json:"application_priv"`
}

// The message-protection vectors describe a group of two members in which
// leaf 1 sends (mlswg/mls-implementations test-vectors.md).
const (
	vectorLeaves = 2
	vectorSender = 1
)

func (c *protectionCase) epoch(t *testing.T) *Epoch {
	t.Helper()
	s, err := suite.Lookup(c.CipherSuite)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := secrettree.New(s, c.EncryptionSecret, vectorLeaves, secrettree.DefaultWindow)
	if err != nil {
		t.Fatal(err)
	}
	return &Epoch{
		Suite: s,
		Context: &wire.GroupContext{
			Version: wire.ProtocolVersionMLS10, CipherSuite: wire.CipherSuite(c.CipherSuite),
			GroupID: c.GroupID, Epoch: c.Epoch, TreeHash: c.TreeHash,
			ConfirmedTranscriptHash: c.ConfirmedTranscriptHash,
		},
		MembershipKey:    c.MembershipKey,
		SenderDataSecret: c.SenderDataSecret,
		SecretTree:       tree,
	}
}

// contentBytes encodes the body of a FramedContent for comparison with
// the vector's proposal / commit / application fields.
func contentBytes(t *testing.T, c *wire.FramedContent) []byte {
	t.Helper()
	switch c.ContentType {
	case wire.ContentTypeProposal:
		b, err := codec.Marshal(c.Proposal)
		if err != nil {
			t.Fatal(err)
		}
		return b
	case wire.ContentTypeCommit:
		b, err := codec.Marshal(c.Commit)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	return c.ApplicationData
}

func parseMessage(t *testing.T, b []byte) *wire.MLSMessage {
	t.Helper()
	m, err := wire.ParseMLSMessage(b)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMessageProtectionVectors(t *testing.T) {
	var cases []protectionCase
	testvectors.Load(t, "message-protection.json", &cases)
	for _, c := range cases {
		t.Run(c.CipherSuite.String(), func(t *testing.T) {
			ep := c.epoch(t)
			s := ep.Suite
			verify := func(ac *wire.AuthenticatedContent) error {
				return Verify(s, c.SignaturePub, ac, ep.Context)
			}
			// Unprotect the vector's messages.
			for _, m := range []struct {
				name string
				want []byte
				msg  []byte
			}{
				{"proposal_pub", c.Proposal, c.ProposalPub},
				{"commit_pub", c.Commit, c.CommitPub},
				{"proposal_priv", c.Proposal, c.ProposalPriv},
				{"commit_priv", c.Commit, c.CommitPriv},
				{"application_priv", c.Application, c.ApplicationPriv},
			} {
				// Each vector message was protected independently (the
				// proposal and the commit both use handshake generation 0),
				// so each opens against a fresh secret tree.
				ep := c.epoch(t)
				msg := parseMessage(t, m.msg)
				var ac *wire.AuthenticatedContent
				var err error
				if msg.PublicMessage != nil {
					ac, err = ep.UnprotectPublic(msg.PublicMessage)
					if err == nil {
						err = verify(ac)
					}
				} else {
					ac, err = ep.UnprotectPrivate(msg.PrivateMessage, verify)
				}
				if err != nil {
					t.Fatalf("%s: %v", m.name, err)
				}
				if got := contentBytes(t, &ac.Content); !bytes.Equal(got, m.want) {
					t.Errorf("%s: content = %x, want %x", m.name, got, m.want)
				}
			}

			// Protect the same contents ourselves; a receiver with a fresh
			// secret tree must open them.
			key, err := s.NewSigningKey(c.SignaturePriv)
			if err != nil {
				t.Fatal(err)
			}
			sender, receiver := c.epoch(t), c.epoch(t)
			rng := rand.NewChaCha8([32]byte{1})
			for _, body := range []struct {
				name string
				ct   wire.ContentType
				raw  []byte
			}{
				{"proposal", wire.ContentTypeProposal, c.Proposal},
				{"commit", wire.ContentTypeCommit, c.Commit},
				{"application", wire.ContentTypeApplication, c.Application},
			} {
				content := &wire.FramedContent{
					GroupID: c.GroupID, Epoch: c.Epoch,
					Sender:            wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: vectorSender},
					AuthenticatedData: []byte("aad"),
					ContentType:       body.ct,
				}
				switch body.ct {
				case wire.ContentTypeProposal:
					content.Proposal = new(wire.Proposal)
					if err := codec.Unmarshal(body.raw, content.Proposal); err != nil {
						t.Fatal(err)
					}
				case wire.ContentTypeCommit:
					content.Commit = new(wire.Commit)
					if err := codec.Unmarshal(body.raw, content.Commit); err != nil {
						t.Fatal(err)
					}
				default:
					content.ApplicationData = body.raw
				}
				wireFormats := []wire.WireFormat{wire.WireFormatPrivateMessage}
				if body.ct != wire.ContentTypeApplication {
					wireFormats = append(wireFormats, wire.WireFormatPublicMessage)
				}
				for _, wf := range wireFormats {
					ac, err := Sign(key, wf, content, sender.Context)
					if err != nil {
						t.Fatal(err)
					}
					if body.ct == wire.ContentTypeCommit {
						ac.Auth.ConfirmationTag = bytes.Repeat([]byte{0xcc}, s.HashSize())
					}
					var got *wire.AuthenticatedContent
					if wf == wire.WireFormatPublicMessage {
						pm, err := sender.ProtectPublic(ac)
						if err != nil {
							t.Fatal(err)
						}
						enc, _ := codec.Marshal(wire.NewMLSMessage(pm))
						got, err = receiver.UnprotectPublic(parseMessage(t, enc).PublicMessage)
						if err == nil {
							err = verify(got)
						}
						if err != nil {
							t.Fatalf("%s public: %v", body.name, err)
						}
					} else {
						pm, err := sender.ProtectPrivate(rng, ac, 17)
						if err != nil {
							t.Fatal(err)
						}
						enc, _ := codec.Marshal(wire.NewMLSMessage(pm))
						got, err = receiver.UnprotectPrivate(parseMessage(t, enc).PrivateMessage, verify)
						if err != nil {
							t.Fatalf("%s private: %v", body.name, err)
						}
					}
					if !bytes.Equal(contentBytes(t, &got.Content), body.raw) || !bytes.Equal(got.Content.AuthenticatedData, []byte("aad")) {
						t.Errorf("%s %v: round trip changed the content", body.name, wf)
					}
				}
			}
		})
	}
	testvectors.Report(t, "message-protection.json", len(cases))
}

func TestTranscriptHashVectors(t *testing.T) {
	var cases []struct {
		CipherSuite                  suite.ID `json:"cipher_suite"`
		ConfirmationKey              hx       `json:"confirmation_key"`
		AuthenticatedContent         hx       `json:"authenticated_content"`
		InterimTranscriptHashBefore  hx       `json:"interim_transcript_hash_before"`
		ConfirmedTranscriptHashAfter hx       `json:"confirmed_transcript_hash_after"`
		InterimTranscriptHashAfter   hx       `json:"interim_transcript_hash_after"`
	}
	testvectors.Load(t, "transcript-hashes.json", &cases)
	for _, c := range cases {
		s, err := suite.Lookup(c.CipherSuite)
		if err != nil {
			t.Fatal(err)
		}
		var ac wire.AuthenticatedContent
		if err := codec.Unmarshal(c.AuthenticatedContent, &ac); err != nil {
			t.Fatalf("suite %d: %v", c.CipherSuite, err)
		}
		input, err := ac.ConfirmedTranscriptHashInput()
		if err != nil {
			t.Fatal(err)
		}
		confirmed := keyschedule.ConfirmedTranscriptHash(s, c.InterimTranscriptHashBefore, input)
		if !bytes.Equal(confirmed, c.ConfirmedTranscriptHashAfter) {
			t.Errorf("suite %d: confirmed transcript hash = %x", c.CipherSuite, confirmed)
		}
		// The commit's confirmation tag is MAC(confirmation_key, confirmed).
		if !s.VerifyMAC(c.ConfirmationKey, confirmed, ac.Auth.ConfirmationTag) {
			t.Errorf("suite %d: confirmation tag does not verify", c.CipherSuite)
		}
		interim, err := keyschedule.InterimTranscriptHash(s, confirmed, ac.Auth.ConfirmationTag)
		if err != nil || !bytes.Equal(interim, c.InterimTranscriptHashAfter) {
			t.Errorf("suite %d: interim transcript hash = %x (%v)", c.CipherSuite, interim, err)
		}
	}
	testvectors.Report(t, "transcript-hashes.json", len(cases))
}

// testEpoch builds a two-member epoch from fixed secrets for the
// negative tests and the benchmark.
func testEpoch(t testing.TB, id suite.ID) (*Epoch, *suite.SigningKey, []byte) {
	s, err := suite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{5}, s.HashSize())
	tree, err := secrettree.New(s, secret, 2, secrettree.DefaultWindow)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := s.GenerateSignatureKey(rand.NewChaCha8([32]byte{2}))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := s.NewSigningKey(priv)
	return &Epoch{
		Suite:            s,
		Context:          &wire.GroupContext{Version: wire.ProtocolVersionMLS10, CipherSuite: wire.CipherSuite(id), GroupID: []byte("group"), Epoch: 7, TreeHash: secret, ConfirmedTranscriptHash: secret},
		MembershipKey:    secret,
		SenderDataSecret: secret,
		SecretTree:       tree,
	}, key, pub
}

func appContent(ep *Epoch, payload []byte) *wire.FramedContent {
	return &wire.FramedContent{
		GroupID: ep.Context.GroupID, Epoch: ep.Context.Epoch,
		Sender:      wire.Sender{SenderType: wire.SenderTypeMember, LeafIndex: 0},
		ContentType: wire.ContentTypeApplication, ApplicationData: payload,
	}
}

func cloneEpoch(ep *Epoch) *Epoch {
	c := *ep
	c.SecretTree = ep.SecretTree.Clone()
	return &c
}

// TestRejections: tampering, replays, wrong epoch, bad signatures and
// unknown senders are refused with typed errors, and a refused message
// does not consume the key it claimed.
func TestRejections(t *testing.T) {
	sender, key, pub := testEpoch(t, 1)
	receiver := cloneEpoch(sender)
	rng := rand.NewChaCha8([32]byte{3})
	ac, err := Sign(key, wire.WireFormatPrivateMessage, appContent(sender, []byte("hello")), sender.Context)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := sender.ProtectPrivate(rng, ac, 0)
	if err != nil {
		t.Fatal(err)
	}
	verify := func(ac *wire.AuthenticatedContent) error { return Verify(receiver.Suite, pub, ac, receiver.Context) }
	tamper := func(f func(*wire.PrivateMessage)) *wire.PrivateMessage {
		c := *pm
		c.Ciphertext = append([]byte{}, pm.Ciphertext...)
		c.EncryptedSenderData = append([]byte{}, pm.EncryptedSenderData...)
		f(&c)
		return &c
	}
	for _, tc := range []struct {
		name   string
		pm     *wire.PrivateMessage
		verify func(*wire.AuthenticatedContent) error
		want   error
	}{
		{"flipped ciphertext", tamper(func(m *wire.PrivateMessage) { m.Ciphertext[len(m.Ciphertext)-1] ^= 1 }), verify, ErrDecrypt},
		{"flipped sender data", tamper(func(m *wire.PrivateMessage) { m.EncryptedSenderData[0] ^= 1 }), verify, ErrDecrypt},
		{"changed authenticated data", tamper(func(m *wire.PrivateMessage) { m.AuthenticatedData = []byte("x") }), verify, ErrDecrypt},
		{"wrong epoch", tamper(func(m *wire.PrivateMessage) { m.Epoch++ }), verify, ErrWrongEpoch},
		{"wrong group", tamper(func(m *wire.PrivateMessage) { m.GroupID = []byte("other") }), verify, ErrWrongGroup},
		{"signature by someone else", pm, func(ac *wire.AuthenticatedContent) error {
			return Verify(receiver.Suite, make([]byte, 32), ac, receiver.Context)
		}, suite.ErrInvalidSignature},
	} {
		if _, err := receiver.UnprotectPrivate(tc.pm, tc.verify); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// None of the refusals consumed generation 0: the genuine message opens.
	if _, err := receiver.UnprotectPrivate(pm, verify); err != nil {
		t.Fatalf("genuine message after refusals: %v", err)
	}
	if _, err := receiver.UnprotectPrivate(pm, verify); !errors.Is(err, secrettree.ErrGenerationConsumed) {
		t.Fatalf("replay: err = %v", err)
	}
	// A blank sender leaf is refused.
	receiver.IsMember = func(uint32) bool { return false }
	pm2, _ := sender.ProtectPrivate(rng, ac, 0)
	if _, err := receiver.UnprotectPrivate(pm2, verify); !errors.Is(err, ErrUnknownSender) {
		t.Fatalf("blank sender: err = %v", err)
	}

	// PublicMessage: a wrong membership tag is refused.
	prop := appContent(sender, nil)
	prop.ContentType, prop.ApplicationData = wire.ContentTypeProposal, nil
	prop.Proposal = &wire.Proposal{Type: wire.ProposalTypeRemove, Remove: &wire.Remove{Removed: 1}}
	pac, err := Sign(key, wire.WireFormatPublicMessage, prop, sender.Context)
	if err != nil {
		t.Fatal(err)
	}
	pub1, err := sender.ProtectPublic(pac)
	if err != nil {
		t.Fatal(err)
	}
	pub1.MembershipTag[0] ^= 1
	if _, err := receiver.UnprotectPublic(pub1); !errors.Is(err, ErrMembershipTag) {
		t.Fatalf("bad membership tag: err = %v", err)
	}
	// Application data may not travel as a PublicMessage.
	if _, err := Sign(key, wire.WireFormatPublicMessage, appContent(sender, []byte("x")), sender.Context); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkPrivateMessage measures protect+unprotect of a 100-byte
// application message, signature and its verification included. The
// issue's target is 10,000 pairs per second on one core with suite 1.
func BenchmarkPrivateMessage(b *testing.B) {
	for _, id := range []suite.ID{1, 2, 3, 4, 5, 6, 7} {
		b.Run(fmt.Sprintf("suite=%d", id), func(b *testing.B) {
			sender, key, pub := testEpoch(b, id)
			sender.SecretTree, _ = secrettree.New(sender.Suite, bytes.Repeat([]byte{5}, sender.Suite.HashSize()), 2, secrettree.Window{MaxForward: 1 << 30, MaxRetained: 0})
			receiver := cloneEpoch(sender)
			rng := rand.NewChaCha8([32]byte{4})
			payload := make([]byte, 100)
			verify := func(ac *wire.AuthenticatedContent) error { return Verify(receiver.Suite, pub, ac, receiver.Context) }
			for b.Loop() {
				ac, err := Sign(key, wire.WireFormatPrivateMessage, appContent(sender, payload), sender.Context)
				if err != nil {
					b.Fatal(err)
				}
				pm, err := sender.ProtectPrivate(rng, ac, 0)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := receiver.UnprotectPrivate(pm, verify); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
