package cores

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/mlsnode/mlsnode/mls"
	"github.com/mlsnode/mlsnode/mls/codec"
	"github.com/mlsnode/mlsnode/mls/suite"
	"github.com/mlsnode/mlsnode/mls/wire"
	"github.com/mlsnode/mlsnode/sim"
)

// ErrIdentity is returned for a credential that does not name a simulated
// member.
var ErrIdentity = errors.New("sim/cores: credential does not name a simulated member")

// identityPrefix starts the basic-credential identity of every simulated
// member: "sim-member/<id>".
const identityPrefix = "sim-member/"

// IdentityOf is the credential identity of member id.
func IdentityOf(id sim.MemberID) []byte { return []byte(identityPrefix + strconv.Itoa(int(id))) }

// MemberOf reads a member id back from a credential identity.
func MemberOf(identity []byte) (sim.MemberID, error) {
	s, ok := strings.CutPrefix(string(identity), identityPrefix)
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrIdentity, identity)
	}
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: %q", ErrIdentity, identity)
	}
	return sim.MemberID(n), nil
}

// client is one simulated participant's keys: a signing key and a fresh
// KeyPackage, everything drawn from its own seeded reader.
type client struct {
	id   sim.MemberID
	rand io.Reader
	key  *suite.SigningKey
	kp   *mls.KeyPackageBundle
}

// lifetime is wide: the simulator's virtual clock never reaches wall-clock
// dates, and leaf lifetimes are not what it studies.
var lifetime = wire.Lifetime{NotBefore: 0, NotAfter: 1 << 62}

func newClient(cs *suite.Suite, seed sim.Seed, id sim.MemberID, dir *directory) (*client, error) {
	c := &client{id: id, rand: seed.Reader("mls/member/" + strconv.Itoa(int(id)))}
	priv, _, err := cs.GenerateSignatureKey(c.rand)
	if err != nil {
		return nil, err
	}
	if c.key, err = cs.NewSigningKey(priv); err != nil {
		return nil, err
	}
	dir.keys[id] = c.key.PublicKey()
	return c, c.freshKeyPackage(cs)
}

func (c *client) freshKeyPackage(cs *suite.Suite) error {
	kp, err := mls.NewKeyPackage(c.rand, cs, wire.Credential{CredentialType: wire.CredentialTypeBasic, Identity: IdentityOf(c.id)}, c.key,
		mls.KeyPackageOptions{Lifetime: lifetime})
	if err != nil {
		return err
	}
	c.kp = kp
	return nil
}

// keyPackageBytes is the KeyPackage as its owner publishes it.
func (c *client) keyPackageBytes() ([]byte, error) {
	return codec.Marshal(wire.NewMLSMessage(c.kp.KeyPackage))
}

// genesis builds an n-member group with real MLS outside simulated time:
// member 0 creates it and adds everyone in one commit; the others join from
// the Welcome. Every member ends at epoch 1 with its own state.
func genesis(cs *suite.Suite, seed sim.Seed, n int, dir *directory) ([]*client, []*mls.Group, error) {
	clients := make([]*client, n)
	for i := range n {
		c, err := newClient(cs, seed, sim.MemberID(i), dir)
		if err != nil {
			return nil, nil, fmt.Errorf("member %d keys: %w", i, err)
		}
		clients[i] = c
	}
	groups := make([]*mls.Group, n)
	creator := clients[0]
	g, err := mls.CreateGroup(creator.rand, cs, mls.CreateConfig{
		GroupID: []byte("mlsnode-sim/" + strconv.FormatUint(uint64(seed), 10)), KeyPackage: creator.kp, SigningKey: creator.key,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create: %w", err)
	}
	if err := creator.freshKeyPackage(cs); err != nil { // the first one is used
		return nil, nil, err
	}
	groups[0] = g
	if n == 1 {
		return clients, groups, nil
	}
	var adds []*wire.Proposal
	for _, c := range clients[1:] {
		adds = append(adds, mls.NewAdd(c.kp.KeyPackage))
	}
	res, err := g.Commit(creator.rand, mls.CommitOptions{Proposals: adds})
	if err != nil {
		return nil, nil, fmt.Errorf("genesis commit: %w", err)
	}
	if err := g.Merge(res.Staged); err != nil {
		return nil, nil, fmt.Errorf("genesis merge: %w", err)
	}
	// The Welcome goes through its wire form, as it would on the network.
	wb, err := codec.Marshal(wire.NewMLSMessage(res.Welcome))
	if err != nil {
		return nil, nil, err
	}
	// Joins are independent (each reads only its own keys and its own
	// copy of the Welcome), so they run on every core; the result is the
	// same whatever the scheduling. This is setup outside simulated time.
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				groups[i], errs[i] = join(cs, wb, clients[i], dir)
			}
		})
	}
	for i := 1; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, nil, fmt.Errorf("member %d joins: %w", i, err)
		}
	}
	return clients, groups, nil
}

func join(cs *suite.Suite, welcome []byte, c *client, dir *directory) (*mls.Group, error) {
	wm, err := wire.ParseMLSMessage(welcome)
	if err != nil {
		return nil, err
	}
	g, err := mls.JoinFromWelcome(cs, wm.Welcome, mls.JoinConfig{KeyPackage: c.kp, SigningKey: c.key, Credentials: dir})
	if err != nil {
		return nil, err
	}
	return g, c.freshKeyPackage(cs)
}

// roster lists the members of a group's current epoch by simulated id.
func roster(g *mls.Group) []sim.RosterEntry {
	t := g.Tree()
	var out []sim.RosterEntry
	for _, leaf := range t.Members() {
		ln := t.Leaf(leaf)
		if ln == nil {
			continue
		}
		id, err := MemberOf(ln.Credential.Identity)
		if err != nil {
			continue
		}
		out = append(out, sim.RosterEntry{ID: id, Leaf: uint32(leaf)})
	}
	sortRoster(out)
	return out
}

func sortRoster(r []sim.RosterEntry) {
	slices.SortFunc(r, func(a, b sim.RosterEntry) int { return cmp.Compare(a.ID, b.ID) })
}

// directory is the simulation's PKI: which signature key belongs to which
// simulated member. It is the CredentialValidator every member uses, so a
// leaf that claims another member's identity is refused.
type directory struct {
	keys map[sim.MemberID][]byte
}

func (d *directory) Validate(cred *wire.Credential, signatureKey []byte) error {
	if cred.CredentialType != wire.CredentialTypeBasic {
		return fmt.Errorf("%w: credential type %v", ErrIdentity, cred.CredentialType)
	}
	id, err := MemberOf(cred.Identity)
	if err != nil {
		return err
	}
	if k, ok := d.keys[id]; !ok || !bytes.Equal(k, signatureKey) {
		return fmt.Errorf("%w: signature key of member %d does not match the directory", ErrIdentity, id)
	}
	return nil
}
