package secrets

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/crypto/chacha20poly1305"
)

var (
	// ErrNoKeyFile means the secret key file does not exist.
	ErrNoKeyFile = errors.New("secret key file not found")
	// ErrInsecureKeyFile means the key file can be read or written by users
	// other than its owner.
	ErrInsecureKeyFile = errors.New("secret key file is accessible by other users")
	// ErrInvalidKeyFile means the key file could not be parsed.
	ErrInvalidKeyFile = errors.New("invalid secret key file")
	// ErrUnknownKey means a sealed value names a key id the keyring does not hold.
	ErrUnknownKey = errors.New("sealed with a key that is not in the key file")
	// ErrTampered means authentication failed: the key bytes are wrong, or the
	// ciphertext or its AAD was modified.
	ErrTampered = errors.New("sealed value failed authentication")
	// ErrMalformed means the input is not a sealed value: wrong version,
	// truncated, or an invalid header.
	ErrMalformed = errors.New("malformed sealed value")
)

const (
	keySize     = chacha20poly1305.KeySize
	maxIDLength = 64
)

// keyEntry is one named key. It is only ever referenced through a pointer so that
// reflective printing of a Keyring (e.g. as an unexported struct field) shows
// an address, never the key bytes.
type keyEntry struct {
	id   string
	raw  []byte
	aead cipher.AEAD
}

// Keyring holds the keys from a key file. The first key is the active one and
// seals; every key opens. A Keyring is immutable after it is built and safe for
// concurrent use; the With* methods return new keyrings.
//
// Printing a Keyring with fmt shows key ids only, never key material.
type Keyring struct {
	keys []*keyEntry
}

// newKey builds a key from its id and 32 raw bytes.
func newKey(id string, raw []byte) (*keyEntry, error) {
	if !validID(id) {
		return nil, errors.New("invalid key id")
	}
	if len(raw) != keySize {
		return nil, fmt.Errorf("key %s is %d bytes, want %d", id, len(raw), keySize)
	}
	aead, err := chacha20poly1305.NewX(raw)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", id, err)
	}
	return &keyEntry{id: id, raw: slices.Clone(raw), aead: aead}, nil
}

// generateKey returns a fresh random key whose id is not in taken.
func generateKey(taken []string) (*keyEntry, error) {
	var id string
	for {
		var b [4]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, fmt.Errorf("generate key id: %w", err)
		}
		id = "k-" + hex.EncodeToString(b[:])
		if !slices.Contains(taken, id) {
			break
		}
	}
	raw := make([]byte, keySize)
	defer clear(raw)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return newKey(id, raw)
}

// validID reports whether id can name a key: 1 to 64 characters from
// [A-Za-z0-9._-]. Generated ids are "k-" followed by 8 hex digits.
func validID(id string) bool {
	if id == "" || len(id) > maxIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// active returns the sealing key.
func (k *Keyring) active() (*keyEntry, error) {
	if k == nil || len(k.keys) == 0 {
		return nil, errors.New("keyring has no keys")
	}
	return k.keys[0], nil
}

// lookup returns the key with the given id, or nil.
func (k *Keyring) lookup(id string) *keyEntry {
	if k == nil {
		return nil
	}
	for _, e := range k.keys {
		if e.id == id {
			return e
		}
	}
	return nil
}

// ActiveID returns the id of the key that seals new values.
func (k *Keyring) ActiveID() string {
	a, err := k.active()
	if err != nil {
		return ""
	}
	return a.id
}

// IDs returns the ids of all keys, active first, in key file order.
func (k *Keyring) IDs() []string {
	if k == nil {
		return nil
	}
	ids := make([]string, len(k.keys))
	for i, e := range k.keys {
		ids[i] = e.id
	}
	return ids
}

// WithNewKey returns a keyring whose active key is freshly generated, keeping
// the existing keys after it so values sealed with them still open. It is step
// 1 of a rotation.
func (k *Keyring) WithNewKey() (*Keyring, error) {
	fresh, err := generateKey(k.IDs())
	if err != nil {
		return nil, err
	}
	keys := make([]*keyEntry, 0, len(k.IDs())+1)
	keys = append(keys, fresh)
	if k != nil {
		keys = append(keys, k.keys...)
	}
	return &Keyring{keys: keys}, nil
}

// WithOnly returns a keyring holding only the keys with the given ids, e.g.
// kr.WithOnly(kr.ActiveID()) to drop the old keys once every value has been
// re-sealed. Keys keep their order, so the active key of the result is the
// first kept key in k. Naming an id k does not hold wraps ErrUnknownKey.
func (k *Keyring) WithOnly(ids ...string) (*Keyring, error) {
	if len(ids) == 0 {
		return nil, errors.New("keep at least one key")
	}
	for _, id := range ids {
		if k.lookup(id) == nil {
			return nil, fmt.Errorf("%w: %q", ErrUnknownKey, id)
		}
	}
	var keys []*keyEntry
	for _, e := range k.keys {
		if slices.Contains(ids, e.id) {
			keys = append(keys, e)
		}
	}
	return &Keyring{keys: keys}, nil
}

// String describes the keyring by its key ids; it never includes key material.
// String, GoString and Format have value receivers so that a Keyring printed
// by value goes through them too.
func (k Keyring) String() string {
	ids := k.IDs()
	active := ""
	if len(ids) > 0 {
		active = ids[0]
	}
	return fmt.Sprintf("secrets.Keyring{active: %s, ids: [%s]}", active, strings.Join(ids, " "))
}

// GoString is the same as String so that %#v shows no key material.
func (k Keyring) GoString() string { return k.String() }

// Format implements fmt.Formatter so every verb (%v, %+v, %#v, %s, %x, %q...)
// prints String and nothing else.
func (k Keyring) Format(f fmt.State, _ rune) {
	_, _ = f.Write([]byte(k.String()))
}
