package store

import (
	"encoding/hex"
	"errors"
	"fmt"
)

var (
	// ErrNotFound: the record asked for is not in the store.
	ErrNotFound = errors.New("store: not found")
	// ErrCorrupt: a stored value or a backend file is damaged. Errors
	// for one record are *RecordError values that name it.
	ErrCorrupt = errors.New("store: damaged record")
	// ErrSchemaVersion: the store was written by a binary with another
	// schema; see *SchemaError.
	ErrSchemaVersion = errors.New("store: unsupported schema version")
	// ErrWrongPassphrase: the passphrase does not open this store.
	ErrWrongPassphrase = errors.New("store: wrong passphrase")
	// ErrPassphraseRequired: the store is encrypted and no passphrase
	// was given.
	ErrPassphraseRequired = errors.New("store: store is encrypted; a passphrase is required")
	// ErrNotEncrypted: a passphrase was given for a store created
	// without encryption.
	ErrNotEncrypted = errors.New("store: store is not encrypted")
	// ErrNotAStore: the datastore holds data but no mlsnode schema record.
	ErrNotAStore = errors.New("store: datastore holds data that is not an mlsnode store")
	// ErrInvalidArgument: wrong use of the API (empty group id, a head
	// that names no stored epoch, dropping the head, ...). Nothing was
	// written.
	ErrInvalidArgument = errors.New("store: invalid argument")
	// ErrTransactionDone: a Transaction was used after Commit or Discard.
	ErrTransactionDone = errors.New("store: transaction already committed or discarded")
	// ErrClosed: the store was closed.
	ErrClosed = errors.New("store: closed")
)

// RecordError names a damaged record: the group it belongs to (nil for
// node and meta records), its kind and its datastore key.
type RecordError struct {
	Group []byte
	Kind  Kind
	Key   string
	Err   error
}

func (e *RecordError) Error() string {
	where := "node"
	if e.Group != nil {
		where = "group " + hex.EncodeToString(e.Group)
	}
	return fmt.Sprintf("store: %s: %s record %s is damaged: %v", where, e.Kind, e.Key, e.Err)
}

// Unwrap returns ErrCorrupt and the underlying cause, so that both
// errors.Is(err, ErrCorrupt) and matching on the cause work.
func (e *RecordError) Unwrap() []error { return []error{ErrCorrupt, e.Err} }

// SchemaError reports a store whose schema version this binary cannot use.
type SchemaError struct {
	Found, Supported uint32
}

func (e *SchemaError) Error() string {
	if e.Found > e.Supported {
		return fmt.Sprintf("store: schema version %d was written by a newer mlsnode; this binary supports up to %d", e.Found, e.Supported)
	}
	return fmt.Sprintf("store: schema version %d is not supported (this binary uses %d)", e.Found, e.Supported)
}

func (e *SchemaError) Unwrap() error { return ErrSchemaVersion }
