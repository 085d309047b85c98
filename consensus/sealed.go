package consensus

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/wire"
)

// Sealed is the body of a KindSealed envelope: a commit, proposal or
// evidence body encrypted under a key that only members of the header's
// epoch can derive. Commits and proposals must be PublicMessages for the
// ordering layer (evidence, re-processing on restored states); sealing
// them in the envelope keeps their content off the topic all the same.
//
//	struct {
//	    uint8 inner_kind;           // commit, proposal or evidence
//	    opaque nonce<V>;            // AEAD nonce, drawn by the sender
//	    opaque ciphertext<V>;       // AEAD.Seal(key, nonce, aad, inner body)
//	    optional<Welcome> welcome;  // commits: the Welcome, in clear
//	} Sealed;
//
//	key = MLS-Exporter("mlsnode seal", "", AEAD.Nk) of the header's epoch
//	aad = the envelope header with kind 5 (version, kind, group_id, epoch,
//	      epoch_id) || inner_kind
//
// A sealed commit's inner body is its CommitBody without the Welcome:
// the Welcome stays outside, since the joiners it is for are not members
// of the parent epoch (it is encrypted to them already).
type Sealed struct {
	InnerKind  EnvelopeKind
	Nonce      []byte
	Ciphertext []byte
	Welcome    *wire.Welcome
}

const sealLabel = "mlsnode seal"

func (s *Sealed) MarshalMLS(w *codec.Writer) {
	w.Uint8(uint8(s.InnerKind))
	w.Opaque(s.Nonce)
	w.Opaque(s.Ciphertext)
	w.Optional(s.Welcome != nil, func(w *codec.Writer) { w.Write(s.Welcome) })
}

func (s *Sealed) UnmarshalMLS(r *codec.Reader) {
	*s = Sealed{}
	var k uint8
	r.Uint8("Sealed.inner_kind", &k)
	s.InnerKind = EnvelopeKind(k)
	if r.OK() && s.InnerKind != KindCommit && s.InnerKind != KindProposal && s.InnerKind != KindEvidence {
		r.Fail("Sealed.inner_kind", fmt.Errorf("%w: %v cannot be sealed", ErrUnknownKind, s.InnerKind))
		return
	}
	readBounded(r, "Sealed.nonce", 64, &s.Nonce)
	readBounded(r, "Sealed.ciphertext", MaxBodySize, &s.Ciphertext)
	r.Optional("Sealed.welcome", func(r *codec.Reader) {
		s.Welcome = new(wire.Welcome)
		r.Read(s.Welcome)
	})
}

// sealAAD binds the ciphertext to the envelope header.
func sealAAD(env *Envelope, inner EnvelopeKind) ([]byte, error) {
	h := Envelope{Kind: KindSealed, GroupID: env.GroupID, Epoch: env.Epoch, EpochID: env.EpochID}
	b, err := h.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return append(b, uint8(inner)), nil
}

// sealKey is the epoch's sealing key, derived once and cached.
func (c *Core) sealKey(n *node) ([]byte, error) {
	if n.sealKey != nil {
		return n.sealKey, nil
	}
	g, err := c.groupAt(n)
	if err != nil {
		return nil, err
	}
	cs := g.Suite()
	key, err := g.Export(sealLabel, nil, cs.AEADKeySize())
	if err != nil {
		return nil, err
	}
	n.sealKey = key
	return key, nil
}

// seal wraps a commit, proposal or evidence envelope of epoch n when the
// Core is configured to; otherwise, or if the key is not available (this
// member was removed), it returns env unchanged.
func (c *Core) seal(n *node, env Envelope) Envelope {
	if !c.cfg.SealHandshakes {
		return env
	}
	key, err := c.sealKey(n)
	if err != nil {
		return env
	}
	s := Sealed{InnerKind: env.Kind}
	inner := env.Body
	if env.Kind == KindCommit {
		var body CommitBody
		if codec.Unmarshal(env.Body, &body) != nil {
			return env
		}
		s.Welcome, body.Welcome = body.Welcome, nil
		if inner, err = codec.Marshal(&body); err != nil {
			return env
		}
	}
	cs := c.suite()
	s.Nonce = make([]byte, cs.AEADNonceSize())
	if _, err := c.cfg.Rand.Read(s.Nonce); err != nil {
		return env
	}
	aad, err := sealAAD(&env, s.InnerKind)
	if err != nil {
		return env
	}
	if s.Ciphertext, err = cs.Seal(key, s.Nonce, aad, inner); err != nil {
		return env
	}
	body, err := codec.Marshal(&s)
	if err != nil {
		return env
	}
	return Envelope{Kind: KindSealed, GroupID: env.GroupID, Epoch: env.Epoch, EpochID: env.EpochID, Body: body}
}

// stepSealed opens a sealed envelope with its epoch's key and processes
// what it holds, keeping the sealed envelope as the one received.
func (c *Core) stepSealed(env Envelope) error {
	var s Sealed
	if err := codec.Unmarshal(env.Body, &s); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	n, err := c.parentOf(env, false)
	if err != nil {
		return err
	}
	key, err := c.sealKey(n)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnknownEpoch, err)
	}
	aad, err := sealAAD(&env, s.InnerKind)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	cs := c.suite()
	plain, err := cs.Open(key, s.Nonce, aad, s.Ciphertext)
	if err != nil {
		return fmt.Errorf("%w: sealed envelope does not open: %w", ErrInvalidMessage, err)
	}
	inner := Envelope{Kind: s.InnerKind, GroupID: env.GroupID, Epoch: env.Epoch, EpochID: env.EpochID, Body: plain}
	switch s.InnerKind {
	case KindCommit:
		var body CommitBody
		if err := codec.Unmarshal(plain, &body); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		if body.Welcome != nil {
			return fmt.Errorf("%w: Welcome inside a sealed commit", ErrMalformed)
		}
		body.Welcome = s.Welcome
		if inner.Body, err = codec.Marshal(&body); err != nil {
			return fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		return c.stepCommitAs(inner, env)
	case KindProposal:
		if s.Welcome != nil {
			return fmt.Errorf("%w: Welcome with a proposal", ErrMalformed)
		}
		return c.stepProposalAs(inner, env)
	default:
		if s.Welcome != nil {
			return fmt.Errorf("%w: Welcome with evidence", ErrMalformed)
		}
		return c.stepEvidenceAs(inner, env)
	}
}

// WelcomeOf returns the Welcome an envelope carries for new members, from
// a KindCommit or a KindSealed commit envelope, or nil. A joiner, who
// cannot open a sealed envelope, reads it here.
func WelcomeOf(env *Envelope) *wire.Welcome {
	switch env.Kind {
	case KindCommit:
		var body CommitBody
		if codec.Unmarshal(env.Body, &body) == nil {
			return body.Welcome
		}
	case KindSealed:
		var s Sealed
		if codec.Unmarshal(env.Body, &s) == nil && s.InnerKind == KindCommit {
			return s.Welcome
		}
	}
	return nil
}
