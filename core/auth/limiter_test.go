package auth

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

func mustAllow(t *testing.T, l *Limiter, key string, now time.Time) {
	t.Helper()
	if ok, wait := l.Allow(key, now); !ok {
		t.Fatalf("Allow(%q) at %v refused (retry after %v); want allowed", key, now.Sub(t0), wait)
	}
}

func mustRefuse(t *testing.T, l *Limiter, key string, now time.Time, wantWait time.Duration) {
	t.Helper()
	ok, wait := l.Allow(key, now)
	if ok {
		t.Fatalf("Allow(%q) at %v allowed; want refused", key, now.Sub(t0))
	}
	if wait != wantWait {
		t.Fatalf("Allow(%q) at %v: retry after %v; want %v", key, now.Sub(t0), wait, wantWait)
	}
}

func TestLimiterBurstThenBlock(t *testing.T) {
	t.Parallel()
	l := NewLimiter(5, time.Minute)
	for i := range 5 {
		now := t0.Add(time.Duration(i) * time.Second)
		mustAllow(t, l, "user:alice", now)
		l.Fail("user:alice", now)
	}
	mustRefuse(t, l, "user:alice", t0.Add(5*time.Second), 55*time.Second)
	mustRefuse(t, l, "user:alice", t0.Add(59*time.Second), time.Second)
	// Checking does not consume: refusing twice changes nothing.
	mustRefuse(t, l, "user:alice", t0.Add(59*time.Second), time.Second)
}

func TestLimiterRefill(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3, time.Minute)
	for range 3 {
		l.Fail("user:bob", t0)
	}
	mustRefuse(t, l, "user:bob", t0, time.Minute)

	// One attempt back after one interval, and only one.
	mustAllow(t, l, "user:bob", t0.Add(time.Minute))
	l.Fail("user:bob", t0.Add(time.Minute+10*time.Second))
	mustRefuse(t, l, "user:bob", t0.Add(time.Minute+10*time.Second), 50*time.Second)

	// Two intervals later two attempts are back.
	now := t0.Add(3 * time.Minute)
	mustAllow(t, l, "user:bob", now)
	l.Fail("user:bob", now)
	mustAllow(t, l, "user:bob", now)
	l.Fail("user:bob", now)
	mustRefuse(t, l, "user:bob", now, time.Minute)

	// Fully refilled: the bucket is gone, and the full burst is available.
	now = t0.Add(time.Hour)
	mustAllow(t, l, "user:bob", now)
	if n := l.len(); n != 0 {
		t.Errorf("refilled bucket still tracked: %d keys", n)
	}
	for range 3 {
		mustAllow(t, l, "user:bob", now)
		l.Fail("user:bob", now)
	}
	mustRefuse(t, l, "user:bob", now, time.Minute)
}

func TestLimiterFailWhileBlocked(t *testing.T) {
	t.Parallel()
	l := NewLimiter(2, time.Minute)
	for range 10 { // racing requests may all fail after one Allow
		l.Fail("addr:192.0.2.1", t0)
	}
	mustRefuse(t, l, "addr:192.0.2.1", t0, time.Minute)
	mustAllow(t, l, "addr:192.0.2.1", t0.Add(time.Minute))
}

func TestLimiterReset(t *testing.T) {
	t.Parallel()
	l := NewLimiter(2, time.Minute)
	l.Fail("user:carol", t0)
	l.Fail("user:carol", t0)
	mustRefuse(t, l, "user:carol", t0, time.Minute)
	l.Reset("user:carol")
	mustAllow(t, l, "user:carol", t0)
	if n := l.len(); n != 0 {
		t.Errorf("after Reset %d keys tracked; want 0", n)
	}
	l.Reset("user:nobody") // resetting an unknown key is harmless
}

func TestLimiterKeysIndependent(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1, time.Minute)
	l.Fail("user:dave", t0)
	mustRefuse(t, l, "user:dave", t0, time.Minute)
	mustAllow(t, l, "user:erin", t0)
	mustAllow(t, l, "addr:dave", t0)
	l.Reset("user:erin")
	mustRefuse(t, l, "user:dave", t0, time.Minute)
}

