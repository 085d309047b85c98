package wire

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/mlsnode/mlsnode/internal/testvectors"
	"github.com/mlsnode/mlsnode/mls/codec"
)

// messagesCase is one case of messages.json: every MLS struct, encoded.
type messagesCase struct {
	MLSWelcome                     testvectors.Hex `json:"mls_welcome"`
	MLSGroupInfo                   testvectors.Hex `json:"mls_group_info"`
	MLSKeyPackage                  testvectors.Hex `json:"mls_key_package"`
	RatchetTree                    testvectors.Hex `json:"ratchet_tree"`
	GroupSecrets                   testvectors.Hex `json:"group_secrets"`
	AddProposal                    testvectors.Hex `json:"add_proposal"`
	UpdateProposal                 testvectors.Hex `json:"update_proposal"`
	RemoveProposal                 testvectors.Hex `json:"remove_proposal"`
	PreSharedKeyProposal           testvectors.Hex `json:"pre_shared_key_proposal"`
	ReInitProposal                 testvectors.Hex `json:"re_init_proposal"`
	ExternalInitProposal           testvectors.Hex `json:"external_init_proposal"`
	GroupContextExtensionsProposal testvectors.Hex `json:"group_context_extensions_proposal"`
	Commit                         testvectors.Hex `json:"commit"`
	PublicMessageApplication       testvectors.Hex `json:"public_message_application"`
	PublicMessageProposal          testvectors.Hex `json:"public_message_proposal"`
	PublicMessageCommit            testvectors.Hex `json:"public_message_commit"`
	PrivateMessage                 testvectors.Hex `json:"private_message"`
}

// messageField is one field of messagesCase: its name, its bytes, a fresh
// value of the type it decodes to, and checks on the decoded value.
type messageField struct {
	name  string
	data  []byte
	new   func() codec.Unmarshaler
	check func(v any) error
}

func isMessage(f WireFormat, more func(m *MLSMessage) error) func(v any) error {
	return func(v any) error {
		m := v.(*MLSMessage)
		if m.Version != ProtocolVersionMLS10 {
			return fmt.Errorf("version %v", m.Version)
		}
		if m.WireFormat != f {
			return fmt.Errorf("wire format %v, want %v", m.WireFormat, f)
		}
		if m.Body() == nil {
			return fmt.Errorf("no body")
		}
		if more != nil {
			return more(m)
		}
		return nil
	}
}

func publicOf(ct ContentType) func(m *MLSMessage) error {
	return func(m *MLSMessage) error {
		pm := m.PublicMessage
		if pm.Content.ContentType != ct {
			return fmt.Errorf("content type %v, want %v", pm.Content.ContentType, ct)
		}
		switch ct {
		case ContentTypeProposal:
			if pm.Content.Proposal == nil {
				return fmt.Errorf("no proposal")
			}
		case ContentTypeCommit:
			if pm.Content.Commit == nil || pm.Auth.ConfirmationTag == nil {
				return fmt.Errorf("commit or confirmation tag missing")
			}
		}
		if (pm.Content.Sender.SenderType == SenderTypeMember) != (pm.MembershipTag != nil) {
			return fmt.Errorf("membership tag presence wrong for sender %v", pm.Content.Sender.SenderType)
		}
		// The TBS and TBM forms must encode with a context for members.
		ctx := &GroupContext{Version: ProtocolVersionMLS10, GroupID: pm.Content.GroupID, Epoch: pm.Content.Epoch}
		if _, err := pm.AuthenticatedContent().TBS(ctx); err != nil {
			return fmt.Errorf("FramedContentTBS: %v", err)
		}
		if _, err := pm.TBM(ctx); err != nil {
			return fmt.Errorf("AuthenticatedContentTBM: %v", err)
		}
		return nil
	}
}

// signedPrefix checks that tbs is enc without its trailing signature
// (an opaque<V> of sig).
func signedPrefix(what string, tbs, enc, sig []byte) error {
	var w codec.Writer
	w.Opaque(sig)
	tail, _ := w.Bytes()
	if !bytes.Equal(append(append([]byte{}, tbs...), tail...), enc) {
		return fmt.Errorf("%s TBS is not the encoding minus the signature", what)
	}
	return nil
}

