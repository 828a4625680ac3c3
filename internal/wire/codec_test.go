package wire_test

import (
	"errors"
	"os"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/internal/wire"
)

func TestEveryTypeRoundTripsThroughTheCodec(t *testing.T) {
	t.Parallel()
	all := samples()
	if len(all) != len(wire.Types()) {
		t.Fatalf("samples cover %d types, the catalogue has %d", len(all), len(wire.Types()))
	}
	for typ, payload := range all {
		t.Run(string(typ), func(t *testing.T) {
			t.Parallel()
			env, err := wire.NewEnvelope(typ, payload)
			if err != nil {
				t.Fatal(err)
			}
			if typ.Kind() == wire.KindReply {
				env.ReplyTo = wire.NewID()
			}
			frame, err := wire.Encode(env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.Decode(frame)
			if err != nil {
				t.Fatalf("decode %s: %v", frame, err)
			}
			if got.ID != env.ID || got.Type != typ || got.ReplyTo != env.ReplyTo || got.V != wire.Version {
				t.Fatalf("header changed: sent %v, got %v", env, got)
			}
			p := wire.NewPayload(typ)
			if err := got.DecodePayload(p); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, payload) {
				t.Fatalf("payload changed:\n sent %#v\n  got %#v", payload, p)
			}
		})
	}
}

func TestDecodeRefusesWhatIsNotAnEnvelope(t *testing.T) {
	t.Parallel()
	big := `{"v":1,"id":"a","type":"job_event","payload":{"x":"` + strings.Repeat("x", wire.DefaultMaxFrameSize) + `"}}`
	cases := map[string]struct {
		frame string
		want  error
	}{
		"empty":                  {``, wire.ErrMalformed},
		"not json":               {`hello`, wire.ErrMalformed},
		"array":                  {`[1]`, wire.ErrMalformed},
		"truncated":              {`{"v":1,"id":"a","type":"hello"`, wire.ErrMalformed},
		"trailing data":          {`{"v":1,"id":"a","type":"hello"} {}`, wire.ErrMalformed},
		"trailing garbage":       {`{"v":1,"id":"a","type":"hello"}x`, wire.ErrMalformed},
		"unknown field":          {`{"v":1,"id":"a","type":"hello","extra":1}`, wire.ErrMalformed},
		"field in other case":    {`{"V":1,"id":"a","type":"hello"}`, wire.ErrMalformed},
		"duplicate field":        {`{"v":1,"id":"a","type":"hello","type":"job_event"}`, wire.ErrMalformed},
		"missing v":              {`{"id":"a","type":"hello"}`, wire.ErrMalformed},
		"null v":                 {`{"v":null,"id":"a","type":"hello"}`, wire.ErrMalformed},
		"v as string":            {`{"v":"1","id":"a","type":"hello"}`, wire.ErrMalformed},
		"v fractional":           {`{"v":1.5,"id":"a","type":"hello"}`, wire.ErrMalformed},
		"v huge":                 {`{"v":1e400,"id":"a","type":"hello"}`, wire.ErrMalformed},
		"version 2":              {`{"v":2,"id":"a","type":"hello"}`, wire.ErrUnsupportedVersion},
		"version 0":              {`{"v":0,"id":"a","type":"hello"}`, wire.ErrUnsupportedVersion},
		"missing id":             {`{"v":1,"type":"hello"}`, wire.ErrMalformed},
		"id with space":          {`{"v":1,"id":"a b","type":"hello"}`, wire.ErrMalformed},
		"id too long":            {`{"v":1,"id":"` + strings.Repeat("a", 65) + `","type":"hello"}`, wire.ErrMalformed},
		"unknown type":           {`{"v":1,"id":"a","type":"rm_rf"}`, wire.ErrUnknownType},
		"missing type":           {`{"v":1,"id":"a"}`, wire.ErrUnknownType},
		"payload not object":     {`{"v":1,"id":"a","type":"hello","payload":[1]}`, wire.ErrMalformed},
		"payload string":         {`{"v":1,"id":"a","type":"hello","payload":"x"}`, wire.ErrMalformed},
		"reply without reply_to": {`{"v":1,"id":"a","type":"hello_ok","payload":{}}`, wire.ErrMalformed},
		"request with reply_to":  {`{"v":1,"id":"a","type":"hello","reply_to":"b"}`, wire.ErrMalformed},
		"bad reply_to":           {`{"v":1,"id":"a","type":"ack","reply_to":"b\n"}`, wire.ErrMalformed},
		"too large":              {big, wire.ErrFrameTooLarge},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := wire.Decode([]byte(tc.frame))
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode(%.80q) = %v, want %v", tc.frame, err, tc.want)
			}
		})
	}
}

