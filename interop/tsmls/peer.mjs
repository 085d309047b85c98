// peer.mjs is the ts-mls side of mlsnode's cross-implementation test
// (tsmls_test.go). It holds ts-mls members and answers one JSON request
// per line on stdin with one JSON reply per line on stdout. Every MLS
// object crosses as the hex of its RFC 9420 encoding (an MLSMessage), so
// the two stacks share nothing but the wire format.
//
// Requests: {"op": ..., "who": member name, ...}; replies: {"ok": true, ...}
// or {"ok": false, "error": "..."}.
import * as readline from "node:readline";
import {
  ciphersuites, getCiphersuiteFromName, getCiphersuiteImpl, defaultCapabilities, defaultLifetime,
  generateKeyPackage, createGroup, joinGroup, joinGroupExternal, createCommit, processPrivateMessage, processPublicMessage,
  createApplicationMessage, createProposal, createGroupInfoWithExternalPubAndRatchetTree, mlsExporter,
  encodeMlsMessage, decodeMlsMessage, acceptAll, makePskIndex, bytesToBase64, branchGroup, joinGroupFromBranch,
  reinitGroup, reinitCreateNewGroup, joinGroupFromReinit,
} from "ts-mls";
import { randomBytes } from "node:crypto";
import { encodeRatchetTree } from "ts-mls/ratchetTree.js";

import { createGroupInfo } from "ts-mls/createCommit.js";
import { generateKeyPackageWithKey } from "ts-mls";
import { p256, p384, p521 } from "@noble/curves/nist.js";

const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (s) => new Uint8Array(Buffer.from(s, "hex"));
const utf8 = (s) => new TextEncoder().encode(s);

// ts-mls 1.6.4 writes and reads the external_pub extension's data as the
// bare public key, while RFC 9420 §12.4.3.2 defines it as the struct
// ExternalPub { HPKEPublicKey external_pub; }, i.e. the key with its
// variable-length size prefix (§2.1.2). The two helpers below adapt at
// the boundary, so that the rest of an external join is tested across
// the two stacks; the Go test checks that the native encoding still
// differs (docs/interop.md).
function withLengthPrefix(key) {
  const n = key.length;
  let prefix;
  if (n < 1 << 6) prefix = [n];
  else if (n < 1 << 14) prefix = [0x40 | (n >> 8), n & 0xff];
  else prefix = [0x80 | (n >>> 24), (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  return new Uint8Array([...prefix, ...key]);
}

function withoutLengthPrefix(data) {
  const top = data[0] >> 6;
  const size = top === 0 ? 1 : top === 1 ? 2 : 4;
  let n = data[0] & 0x3f;
  for (let i = 1; i < size; i++) n = (n << 8) | data[i];
  if (size + n !== data.length) throw new Error("external_pub is not a length-prefixed key");
  return data.slice(size);
}

// RFCExtensions hands ts-mls's joinGroupExternal the bare key it expects
// when it looks external_pub up, while the GroupInfo's signature is still
// checked over the extensions as they were sent.
class RFCExtensions extends Array {
  find(pred) {
    const e = super.find(pred);
    if (e !== undefined && e.extensionType === "external_pub") return { ...e, extensionData: withoutLengthPrefix(e.extensionData) };
    return e;
  }
}

// ts-mls 1.6.4 makes ECDSA signature keys in SEC1 compressed form, while
// RFC 9420 §5.1.1 asks for the uncompressed point (as the test vectors and
// our engine have it). ts-mls takes a caller's key pair, so the peer gives
// it uncompressed keys (docs/interop.md).
const ecdsaCurves = { P256: p256, P384: p384, P521: p521 };

let cs; // the CiphersuiteImpl of this run
let csName;
const members = new Map(); // who -> { state, keyPackage, privatePackage, psks }

// pskIndex resolves a member's external PSKs (StorePSK) and the resumption
// PSKs of its own group.
const pskIndex = (m) => makePskIndex(m.state, m.psks ?? {});

function decode(h, want) {
  const res = decodeMlsMessage(unhex(h), 0);
  if (res === undefined) throw new Error("undecodable MLSMessage");
  const [msg] = res;
  if (want !== undefined && msg.wireformat !== want) throw new Error(`wire format ${msg.wireformat}, want ${want}`);
  return msg;
}

function member(who) {
  const m = members.get(who);
  if (m === undefined) throw new Error(`no member ${who}`);
  return m;
}

function leafOf(state, identity) {
  const want = hex(utf8(identity));
  for (let i = 0; i < state.ratchetTree.length; i += 2) {
    const n = state.ratchetTree[i];
    if (n !== undefined && n.nodeType === "leaf" && n.leaf.credential.credentialType === "basic" && hex(n.leaf.credential.identity) === want) {
      return i / 2;
    }
  }
  throw new Error(`no leaf for ${identity}`);
}

async function newKeyPackage(identity, native = false) {
  const credential = { credentialType: "basic", identity: utf8(identity) };
  const curve = ecdsaCurves[getCiphersuiteFromName(csName).signature];
  if (native || curve === undefined) {
    return generateKeyPackage(credential, defaultCapabilities(), defaultLifetime, [], cs);
  }
  const signKey = curve.utils.randomSecretKey();
  const keyPair = { signKey, publicKey: curve.getPublicKey(signKey, false) };
  return generateKeyPackageWithKey(credential, defaultCapabilities(), defaultLifetime, [], keyPair, cs);
}

// commit makes and applies the member's own commit (ts-mls applies it at
// once) with the given proposals.
async function commit(m, req, proposals) {
  const res = await createCommit({ state: m.state, cipherSuite: cs, pskIndex: pskIndex(m) },
    { extraProposals: proposals, wireAsPublicMessage: !!req.public, ratchetTreeExtension: true });
  m.state = res.newState;
  const out = { commit: hex(encodeMlsMessage(res.commit)) };
  if (res.welcome !== undefined) {
    out.welcome = hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: res.welcome }));
  }
  return out;
}