func (c *messagesCase) fields() []messageField {
	msg := func() codec.Unmarshaler { return new(MLSMessage) }
	return []messageField{
		{"mls_welcome", c.MLSWelcome, msg, isMessage(WireFormatWelcome, func(m *MLSMessage) error {
			if len(m.Welcome.Secrets) == 0 {
				return fmt.Errorf("welcome without secrets")
			}
			return nil
		})},
		{"mls_group_info", c.MLSGroupInfo, msg, isMessage(WireFormatGroupInfo, func(m *MLSMessage) error {
			gi := m.GroupInfo
			tbs, err := gi.TBS()
			if err != nil {
				return err
			}
			enc, _ := codec.Marshal(gi)
			return signedPrefix("GroupInfo", tbs, enc, gi.Signature)
		})},
		{"mls_key_package", c.MLSKeyPackage, msg, isMessage(WireFormatKeyPackage, func(m *MLSMessage) error {
			kp := m.KeyPackage
			if kp.LeafNode.LeafNodeSource != LeafNodeSourceKeyPackage || kp.LeafNode.Lifetime == nil {
				return fmt.Errorf("leaf node source %v", kp.LeafNode.LeafNodeSource)
			}
			tbs, err := kp.TBS()
			if err != nil {
				return err
			}
			enc, _ := codec.Marshal(kp)
			if err := signedPrefix("KeyPackage", tbs, enc, kp.Signature); err != nil {
				return err
			}
			ltbs, err := kp.LeafNode.TBS(nil, 0)
			if err != nil {
				return err
			}
			lenc, _ := codec.Marshal(&kp.LeafNode)
			return signedPrefix("LeafNode", ltbs, lenc, kp.LeafNode.Signature)
		})},
		{"ratchet_tree", c.RatchetTree, func() codec.Unmarshaler { return new(RatchetTree) }, func(v any) error {
			t := *v.(*RatchetTree)
			for i, n := range t {
				if n == nil {
					continue
				}
				want := NodeTypeLeaf
				if i%2 == 1 {
					want = NodeTypeParent
				}
				if n.NodeType != want {
					return fmt.Errorf("node %d is a %v", i, n.NodeType)
				}
			}
			return nil
		}},
		{"group_secrets", c.GroupSecrets, func() codec.Unmarshaler { return new(GroupSecrets) }, nil},
		{"add_proposal", c.AddProposal, func() codec.Unmarshaler { return new(Add) }, func(v any) error {
			if s := v.(*Add).KeyPackage.LeafNode.LeafNodeSource; s != LeafNodeSourceKeyPackage {
				return fmt.Errorf("leaf node source %v", s)
			}
			return nil
		}},
		{"update_proposal", c.UpdateProposal, func() codec.Unmarshaler { return new(Update) }, func(v any) error {
			ln := &v.(*Update).LeafNode
			if ln.LeafNodeSource != LeafNodeSourceUpdate {
				return fmt.Errorf("leaf node source %v", ln.LeafNodeSource)
			}
			tbs, err := ln.TBS([]byte("group"), 7)
			if err != nil {
				return err
			}
			var back LeafNodeTBS
			if err := codec.Unmarshal(tbs, &back); err != nil || string(back.GroupID) != "group" || back.LeafIndex != 7 {
				return fmt.Errorf("LeafNodeTBS round trip: %v", err)
			}
			return nil
		}},
		{"remove_proposal", c.RemoveProposal, func() codec.Unmarshaler { return new(Remove) }, nil},
		{"pre_shared_key_proposal", c.PreSharedKeyProposal, func() codec.Unmarshaler { return new(PreSharedKey) }, nil},
		{"re_init_proposal", c.ReInitProposal, func() codec.Unmarshaler { return new(ReInit) }, nil},
		{"external_init_proposal", c.ExternalInitProposal, func() codec.Unmarshaler { return new(ExternalInit) }, nil},
		{"group_context_extensions_proposal", c.GroupContextExtensionsProposal, func() codec.Unmarshaler { return new(GroupContextExtensions) }, nil},
		{"commit", c.Commit, func() codec.Unmarshaler { return new(Commit) }, nil},
		{"public_message_application", c.PublicMessageApplication, msg, isMessage(WireFormatPublicMessage, publicOf(ContentTypeApplication))},
		{"public_message_proposal", c.PublicMessageProposal, msg, isMessage(WireFormatPublicMessage, publicOf(ContentTypeProposal))},
		{"public_message_commit", c.PublicMessageCommit, msg, isMessage(WireFormatPublicMessage, func(m *MLSMessage) error {
			if err := publicOf(ContentTypeCommit)(m); err != nil {
				return err
			}
			ac := m.PublicMessage.AuthenticatedContent()
			in, err := ac.ConfirmedTranscriptHashInput()
			if err != nil {
				return err
			}
			var back ConfirmedTranscriptHashInput
			return codec.Unmarshal(in, &back)
		})},
		{"private_message", c.PrivateMessage, msg, isMessage(WireFormatPrivateMessage, nil)},
	}
}

