package keyschedule

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
)

type hx = testvectors.Hex

func lookup(t *testing.T, id suite.ID) *suite.Suite {
	t.Helper()
	s, err := suite.Lookup(id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestKeyScheduleVectors(t *testing.T) {
	var cases []struct {
		CipherSuite       suite.ID `json:"cipher_suite"`
		GroupID           hx       `json:"group_id"`
		InitialInitSecret hx       `json:"initial_init_secret"`
		Epochs            []struct {
			GroupContext            hx `json:"group_context"`
			TreeHash                hx `json:"tree_hash"`
			ConfirmedTranscriptHash hx `json:"confirmed_transcript_hash"`
			CommitSecret            hx `json:"commit_secret"`
			PSKSecret               hx `json:"psk_secret"`
			JoinerSecret            hx `json:"joiner_secret"`
			WelcomeSecret           hx `json:"welcome_secret"`
			InitSecret              hx `json:"init_secret"`
			SenderDataSecret        hx `json:"sender_data_secret"`
			EncryptionSecret        hx `json:"encryption_secret"`
			ExporterSecret          hx `json:"exporter_secret"`
			EpochAuthenticator      hx `json:"epoch_authenticator"`
			ExternalSecret          hx `json:"external_secret"`
			ConfirmationKey         hx `json:"confirmation_key"`
			MembershipKey           hx `json:"membership_key"`
			ResumptionPSK           hx `json:"resumption_psk"`
			ExternalPub             hx `json:"external_pub"`
			Exporter                struct {
				Label   string `json:"label"` // used as text, though it looks like hex
				Context hx     `json:"context"`
				Length  int    `json:"length"`
				Secret  hx     `json:"secret"`
			} `json:"exporter"`
		} `json:"epochs"`
	}
	testvectors.Load(t, "key-schedule.json", &cases)
	epochs := 0
	for i, c := range cases {
		s := lookup(t, c.CipherSuite)
		init := []byte(c.InitialInitSecret)
		for n, ep := range c.Epochs {
			// The group context must be GroupContext{mls10, suite, group_id,
			// epoch n, tree_hash, confirmed_transcript_hash, extensions}.
			w := codec.NewWriter(nil)
			w.Uint16(1)
			w.Uint16(uint16(c.CipherSuite))
			w.Opaque(c.GroupID)
			w.Uint64(uint64(n))
			w.Opaque(ep.TreeHash)
			w.Opaque(ep.ConfirmedTranscriptHash)
			w.Opaque(nil)
			if gc, _ := w.Bytes(); !bytes.Equal(gc, ep.GroupContext) {
				t.Errorf("case %d epoch %d: group context encoding differs", i, n)
			}
			e, err := Derive(s, init, ep.CommitSecret, ep.PSKSecret, ep.GroupContext)
			if err != nil {
				t.Fatalf("case %d epoch %d: %v", i, n, err)
			}
			for _, f := range []struct {
				name      string
				got, want []byte
			}{
				{"joiner_secret", e.JoinerSecret, ep.JoinerSecret},
				{"welcome_secret", e.WelcomeSecret, ep.WelcomeSecret},
				{"init_secret", e.InitSecret, ep.InitSecret},
				{"sender_data_secret", e.SenderDataSecret, ep.SenderDataSecret},
				{"encryption_secret", e.EncryptionSecret, ep.EncryptionSecret},
				{"exporter_secret", e.ExporterSecret, ep.ExporterSecret},
				{"epoch_authenticator", e.EpochAuthenticator, ep.EpochAuthenticator},
				{"external_secret", e.ExternalSecret, ep.ExternalSecret},
				{"confirmation_key", e.ConfirmationKey, ep.ConfirmationKey},
				{"membership_key", e.MembershipKey, ep.MembershipKey},
				{"resumption_psk", e.ResumptionPSK, ep.ResumptionPSK},
			} {
				if !bytes.Equal(f.got, f.want) {
					t.Errorf("case %d (suite %d) epoch %d: %s = %x, want %x", i, c.CipherSuite, n, f.name, f.got, f.want)
				}
			}
			_, pub, err := e.ExternalKeyPair(s)
			if err != nil || !bytes.Equal(pub, ep.ExternalPub) {
				t.Errorf("case %d epoch %d: external_pub = %x (%v), want %x", i, n, pub, err, []byte(ep.ExternalPub))
			}
			exp, err := e.Export(s, ep.Exporter.Label, ep.Exporter.Context, ep.Exporter.Length)
			if err != nil || !bytes.Equal(exp, ep.Exporter.Secret) {
				t.Errorf("case %d epoch %d: exporter = %x (%v)", i, n, exp, err)
			}
			init = e.InitSecret
			epochs++
		}
	}
	t.Logf("key-schedule.json: %d epochs checked", epochs)
	testvectors.Report(t, "key-schedule.json", len(cases))
}

func TestPSKSecretVectors(t *testing.T) {
	var cases []struct {
		CipherSuite suite.ID `json:"cipher_suite"`
		PSKs        []struct {
			ID    hx `json:"psk_id"`
			PSK   hx `json:"psk"`
			Nonce hx `json:"psk_nonce"`
		} `json:"psks"`
		PSKSecret hx `json:"psk_secret"`
	}
	testvectors.Load(t, "psk_secret.json", &cases)
	for i, c := range cases {
		s := lookup(t, c.CipherSuite)
		var psks []PSK
		for _, p := range c.PSKs {
			// PreSharedKeyID { psktype = external(1); psk_id<V>; psk_nonce<V> }
			w := codec.NewWriter(nil)
			w.Uint8(1)
			w.Opaque(p.ID)
			w.Opaque(p.Nonce)
			id, _ := w.Bytes()
			psks = append(psks, PSK{ID: id, Secret: p.PSK})
		}
		got, err := PSKSecret(s, psks)
		if err != nil || !bytes.Equal(got, c.PSKSecret) {
			t.Errorf("case %d (suite %d, %d psks): psk_secret = %x (%v), want %x", i, c.CipherSuite, len(psks), got, err, []byte(c.PSKSecret))
		}
	}
	testvectors.Report(t, "psk_secret.json", len(cases))
}

func TestExternalInitRoundTrip(t *testing.T) {
	for _, id := range suite.All() {
		s := lookup(t, id)
		e, err := Derive(s, Zero(s), nil, nil, []byte("group context"))
		if err != nil {
			t.Fatal(err)
		}
		priv, pub, err := e.ExternalKeyPair(s)
		if err != nil {
			t.Fatal(err)
		}
		kem, sent, err := ExternalInitSecret(s, bytes.NewReader(bytes.Repeat([]byte{9}, 256)), pub)
		if err != nil {
			t.Fatalf("suite %d: %v", id, err)
		}
		got, err := ReceiveExternalInit(s, priv, kem)
		if err != nil || !bytes.Equal(got, sent) || len(got) != s.HashSize() {
			t.Fatalf("suite %d: external init secret mismatch (%v)", id, err)
		}
	}
}