func TestDecodeAcceptsValidEnvelopes(t *testing.T) {
	t.Parallel()
	for name, frame := range map[string]string{
		"minimal":            `{"v":1,"id":"a","type":"heartbeat"}`,
		"any field order":    `{"payload":{},"type":"heartbeat","id":"x-1","v":1}`,
		"null payload":       `{"v":1,"id":"a","type":"ack","reply_to":"b","payload":null}`,
		"error notification": `{"v":1,"id":"a","type":"error","payload":{"code":"internal","message":"x"}}`,
		"error reply":        `{"v":1,"id":"a","type":"error","reply_to":"q","payload":{"code":"invalid","message":""}}`,
		"whitespace":         " \n{ \"v\" : 1 , \"id\" : \"a\" , \"type\" : \"heartbeat\" }\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := wire.Decode([]byte(frame)); err != nil {
				t.Fatalf("Decode(%q): %v", frame, err)
			}
		})
	}
}

func TestCodecSizeCapIsConfigurable(t *testing.T) {
	t.Parallel()
	frame := []byte(`{"v":1,"id":"a","type":"heartbeat","payload":{"running_jobs":["a","b","c"]}}`)
	if _, err := (wire.Codec{MaxFrameSize: len(frame)}).Decode(frame); err != nil {
		t.Fatalf("frame at the cap: %v", err)
	}
	if _, err := (wire.Codec{MaxFrameSize: len(frame) - 1}).Decode(frame); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("frame over the cap: %v", err)
	}
	env, _ := wire.Decode(frame)
	if _, err := (wire.Codec{MaxFrameSize: 20}).Encode(env); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("Encode over the cap: %v", err)
	}
}

func TestPayloadDecodingIsLenientButValidated(t *testing.T) {
	t.Parallel()
	env, err := wire.Decode([]byte(`{"v":1,"id":"a","type":"job_event","payload":{"job_id":"j","seq":1,"kind":"log","time":"2026-01-02T03:04:05Z","added_in_v1_1":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	var ev wire.JobEvent
	if err := env.DecodePayload(&ev); err != nil {
		t.Fatalf("an unknown payload field must be ignored: %v", err)
	}
	var wrong wire.Hello
	if err := env.DecodePayload(&wrong); !errors.Is(err, wire.ErrInvalidPayload) {
		t.Fatalf("decoding a job_event as hello: %v", err)
	}
	for name, payload := range map[string]string{
		"seq zero":        `{"job_id":"j","seq":0,"kind":"log"}`,
		"unknown kind":    `{"job_id":"j","seq":1,"kind":"dance"}`,
		"missing job_id":  `{"seq":1,"kind":"log"}`,
		"job_id with nul": `{"job_id":"j\u0000","seq":1,"kind":"log"}`,
		"seq negative":    `{"job_id":"j","seq":-1,"kind":"log"}`,
	} {
		env, err := wire.Decode([]byte(`{"v":1,"id":"a","type":"job_event","payload":` + payload + `}`))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var fresh wire.JobEvent
		if err := env.DecodePayload(&fresh); !errors.Is(err, wire.ErrInvalidPayload) {
			t.Errorf("%s: DecodePayload = %v, want ErrInvalidPayload", name, err)
		}
	}
	env, _ = wire.Decode([]byte(`{"v":1,"id":"a","type":"job_dispatch","payload":{"job_id":"j","kind":"backup","repository":{"url":"/r","env":{"LD_PRELOAD=x":"y"}}}}`))
	var d wire.JobDispatch
	if err := env.DecodePayload(&d); !errors.Is(err, wire.ErrInvalidPayload) {
		t.Errorf("env name with '=': %v", err)
	}
}

// TestDecodeAllocationIsBounded feeds adversarial frames at the size cap and
// checks that Decode allocates a small multiple of the frame, not more.
func TestDecodeAllocationIsBounded(t *testing.T) {
	n := wire.DefaultMaxFrameSize - 64
	frames := map[string][]byte{
		"deep nesting": []byte(`{"v":1,"id":"a","type":"job_event","payload":{"d":` + strings.Repeat("[", n/2) + `}}`),
		"many keys":    []byte(`{"v":1,"id":"a","type":"job_event","payload":{` + strings.Repeat(`"k":0,`, n/7) + `"z":1}}`),
		"long string":  []byte(`{"v":1,"id":"a","type":"job_event","payload":{"s":"` + strings.Repeat(`\u0041`, n/6) + `"}}`),
		"long key":     []byte(`{"` + strings.Repeat("k", n) + `":1}`),
	}
	for name, frame := range frames {
		if len(frame) > wire.DefaultMaxFrameSize {
			t.Fatalf("%s: test frame too big", name)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		const runs = 5
		for range runs {
			_, _ = wire.Decode(frame)
		}
		runtime.ReadMemStats(&after)
		perRun := (after.TotalAlloc - before.TotalAlloc) / runs
		if limit := uint64(12*len(frame) + 1<<20); perRun > limit {
			t.Errorf("%s: Decode of %d bytes allocated %d bytes (limit %d)", name, len(frame), perRun, limit)
		}
	}
}

// TestProtocolDocCoversTheCatalogue keeps docs/protocol.md honest.
func TestProtocolDocCoversTheCatalogue(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range wire.Types() {
		if !strings.Contains(string(doc), "`"+string(typ)+"`") {
			t.Errorf("docs/protocol.md does not describe `%s`", typ)
		}
	}
}
