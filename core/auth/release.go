package auth

import (
	"runtime/debug"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// argon2id allocates its whole memory cost (64 MiB with DefaultParams) for
// every hash and drops it at the end. The Go runtime keeps such a block for
// minutes before its scavenger hands it back, so a server that idles at
// under 30 MB would hold 95 MB after a single login. Hashes at least
// releaseMinMemory large therefore return the heap to the operating system
// once hashing pauses for releaseDelay: one debug.FreeOSMemory (a forced
// collection, a few milliseconds on an idle server) after a burst of logins,
// not one per hash.
const (
	releaseMinMemory = 8 * 1024 // KiB
	releaseDelay     = 500 * time.Millisecond
)

// osRelease is the process's one releaser: the runtime's heap is shared.
var osRelease = &releaser{free: debug.FreeOSMemory, delay: releaseDelay}

// releaser calls free once, delay after the last of a burst of large
// hashes ended and while none runs.
type releaser struct {
	free  func()
	delay time.Duration

	mu       sync.Mutex
	inflight int
	timer    *time.Timer
	pending  bool // the timer is set and has not released yet
	releases int  // how many times free ran, for tests
}

func (r *releaser) begin() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight++
	if r.timer != nil {
		r.timer.Stop()
	}
}

func (r *releaser) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight--
	if r.inflight > 0 {
		return
	}
	r.pending = true
	if r.timer == nil {
		r.timer = time.AfterFunc(r.delay, r.fire)
		return
	}
	r.timer.Reset(r.delay)
}

func (r *releaser) fire() {
	r.mu.Lock()
	if r.inflight > 0 || !r.pending {
		r.mu.Unlock()
		return // a hash began meanwhile; its end sets the timer again
	}
	r.pending = false
	r.releases++
	r.mu.Unlock()
	r.free()
}

// idKey is argon2.IDKey, followed by a release of its memory once hashing
// pauses when the hash was large.
func idKey(password, salt []byte, p Params) []byte {
	if p.Memory >= releaseMinMemory {
		osRelease.begin()
		defer osRelease.end()
	}
	return argon2.IDKey(password, salt, p.Iterations, p.Memory, p.Parallelism, p.KeyLen)
}