func loadMessages(t testing.TB) []messagesCase {
	var cases []messagesCase
	testvectors.Load(t, "messages.json", &cases)
	return cases
}

// TestMessagesVectors decodes every field of every case of messages.json
// strictly, checks it, and re-encodes it to the same bytes.
func TestMessagesVectors(t *testing.T) {
	cases := loadMessages(t)
	for i := range cases {
		for _, f := range cases[i].fields() {
			if len(f.data) == 0 {
				t.Errorf("case %d: %s: empty", i, f.name)
				continue
			}
			v := f.new()
			if err := codec.Unmarshal(f.data, v); err != nil {
				t.Errorf("case %d: %s: %v", i, f.name, err)
				continue
			}
			enc, err := codec.Marshal(v.(codec.Marshaler))
			if err != nil {
				t.Errorf("case %d: %s: re-encode: %v", i, f.name, err)
				continue
			}
			if !bytes.Equal(enc, f.data) {
				t.Errorf("case %d: %s: re-encoding differs\n got %x\nwant %x", i, f.name, enc, []byte(f.data))
			}
			if f.check != nil {
				if err := f.check(v); err != nil {
					t.Errorf("case %d: %s: %v", i, f.name, err)
				}
			}
		}
	}
	testvectors.Report(t, "messages.json", len(cases))
}

// TestMessagesTruncated checks that strict prefixes of every vector field
// fail to decode (all prefixes for the first cases, a sample for the
// rest) and that a trailing byte is rejected.
func TestMessagesTruncated(t *testing.T) {
	cases := loadMessages(t)
	for i := range cases {
		for _, f := range cases[i].fields() {
			for _, n := range prefixLengths(len(f.data), i < 10) {
				err := decodeNoPanic(f.new(), f.data[:n])
				var de *codec.DecodeError
				if !errors.As(err, &de) || de.Field == "" {
					t.Fatalf("case %d: %s: prefix of %d/%d bytes: err = %v, want a DecodeError naming a field",
						i, f.name, n, len(f.data), err)
				}
			}
			err := decodeNoPanic(f.new(), append(append([]byte{}, f.data...), 0))
			if !errors.Is(err, codec.ErrTrailingData) {
				t.Fatalf("case %d: %s: trailing byte: err = %v", i, f.name, err)
			}
		}
	}
	testvectors.Report(t, "messages.json (truncation and trailing-byte checks)", len(cases))
}

// prefixLengths lists the strict prefix lengths to try for an input of n
// bytes: all of them, or the first and last 24 and every 7th in between.
func prefixLengths(n int, all bool) []int {
	var out []int
	for k := 0; k < n; k++ {
		if all || k < 24 || k >= n-24 || k%7 == 0 {
			out = append(out, k)
		}
	}
	return out
}

// decodeNoPanic decodes data into v and turns a panic into an error.
func decodeNoPanic(v codec.Unmarshaler, data []byte) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("PANIC: %v", p)
		}
	}()
	return codec.Unmarshal(data, v)
}
