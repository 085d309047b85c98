package wire

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
)

// ProtocolVersion is an MLS protocol version (RFC 9420 §6, §17).
type ProtocolVersion uint16

// ProtocolVersionMLS10 is mls10, the version RFC 9420 defines.
const ProtocolVersionMLS10 ProtocolVersion = 1

func (v ProtocolVersion) String() string {
	if v == ProtocolVersionMLS10 {
		return "mls10"
	}
	return fmt.Sprintf("ProtocolVersion(0x%04x)", uint16(v))
}

// CipherSuite is a cipher suite code point (RFC 9420 §5.1, §17.1). The
// algorithms live in mls/suite; unknown values decode, since capabilities
// list them (including GREASE values).
type CipherSuite uint16

// The cipher suites of RFC 9420 §17.1.
const (
	MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519        CipherSuite = 1
	MLS_128_DHKEMP256_AES128GCM_SHA256_P256             CipherSuite = 2
	MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519 CipherSuite = 3
	MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448            CipherSuite = 4
	MLS_256_DHKEMP521_AES256GCM_SHA512_P521             CipherSuite = 5
	MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448     CipherSuite = 6
	MLS_256_DHKEMP384_AES256GCM_SHA384_P384             CipherSuite = 7
)

var cipherSuiteNames = [...]string{
	1: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519",
	2: "MLS_128_DHKEMP256_AES128GCM_SHA256_P256",
	3: "MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519",
	4: "MLS_256_DHKEMX448_AES256GCM_SHA512_Ed448",
	5: "MLS_256_DHKEMP521_AES256GCM_SHA512_P521",
	6: "MLS_256_DHKEMX448_CHACHA20POLY1305_SHA512_Ed448",
	7: "MLS_256_DHKEMP384_AES256GCM_SHA384_P384",
}

func (c CipherSuite) String() string {
	if int(c) < len(cipherSuiteNames) && cipherSuiteNames[c] != "" {
		return cipherSuiteNames[c]
	}
	return fmt.Sprintf("CipherSuite(0x%04x)", uint16(c))
}

// WireFormat is the kind of an MLSMessage body (RFC 9420 §6, §17.2).
type WireFormat uint16

// The wire formats of RFC 9420 §17.2.
const (
	WireFormatPublicMessage  WireFormat = 1 // mls_public_message
	WireFormatPrivateMessage WireFormat = 2 // mls_private_message
	WireFormatWelcome        WireFormat = 3 // mls_welcome
	WireFormatGroupInfo      WireFormat = 4 // mls_group_info
	WireFormatKeyPackage     WireFormat = 5 // mls_key_package
)

var wireFormatNames = [...]string{
	1: "mls_public_message",
	2: "mls_private_message",
	3: "mls_welcome",
	4: "mls_group_info",
	5: "mls_key_package",
}

func (f WireFormat) String() string {
	if int(f) < len(wireFormatNames) && wireFormatNames[f] != "" {
		return wireFormatNames[f]
	}
	return fmt.Sprintf("WireFormat(0x%04x)", uint16(f))
}

func (f WireFormat) known() bool { return f >= 1 && f <= 5 }

// ContentType is what a FramedContent carries (RFC 9420 §6).
type ContentType uint8

// The content types of RFC 9420 §6.
const (
	ContentTypeApplication ContentType = 1
	ContentTypeProposal    ContentType = 2
	ContentTypeCommit      ContentType = 3
)

var contentTypeNames = [...]string{1: "application", 2: "proposal", 3: "commit"}

func (c ContentType) String() string {
	if int(c) < len(contentTypeNames) && contentTypeNames[c] != "" {
		return contentTypeNames[c]
	}
	return fmt.Sprintf("ContentType(%d)", uint8(c))
}

func (c ContentType) known() bool { return c >= 1 && c <= 3 }

// SenderType is the kind of sender of a FramedContent (RFC 9420 §6).
type SenderType uint8

// The sender types of RFC 9420 §6.
const (
	SenderTypeMember            SenderType = 1
	SenderTypeExternal          SenderType = 2
	SenderTypeNewMemberProposal SenderType = 3
	SenderTypeNewMemberCommit   SenderType = 4
)

var senderTypeNames = [...]string{1: "member", 2: "external", 3: "new_member_proposal", 4: "new_member_commit"}

func (s SenderType) String() string {
	if int(s) < len(senderTypeNames) && senderTypeNames[s] != "" {
		return senderTypeNames[s]
	}
	return fmt.Sprintf("SenderType(%d)", uint8(s))
}

