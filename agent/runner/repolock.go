package runner

import (
	"context"
	"sync"
)

// repoLocks runs one job per repository at a time on this host: restic
// takes an exclusive lock for most commands, and two agents' jobs racing for
// it would fail one of them with "repository is already locked". A second
// job for the same repository waits its turn (in arrival order); jobs on
// different repositories run in parallel.
type repoLocks struct {
	mu    sync.Mutex
	locks map[string]*repoLock
}

type repoLock struct {
	sem   chan struct{} // holds one token while a job runs
	users int           // holders and waiters, to drop idle entries
}

func newRepoLocks() *repoLocks { return &repoLocks{locks: map[string]*repoLock{}} }

// acquire waits until no other job holds key, or until ctx ends. The
// returned function releases the lock; it must be called exactly once.
// waited reports whether the job had to queue.
func (r *repoLocks) acquire(ctx context.Context, key string) (release func(), waited bool, err error) {
	r.mu.Lock()
	l := r.locks[key]
	if l == nil {
		l = &repoLock{sem: make(chan struct{}, 1)}
		r.locks[key] = l
	}
	l.users++
	r.mu.Unlock()

	select {
	case l.sem <- struct{}{}:
	default:
		waited = true
		select {
		case l.sem <- struct{}{}:
		case <-ctx.Done():
			r.done(key, l)
			return nil, true, context.Cause(ctx)
		}
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			<-l.sem
			r.done(key, l)
		})
	}, waited, nil
}

func (r *repoLocks) done(key string, l *repoLock) {
	r.mu.Lock()
	l.users--
	if l.users == 0 && r.locks[key] == l {
		delete(r.locks, key)
	}
	r.mu.Unlock()
}
