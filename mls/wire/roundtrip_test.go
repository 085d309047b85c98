package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// TestConstructedRoundTrips encodes hand-built values of the structs the
// vectors do not carry on their own and checks they decode to equal values
// and the same bytes.
func TestConstructedRoundTrips(t *testing.T) {
	kp := sampleKeyPackage()
	ctx := &GroupContext{
		Version:                 ProtocolVersionMLS10,
		CipherSuite:             MLS_256_DHKEMP384_AES256GCM_SHA384_P384,
		GroupID:                 []byte("group"),
		Epoch:                   42,
		TreeHash:                []byte("tree-hash"),
		ConfirmedTranscriptHash: []byte("cth"),
		Extensions:              Extensions{{ExtensionType: ExtensionTypeExternalSenders, ExtensionData: []byte{1}}},
	}
	commit := &Commit{
		Proposals: []ProposalOrRef{
			{Type: ProposalOrRefTypeReference, Reference: []byte("ref")},
			{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 5}}},
		},
		Path: &UpdatePath{
			LeafNode: sampleLeafNode(LeafNodeSourceCommit),
			Nodes: []UpdatePathNode{{
				EncryptionKey:       []byte("pk"),
				EncryptedPathSecret: []HPKECiphertext{{KEMOutput: []byte("kem"), Ciphertext: []byte("ct")}},
			}},
		},
	}
	member := FramedContent{
		GroupID:           []byte("group"),
		Epoch:             42,
		Sender:            Sender{SenderType: SenderTypeMember, LeafIndex: 3},
		AuthenticatedData: []byte("ad"),
		ContentType:       ContentTypeCommit,
		Commit:            commit,
	}
	external := FramedContent{
		GroupID:     []byte("group"),
		Epoch:       42,
		Sender:      Sender{SenderType: SenderTypeExternal, SenderIndex: 1},
		ContentType: ContentTypeProposal,
		Proposal: &Proposal{Type: ProposalTypePSK, PreSharedKey: &PreSharedKey{PSK: PreSharedKeyID{
			PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageBranch, PSKGroupID: []byte("old"), PSKEpoch: 9, PSKNonce: []byte("nonce"),
		}}},
	}
	auth := FramedContentAuthData{ContentType: ContentTypeCommit, Signature: []byte("sig"), ConfirmationTag: []byte("tag")}
	upd, com := sampleLeafNode(LeafNodeSourceUpdate), sampleLeafNode(LeafNodeSourceCommit)
	x509 := Credential{CredentialType: CredentialTypeX509, Certificates: []Certificate{{CertData: []byte("leaf")}, {CertData: []byte("ca")}}}

	values := []struct {
		in  codec.Marshaler
		out codec.Unmarshaler
	}{
		{kp, new(KeyPackage)},
		{&KeyPackageTBS{Version: 1, CipherSuite: 2, InitKey: []byte("i"), LeafNode: kpLeaf}, new(KeyPackageTBS)},
		{upd.tbs([]byte("g"), 9), new(LeafNodeTBS)},
		{com.tbs([]byte("g"), 9), new(LeafNodeTBS)},
		{kpLeaf.tbs(nil, 0), new(LeafNodeTBS)},
		{&x509, new(Credential)},
		{ctx, new(GroupContext)},
		{commit, new(Commit)},
		{&member, new(FramedContent)},
		{&FramedContentTBS{Version: ProtocolVersionMLS10, WireFormat: WireFormatPrivateMessage, Content: member, Context: ctx}, new(FramedContentTBS)},
		{&FramedContentTBS{Version: ProtocolVersionMLS10, WireFormat: WireFormatPublicMessage, Content: external}, new(FramedContentTBS)},
		{&auth, &FramedContentAuthData{ContentType: ContentTypeCommit}},
		{&AuthenticatedContent{WireFormat: WireFormatPublicMessage, Content: member, Auth: auth}, new(AuthenticatedContent)},
		{&AuthenticatedContentTBM{
			ContentTBS: FramedContentTBS{Version: ProtocolVersionMLS10, WireFormat: WireFormatPublicMessage, Content: member, Context: ctx},
			Auth:       auth,
		}, new(AuthenticatedContentTBM)},
		{&ConfirmedTranscriptHashInput{WireFormat: WireFormatPrivateMessage, Content: member, Signature: []byte("s")}, new(ConfirmedTranscriptHashInput)},
		{&InterimTranscriptHashInput{ConfirmationTag: []byte("tag")}, new(InterimTranscriptHashInput)},
		{&PublicMessage{Content: external, Auth: FramedContentAuthData{ContentType: ContentTypeProposal, Signature: []byte("s")}}, new(PublicMessage)},
		{&PrivateMessageContent{ContentType: ContentTypeCommit, Commit: commit, Auth: auth, PaddingLength: 3}, &PrivateMessageContent{ContentType: ContentTypeCommit}},
		{&PrivateMessageContent{ContentType: ContentTypeProposal, Proposal: external.Proposal, Auth: FramedContentAuthData{ContentType: ContentTypeProposal, Signature: []byte("s")}}, &PrivateMessageContent{ContentType: ContentTypeProposal}},
		{&SenderData{LeafIndex: 7, Generation: 1 << 20, ReuseGuard: [4]byte{1, 2, 3, 4}}, new(SenderData)},
		{&SenderDataAAD{GroupID: []byte("g"), Epoch: 1, ContentType: ContentTypeApplication}, new(SenderDataAAD)},
		{&PrivateContentAAD{GroupID: []byte("g"), Epoch: 1, ContentType: ContentTypeProposal, AuthenticatedData: []byte("ad")}, new(PrivateContentAAD)},
		{&PSKLabel{ID: PreSharedKeyID{PSKType: PSKTypeExternal, PSKID: []byte("id"), PSKNonce: []byte("n")}, Index: 1, Count: 2}, new(PSKLabel)},
		{&GroupInfoTBS{GroupContext: *ctx, ConfirmationTag: []byte("t"), Signer: 4}, new(GroupInfoTBS)},
		{&GroupSecrets{JoinerSecret: []byte("j"), PathSecret: &PathSecret{PathSecret: []byte("p")}}, new(GroupSecrets)},
		{&RequiredCapabilities{ExtensionTypes: []ExtensionType{9}, ProposalTypes: []ProposalType{0x0a0a}, CredentialTypes: []CredentialType{1, 2}}, new(RequiredCapabilities)},
		{&ExternalPub{ExternalPub: []byte("pub")}, new(ExternalPub)},
		{&ExternalSenders{{SignatureKey: []byte("k"), Credential: x509}}, new(ExternalSenders)},
		{&Extensions{{ExtensionType: 0x0a0a}, {ExtensionType: 1, ExtensionData: []byte{2}}}, new(Extensions)},
		{&ParentNode{EncryptionKey: []byte("k"), ParentHash: []byte("h"), UnmergedLeaves: []uint32{1, 3}}, new(ParentNode)},
		{NewMLSMessage(&PrivateMessage{GroupID: []byte("g"), ContentType: ContentTypeApplication, Ciphertext: []byte("c")}), new(MLSMessage)},
		{NewMLSMessage(&GroupInfo{GroupContext: *ctx, Signature: []byte("s")}), new(MLSMessage)},
		{NewMLSMessage(&Welcome{CipherSuite: 1, Secrets: []EncryptedGroupSecrets{{NewMember: []byte("ref")}}}), new(MLSMessage)},
	}
	for _, v := range values {
		enc := mustMarshal(t, v.in)
		if err := codec.Unmarshal(enc, v.out); err != nil {
			t.Errorf("%T: decode: %v", v.in, err)
			continue
		}
		if re := mustMarshal(t, v.out.(codec.Marshaler)); !bytes.Equal(re, enc) {
			t.Errorf("%T: re-encoding differs", v.in)
		}
		if !equalValues(reflect.ValueOf(v.in), reflect.ValueOf(v.out)) {
			t.Errorf("%T: decoded value differs\n got %+v\nwant %+v", v.in, v.out, v.in)
		}
	}
}

