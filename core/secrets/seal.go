package secrets

import (
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// Wire format constants; the layout is in the package documentation (doc.go).
const (
	version1   = 1
	nonceSize  = chacha20poly1305.NonceSizeX
	tagSize    = chacha20poly1305.Overhead
	maxSealLen = 1<<38 - 64 // XChaCha20-Poly1305 limit in x/crypto
)

// SealedValue is a sealed value as kept in storage, with the AAD it was sealed
// under (e.g. "credentials/value/42").
type SealedValue struct {
	Value []byte
	AAD   []byte
}

// envelope is a parsed sealed value.
type envelope struct {
	header     []byte
	id         string
	nonce      []byte
	ciphertext []byte
}

// parse splits a sealed value into its parts. It never panics, whatever the input.
func parse(sealed []byte) (envelope, error) {
	if len(sealed) < 2 {
		return envelope{}, fmt.Errorf("%w: too short", ErrMalformed)
	}
	if sealed[0] != version1 {
		return envelope{}, fmt.Errorf("%w: unsupported version %d", ErrMalformed, sealed[0])
	}
	hlen := 2 + int(sealed[1])
	if len(sealed) < hlen+nonceSize+tagSize {
		return envelope{}, fmt.Errorf("%w: truncated", ErrMalformed)
	}
	id := string(sealed[2:hlen])
	if !validID(id) {
		return envelope{}, fmt.Errorf("%w: invalid key id", ErrMalformed)
	}
	return envelope{
		header:     sealed[:hlen],
		id:         id,
		nonce:      sealed[hlen : hlen+nonceSize],
		ciphertext: sealed[hlen+nonceSize:],
	}, nil
}

// additionalData binds the header and the caller's AAD. The header is
// self-delimiting, so the concatenation is unambiguous.
func additionalData(header, aad []byte) []byte {
	ad := make([]byte, 0, len(header)+len(aad))
	ad = append(ad, header...)
	return append(ad, aad...)
}

// Seal encrypts plaintext with the active key. aad binds the value to its
// place (e.g. "credentials/value/<row id>"): the same aad must be passed to
// Open, so a sealed value copied to another row fails to open. aad is not
// stored in the output.
func (k *Keyring) Seal(plaintext, aad []byte) ([]byte, error) {
	active, err := k.active()
	if err != nil {
		return nil, err
	}
	if uint64(len(plaintext)) > maxSealLen {
		return nil, errors.New("plaintext too large to seal")
	}
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("generate nonce: %w", err)
	}
	hlen := 2 + len(active.id)
	out := make([]byte, 0, hlen+nonceSize+len(plaintext)+tagSize)
	out = append(out, version1, byte(len(active.id))) //nolint:gosec // ids are at most 64 bytes (validID)
	out = append(out, active.id...)
	out = append(out, nonce[:]...)
	return active.aead.Seal(out, nonce[:], plaintext, additionalData(out[:hlen], aad)), nil
}

// Open decrypts a value produced by Seal with any key of the keyring. aad must
// be the one given to Seal. Errors wrap ErrMalformed, ErrUnknownKey or
// ErrTampered and never contain plaintext or key bytes. Open never panics.
func (k *Keyring) Open(sealed, aad []byte) ([]byte, error) {
	env, err := parse(sealed)
	if err != nil {
		return nil, err
	}
	entry := k.lookup(env.id)
	if entry == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, env.id)
	}
	plaintext, err := entry.aead.Open(nil, env.nonce, env.ciphertext, additionalData(env.header, aad))
	if err != nil {
		return nil, fmt.Errorf("%w: wrong key %s or modified data", ErrTampered, env.id)
	}
	return plaintext, nil
}

// Reseal opens a value with any key and seals it again with the active key and
// the same aad. It is step 2 of a rotation; the plaintext is wiped afterwards.
func (k *Keyring) Reseal(sealed, aad []byte) ([]byte, error) {
	plaintext, err := k.Open(sealed, aad)
	if err != nil {
		return nil, err
	}
	defer clear(plaintext)
	return k.Seal(plaintext, aad)
}

// KeyID returns the id of the key a sealed value was sealed with, without
// decrypting it. A store can compare it with ActiveID to find values that a
// rotation has not re-sealed yet.
func KeyID(sealed []byte) (string, error) {
	env, err := parse(sealed)
	if err != nil {
		return "", err
	}
	return env.id, nil
}

// maxVerifyErrors caps the failures Verify details; a wrong key file fails
// every value and one line per row would drown the cause.
const maxVerifyErrors = 5

// Verify checks that every value opens with the keyring, so the server can
// refuse to start with a wrong or incomplete key file instead of failing later
// job by job. Plaintexts are wiped at once. The error names the AAD of the
// first failures and wraps their causes (ErrUnknownKey, ErrTampered,
// ErrMalformed).
func (k *Keyring) Verify(values ...SealedValue) error {
	var errs []error
	failed := 0
	for _, v := range values {
		plaintext, err := k.Open(v.Value, v.AAD)
		clear(plaintext)
		if err == nil {
			continue
		}
		failed++
		if failed <= maxVerifyErrors {
			errs = append(errs, fmt.Errorf("%q: %w", v.AAD, err))
		}
	}
	if failed == 0 {
		return nil
	}
	summary := fmt.Errorf("%d of %d sealed values do not open with the key file", failed, len(values))
	return errors.Join(append([]error{summary}, errs...)...)
}
