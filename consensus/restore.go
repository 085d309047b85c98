package consensus

import (
	"fmt"

	"github.com/mlsnode/mlsnode/mls"
)

// Restore starts a Core again from what an earlier one persisted
// (Ready.Persist): the head's MLS state becomes the root and head of a
// fresh epoch tree, and the messages still in the outbox are sealed again
// in that head and queued for broadcast (receivers drop what they already
// delivered, by MessageID). cfg.Group must be nil.
//
// The retained rivals are not restored: a restarted member can no longer
// switch to a rival of an epoch before its restart. That case looks like a
// partition longer than the window, which package fork heals.
func Restore(cfg Config, p *Persist) (*Core, error) {
	if cfg.Group != nil || p == nil || p.HeadState == nil {
		return nil, fmt.Errorf("%w: Restore needs a persisted head state and no Group", ErrConfig)
	}
	g, err := mls.LoadGroup(p.HeadState, mls.LoadConfig{SigningKey: cfg.SigningKey, PSKs: cfg.PSKs, Credentials: cfg.Credentials})
	if err != nil {
		return nil, fmt.Errorf("consensus: restoring the head: %w", err)
	}
	if EpochIDOf(g) != p.HeadID {
		return nil, fmt.Errorf("%w: persisted head id %v does not match its state", ErrConfig, p.HeadID)
	}
	cfg.Group = g
	c, err := New(cfg)
	if err != nil {
		return nil, err
	}
	for i := range p.Outbox {
		o := p.Outbox[i]
		if err := c.sealApp(&o); err != nil {
			return nil, err
		}
		c.delivered.add(o.ID)
	}
	return c, nil
}
