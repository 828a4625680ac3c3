// Package hookspec is the server's side of pre/post hooks: what an admin
// sets on a schedule or as a host's default, checked, and sealed at rest
// in a credential of kind "hook" (core/secrets), like a repository
// password. Hooks are not secrets to their admins — the API shows them to
// admins and the audit log keeps their command text — but a copy of the
// database alone does not give them away. The agent runs them (agent/hooks).
package hookspec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

// Limits of a hook.
const (
	MaxCommandBytes = 16 << 10
	MaxTimeout      = 24 * time.Hour
	DefaultTimeout  = 5 * time.Minute
)

// ErrNoSealer means the server has no key to seal or open hooks with.
var ErrNoSealer = errors.New("the server cannot seal hooks: no secret key")

// Hook is one command and how long it may run.
type Hook struct {
	Command        string `json:"command"`
	TimeoutSeconds int64  `json:"timeout_seconds,omitempty"`
}

// Set is a schedule's or a host's hooks; a nil hook is none.
type Set struct {
	Pre  *Hook `json:"pre,omitempty"`
	Post *Hook `json:"post,omitempty"`
}

// Empty reports whether the set holds no hook.
func (s Set) Empty() bool { return s.Pre == nil && s.Post == nil }

// Over returns s with each hook it lacks taken from defaults: a schedule's
// own hooks over its host's.
func (s Set) Over(defaults Set) Set {
	if s.Pre == nil {
		s.Pre = defaults.Pre
	}
	if s.Post == nil {
		s.Post = defaults.Post
	}
	return s
}

// Timeout is the hook's timeout, DefaultTimeout when unset.
func (h Hook) Timeout() time.Duration {
	if h.TimeoutSeconds <= 0 {
		return DefaultTimeout
	}
	return time.Duration(h.TimeoutSeconds) * time.Second
}

// Check validates a hook; field names it in the error (pre_hook).
func (h Hook) Check(field string) error {
	var errs []error
	switch {
	case strings.TrimSpace(h.Command) == "":
		errs = append(errs, fmt.Errorf("%s.command: is empty; give the command the host's shell runs", field))
	case len(h.Command) > MaxCommandBytes:
		errs = append(errs, fmt.Errorf("%s.command: is longer than %d bytes", field, MaxCommandBytes))
	case strings.ContainsFunc(h.Command, func(r rune) bool { return r != '\n' && r != '\t' && r != '\r' && unicode.IsControl(r) }):
		errs = append(errs, fmt.Errorf("%s.command: contains control characters (NUL, escapes)", field))
	}
	if h.TimeoutSeconds < 0 || time.Duration(h.TimeoutSeconds)*time.Second > MaxTimeout {
		errs = append(errs, fmt.Errorf("%s.timeout: must be from 1s to %s", field, MaxTimeout))
	}
	return errors.Join(errs...)
}

// Sealer seals and opens values (the server's keyring).
type Sealer interface {
	Seal(plaintext, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

var _ Sealer = (*secrets.Keyring)(nil)

// Seal turns a set into the credential row that keeps it; an empty set is
// no row (nil).
func Seal(sealer Sealer, s Set, now time.Time) (*store.Credential, error) {
	if s.Empty() {
		return nil, nil
	}
	if sealer == nil {
		return nil, ErrNoSealer
	}
	plain, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	id := auth.NewID()
	sealed, err := sealer.Seal(plain, store.CredentialAAD(id))
	if err != nil {
		return nil, fmt.Errorf("seal hooks: %w", err)
	}
	keyID, err := secrets.KeyID(sealed)
	if err != nil {
		return nil, fmt.Errorf("seal hooks: %w", err)
	}
	return &store.Credential{ID: id, Kind: store.CredentialHook, KeyID: keyID, Sealed: sealed, CreatedAt: now, UpdatedAt: now}, nil
}

// CredentialStore reads sealed credentials.
type CredentialStore interface {
	GetCredential(ctx context.Context, id string) (store.Credential, error)
}

// Open reads and opens the hooks credential id; "" is no hooks.
func Open(ctx context.Context, st CredentialStore, sealer Sealer, id string) (Set, error) {
	if id == "" {
		return Set{}, nil
	}
	if sealer == nil {
		return Set{}, ErrNoSealer
	}
	c, err := st.GetCredential(ctx, id)
	if err != nil {
		return Set{}, fmt.Errorf("hooks %s: %w", id, err)
	}
	if c.Kind != store.CredentialHook {
		return Set{}, fmt.Errorf("credential %s is of kind %q, not hook", id, c.Kind)
	}
	plain, err := sealer.Open(c.Sealed, store.CredentialAAD(id))
	if err != nil {
		return Set{}, fmt.Errorf("open hooks %s: %w", id, err)
	}
	var s Set
	if err := json.Unmarshal(plain, &s); err != nil {
		return Set{}, fmt.Errorf("hooks %s: %w", id, err)
	}
	return s, nil
}
