package auth

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// Defaults for the two limiters the login endpoint uses.
const (
	// DefaultMaxKeys caps how many keys one Limiter tracks. A tracked key
	// costs a few hundred bytes at most (keys are capped at maxKeyLen), so
	// a full Limiter stays within some tens of MiB.
	DefaultMaxKeys = 100_000

	// maxKeyLen bounds the memory one key can hold; longer keys are
	// replaced by their SHA-256.
	maxKeyLen = 128
	// sweepBatch bounds the work one call spends dropping refilled buckets.
	sweepBatch = 64
)

// Limiter limits failed login attempts per key, as a token bucket: a key
// may fail burst times, then earns one more attempt every interval. A key
// with no failures (or whose bucket has refilled) costs no memory.
//
// The server keeps two limiters and checks both before every login:
//
//	users := NewLimiter(5, time.Minute)      // key "user:<name>"
//	addrs := NewLimiter(20, 15*time.Second)  // key "addr:<ClientNet(ClientIP(r.RemoteAddr))>"
//
// It calls Allow on each key (answering 429 with Retry-After when either
// refuses, without checking the password), Fail on both after a wrong
// password, and Reset on the user key after a successful login. Separate
// limiters also keep a flood of random addresses from evicting user buckets.
//
// Memory stays bounded: refilled buckets are dropped as they are met, and
// beyond DefaultMaxKeys the buckets whose last failure is oldest are evicted
// (such an evicted key starts afresh). A Limiter is safe for concurrent use.
type Limiter struct {
	burst   int
	every   time.Duration
	maxKeys int

	mu      sync.Mutex
	buckets map[string]*list.Element // of *bucket
	order   *list.List               // of *bucket, least recent failure first
}

type bucket struct {
	key  string
	used int       // attempts consumed, 1..burst
	at   time.Time // when the next refill interval started
}

// NewLimiter returns a Limiter allowing burst failures per key and
// refilling one every interval. It panics if burst < 1 or every <= 0,
// which are programming errors.
func NewLimiter(burst int, every time.Duration) *Limiter {
	if burst < 1 || every <= 0 {
		panic("auth: NewLimiter needs burst >= 1 and every > 0")
	}
	return &Limiter{
		burst:   burst,
		every:   every,
		maxKeys: DefaultMaxKeys,
		buckets: make(map[string]*list.Element),
		order:   list.New(),
	}
}

// Allow reports whether key may attempt a login at now, without consuming
// an attempt. When it may not, retryAfter is how long until it may
// (always > 0; round it up for a Retry-After header).
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	key = limiterKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()

	el, found := l.buckets[key]
	if !found {
		return true, 0
	}
	b := el.Value.(*bucket)
	if l.refill(b, now) {
		l.remove(el)
		return true, 0
	}
	if b.used < l.burst {
		return true, 0
	}
	wait := l.every - now.Sub(b.at)
	if wait > l.every {
		wait = l.every // the clock went backwards; never ask for more than one interval
	}
	return false, wait
}

// Fail records a failed attempt for key at now.
func (l *Limiter) Fail(key string, now time.Time) {
	key = limiterKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()

	l.sweep(now)
	if el, found := l.buckets[key]; found {
		b := el.Value.(*bucket)
		if l.refill(b, now) {
			b.used = 0
		}
		if b.used == 0 {
			b.at = now
		}
		if b.used < l.burst {
			b.used++
		}
		l.order.MoveToBack(el)
		return
	}
	for len(l.buckets) >= l.maxKeys {
		l.remove(l.order.Front())
	}
	l.buckets[key] = l.order.PushBack(&bucket{key: key, used: 1, at: now})
}

// Reset forgets key's failures; call it after a successful login.
func (l *Limiter) Reset(key string) {
	key = limiterKey(key)
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, found := l.buckets[key]; found {
		l.remove(el)
	}
}

// len returns how many keys are tracked.
func (l *Limiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// refill credits b with the intervals elapsed by now and reports whether
// it is full again (and can be dropped).
func (l *Limiter) refill(b *bucket, now time.Time) (full bool) {
	elapsed := now.Sub(b.at)
	if elapsed < l.every {
		return false
	}
	n := elapsed / l.every
	if n >= time.Duration(b.used) {
		return true
	}
	b.used -= int(n)
	b.at = b.at.Add(n * l.every)
	return false
}

// sweep drops refilled buckets from the front of the order, stopping at
// the first one still in use, so an idle limiter empties over time.
func (l *Limiter) sweep(now time.Time) {
	for i := 0; i < sweepBatch; i++ {
		el := l.order.Front()
		if el == nil || !l.refill(el.Value.(*bucket), now) {
			return
		}
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	b := l.order.Remove(el).(*bucket)
	delete(l.buckets, b.key)
}

// limiterKey bounds the memory a key can hold: an oversized key (a
// megabyte-long username, say) is replaced by its hash.
func limiterKey(key string) string {
	if len(key) <= maxKeyLen {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}
