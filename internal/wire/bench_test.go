package wire_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

// BenchmarkDecode measures the pre-auth decoder on a typical log event.
func BenchmarkDecode(b *testing.B) {
	env, _ := wire.NewEnvelope(wire.TypeJobEvent, samples()[wire.TypeJobEvent])
	frame, _ := wire.Encode(env)
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := wire.Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJobEvents measures job_event notifications from an agent through
// a real loopback WebSocket into a server handler that decodes them.
func BenchmarkJobEvents(b *testing.B) {
	var got atomic.Int64
	done := make(chan struct{})
	handlers := serverHandlers()
	handlers[wire.TypeJobEvent] = func(_ context.Context, _ *wire.Conn, env wire.Envelope) error {
		var ev wire.JobEvent
		if err := env.DecodePayload(&ev); err != nil {
			return err
		}
		if got.Add(1) == int64(b.N) {
			close(done)
		}
		return nil
	}
	h := newHarness(b, false, wire.Config{Handlers: handlers})
	agent, _ := h.connect(b, wire.Config{})
	ev := wire.JobEvent{
		JobID: "job-1", Time: time.Now(), Kind: wire.EventLog,
		Data: json.RawMessage(`{"stream":"stdout","lines":["/home/user/projects/restic-manager/internal/wire/conn.go"]}`),
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		ev.Seq = uint64(i + 1)
		if err := agent.Send(b.Context(), wire.TypeJobEvent, ev); err != nil {
			b.Fatal(err)
		}
	}
	<-done
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