// TestTBSHelpers checks the signed forms against their definitions.
func TestTBSHelpers(t *testing.T) {
	ctx := &GroupContext{Version: ProtocolVersionMLS10, CipherSuite: 1, GroupID: []byte("g"), Epoch: 3}
	ac := &AuthenticatedContent{
		WireFormat: WireFormatPublicMessage,
		Content: FramedContent{
			GroupID: []byte("g"), Epoch: 3,
			Sender:          Sender{SenderType: SenderTypeMember, LeafIndex: 1},
			ContentType:     ContentTypeApplication,
			ApplicationData: []byte("hi"),
		},
		Auth: FramedContentAuthData{Signature: []byte("sig")},
	}
	tbs, err := ac.TBS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := cat([]byte{0, 1, 0, 1}, mustMarshal(t, &ac.Content), mustMarshal(t, ctx))
	if !bytes.Equal(tbs, want) {
		t.Errorf("FramedContentTBS = %x, want %x", tbs, want)
	}
	if _, err := ac.TBS(nil); err == nil {
		t.Errorf("member FramedContentTBS without a GroupContext encoded")
	}
	pm := &PublicMessage{Content: ac.Content, Auth: ac.Auth, MembershipTag: []byte("m")}
	tbm, err := pm.TBM(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tbm, cat(tbs, []byte{3}, []byte("sig"))) {
		t.Errorf("AuthenticatedContentTBM = %x", tbm)
	}
	// An external sender signs without the GroupContext, which is then
	// ignored.
	ac.Content.Sender = Sender{SenderType: SenderTypeExternal}
	ac.Content.ContentType, ac.Content.Proposal = ContentTypeProposal, &Proposal{Type: ProposalTypeRemove, Remove: &Remove{}}
	a, err1 := ac.TBS(nil)
	b, err2 := ac.TBS(ctx)
	if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
		t.Errorf("external FramedContentTBS: %v %v", err1, err2)
	}

	// A private message's AuthenticatedContent is assembled from its parts.
	priv := &PrivateMessage{GroupID: []byte("g"), Epoch: 3, ContentType: ContentTypeApplication, AuthenticatedData: []byte("ad")}
	pmc := &PrivateMessageContent{ContentType: ContentTypeApplication, ApplicationData: []byte("x"), Auth: FramedContentAuthData{Signature: []byte("s")}}
	pac := pmc.AuthenticatedContent(priv, Sender{SenderType: SenderTypeMember, LeafIndex: 2})
	if pac.WireFormat != WireFormatPrivateMessage || string(pac.Content.AuthenticatedData) != "ad" || pac.Content.Sender.LeafIndex != 2 {
		t.Errorf("PrivateMessageContent.AuthenticatedContent = %+v", pac)
	}
	if a := mustMarshal(t, priv.SenderDataAAD()); !bytes.Equal(a, []byte{1, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1}) {
		t.Errorf("SenderDataAAD = %x", a)
	}
	if a := mustMarshal(t, priv.PrivateContentAAD()); !bytes.Equal(a, []byte{1, 'g', 0, 0, 0, 0, 0, 0, 0, 3, 1, 2, 'a', 'd'}) {
		t.Errorf("PrivateContentAAD = %x", a)
	}
}

