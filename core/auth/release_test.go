package auth

import (
	"runtime/metrics"
	"testing"
	"time"
)

// The tests here are not parallel: they watch the process's one heap and
// its one releaser, so no other hash may run meanwhile. (Parallel tests
// wait until the sequential ones are done.)

// retainedHeap is the heap memory the runtime holds from the operating
// system: everything mapped for the heap that is not released.
func retainedHeap(t *testing.T) uint64 {
	t.Helper()
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
	metrics.Read(samples)
	var total uint64
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			t.Fatalf("metric %s unavailable", s.Name)
		}
		total += s.Value.Uint64()
	}
	return total
}

// waitReleased waits until no release is pending and returns the count of
// releases so far.
func waitReleased(t *testing.T) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		osRelease.mu.Lock()
		pending, n := osRelease.pending, osRelease.releases
		osRelease.mu.Unlock()
		if !pending {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatal("the release after hashing never happened")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// After a password hash with the production parameters (64 MiB) the
// process gives that memory back within about a second, instead of keeping
// it until the runtime's scavenger gets to it minutes later.
func TestHashMemoryIsReturnedToTheOS(t *testing.T) {
	waitReleased(t)
	before := retainedHeap(t)
	hashed := time.Now()
	if _, err := HashPassword("correct horse battery staple", DefaultParams); err != nil {
		t.Fatal(err)
	}
	took := time.Since(hashed)
	const slack = 16 << 20 // well under the hash's 64 MiB
	deadline := time.Now().Add(releaseDelay + 5*time.Second)
	for {
		now := retainedHeap(t)
		if now < before+slack {
			t.Logf("heap held: %d MiB before, %d MiB %s after a %s hash",
				before>>20, now>>20, time.Since(hashed).Round(time.Millisecond), took.Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the process still holds %d MiB of heap %s after hashing (%d MiB before)",
				now>>20, time.Since(hashed).Round(time.Millisecond), before>>20)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A burst of hashes (a login storm) releases once, after the last one; a
// hash too small to matter releases nothing.
func TestABurstOfHashesReleasesOnce(t *testing.T) {
	p := Params{Memory: releaseMinMemory, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
	start := waitReleased(t)
	for range 8 {
		if _, err := HashPassword("correct horse battery staple", p); err != nil {
			t.Fatal(err)
		}
	}
	if got := waitReleased(t) - start; got != 1 {
		t.Fatalf("%d releases after a burst of 8 hashes, want 1", got)
	}
	small := TestingParams
	if _, err := HashPassword("correct horse battery staple", small); err != nil {
		t.Fatal(err)
	}
	time.Sleep(releaseDelay + 200*time.Millisecond)
	if got := waitReleased(t) - start; got != 1 {
		t.Fatalf("a %d KiB hash released memory", small.Memory)
	}
}
