package wire

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
)

// Version is the envelope version this package speaks. A frame with any
// other "v" is refused; docs/protocol.md says how a later version is
// negotiated through hello.
const Version = 1

// DefaultMaxFrameSize caps one frame (one WebSocket message) at 1 MiB.
const DefaultMaxFrameSize = 1 << 20

// maxIDLen bounds envelope ids and reply_to.
const maxIDLen = 64

// Envelope is one frame: {"v":1,"id":"…","type":"…","reply_to":"…","payload":{…}}.
//
// Envelope's String, GoString, LogValue and MarshalJSON are its log form:
// they show the header and the payload's size, never the payload, which may
// hold secrets. The wire form comes only from Encode.
type Envelope struct {
	// V is the envelope version, always Version.
	V int
	// ID identifies this message; replies name it in ReplyTo.
	ID string
	// Type selects the payload struct (see the catalogue in messages.go).
	Type Type
	// ReplyTo is the ID of the request this message answers; empty for
	// requests and notifications.
	ReplyTo string
	// Payload is the payload's JSON object, decoded with DecodePayload.
	Payload json.RawMessage
}

// NewEnvelope builds an envelope with a fresh id. payload is a payload struct
// from the catalogue, a json.RawMessage, or nil.
func NewEnvelope(typ Type, payload any) (Envelope, error) {
	raw, err := marshalPayload(payload)
	if err != nil {
		return Envelope{}, fmt.Errorf("%w: encoding %s payload: %w", ErrInvalidPayload, typ, err)
	}
	if string(raw) == "null" {
		raw = nil
	}
	return Envelope{V: Version, ID: NewID(), Type: typ, Payload: raw}, nil
}

// NewID returns a random message id (26 characters of base32).
func NewID() string { return rand.Text() }

// IsReply reports whether the envelope answers a request.
func (e Envelope) IsReply() bool { return e.ReplyTo != "" }

// DecodePayload decodes the payload into v, a pointer to the payload struct
// for e.Type. Unknown payload fields are ignored so that a newer peer may add
// optional fields without breaking an older one (the envelope itself is
// strict). If v has a MessageType method it must match e.Type, and if it has
// a Validate method the decoded payload must pass it. Errors wrap
// ErrInvalidPayload.
func (e Envelope) DecodePayload(v any) error {
	if m, ok := v.(interface{ MessageType() Type }); ok && m.MessageType() != e.Type {
		return fmt.Errorf("%w: %s payload decoded as %s", ErrInvalidPayload, e.Type, m.MessageType())
	}
	raw := e.Payload
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidPayload, e.Type, err)
	}
	if val, ok := v.(interface{ Validate() error }); ok {
		if err := val.Validate(); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrInvalidPayload, e.Type, err)
		}
	}
	return nil
}

// String is the log form: type, ids and payload size.
func (e Envelope) String() string {
	s := fmt.Sprintf("%s id=%s", e.Type, e.ID)
	if e.ReplyTo != "" {
		s += " reply_to=" + e.ReplyTo
	}
	return fmt.Sprintf("%s payload=%dB", s, len(e.Payload))
}

// GoString is the log form, for %#v.
func (e Envelope) GoString() string { return "wire.Envelope{" + e.String() + "}" }

// LogValue is the log form for log/slog.
func (e Envelope) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Int("v", e.V),
		slog.String("id", e.ID),
		slog.String("type", string(e.Type)),
		slog.String("reply_to", e.ReplyTo),
		slog.Int("payload_bytes", len(e.Payload)),
	)
}

// MarshalJSON is the log form, so that a JSON logger never prints a payload.
// Use Encode for the wire.
func (e Envelope) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		V            int    `json:"v"`
		ID           string `json:"id"`
		Type         Type   `json:"type"`
		ReplyTo      string `json:"reply_to,omitempty"`
		PayloadBytes int    `json:"payload_bytes"`
	}{e.V, e.ID, e.Type, e.ReplyTo, len(e.Payload)})
}
