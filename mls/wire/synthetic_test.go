package wire

import (
	"bytes"
	"testing"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// syntheticSeeds builds fuzz seeds from hand-made values, so that the seed
// corpus kept in testdata/fuzz holds no bytes of the RFC 9420 vectors
// (which must never be copied into the repository). The values are
// structurally complete (every union variant, optional and extension kind
// appears somewhere) but carry filler bytes for keys and signatures, which
// decoding does not check.
func syntheticSeeds(t testing.TB) map[string][][]byte {
	fill := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	caps := Capabilities{
		Versions:     []ProtocolVersion{ProtocolVersionMLS10},
		CipherSuites: []CipherSuite{1, 2, 3},
		Extensions:   []ExtensionType{ExtensionTypeApplicationID, 0x0a0a},
		Proposals:    []ProposalType{ProposalTypeAdd},
		Credentials:  []CredentialType{CredentialTypeBasic, CredentialTypeX509},
	}
	basic := Credential{CredentialType: CredentialTypeBasic, Identity: []byte("alice")}
	x509 := Credential{CredentialType: CredentialTypeX509, Certificates: []Certificate{{CertData: fill(0x30, 40)}, {CertData: fill(0x31, 8)}}}
	kpLeaf := LeafNode{
		EncryptionKey: fill(1, 32), SignatureKey: fill(2, 32), Credential: basic, Capabilities: caps,
		LeafNodeSource: LeafNodeSourceKeyPackage, Lifetime: &Lifetime{NotBefore: 1, NotAfter: 1 << 40},
		Extensions: Extensions{{ExtensionType: ExtensionTypeApplicationID, ExtensionData: []byte("dev-1")}},
		Signature:  fill(3, 64),
	}
	commitLeaf := kpLeaf
	commitLeaf.Credential = x509
	commitLeaf.LeafNodeSource, commitLeaf.Lifetime, commitLeaf.ParentHash = LeafNodeSourceCommit, nil, fill(4, 32)
	updateLeaf := kpLeaf
	updateLeaf.LeafNodeSource, updateLeaf.Lifetime, updateLeaf.Extensions = LeafNodeSourceUpdate, nil, nil
	kp := KeyPackage{Version: ProtocolVersionMLS10, CipherSuite: 1, InitKey: fill(5, 32), LeafNode: kpLeaf,
		Extensions: Extensions{{ExtensionType: 0x1a1a, ExtensionData: nil}}, Signature: fill(6, 64)}
	gc := GroupContext{Version: ProtocolVersionMLS10, CipherSuite: 1, GroupID: []byte("group"), Epoch: 9,
		TreeHash: fill(7, 32), ConfirmedTranscriptHash: fill(8, 32)}
	psk := PreSharedKeyID{PSKType: PSKTypeResumption, Usage: ResumptionPSKUsageApplication, PSKGroupID: []byte("g"), PSKEpoch: 3, PSKNonce: fill(9, 32)}
	proposals := []ProposalOrRef{
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeAdd, Add: &Add{KeyPackage: kp}}},
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeUpdate, Update: &Update{LeafNode: updateLeaf}}},
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 3}}},
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypePSK, PreSharedKey: &PreSharedKey{PSK: psk}}},
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeReInit, ReInit: &ReInit{GroupID: []byte("g2"), Version: ProtocolVersionMLS10, CipherSuite: 3}}},
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeExternalInit, ExternalInit: &ExternalInit{KEMOutput: fill(10, 32)}}},
		{Type: ProposalOrRefTypeProposal, Proposal: &Proposal{Type: ProposalTypeGroupContextExtensions, GroupContextExtensions: &GroupContextExtensions{}}},
		{Type: ProposalOrRefTypeReference, Reference: fill(11, 32)},
	}
	path := &UpdatePath{LeafNode: commitLeaf, Nodes: []UpdatePathNode{
		{EncryptionKey: fill(12, 32), EncryptedPathSecret: []HPKECiphertext{{KEMOutput: fill(13, 32), Ciphertext: fill(14, 48)}}},
		{EncryptionKey: fill(15, 32)},
	}}
	member := Sender{SenderType: SenderTypeMember, LeafIndex: 2}
	commitMsg := &PublicMessage{
		Content: FramedContent{GroupID: []byte("group"), Epoch: 9, Sender: member, AuthenticatedData: []byte("ad"),
			ContentType: ContentTypeCommit, Commit: &Commit{Proposals: proposals, Path: path}},
		Auth:          FramedContentAuthData{ContentType: ContentTypeCommit, Signature: fill(16, 64), ConfirmationTag: fill(17, 32)},
		MembershipTag: fill(18, 32),
	}
	externalProposal := &PublicMessage{
		Content: FramedContent{GroupID: []byte("group"), Epoch: 9, Sender: Sender{SenderType: SenderTypeExternal, SenderIndex: 1},
			ContentType: ContentTypeProposal, Proposal: &Proposal{Type: ProposalTypeRemove, Remove: &Remove{Removed: 0}}},
		Auth: FramedContentAuthData{ContentType: ContentTypeProposal, Signature: fill(19, 64)},
	}
	private := &PrivateMessage{GroupID: []byte("group"), Epoch: 9, ContentType: ContentTypeApplication,
		AuthenticatedData: []byte("ad"), EncryptedSenderData: fill(20, 28), Ciphertext: fill(21, 120)}
	welcome := &Welcome{CipherSuite: 1, Secrets: []EncryptedGroupSecrets{
		{NewMember: fill(22, 32), EncryptedGroupSecrets: HPKECiphertext{KEMOutput: fill(23, 32), Ciphertext: fill(24, 80)}},
		{NewMember: fill(25, 32), EncryptedGroupSecrets: HPKECiphertext{KEMOutput: fill(26, 32), Ciphertext: fill(27, 80)}},
	}, EncryptedGroupInfo: fill(28, 200)}
	groupInfo := &GroupInfo{GroupContext: gc, Extensions: Extensions{{ExtensionType: ExtensionTypeExternalPub, ExtensionData: fill(29, 32)}},
		ConfirmationTag: fill(30, 32), Signer: 1, Signature: fill(31, 64)}
	tree := RatchetTree{
		{NodeType: NodeTypeLeaf, LeafNode: &kpLeaf},
		{NodeType: NodeTypeParent, ParentNode: &ParentNode{EncryptionKey: fill(32, 32), ParentHash: nil, UnmergedLeaves: []uint32{1}}},
		{NodeType: NodeTypeLeaf, LeafNode: &commitLeaf},
		nil,
		{NodeType: NodeTypeLeaf, LeafNode: &updateLeaf},
	}

	enc := func(v codec.Marshaler) []byte {
		b, err := codec.Marshal(v)
		if err != nil {
			t.Fatalf("synthetic seed: %v", err)
		}
		return b
	}
	var messages [][]byte
	for _, body := range []MessageBody{commitMsg, externalProposal, private, welcome, groupInfo, &kp} {
		messages = append(messages, enc(NewMLSMessage(body)))
	}
	return map[string][][]byte{
		"FuzzMLSMessage":  messages,
		"FuzzKeyPackage":  {enc(&kp)},
		"FuzzWelcome":     {enc(welcome)},
		"FuzzRatchetTree": {enc(&tree)},
	}
}

// TestSyntheticSeedsDecode: the synthetic seeds are valid encodings, so
// the fuzzers start from inputs that reach deep into the decoders.
func TestSyntheticSeedsDecode(t *testing.T) {
	fresh := map[string]func() codec.Unmarshaler{
		"FuzzMLSMessage":  func() codec.Unmarshaler { return new(MLSMessage) },
		"FuzzKeyPackage":  func() codec.Unmarshaler { return new(KeyPackage) },
		"FuzzWelcome":     func() codec.Unmarshaler { return new(Welcome) },
		"FuzzRatchetTree": func() codec.Unmarshaler { return new(RatchetTree) },
	}
	for target, seeds := range syntheticSeeds(t) {
		for i, s := range seeds {
			v := fresh[target]()
			if err := codec.Unmarshal(s, v); err != nil {
				t.Errorf("%s seed %d: %v", target, i, err)
			}
		}
	}
}