func TestLimiterClockBackwards(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1, time.Minute)
	l.Fail("user:frank", t0)
	ok, wait := l.Allow("user:frank", t0.Add(-time.Hour))
	if ok || wait <= 0 || wait > time.Minute {
		t.Errorf("Allow before the failure = %v, %v; want refused within one interval", ok, wait)
	}
}

func TestLimiterLongKeys(t *testing.T) {
	t.Parallel()
	l := NewLimiter(1, time.Minute)
	long := "user:" + strings.Repeat("a", 1<<20)
	l.Fail(long, t0)
	mustRefuse(t, l, long, t0, time.Minute)
	mustAllow(t, l, long+"b", t0)
	l.mu.Lock()
	for key := range l.buckets {
		if len(key) > maxKeyLen {
			t.Errorf("limiter holds a %d-byte key", len(key))
		}
	}
	l.mu.Unlock()
}

func TestLimiterDropsRefilledBuckets(t *testing.T) {
	t.Parallel()
	l := NewLimiter(5, time.Minute)
	for i := range 100 {
		l.Fail(fmt.Sprintf("addr:%d", i), t0)
	}
	later := t0.Add(10 * time.Minute)
	l.Fail("addr:new", later)
	l.Fail("addr:new", later)
	if n := l.len(); n != 1 {
		t.Errorf("%d keys tracked after every old bucket refilled; want 1", n)
	}
}

func TestLimiterBoundedMemory(t *testing.T) {
	t.Parallel()
	l := NewLimiter(20, 15*time.Second)
	if l.maxKeys != DefaultMaxKeys {
		t.Fatalf("cap %d; want DefaultMaxKeys", l.maxKeys)
	}
	keys := 1_000_000
	if testing.Short() {
		keys = 2 * DefaultMaxKeys
	}
	for i := range keys {
		// All within one interval, so nothing refills: only the cap holds.
		l.Fail("addr:"+strconv.Itoa(i), t0.Add(time.Duration(i)))
	}
	now := t0.Add(time.Duration(keys))
	last := "addr:" + strconv.Itoa(keys-1)
	for range 19 {
		l.Fail(last, now)
	}

	l.mu.Lock()
	n, listed := len(l.buckets), l.order.Len()
	_, oldestTracked := l.buckets["addr:0"]
	l.mu.Unlock()
	if n > DefaultMaxKeys || n != listed {
		t.Fatalf("%d keys in the map, %d in the order; want equal and at most %d", n, listed, DefaultMaxKeys)
	}
	// The oldest keys went first; the newest is still limited.
	if oldestTracked {
		t.Error("oldest key survived eviction")
	}
	if ok, _ := l.Allow(last, now); ok {
		t.Error("newest key lost its failures")
	}
}

func TestLimiterConcurrent(t *testing.T) {
	t.Parallel()
	l := NewLimiter(3, time.Second)
	l.maxKeys = 50
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				key := fmt.Sprintf("user:%d", (g*7+i)%80)
				now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
				if ok, wait := l.Allow(key, now); !ok && (wait <= 0 || wait > time.Second) {
					t.Errorf("retry after %v out of range", wait)
				}
				switch i % 5 {
				case 4:
					l.Reset(key)
				default:
					l.Fail(key, now)
				}
			}
		})
	}
	wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 50 || len(l.buckets) != l.order.Len() {
		t.Errorf("map has %d keys, order %d; cap 50", len(l.buckets), l.order.Len())
	}
}

func TestNewLimiterPanics(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		burst int
		every time.Duration
	}{
		"zero burst":     {0, time.Minute},
		"negative burst": {-1, time.Minute},
		"zero interval":  {5, 0},
		"negative every": {5, -time.Second},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			defer func() {
				if recover() == nil {
					t.Errorf("NewLimiter(%d, %v) did not panic", tc.burst, tc.every)
				}
			}()
			NewLimiter(tc.burst, tc.every)
		})
	}
}
