package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	ds "github.com/ipfs/go-datastore"
)

// Node records: the identity, KeyPackages and PSKs. Each call is its own
// atomic batch; Transaction.UseKeyPackage consumes a KeyPackage atomically
// with joining a group.

// PutIdentity stores the node's identity, replacing (and purging) any
// previous one.
func (s *Store) PutIdentity(ctx context.Context, id Identity) error {
	w := s.newWrites()
	w.put(nil, keyIdentity, KindIdentity, &id)
	if err := s.purgeIfStored(ctx, w, KindIdentity, keyIdentity); err != nil {
		return err
	}
	return w.commit(ctx)
}

// Identity returns the node's identity (ErrNotFound before PutIdentity).
func (s *Store) Identity(ctx context.Context) (Identity, error) {
	var id Identity
	err := s.get(ctx, nil, keyIdentity, KindIdentity, &id)
	return id, err
}

// PutKeyPackage stores a KeyPackage with its private keys.
func (s *Store) PutKeyPackage(ctx context.Context, kp KeyPackage) error {
	if len(kp.Ref) == 0 {
		return fmt.Errorf("%w: empty KeyPackage ref", ErrInvalidArgument)
	}
	w := s.newWrites()
	w.put(nil, keyKeyPackage(kp.Ref), KindKeyPackage, &kp)
	if err := s.purgeIfStored(ctx, w, KindKeyPackage, keyKeyPackage(kp.Ref)); err != nil {
		return err
	}
	return w.commit(ctx)
}

// KeyPackage returns a stored KeyPackage by ref.
func (s *Store) KeyPackage(ctx context.Context, ref []byte) (KeyPackage, error) {
	var kp KeyPackage
	if len(ref) == 0 {
		return kp, fmt.Errorf("%w: empty KeyPackage ref", ErrInvalidArgument)
	}
	err := s.get(ctx, nil, keyKeyPackage(ref), KindKeyPackage, &kp)
	return kp, err
}

// KeyPackages lists the stored KeyPackages.
func (s *Store) KeyPackages(ctx context.Context) ([]KeyPackage, error) {
	var out []KeyPackage
	err := s.each(ctx, nil, keyKPs, KindKeyPackage, false, func(key ds.Key, val []byte) error {
		var kp KeyPackage
		if err := s.decodeValue(nil, KindKeyPackage, key, val, &kp); err != nil {
			return err
		}
		out = append(out, kp)
		return nil
	})
	return out, err
}

// DeleteKeyPackage deletes a KeyPackage and purges its private keys, last
// resort or not. Deleting one that is not there does nothing.
func (s *Store) DeleteKeyPackage(ctx context.Context, ref []byte) error {
	if len(ref) == 0 {
		return fmt.Errorf("%w: empty KeyPackage ref", ErrInvalidArgument)
	}
	w := s.newWrites()
	w.del(keyKeyPackage(ref))
	return w.commit(ctx)
}

// PutPSK stores an external PSK.
func (s *Store) PutPSK(ctx context.Context, psk PSK) error {
	if len(psk.ID) == 0 || psk.Secret == nil {
		return fmt.Errorf("%w: a PSK needs an id and a secret", ErrInvalidArgument)
	}
	w := s.newWrites()
	w.put(nil, keyPSK(psk.ID), KindPSK, &psk)
	if err := s.purgeIfStored(ctx, w, KindPSK, keyPSK(psk.ID)); err != nil {
		return err
	}
	return w.commit(ctx)
}

// PSK returns a stored PSK's secret.
func (s *Store) PSK(ctx context.Context, id []byte) ([]byte, error) {
	if len(id) == 0 {
		return nil, fmt.Errorf("%w: empty PSK id", ErrInvalidArgument)
	}
	var p PSK
	err := s.get(ctx, nil, keyPSK(id), KindPSK, &p)
	return p.Secret, err
}

// DeletePSK deletes a PSK and purges it.
func (s *Store) DeletePSK(ctx context.Context, id []byte) error {
	if len(id) == 0 {
		return fmt.Errorf("%w: empty PSK id", ErrInvalidArgument)
	}
	w := s.newWrites()
	w.del(keyPSK(id))
	return w.commit(ctx)
}

func (s *Store) purgeIfStored(ctx context.Context, w *writes, kind Kind, key ds.Key) error {
	ok, err := s.has(ctx, nil, kind, key)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if ok {
		w.purgePrefix(key)
	}
	return nil
}

// PutNodeMeta stores a small node-level value of the application's (for
// example pending Welcomes under "welcome/<group>"). It is not treated as
// a secret: overwriting does not purge the old value; deleting does.
func (s *Store) PutNodeMeta(ctx context.Context, name string, value []byte) error {
	if name == "" || value == nil {
		return fmt.Errorf("%w: node meta needs a name and a value", ErrInvalidArgument)
	}
	w := s.newWrites()
	w.put(nil, keyNodeMetaName(name), KindNodeMeta, &meta{Value: value})
	return w.commit(ctx)
}

// NodeMeta returns a node-level meta value.
func (s *Store) NodeMeta(ctx context.Context, name string) ([]byte, error) {
	var m meta
	err := s.get(ctx, nil, keyNodeMetaName(name), KindNodeMeta, &m)
	return m.Value, err
}

// NodeMetaNames lists the names of node-level meta values that start with
// prefix, in order.
func (s *Store) NodeMetaNames(ctx context.Context, prefix string) ([]string, error) {
	var out []string
	err := s.each(ctx, nil, keyNodeMeta, KindNodeMeta, true, func(key ds.Key, _ []byte) error {
		b, err := hex.DecodeString(key.Name())
		if err != nil {
			return &RecordError{Kind: KindNodeMeta, Key: key.String(), Err: err}
		}
		if strings.HasPrefix(string(b), prefix) {
			out = append(out, string(b))
		}
		return nil
	})
	return out, err
}

// DeleteNodeMeta deletes a node-level meta value.
func (s *Store) DeleteNodeMeta(ctx context.Context, name string) error {
	w := s.newWrites()
	w.del(keyNodeMetaName(name))
	return w.commit(ctx)
}
