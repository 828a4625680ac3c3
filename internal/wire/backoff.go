package wire

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff defaults.
const (
	DefaultBackoffBase   = time.Second
	DefaultBackoffMax    = time.Minute
	DefaultBackoffStable = time.Minute
)

// Backoff spaces out reconnect attempts: exponential from Base, capped at
// Max, with "equal jitter" (each delay is uniform in [d/2, d) for the
// current step d) so that a fleet cut off at once does not come back in
// lock-step, yet no agent retries in a tight loop. A connection that stayed
// up for Stable resets the sequence. The zero value is ready to use; it is
// not safe for concurrent use.
type Backoff struct {
	// Base is the first step (DefaultBackoffBase).
	Base time.Duration
	// Max caps the step (DefaultBackoffMax).
	Max time.Duration
	// Stable is how long a connection must last to reset the sequence
	// (DefaultBackoffStable).
	Stable time.Duration
	// Rand returns a number in [0, 1); nil means math/rand/v2. Tests inject
	// a fixed sequence.
	Rand func() float64
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	attempt     int
	connectedAt time.Time
}

// Next returns how long to wait before the next attempt and advances the
// sequence. If Connected was called and that connection lasted Stable or
// longer, the sequence starts over first.
func (b *Backoff) Next() time.Duration {
	if !b.connectedAt.IsZero() {
		if b.now().Sub(b.connectedAt) >= b.stable() {
			b.attempt = 0
		}
		b.connectedAt = time.Time{}
	}
	base, ceiling := b.Base, b.Max
	if base <= 0 {
		base = DefaultBackoffBase
	}
	if ceiling <= 0 {
		ceiling = DefaultBackoffMax
	}
	step := base
	for i := 0; i < b.attempt && step < ceiling; i++ {
		step *= 2
	}
	step = min(step, ceiling)
	b.attempt++
	r := rand.Float64
	if b.Rand != nil {
		r = b.Rand
	}
	half := step / 2
	return half + time.Duration(r()*float64(step-half))
}

// Connected records that a connection was established (for the agent: hello
// answered), so that Next can tell a stable connection from a flapping one.
func (b *Backoff) Connected() { b.connectedAt = b.now() }

// Reset starts the sequence over.
func (b *Backoff) Reset() { b.attempt, b.connectedAt = 0, time.Time{} }

// Wait sleeps for Next(), or until ctx ends.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *Backoff) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Backoff) stable() time.Duration {
	if b.Stable > 0 {
		return b.Stable
	}
	return DefaultBackoffStable
}

// Reconnect runs session until ctx ends, waiting b between runs. session
// dials, says hello, calls b.Connected once the server has answered, and
// returns when the connection ends; its error is for the caller to log
// inside session. Reconnect returns ctx's error.
func Reconnect(ctx context.Context, b *Backoff, session func(ctx context.Context) error) error {
	for {
		_ = session(ctx)
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.Wait(ctx); err != nil {
			return err
		}
	}
}