func TestMLSMessageBody(t *testing.T) {
	for _, body := range []MessageBody{&PublicMessage{}, &PrivateMessage{}, &Welcome{}, &GroupInfo{}, sampleKeyPackage()} {
		m := NewMLSMessage(body)
		if m.Version != ProtocolVersionMLS10 || m.WireFormat != body.wireFormat() || m.Body() != body {
			t.Errorf("NewMLSMessage(%T) = %+v", body, m)
		}
	}
	m, err := ParseMLSMessage(mustMarshal(t, NewMLSMessage(sampleKeyPackage())))
	if err != nil || m.KeyPackage == nil || string(m.KeyPackage.InitKey) != "init" {
		t.Fatalf("ParseMLSMessage: %+v, %v", m, err)
	}
	if _, err := ParseMLSMessage([]byte{0, 1, 0, 5}); err == nil {
		t.Errorf("ParseMLSMessage of a truncated message succeeded")
	}
	w := &Welcome{Secrets: []EncryptedGroupSecrets{{NewMember: []byte("a")}, {NewMember: []byte("b")}}}
	if s := w.Find([]byte("b")); s == nil || string(s.NewMember) != "b" {
		t.Errorf("Welcome.Find(b) = %v", s)
	}
	if w.Find([]byte("c")) != nil {
		t.Errorf("Welcome.Find(c) found something")
	}
	exts := Extensions{{ExtensionType: ExtensionTypeRatchetTree, ExtensionData: []byte{1}}}
	if e := exts.Find(ExtensionTypeRatchetTree); e == nil || e.ExtensionData[0] != 1 {
		t.Errorf("Extensions.Find = %v", e)
	}
	if exts.Find(ExtensionTypeExternalPub) != nil {
		t.Errorf("Extensions.Find found a missing extension")
	}
}