func (s SenderType) known() bool { return s >= 1 && s <= 4 }

// ProposalType is the kind of a Proposal (RFC 9420 §12.1, §17.4). The
// registry is open; capabilities may list any value, but a Proposal of a
// type not defined here cannot be parsed (its body has no length prefix).
type ProposalType uint16

// The proposal types of RFC 9420 §17.4.
const (
	ProposalTypeAdd                    ProposalType = 1
	ProposalTypeUpdate                 ProposalType = 2
	ProposalTypeRemove                 ProposalType = 3
	ProposalTypePSK                    ProposalType = 4
	ProposalTypeReInit                 ProposalType = 5
	ProposalTypeExternalInit           ProposalType = 6
	ProposalTypeGroupContextExtensions ProposalType = 7
)

var proposalTypeNames = [...]string{
	1: "add", 2: "update", 3: "remove", 4: "psk", 5: "reinit",
	6: "external_init", 7: "group_context_extensions",
}

func (p ProposalType) String() string {
	if int(p) < len(proposalTypeNames) && proposalTypeNames[p] != "" {
		return proposalTypeNames[p]
	}
	return fmt.Sprintf("ProposalType(0x%04x)", uint16(p))
}

func (p ProposalType) known() bool { return p >= 1 && p <= 7 }

// ExtensionType is the kind of an Extension (RFC 9420 §7.2, §17.3). The
// registry is open and unknown values decode.
type ExtensionType uint16

// The extension types of RFC 9420 §17.3.
const (
	ExtensionTypeApplicationID        ExtensionType = 1
	ExtensionTypeRatchetTree          ExtensionType = 2
	ExtensionTypeRequiredCapabilities ExtensionType = 3
	ExtensionTypeExternalPub          ExtensionType = 4
	ExtensionTypeExternalSenders      ExtensionType = 5
)

var extensionTypeNames = [...]string{
	1: "application_id", 2: "ratchet_tree", 3: "required_capabilities",
	4: "external_pub", 5: "external_senders",
}

func (e ExtensionType) String() string {
	if int(e) < len(extensionTypeNames) && extensionTypeNames[e] != "" {
		return extensionTypeNames[e]
	}
	return fmt.Sprintf("ExtensionType(0x%04x)", uint16(e))
}

// CredentialType is the kind of a Credential (RFC 9420 §5.3, §17.5). The
// registry is open; capabilities may list any value, but a Credential of a
// type not defined here cannot be parsed.
type CredentialType uint16

// The credential types of RFC 9420 §17.5.
const (
	CredentialTypeBasic CredentialType = 1
	CredentialTypeX509  CredentialType = 2
)

func (c CredentialType) String() string {
	switch c {
	case CredentialTypeBasic:
		return "basic"
	case CredentialTypeX509:
		return "x509"
	}
	return fmt.Sprintf("CredentialType(0x%04x)", uint16(c))
}

func (c CredentialType) known() bool { return c == CredentialTypeBasic || c == CredentialTypeX509 }

// IsGREASE reports whether v is one of the GREASE values reserved in every
// MLS registry (RFC 9420 §13.5): 0x0A0A, 0x1A1A, ..., 0xEAEA.
func IsGREASE(v uint16) bool {
	return v&0x0f0f == 0x0a0a && v>>12 == (v>>4)&0xf && v>>12 <= 0xe
}

// LeafNodeSource says how a LeafNode came to be (RFC 9420 §7.2).
type LeafNodeSource uint8

// The leaf node sources of RFC 9420 §7.2.
const (
	LeafNodeSourceKeyPackage LeafNodeSource = 1
	LeafNodeSourceUpdate     LeafNodeSource = 2
	LeafNodeSourceCommit     LeafNodeSource = 3
)

var leafNodeSourceNames = [...]string{1: "key_package", 2: "update", 3: "commit"}

func (s LeafNodeSource) String() string {
	if int(s) < len(leafNodeSourceNames) && leafNodeSourceNames[s] != "" {
		return leafNodeSourceNames[s]
	}
	return fmt.Sprintf("LeafNodeSource(%d)", uint8(s))
}

func (s LeafNodeSource) known() bool { return s >= 1 && s <= 3 }

// PSKType is the kind of a pre-shared key (RFC 9420 §8.4).
type PSKType uint8

// The PSK types of RFC 9420 §8.4.
const (
	PSKTypeExternal   PSKType = 1
	PSKTypeResumption PSKType = 2
)

