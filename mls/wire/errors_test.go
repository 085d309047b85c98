package wire

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

func mustMarshal(t *testing.T, v codec.Marshaler) []byte {
	t.Helper()
	b, err := codec.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func sampleLeafNode(src LeafNodeSource) LeafNode {
	ln := LeafNode{
		EncryptionKey:  []byte("enc-key"),
		SignatureKey:   []byte("sig-key"),
		Credential:     Credential{CredentialType: CredentialTypeBasic, Identity: []byte("alice")},
		Capabilities:   Capabilities{Versions: []ProtocolVersion{ProtocolVersionMLS10}, CipherSuites: []CipherSuite{1, 0x0a0a}},
		LeafNodeSource: src,
		Extensions:     Extensions{{ExtensionType: ExtensionTypeApplicationID, ExtensionData: []byte("id")}},
		Signature:      []byte("sig"),
	}
	switch src {
	case LeafNodeSourceKeyPackage:
		ln.Lifetime = &Lifetime{NotBefore: 1, NotAfter: 2}
	case LeafNodeSourceCommit:
		ln.ParentHash = []byte("ph")
	}
	return ln
}

func sampleKeyPackage() *KeyPackage {
	return &KeyPackage{
		Version:     ProtocolVersionMLS10,
		CipherSuite: MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519,
		InitKey:     []byte("init"),
		LeafNode:    sampleLeafNode(LeafNodeSourceKeyPackage),
		Signature:   []byte("kp-sig"),
	}
}

// wantDecodeError decodes data into v and checks that the error wraps
// want and names field.
func wantDecodeError(t *testing.T, name string, v codec.Unmarshaler, data []byte, want error, field string) {
	t.Helper()
	err := decodeNoPanic(v, data)
	if !errors.Is(err, want) {
		t.Errorf("%s: err = %v, want %v", name, err, want)
		return
	}
	var de *codec.DecodeError
	if !errors.As(err, &de) {
		t.Errorf("%s: err %v is not a DecodeError", name, err)
		return
	}
	if de.Field != field {
		t.Errorf("%s: field %q, want %q (err %v)", name, de.Field, field, err)
	}
	if !strings.Contains(err.Error(), field) {
		t.Errorf("%s: message %q does not name %q", name, err, field)
	}
}

func TestDecodeErrors(t *testing.T) {
	mls10 := []byte{0, 1}
	kp := mustMarshal(t, sampleKeyPackage())
	kpMsg := mustMarshal(t, NewMLSMessage(sampleKeyPackage()))

	wantDecodeError(t, "non-minimal varint", new(ExternalInit),
		[]byte{0x40, 0x03, 1, 2, 3}, codec.ErrNonMinimalVarint, "ExternalInit.kem_output")
	wantDecodeError(t, "reserved varint prefix", new(ExternalInit),
		[]byte{0xc0, 0, 0, 0, 0, 0, 0, 1}, codec.ErrVarintTooLarge, "ExternalInit.kem_output")
	wantDecodeError(t, "unknown wire format", new(MLSMessage),
		cat(mls10, []byte{0, 9}, kp), ErrUnknownValue, "MLSMessage.wire_format")
	wantDecodeError(t, "wire format 0", new(MLSMessage),
		cat(mls10, []byte{0, 0}, kp), codec.ErrInvalidValue, "MLSMessage.wire_format")
	wantDecodeError(t, "version 2", new(MLSMessage),
		cat([]byte{0, 2}, kpMsg[2:]), ErrUnsupportedVersion, "MLSMessage.version")
	badKP := cat([]byte{0, 2}, kp[2:])
	wantDecodeError(t, "KeyPackage version 2 in an MLSMessage", new(MLSMessage),
		cat(mls10, []byte{0, 5}, badKP), ErrUnsupportedVersion, "KeyPackage.version")
	wantDecodeError(t, "KeyPackage version 2", new(KeyPackage),
		badKP, ErrUnsupportedVersion, "KeyPackage.version")
	wantDecodeError(t, "KeyPackageTBS version 0", new(KeyPackageTBS),
		cat([]byte{0, 0}, kp[2:]), ErrUnsupportedVersion, "KeyPackageTBS.version")
	wantDecodeError(t, "optional flag 2", new(Commit),
		[]byte{0x00, 0x02}, codec.ErrInvalidValue, "Commit.path")
	wantDecodeError(t, "GroupSecrets optional flag 0xff", new(GroupSecrets),
		[]byte{0x00, 0xff, 0x00}, codec.ErrInvalidValue, "GroupSecrets.path_secret")
	wantDecodeError(t, "unknown proposal type", new(Proposal),
		[]byte{0x00, 0x08, 0, 0, 0, 1}, ErrUnknownValue, "Proposal.proposal_type")
	wantDecodeError(t, "GREASE proposal type", new(Proposal),
		[]byte{0x0a, 0x0a, 0, 0, 0, 1}, ErrUnknownValue, "Proposal.proposal_type")
	wantDecodeError(t, "unknown credential type", new(Credential),
		[]byte{0x00, 0x03, 0x01, 'x'}, ErrUnknownValue, "Credential.credential_type")
	wantDecodeError(t, "unknown leaf node source", new(LeafNode),
		bytes.Replace(mustMarshal(t, &kpLeaf), []byte{1, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{4, 0, 0, 0, 0, 0, 0, 0, 1}, 1),
		ErrUnknownValue, "LeafNode.leaf_node_source")
	wantDecodeError(t, "unknown sender type", new(Sender),
		[]byte{5}, ErrUnknownValue, "Sender.sender_type")
	wantDecodeError(t, "unknown content type", new(PrivateMessage),
		[]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0}, ErrUnknownValue, "PrivateMessage.content_type")
	wantDecodeError(t, "unknown psktype", new(PreSharedKeyID),
		[]byte{3, 0, 0}, ErrUnknownValue, "PreSharedKeyID.psktype")
	wantDecodeError(t, "unknown resumption usage", new(PreSharedKeyID),
		[]byte{2, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnknownValue, "PreSharedKeyID.usage")
	wantDecodeError(t, "unknown node type", new(Node),
		[]byte{3}, ErrUnknownValue, "Node.node_type")
	wantDecodeError(t, "unknown ProposalOrRef type", new(ProposalOrRef),
		[]byte{0, 0}, ErrUnknownValue, "ProposalOrRef.type")
	wantDecodeError(t, "GroupContext version 0", new(GroupContext),
		[]byte{0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, ErrUnsupportedVersion, "GroupContext.version")

	dup := Extensions{{ExtensionType: 7}, {ExtensionType: 7}}
	var w codec.Writer
	w.Vector(func(w *codec.Writer) {
		for i := range dup {
			w.Write(&dup[i])
		}
	})
	dupEnc, _ := w.Bytes()
	wantDecodeError(t, "duplicate extension", new(GroupContextExtensions),
		dupEnc, ErrDuplicateExtension, "GroupContextExtensions.extensions")
	if _, err := codec.Marshal(&GroupContextExtensions{Extensions: dup}); !errors.Is(err, ErrCannotEncode) {
		t.Errorf("encoding duplicate extensions: err = %v", err)
	}
	many := make(Extensions, 40)
	for i := range many {
		many[i].ExtensionType = ExtensionType(i)
	}
	many[39].ExtensionType = 3
	if _, err := codec.Marshal(&many); !errors.Is(err, ErrCannotEncode) {
		t.Errorf("encoding 40 extensions with a duplicate: err = %v", err)
	}

	// Non-zero padding in a PrivateMessageContent.
	pmc := &PrivateMessageContent{
		ContentType:     ContentTypeApplication,
		ApplicationData: []byte("hello"),
		Auth:            FramedContentAuthData{Signature: []byte("sig")},
		PaddingLength:   300,
	}
	plain := mustMarshal(t, pmc)
	if len(plain) != 1+5+1+3+300 {
		t.Fatalf("PrivateMessageContent of %d bytes", len(plain))
	}
	got, err := UnmarshalPrivateMessageContent(plain, ContentTypeApplication)
	if err != nil || got.PaddingLength != 300 || string(got.ApplicationData) != "hello" {
		t.Fatalf("PrivateMessageContent round trip: %+v, %v", got, err)
	}
	plain[len(plain)-2] = 1
	wantDecodeError(t, "non-zero padding", &PrivateMessageContent{ContentType: ContentTypeApplication},
		plain, ErrNonZeroPadding, "PrivateMessageContent.padding")
	wantDecodeError(t, "PrivateMessageContent without content type", new(PrivateMessageContent),
		plain, ErrUnknownValue, "PrivateMessageContent.content_type")

	// Ratchet trees must end in a non-blank node and must not be empty.
	leaf := &Node{NodeType: NodeTypeLeaf, LeafNode: &kpLeaf}
	tree := RatchetTree{leaf}
	var tw codec.Writer
	tw.Vector(func(w *codec.Writer) {
		w.Optional(true, func(w *codec.Writer) { w.Write(leaf) })
		w.Optional(false, nil)
	})
	blankEnd, _ := tw.Bytes()
	if err := codec.Unmarshal(mustMarshal(t, &tree), new(RatchetTree)); err != nil {
		t.Fatalf("one-leaf tree: %v", err)
	}
	wantDecodeError(t, "ratchet tree ending blank", new(RatchetTree), blankEnd, ErrBlankLastNode, "ratchet_tree")
	wantDecodeError(t, "empty ratchet tree", new(RatchetTree), []byte{0}, ErrBlankLastNode, "ratchet_tree")
	for _, bad := range []RatchetTree{nil, {leaf, nil}} {
		if _, err := codec.Marshal(&bad); !errors.Is(err, ErrCannotEncode) {
			t.Errorf("encoding ratchet tree %v: err = %v", bad, err)
		}
	}

	// ConfirmedTranscriptHashInput covers commits only; framed wire
	// formats are public or private message.
	app := FramedContent{
		GroupID:         []byte("g"),
		Sender:          Sender{SenderType: SenderTypeMember},
		ContentType:     ContentTypeApplication,
		ApplicationData: []byte("x"),
	}
	ctiApp := cat([]byte{0, 1}, mustMarshal(t, &app), []byte{0})
	wantDecodeError(t, "transcript input for application", new(ConfirmedTranscriptHashInput),
		ctiApp, ErrWrongContentType, "ConfirmedTranscriptHashInput.content")
	acWelcome := cat([]byte{0, 3}, mustMarshal(t, &app), []byte{0})
	wantDecodeError(t, "AuthenticatedContent with mls_welcome", new(AuthenticatedContent),
		acWelcome, ErrWrongWireFormat, "AuthenticatedContent.wire_format")
}

var kpLeaf = sampleLeafNode(LeafNodeSourceKeyPackage)

func TestEncodeErrors(t *testing.T) {
	commitContent := FramedContent{
		GroupID:     []byte("g"),
		Sender:      Sender{SenderType: SenderTypeMember, LeafIndex: 3},
		ContentType: ContentTypeCommit,
		Commit:      &Commit{},
	}
	ctx := &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: 1, GroupID: []byte("g")}
	bad := map[string]codec.Marshaler{
		"proposal without body":      &Proposal{Type: ProposalTypeAdd},
		"proposal of unknown type":   &Proposal{Type: 99, Add: &Add{}},
		"credential of unknown type": &Credential{CredentialType: 0x0a0a},
		"message without body":       &MLSMessage{Version: ProtocolVersionMLS10, WireFormat: WireFormatWelcome},
		"message of version 0":       &MLSMessage{WireFormat: WireFormatWelcome, Welcome: &Welcome{}},
		"message of nil body":        NewMLSMessage(nil),
		"group context version 0":    &GroupContext{},
		"key package version 0":      &KeyPackage{},
		"key package version 2":      &KeyPackage{Version: 2, LeafNode: kpLeaf},
		"leaf node without lifetime": &LeafNode{LeafNodeSource: LeafNodeSourceKeyPackage, Credential: Credential{CredentialType: CredentialTypeBasic}},
		"leaf node of source 0":      &LeafNode{Credential: Credential{CredentialType: CredentialTypeBasic}},
		"node without leaf":          &Node{NodeType: NodeTypeLeaf},
		"sender type 0":              &Sender{},
		"content without commit":     &FramedContent{Sender: Sender{SenderType: SenderTypeExternal}, ContentType: ContentTypeCommit},
		"TBS without context": &FramedContentTBS{
			Version: ProtocolVersionMLS10, WireFormat: WireFormatPublicMessage, Content: commitContent,
		},
		"TBS for welcome": &FramedContentTBS{
			Version: ProtocolVersionMLS10, WireFormat: WireFormatWelcome, Content: commitContent, Context: ctx,
		},
		"auth data without content type": &FramedContentAuthData{},
		"negative padding":               &PrivateMessageContent{ContentType: ContentTypeApplication, PaddingLength: -1},
		"psk type 0":                     &PreSharedKeyID{},
		"resumption usage 0":             &PreSharedKeyID{PSKType: PSKTypeResumption},
		"transcript input for proposal":  &ConfirmedTranscriptHashInput{WireFormat: WireFormatPublicMessage, Content: FramedContent{ContentType: ContentTypeProposal, Proposal: &Proposal{}}},
		"ProposalOrRef type 0":           &ProposalOrRef{},
		"private message content type 0": &PrivateMessage{},
	}
	for name, v := range bad {
		if _, err := codec.Marshal(v); !errors.Is(err, ErrCannotEncode) {
			t.Errorf("%s: err = %v, want ErrCannotEncode", name, err)
		}
	}
}
