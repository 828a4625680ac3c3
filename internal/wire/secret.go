package wire

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Redacted is what every printing and encoding path shows instead of a
// Secret's value.
const Redacted = "[REDACTED]"

// Secret is a credential carried in a payload (a repository password, a
// backend key). Its value travels to the peer, and only there: fmt (every
// verb, including %#v and values nested in structs and maps), go-hclog in text
// and JSON format, log/slog, encoding.TextMarshaler and encoding/json all see
// Redacted. The one path that sees the value is this package's wire encoder,
// which calls WireMarshaler on payloads that hold secrets (see
// Repository.MarshalWire). Decoding accepts the value from JSON, so a Secret
// arrives intact from the wire.
//
// The value sits behind a pointer so that even reflection-based printing of
// a struct that holds a Secret in an unexported field shows an address, not
// the text. Compare Secrets with Equal; == compares identity.
type Secret struct {
	v *string
}

// NewSecret wraps a credential.
func NewSecret(s string) Secret {
	if s == "" {
		return Secret{}
	}
	return Secret{v: &s}
}

// Reveal returns the credential. Call it only where the value is used (to
// hand it to restic's environment), never to build a log line.
func (s Secret) Reveal() string {
	if s.v == nil {
		return ""
	}
	return *s.v
}

// IsZero reports whether the secret is empty; it also makes `omitzero` work.
func (s Secret) IsZero() bool { return s.v == nil || *s.v == "" }

// Equal compares two secrets in constant time.
func (s Secret) Equal(o Secret) bool {
	return subtle.ConstantTimeCompare([]byte(s.Reveal()), []byte(o.Reveal())) == 1
}

func (s Secret) redacted() string {
	if s.IsZero() {
		return ""
	}
	return Redacted
}

// String redacts.
func (s Secret) String() string { return s.redacted() }

// GoString redacts, for %#v.
func (s Secret) GoString() string { return fmt.Sprintf("wire.Secret(%q)", s.redacted()) }

// Format redacts for every verb, so %x or %d cannot print the value either.
func (s Secret) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		_, _ = fmt.Fprint(f, s.GoString())
	case verb == 'q':
		_, _ = fmt.Fprintf(f, "%q", s.redacted())
	default:
		_, _ = fmt.Fprint(f, s.redacted())
	}
}

// LogValue redacts for log/slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.redacted()) }

// MarshalText redacts.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.redacted()), nil }

// MarshalJSON redacts: a payload that json.Marshal turns into a log line or an
// API response shows Redacted. The wire encoder reveals the value through
// WireMarshaler instead.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.redacted()) }

// UnmarshalJSON accepts the value as a JSON string.
func (s *Secret) UnmarshalJSON(b []byte) error {
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("secret must be a JSON string: %w", err)
	}
	*s = NewSecret(v)
	return nil
}

// UnmarshalText accepts the value as text.
func (s *Secret) UnmarshalText(b []byte) error {
	*s = NewSecret(string(b))
	return nil
}

// WireMarshaler is implemented by payloads that carry Secrets. The wire
// encoder calls MarshalWire instead of encoding/json, so the values reach the
// peer while every other encoder sees them redacted. A payload defined
// outside this package that embeds a Repository (a schedule list, say)
// implements it by splicing in Repository.MarshalWire.
type WireMarshaler interface {
	MarshalWire() ([]byte, error)
}

// marshalPayload is the one place that turns a payload into wire JSON.
func marshalPayload(payload any) (json.RawMessage, error) {
	switch p := payload.(type) {
	case nil:
		return nil, nil
	case json.RawMessage:
		return p, nil
	case WireMarshaler:
		return p.MarshalWire()
	default:
		return json.Marshal(payload)
	}
}