func (p PSKType) String() string {
	switch p {
	case PSKTypeExternal:
		return "external"
	case PSKTypeResumption:
		return "resumption"
	}
	return fmt.Sprintf("PSKType(%d)", uint8(p))
}

func (p PSKType) known() bool { return p == PSKTypeExternal || p == PSKTypeResumption }

// ResumptionPSKUsage is what a resumption PSK is used for (RFC 9420 §8.4).
type ResumptionPSKUsage uint8

// The resumption PSK usages of RFC 9420 §8.4.
const (
	ResumptionPSKUsageApplication ResumptionPSKUsage = 1
	ResumptionPSKUsageReInit      ResumptionPSKUsage = 2
	ResumptionPSKUsageBranch      ResumptionPSKUsage = 3
)

var resumptionPSKUsageNames = [...]string{1: "application", 2: "reinit", 3: "branch"}

func (u ResumptionPSKUsage) String() string {
	if int(u) < len(resumptionPSKUsageNames) && resumptionPSKUsageNames[u] != "" {
		return resumptionPSKUsageNames[u]
	}
	return fmt.Sprintf("ResumptionPSKUsage(%d)", uint8(u))
}

func (u ResumptionPSKUsage) known() bool { return u >= 1 && u <= 3 }

// NodeType is the kind of a ratchet tree node (RFC 9420 §7.8, §12.4.3.3).
type NodeType uint8

// The node types of RFC 9420 §7.8.
const (
	NodeTypeLeaf   NodeType = 1
	NodeTypeParent NodeType = 2
)

func (n NodeType) String() string {
	switch n {
	case NodeTypeLeaf:
		return "leaf"
	case NodeTypeParent:
		return "parent"
	}
	return fmt.Sprintf("NodeType(%d)", uint8(n))
}

func (n NodeType) known() bool { return n == NodeTypeLeaf || n == NodeTypeParent }

// ProposalOrRefType says whether a Commit carries a proposal by value or
// by reference (RFC 9420 §12.4).
type ProposalOrRefType uint8

// The ProposalOrRef types of RFC 9420 §12.4.
const (
	ProposalOrRefTypeProposal  ProposalOrRefType = 1
	ProposalOrRefTypeReference ProposalOrRefType = 2
)

func (t ProposalOrRefType) String() string {
	switch t {
	case ProposalOrRefTypeProposal:
		return "proposal"
	case ProposalOrRefTypeReference:
		return "reference"
	}
	return fmt.Sprintf("ProposalOrRefType(%d)", uint8(t))
}

func (t ProposalOrRefType) known() bool {
	return t == ProposalOrRefTypeProposal || t == ProposalOrRefTypeReference
}

// closed8 and closed16 are the enumerations that decode only to defined
// values.
type closed8 interface {
	~uint8
	fmt.Stringer
	known() bool
}

type closed16 interface {
	~uint16
	fmt.Stringer
	known() bool
}

// readEnum8 reads a one-byte enumeration and rejects undefined values.
func readEnum8[T closed8](r *codec.Reader, field string, v *T) bool {
	var b uint8
	if !r.Uint8(field, &b) {
		return false
	}
	if !T(b).known() {
		failf(r, field, ErrUnknownValue, "%v", T(b))
		return false
	}
	*v = T(b)
	return true
}

// readEnum16 reads a two-byte enumeration and rejects undefined values.
func readEnum16[T closed16](r *codec.Reader, field string, v *T) bool {
	var b uint16
	if !r.Uint16(field, &b) {
		return false
	}
	if !T(b).known() {
		failf(r, field, ErrUnknownValue, "%v", T(b))
		return false
	}
	*v = T(b)
	return true
}

// readVersion reads a ProtocolVersion that must be mls10.
func readVersion(r *codec.Reader, field string, v *ProtocolVersion) bool {
	var b uint16
	if !r.Uint16(field, &b) {
		return false
	}
	if ProtocolVersion(b) != ProtocolVersionMLS10 {
		failf(r, field, ErrUnsupportedVersion, "%v", ProtocolVersion(b))
		return false
	}
	*v = ProtocolVersion(b)
	return true
}

// writeVersion writes a ProtocolVersion that must be mls10.
func writeVersion(w *codec.Writer, what string, v ProtocolVersion) {
	if v != ProtocolVersionMLS10 {
		encodeErr(w, "%s version %v, want mls10", what, v)
		return
	}
	w.Uint16(uint16(v))
}
