package wire_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/internal/wire"
)

func TestBackoffSequence(t *testing.T) {
	t.Parallel()
	s := time.Second
	cases := map[string]struct {
		rand float64
		want []time.Duration
	}{
		"lowest jitter": {0, []time.Duration{s / 2, s, 2 * s, 4 * s, 8 * s, 16 * s, 30 * s, 30 * s, 30 * s}},
		"middle jitter": {0.5, []time.Duration{750 * time.Millisecond, 1500 * time.Millisecond, 3 * s, 6 * s, 12 * s, 24 * s, 45 * s, 45 * s}},
		"high jitter":   {0.75, []time.Duration{875 * time.Millisecond, 1750 * time.Millisecond, 3500 * time.Millisecond, 7 * s, 14 * s, 28 * s, 52500 * time.Millisecond, 52500 * time.Millisecond}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := wire.Backoff{Rand: func() float64 { return tc.rand }}
			for i, want := range tc.want {
				if got := b.Next(); got != want {
					t.Errorf("attempt %d: %s, want %s", i+1, got, want)
				}
			}
		})
	}
}

func TestBackoffNeverOverflows(t *testing.T) {
	t.Parallel()
	b := wire.Backoff{Rand: func() float64 { return 0.999 }}
	for range 10_000 {
		if d := b.Next(); d <= 0 || d > wire.DefaultBackoffMax {
			t.Fatalf("delay %s out of range", d)
		}
	}
}

func TestBackoffResetsOnlyAfterAStableConnection(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_700_000_000, 0)
	b := wire.Backoff{Rand: func() float64 { return 0 }, Now: func() time.Time { return now }}
	for range 4 {
		b.Next()
	}
	// A connection that drops after 5 s is flapping: keep backing off.
	b.Connected()
	now = now.Add(5 * time.Second)
	if got := b.Next(); got != 8*time.Second {
		t.Fatalf("after a short connection: %s, want 8s", got)
	}
	// One that lasted a minute was stable: start over.
	b.Connected()
	now = now.Add(time.Minute)
	if got := b.Next(); got != time.Second/2 {
		t.Fatalf("after a stable connection: %s, want 500ms", got)
	}
	b.Next()
	b.Reset()
	if got := b.Next(); got != time.Second/2 {
		t.Fatalf("after Reset: %s, want 500ms", got)
	}
}

func TestReconnectStopsWithItsContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	b := &wire.Backoff{Base: time.Millisecond, Max: 4 * time.Millisecond}
	runs := 0
	err := wire.Reconnect(ctx, b, func(context.Context) error {
		runs++
		if runs == 5 {
			cancel()
		}
		return errors.New("connection refused")
	})
	if !errors.Is(err, context.Canceled) || runs != 5 {
		t.Fatalf("Reconnect = %v after %d runs", err, runs)
	}
}
