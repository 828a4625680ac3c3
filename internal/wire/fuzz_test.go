package wire_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// FuzzDecode feeds arbitrary frames to the pre-auth decoder. Decode must
// never panic, must refuse frames over the cap before parsing them, and
// whatever it accepts must survive Encode→Decode unchanged and decode into
// its payload struct without panicking. The seed corpus is in
// testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"v":1,"id":"a","type":"hello","payload":{"hostname":"h","os":"linux","arch":"amd64"}}`,
		`{"v":1,"id":"b","type":"job_accept","reply_to":"a","payload":{"job_id":"j"}}`,
		`{"v":1,"id":"c","type":"error","payload":{"code":"internal","message":"x"}}`,
		`{"v":2,"id":"a","type":"hello"}`,
		`{"v":1,"id":"a","type":"hello","type":"hello"}`,
	} {
		f.Add([]byte(seed))
	}
	codec := wire.Codec{MaxFrameSize: 64 << 10}
	f.Fuzz(func(t *testing.T, frame []byte) {
		env, err := codec.Decode(frame)
		if err != nil {
			return
		}
		if len(frame) > codec.MaxFrameSize {
			t.Fatalf("accepted a %d-byte frame over the cap", len(frame))
		}
		again, err := codec.Encode(env)
		if err != nil {
			t.Fatalf("cannot re-encode an accepted envelope %v: %v", env, err)
		}
		env2, err := codec.Decode(again)
		if err != nil {
			t.Fatalf("cannot decode its own encoding %s: %v", again, err)
		}
		if env.V != env2.V || env.ID != env2.ID || env.Type != env2.Type || env.ReplyTo != env2.ReplyTo {
			t.Fatalf("header changed on re-encoding: %v vs %v", env, env2)
		}
		if !jsonEqual(env.Payload, env2.Payload) {
			t.Fatalf("payload changed on re-encoding: %s vs %s", env.Payload, env2.Payload)
		}
		p := wire.NewPayload(env.Type)
		if p == nil {
			t.Fatalf("accepted unknown type %q", env.Type)
		}
		_ = env.DecodePayload(p)
	})
}

// jsonEqual compares two JSON values ignoring insignificant whitespace.
func jsonEqual(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(bytes.TrimSpace(a)) == len(bytes.TrimSpace(b))
	}
	var x, y any
	if err := jsonUnmarshal(a, &x); err != nil {
		return false
	}
	if err := jsonUnmarshal(b, &y); err != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

func jsonUnmarshal(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