const ops = {
  async init(req) {
    const name = Object.keys(ciphersuites).find((k) => ciphersuites[k] === req.suite);
    if (name === undefined) throw new Error(`ts-mls has no suite ${req.suite}`);
    cs = await getCiphersuiteImpl(getCiphersuiteFromName(name));
    csName = name;
    return { name };
  },
  // keyPackage makes the member's KeyPackage ("keyPackage") and, for
  // comparison, one with ts-mls's default key generation ("native").
  async keyPackage(req) {
    const enc = (kp) => hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp }));
    const { publicPackage, privatePackage } = await newKeyPackage(req.who);
    members.set(req.who, { keyPackage: publicPackage, privatePackage });
    const native = await newKeyPackage(req.who, true);
    return { keyPackage: enc(publicPackage), native: enc(native.publicPackage) };
  },
  async create(req) {
    const { publicPackage, privatePackage } = await newKeyPackage(req.who);
    const state = await createGroup(unhex(req.groupId), publicPackage, privatePackage, [], cs);
    members.set(req.who, { state });
    return {};
  },
  async join(req) {
    const m = member(req.who);
    const msg = decode(req.welcome, "mls_welcome");
    m.state = await joinGroup(msg.welcome, m.keyPackage, m.privatePackage, makePskIndex(undefined, m.psks ?? {}), cs);
    return {};
  },
  async add(req) {
    const kp = decode(req.keyPackage, "mls_key_package").keyPackage;
    return commit(member(req.who), req, [{ proposalType: "add", add: { keyPackage: kp } }]);
  },
  async remove(req) {
    const m = member(req.who);
    return commit(m, req, [{ proposalType: "remove", remove: { removed: leafOf(m.state, req.identity) } }]);
  },
  // propose sends an Add proposal for a KeyPackage; a later commit by
  // anyone covers it by reference.
  async propose(req) {
    const m = member(req.who);
    const kp = decode(req.keyPackage, "mls_key_package").keyPackage;
    const res = await createProposal(m.state, !!req.public, { proposalType: "add", add: { keyPackage: kp } }, cs);
    m.state = res.newState;
    return { proposal: hex(encodeMlsMessage(res.message)) };
  },
  // update commits: with a path, covering every proposal received in the
  // epoch by reference.
  async update(req) {
    return commit(member(req.who), req, []);
  },
  async process(req) {
    const m = member(req.who);
    const msg = decode(req.message);
    if (msg.wireformat !== "mls_public_message" && msg.wireformat !== "mls_private_message") {
      throw new Error(`cannot process ${msg.wireformat}`);
    }
    // Not processMessage: in ts-mls 1.6.4 it drops the PSK index for
    // PrivateMessages, so a PrivateMessage commit injecting a PSK fails.
    if (msg.wireformat === "mls_public_message") {
      m.state = (await processPublicMessage(m.state, msg.publicMessage, pskIndex(m), cs, acceptAll)).newState;
      return {};
    }
    const res = await processPrivateMessage(m.state, msg.privateMessage, pskIndex(m), cs, acceptAll);
    m.state = res.newState;
    if (res.kind === "applicationMessage") return { application: hex(res.message) };
    return {};
  },
  async storePSK(req) {
    const m = member(req.who);
    m.psks = { ...(m.psks ?? {}), [bytesToBase64(unhex(req.id))]: unhex(req.secret) };
    return {};
  },
  // commitPSK commits an external PSK proposal by value.
  async commitPSK(req) {
    const psk = { preSharedKeyId: { psktype: "external", pskId: unhex(req.id), pskNonce: new Uint8Array(randomBytes(cs.kdf.size)) } };
    return commit(member(req.who), req, [{ proposalType: "psk", psk }]);
  },
  // branch starts a subgroup (§11.3) as member "as", with the KeyPackages
  // of the others, and returns its Welcome.
  async branch(req) {
    const m = member(req.who);
    const { publicPackage, privatePackage } = await newKeyPackage(req.who);
    const kps = req.keyPackages.map((h) => decode(h, "mls_key_package").keyPackage);
    const res = await branchGroup(m.state, publicPackage, privatePackage, kps, unhex(req.groupId), cs);
    members.set(req.as, { state: res.newState });
    // branchGroup's Welcome carries no ratchet tree: it travels beside it.
    return {
      welcome: hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: res.welcome })),
      ratchetTree: hex(encodeRatchetTree(res.newState.ratchetTree)),
    };
  },
  // joinBranch joins a subgroup of member who's group as member "as",
  // whose KeyPackage the keyPackage op made.
  async joinBranch(req) {
    const old = member(req.who);
    const m = member(req.as);
    const msg = decode(req.welcome, "mls_welcome");
    m.state = await joinGroupFromBranch(old.state, msg.welcome, m.keyPackage, m.privatePackage, undefined, cs);
    return {};
  },
  // reinit commits a ReInit (§11.2) to a new group id in the same suite.
  async reinit(req) {
    const m = member(req.who);
    const res = await reinitGroup(m.state, unhex(req.groupId), "mls10", csName, [], cs);
    m.state = res.newState;
    return { commit: hex(encodeMlsMessage(res.commit)) };
  },
  // reinitNewGroup creates the reinitialised group as member "as" after
  // member who's group committed a ReInit, with the others' KeyPackages.
  async reinitNewGroup(req) {
    const m = member(req.who);
    const ri = m.state.groupActiveState.reinit;
    const { publicPackage, privatePackage } = await newKeyPackage(req.who);
    const kps = req.keyPackages.map((h) => decode(h, "mls_key_package").keyPackage);
    const res = await reinitCreateNewGroup(m.state, publicPackage, privatePackage, kps, ri.groupId, ri.cipherSuite, ri.extensions);
    members.set(req.as, { state: res.newState });
    return {
      welcome: hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_welcome", welcome: res.welcome })),
      ratchetTree: hex(encodeRatchetTree(res.newState.ratchetTree)),
    };
  },
  // joinReinit joins the reinitialised group of member who's group as
  // member "as", whose KeyPackage the keyPackage op made.
  async joinReinit(req) {
    const old = member(req.who);
    const m = member(req.as);
    const msg = decode(req.welcome, "mls_welcome");
    m.state = await joinGroupFromReinit(old.state, msg.welcome, m.keyPackage, m.privatePackage, undefined);
    return {};
  },
  async protect(req) {
    const m = member(req.who);
    const res = await createApplicationMessage(m.state, unhex(req.data), cs);
    m.state = res.newState;
    return { message: hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: res.privateMessage })) };
  },
  // groupInfo returns ts-mls's own GroupInfo ("native") and one whose
  // external_pub is encoded as RFC 9420 says ("groupInfo").
  async groupInfo(req) {
    const state = member(req.who).state;
    const native = await createGroupInfoWithExternalPubAndRatchetTree(state, [], cs);
    const pair = await cs.hpke.deriveKeyPair(state.keySchedule.externalSecret);
    const pub = await cs.hpke.exportPublicKey(pair.publicKey);
    const rfc = await createGroupInfo(state.groupContext, state.confirmationTag, state, [
      { extensionType: "external_pub", extensionData: withLengthPrefix(pub) },
      native.extensions.find((e) => e.extensionType === "ratchet_tree"),
    ], cs);
    const enc = (gi) => hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: gi }));
    return { groupInfo: enc(rfc), native: enc(native) };
  },
  async externalJoin(req) {
    const gi = decode(req.groupInfo, "mls_group_info").groupInfo;
    gi.extensions = RFCExtensions.from(gi.extensions);
    const { publicPackage, privatePackage } = await newKeyPackage(req.who);
    const res = await joinGroupExternal(gi, publicPackage, privatePackage, !!req.resync, cs);
    members.set(req.who, { state: res.newState });
    return { commit: hex(encodeMlsMessage({ version: "mls10", wireformat: "mls_public_message", publicMessage: res.publicMessage })) };
  },
  async export(req) {
    const s = member(req.who).state;
    const secret = await mlsExporter(s.keySchedule.exporterSecret, req.label, unhex(req.context), req.length, cs);
    return { secret: hex(secret), epoch: Number(s.groupContext.epoch) };
  },
};

const rl = readline.createInterface({ input: process.stdin, terminal: false });
for await (const line of rl) {
  if (line.trim() === "") continue;
  let reply;
  try {
    const req = JSON.parse(line);
    const op = ops[req.op];
    if (op === undefined) throw new Error(`unknown op ${req.op}`);
    reply = { ok: true, ...(await op(req)) };
  } catch (err) {
    reply = { ok: false, error: String(err && err.stack ? err.stack : err) };
  }
  process.stdout.write(JSON.stringify(reply) + "\n");
}