func TestEnumStrings(t *testing.T) {
	for _, c := range []struct {
		v    interface{ String() string }
		want string
	}{
		{ProtocolVersionMLS10, "mls10"},
		{ProtocolVersion(2), "ProtocolVersion(0x0002)"},
		{MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519, "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"},
		{CipherSuite(0x0a0a), "CipherSuite(0x0a0a)"},
		{WireFormatKeyPackage, "mls_key_package"},
		{WireFormat(0), "WireFormat(0x0000)"},
		{ContentTypeCommit, "commit"},
		{SenderTypeNewMemberCommit, "new_member_commit"},
		{ProposalTypeGroupContextExtensions, "group_context_extensions"},
		{ProposalType(0x0a0a), "ProposalType(0x0a0a)"},
		{ExtensionTypeExternalSenders, "external_senders"},
		{CredentialTypeX509, "x509"},
		{LeafNodeSourceCommit, "commit"},
		{PSKTypeResumption, "resumption"},
		{ResumptionPSKUsageBranch, "branch"},
		{NodeTypeParent, "parent"},
		{ProposalOrRefTypeReference, "reference"},
		{ContentType(9), "ContentType(9)"},
	} {
		if got := c.v.String(); got != c.want {
			t.Errorf("%T(%v).String() = %q, want %q", c.v, c.v, got, c.want)
		}
	}
	grease := 0
	for v := 0; v <= 0xffff; v++ {
		if IsGREASE(uint16(v)) {
			grease++
			if v&0xff != v>>8 || v&0x0f != 0x0a {
				t.Errorf("IsGREASE(0x%04x)", v)
			}
		}
	}
	if grease != 15 || IsGREASE(0xfafa) {
		t.Errorf("%d GREASE values; IsGREASE(0xfafa) = %v", grease, IsGREASE(0xfafa))
	}
}

// equalValues is reflect.DeepEqual except that a nil slice equals an
// empty one: decoding gives empty slices where a hand-built value has nil.
func equalValues(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() || a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValues(a.Elem(), b.Elem())
	case reflect.Slice, reflect.Array:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalValues(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if !equalValues(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}

func TestAuthWithContentType(t *testing.T) {
	a := FramedContentAuthData{Signature: []byte("sig"), ConfirmationTag: []byte("tag")}
	for _, c := range []struct {
		ct   ContentType
		want []byte
	}{
		{ContentTypeApplication, []byte("\x03sig")},
		{ContentTypeProposal, []byte("\x03sig")},
		{ContentTypeCommit, []byte("\x03sig\x03tag")},
	} {
		var w codec.Writer
		a.MarshalAuth(&w, c.ct)
		got, err := w.Bytes()
		if err != nil || !bytes.Equal(got, c.want) {
			t.Fatalf("%v: MarshalAuth = %q, %v; want %q", c.ct, got, err, c.want)
		}
		var back FramedContentAuthData
		r := codec.NewReader(got)
		back.UnmarshalAuth(r, c.ct)
		if err := r.Finish("auth"); err != nil || back.ContentType != c.ct || string(back.Signature) != "sig" {
			t.Fatalf("%v: UnmarshalAuth = %+v, %v", c.ct, back, err)
		}
	}
	var w codec.Writer
	a.MarshalAuth(&w, 0)
	if !errors.Is(w.Err(), ErrCannotEncode) {
		t.Fatalf("MarshalAuth(0): err = %v", w.Err())
	}
	r := codec.NewReader([]byte{0})
	a.UnmarshalAuth(r, 9)
	if !errors.Is(r.Err(), ErrUnknownValue) {
		t.Fatalf("UnmarshalAuth(9): err = %v", r.Err())
	}
}
