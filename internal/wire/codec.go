package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Codec turns envelopes into frames and back. The zero Codec caps frames at
// DefaultMaxFrameSize.
type Codec struct {
	// MaxFrameSize caps a frame in bytes; 0 means DefaultMaxFrameSize.
	MaxFrameSize int
}

func (c Codec) limit() int {
	if c.MaxFrameSize > 0 {
		return c.MaxFrameSize
	}
	return DefaultMaxFrameSize
}

// Decode decodes a frame with the default Codec.
func Decode(frame []byte) (Envelope, error) { return Codec{}.Decode(frame) }

// Encode encodes an envelope with the default Codec.
func Encode(env Envelope) ([]byte, error) { return Codec{}.Encode(env) }

// Decode parses one frame strictly, since it runs before anything about the
// peer is trusted: the frame must be at most MaxFrameSize bytes and hold
// exactly one JSON object whose keys are exactly (case-sensitive, no
// duplicates, no others) v, id, type, and optionally reply_to and payload; v
// must be Version, type must be in the catalogue, ids must be 1–64
// characters of [A-Za-z0-9._:-], payload must be an object or null, and
// reply_to must be present exactly on replies (and may be on error). The
// payload itself is decoded later, leniently, by Envelope.DecodePayload.
//
// Errors wrap ErrFrameTooLarge, ErrMalformed, ErrUnsupportedVersion or
// ErrUnknownType. Decode allocates in proportion to len(frame) only.
func (c Codec) Decode(frame []byte) (Envelope, error) {
	if len(frame) > c.limit() {
		return Envelope{}, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, len(frame), c.limit())
	}
	// encoding/json checks that the frame is one valid JSON value and
	// extracts the fields, but matches keys case-insensitively and lets a
	// duplicate key win silently; checkKeys then holds the top-level keys to
	// the exact names, once each.
	var raw struct {
		V       *int            `json:"v"`
		ID      string          `json:"id"`
		Type    Type            `json:"type"`
		ReplyTo string          `json:"reply_to"`
		Payload json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(frame, &raw); err != nil {
		return Envelope{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if err := checkKeys(frame); err != nil {
		return Envelope{}, err
	}
	if raw.V == nil {
		return Envelope{}, fmt.Errorf("%w: missing v", ErrMalformed)
	}
	env := Envelope{V: *raw.V, ID: raw.ID, Type: raw.Type, ReplyTo: raw.ReplyTo, Payload: raw.Payload}
	if string(env.Payload) == "null" {
		env.Payload = nil
	}
	return env, c.check(env)
}

// check applies the envelope rules that do not depend on connection state.
func (c Codec) check(env Envelope) error {
	if env.V != Version {
		return fmt.Errorf("%w: v=%d, this side speaks %d", ErrUnsupportedVersion, env.V, Version)
	}
	if !validID(env.ID) {
		return fmt.Errorf("%w: id must be 1-%d characters of [A-Za-z0-9._:-]", ErrMalformed, maxIDLen)
	}
	spec, ok := catalogue[env.Type]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownType, truncate(string(env.Type), 32))
	}
	if env.ReplyTo != "" && !validID(env.ReplyTo) {
		return fmt.Errorf("%w: reply_to must be 1-%d characters of [A-Za-z0-9._:-]", ErrMalformed, maxIDLen)
	}
	switch {
	case env.Type == TypeError:
	case spec.kind == KindReply && env.ReplyTo == "":
		return fmt.Errorf("%w: %s is a reply and needs reply_to", ErrMalformed, env.Type)
	case spec.kind != KindReply && env.ReplyTo != "":
		return fmt.Errorf("%w: %s is not a reply and must not have reply_to", ErrMalformed, env.Type)
	}
	if t := bytes.TrimLeft(env.Payload, " \t\r\n"); len(env.Payload) > 0 && (len(t) == 0 || t[0] != '{') {
		return fmt.Errorf("%w: payload must be a JSON object", ErrMalformed)
	}
	return nil
}

// Encode produces the wire form of env. It refuses envelopes that Decode
// would refuse, so a bug on this side shows up here and not as a closed
// connection.
func (c Codec) Encode(env Envelope) ([]byte, error) {
	if err := c.check(env); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // keep the frame as small as the payload allows
	err := enc.Encode(struct {
		V       int             `json:"v"`
		ID      string          `json:"id"`
		Type    Type            `json:"type"`
		ReplyTo string          `json:"reply_to,omitempty"`
		Payload json.RawMessage `json:"payload,omitempty"`
	}{env.V, env.ID, env.Type, env.ReplyTo, env.Payload})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	frame := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	if len(frame) > c.limit() {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrFrameTooLarge, env.Type, len(frame), c.limit())
	}
	return frame, nil
}

// envelopeKeys are the only top-level keys, each with a bit for checkKeys.
var envelopeKeys = map[string]uint8{"v": 1, "id": 2, "type": 4, "reply_to": 8, "payload": 16}

// checkKeys walks a frame already known to be valid JSON and checks that it
// is an object whose keys are envelope keys, spelled exactly (no escapes),
// each at most once. It does not allocate.
func checkKeys(frame []byte) error {
	i := 0
	for i < len(frame) && (frame[i] == ' ' || frame[i] == '\t' || frame[i] == '\r' || frame[i] == '\n') {
		i++
	}
	if i == len(frame) || frame[i] != '{' {
		return fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var seen uint8
	depth, expectKey := 0, false
	for ; i < len(frame); i++ {
		switch b := frame[i]; b {
		case '"':
			j := i + 1
		scan:
			for escaped := false; j < len(frame); j++ {
				switch {
				case escaped:
					escaped = false
				case frame[j] == '\\':
					escaped = true
				case frame[j] == '"':
					break scan
				}
			}
			if depth == 1 && expectKey {
				key := frame[i+1 : min(j, len(frame))]
				bit := envelopeKeys[string(key)]
				switch {
				case bit == 0:
					return fmt.Errorf("%w: unknown field %q", ErrMalformed, truncate(string(key), 32))
				case seen&bit != 0:
					return fmt.Errorf("%w: duplicate field %q", ErrMalformed, key)
				}
				seen |= bit
				expectKey = false
			}
			i = j
		case '{', '[':
			depth++
			expectKey = b == '{' && depth == 1
		case '}', ']':
			depth--
		case ',':
			expectKey = depth == 1
		}
	}
	return nil
}

func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.' || c == '_' || c == ':' || c == '-':
		default:
			return false
		}
	}
	return true
}
