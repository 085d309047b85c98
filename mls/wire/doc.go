// Package wire defines the structs of RFC 9420 (MLS) as they travel on the
// wire and their exact encoding in the TLS presentation language with MLS
// variable-length integers (mls/codec).
//
// # What it owns
//
// One Go type per RFC struct, named after it (KeyPackage, LeafNode,
// FramedContent, PrivateMessage, Welcome, MLSMessage, ...), with fields
// named after the RFC fields. Each type has MarshalMLS and UnmarshalMLS
// methods, so codec.Marshal and codec.Unmarshal work on it. Enumerations
// (WireFormat, ContentType, SenderType, ProposalType, ...) are named types
// with the RFC's code points as constants.
//
// The package does no cryptography. It produces the byte strings that the
// signing, MAC and transcript code works on: KeyPackage.TBS,
// LeafNode.TBS, GroupInfo.TBS, AuthenticatedContent.TBS (FramedContentTBS),
// PublicMessage.TBM (AuthenticatedContentTBM) and the transcript hash
// inputs.
//
// # Unions
//
// A select in the RFC becomes a tag field plus one field per variant; only
// the variant named by the tag is encoded, and a decoder fills only that
// one. For example a Proposal with Type ProposalTypeAdd carries its body in
// Proposal.Add. Encoding a union whose variant field is missing fails with
// ErrCannotEncode.
//
// Three structs select on a value they do not contain. FramedContentAuthData
// and PrivateMessageContent carry the ContentType that selects their
// variant as a Go field that is not encoded; the enclosing struct sets it,
// and UnmarshalPrivateMessageContent takes it from the PrivateMessage.
// FramedContentTBS carries the GroupContext as a pointer that must be set
// exactly when the sender is a member or a new_member_commit.
//
// # Decoding is strict
//
// Decoding rejects what the RFC does not allow, with a *codec.DecodeError
// that names the field (such as "KeyPackage.init_key"):
//
//   - truncated input and trailing bytes (codec.ErrTruncated,
//     codec.ErrTrailingData);
//   - non-minimal variable-length integers (codec.ErrNonMinimalVarint);
//   - optional<T> presence bytes other than 0 and 1;
//   - values of closed enumerations that the RFC does not define:
//     wire_format, content_type, sender_type, leaf_node_source, psktype,
//     usage, node_type, ProposalOrRef type (ErrUnknownValue);
//   - proposal and credential types this package cannot parse, since their
//     bodies carry no length (ErrUnknownValue); unknown extension types are
//     kept, as their data is opaque;
//   - a protocol version other than mls10 in MLSMessage, GroupContext,
//     FramedContentTBS and KeyPackage (§6, §8.1, §10.1)
//     (ErrUnsupportedVersion); ReInit.version may name any version;
//   - two extensions of one type in one list, §13.4 (ErrDuplicateExtension);
//   - non-zero padding in PrivateMessageContent, §6.3.1 (ErrNonZeroPadding);
//   - a ratchet_tree whose last node is blank, §12.4.3.3 (ErrBlankLastNode).
//
// All of these errors wrap codec.ErrInvalidValue or another codec reason,
// so errors.Is works at either level. Because decoding is strict and
// canonical, re-encoding a decoded value gives back the input bytes.
// Nothing in this package panics on input.
//
// Semantic checks that need group state (signatures, tree validity,
// lifetimes, capabilities, proposal list rules) belong to other packages.
package wire
