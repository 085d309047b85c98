package store

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	ds "github.com/ipfs/go-datastore"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/hkdf"
)

// Every stored value is a frame: a format byte, then either
//
//	plain:  kind || body || CRC-32C(key || 0 || format || kind || body)
//	sealed: nonce[24] || XChaCha20-Poly1305(kind || body, ad = adPrefix || key)
//
// The checksum (plain) or the associated data (sealed) covers the record's
// key, so a value copied under another key is reported as damaged.
const (
	framePlain  byte = 1
	frameSealed byte = 2
)

const adPrefix = "mlsnode store v1\x00"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

var (
	errFrameTruncated = errors.New("value too short")
	errFrameFormat    = errors.New("unknown value format")
	errChecksum       = errors.New("checksum mismatch")
	errAuth           = errors.New("authentication failed (tampered, or sealed under another key)")
	errPlainInSealed  = errors.New("unencrypted value in an encrypted store")
	errSealedInPlain  = errors.New("encrypted value in an unencrypted store")
)

// KDFParams are the Argon2id parameters used to derive the store key from
// a passphrase (RFC 9106). They are recorded in the store when it is
// created and read back when it is opened.
type KDFParams struct {
	Time      uint32
	MemoryKiB uint32
	Threads   uint8
}

// DefaultKDFParams is RFC 9106's second recommended option (§4):
// t=3, m=64 MiB, p=4.
var DefaultKDFParams = KDFParams{Time: 3, MemoryKiB: 64 * 1024, Threads: 4}

// maxKDFMemoryKiB bounds the memory a stored crypto record can make Open
// allocate (a damaged record must not exhaust memory): 4 GiB.
const maxKDFMemoryKiB = 4 << 20

// framer seals and opens values; aead is nil for an unencrypted store.
type framer struct {
	aead cipher.AEAD
}

func (f *framer) seal(key ds.Key, kind Kind, body []byte) ([]byte, error) {
	if f.aead == nil || key == keySchema || key == keyCrypto {
		return plainFrame(key, kind, body), nil
	}
	nonce := make([]byte, chacha20poly1305.NonceSizeX, chacha20poly1305.NonceSizeX+1+len(body)+f.aead.Overhead()+1)
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, fmt.Errorf("store: drawing a nonce: %w", err)
	}
	pt := make([]byte, 0, 1+len(body))
	pt = append(append(pt, byte(kind)), body...)
	out := append([]byte{frameSealed}, nonce...)
	return f.aead.Seal(out, nonce, pt, associatedData(key)), nil
}

func plainFrame(key ds.Key, kind Kind, body []byte) []byte {
	out := make([]byte, 0, 2+len(body)+4)
	out = append(out, framePlain, byte(kind))
	out = append(out, body...)
	return binary.BigEndian.AppendUint32(out, plainChecksum(key, out))
}

func plainChecksum(key ds.Key, frame []byte) uint32 {
	h := crc32.New(castagnoli)
	h.Write(key.Bytes())
	h.Write([]byte{0})
	h.Write(frame)
	return h.Sum32()
}

func associatedData(key ds.Key) []byte {
	return append([]byte(adPrefix), key.Bytes()...)
}

// open checks a frame and returns the body, if it holds a record of the
// wanted kind. Errors are the bare cause; callers wrap them in a
// *RecordError that names the record.
func (f *framer) open(key ds.Key, want Kind, val []byte) ([]byte, error) {
	if len(val) < 1 {
		return nil, errFrameTruncated
	}
	var kind Kind
	var body []byte
	switch val[0] {
	case framePlain:
		if f.aead != nil && key != keySchema && key != keyCrypto {
			return nil, errPlainInSealed
		}
		if len(val) < 2+4 {
			return nil, errFrameTruncated
		}
		n := len(val) - 4
		if binary.BigEndian.Uint32(val[n:]) != plainChecksum(key, val[:n]) {
			return nil, errChecksum
		}
		kind, body = Kind(val[1]), val[2:n]
	case frameSealed:
		if f.aead == nil {
			return nil, errSealedInPlain
		}
		ns := chacha20poly1305.NonceSizeX
		if len(val) < 1+ns+f.aead.Overhead()+1 {
			return nil, errFrameTruncated
		}
		pt, err := f.aead.Open(nil, val[1:1+ns], val[1+ns:], associatedData(key))
		if err != nil {
			return nil, errAuth
		}
		kind, body = Kind(pt[0]), pt[1:]
	default:
		return nil, errFrameFormat
	}
	if kind != want {
		return nil, fmt.Errorf("holds a %s record, expected %s", kind, want)
	}
	return body, nil
}

// deriveKeys runs Argon2id and splits its output into the record key and
// the passphrase check value.
func deriveKeys(passphrase []byte, c *cryptoRecord) (recordKey, check []byte, err error) {
	if c.Time == 0 || c.MemoryKiB < 8*uint32(max(c.Threads, 1)) || c.MemoryKiB > maxKDFMemoryKiB || c.Threads == 0 || len(c.Salt) < 16 {
		return nil, nil, fmt.Errorf("unusable KDF parameters t=%d m=%dKiB p=%d salt=%d bytes", c.Time, c.MemoryKiB, c.Threads, len(c.Salt))
	}
	master := argon2.IDKey(passphrase, c.Salt, c.Time, c.MemoryKiB, c.Threads, 32)
	defer clear(master)
	recordKey, check = make([]byte, chacha20poly1305.KeySize), make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, c.Salt, []byte("mlsnode store record key")), recordKey); err != nil {
		return nil, nil, err
	}
	if _, err := io.ReadFull(hkdf.New(sha256.New, master, c.Salt, []byte("mlsnode store passphrase check")), check); err != nil {
		return nil, nil, err
	}
	return recordKey, check, nil
}

func newSealedFramer(passphrase []byte, c *cryptoRecord) (*framer, error) {
	recordKey, check, err := deriveKeys(passphrase, c)
	if err != nil {
		return nil, &RecordError{Kind: KindCrypto, Key: keyCrypto.String(), Err: err}
	}
	defer clear(recordKey)
	if subtle.ConstantTimeCompare(check, c.Check) != 1 {
		return nil, ErrWrongPassphrase
	}
	aead, err := chacha20poly1305.NewX(recordKey)
	if err != nil {
		return nil, err
	}
	return &framer{aead: aead}, nil
}
