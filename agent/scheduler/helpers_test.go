package scheduler

import (
	"context"
	"encoding/json"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
)

const testPassword = "sched-test-password-4711"

var testKey = []byte("0123456789abcdef0123456789abcdef")

// fakeClock is a settable clock whose timers fire when Advance passes
// them. Every timer made is counted, so a test can wait until the
// scheduler has looked at the new time and gone back to sleep.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
	made   int
	cond   *sync.Cond
}

type fakeTimer struct {
	at      time.Time
	c       chan time.Time
	stopped bool
}

func newFakeClock(now time.Time) *fakeClock {
	c := &fakeClock{now: now}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), c: make(chan time.Time, 1)}
	if d <= 0 {
		t.c <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	c.made++
	c.cond.Broadcast()
	return t.c, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

// timersMade is how many timers the scheduler has asked for.
func (c *fakeClock) timersMade() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.made
}

// Advance moves the clock and fires the timers it passes; it reports
// whether it fired one.
func (c *fakeClock) Advance(d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	fired := false
	keep := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.stopped:
		case !t.at.After(c.now):
			t.c <- c.now
			fired = true
		default:
			keep = append(keep, t)
		}
	}
	c.timers = keep
	return fired
}

// waitTimer waits until the scheduler has asked for more than n timers:
// it has handled what was due and gone back to sleep.
func (c *fakeClock) waitTimer(t *testing.T, n int) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		c.mu.Lock()
		for c.made <= n {
			c.cond.Wait()
		}
		c.mu.Unlock()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the scheduler did not go back to sleep")
	}
}

// step advances the clock and, when that wakes the scheduler, waits until
// it has handled the new time.
func (c *fakeClock) step(t *testing.T, d time.Duration) {
	t.Helper()
	n := c.timersMade()
	if c.Advance(d) {
		c.waitTimer(t, n)
	}
}

type skipped struct {
	job    Job
	reason string
}

// fakeRunner records what the scheduler asks for. Run ends each job with
// outcome (succeeded when nil) once hold, if set, is closed.
type fakeRunner struct {
	mu      sync.Mutex
	skips   []skipped
	runs    chan Job
	outcome func(Job) Outcome
	hold    chan struct{}
}

func newFakeRunner() *fakeRunner { return &fakeRunner{runs: make(chan Job, 100)} }

func (r *fakeRunner) Run(ctx context.Context, j Job) (Outcome, error) {
	r.mu.Lock()
	hold, outcome := r.hold, r.outcome
	r.mu.Unlock()
	r.runs <- j
	if hold != nil {
		<-hold
	}
	if outcome != nil {
		return outcome(j), nil
	}
	return Outcome{Status: wire.StatusSucceeded}, nil
}

func (r *fakeRunner) Skip(j Job, reason string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.skips = append(r.skips, skipped{j, reason})
	return nil
}

func (r *fakeRunner) skipped() []skipped {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]skipped(nil), r.skips...)
}

// next waits for the next job the scheduler runs.
func (r *fakeRunner) next(t *testing.T) Job {
	t.Helper()
	select {
	case j := <-r.runs:
		return j
	case <-time.After(5 * time.Second):
		t.Fatal("no run started")
		return Job{}
	}
}

// none checks that no job starts for a moment.
func (r *fakeRunner) none(t *testing.T) {
	t.Helper()
	select {
	case j := <-r.runs:
		t.Fatalf("unexpected run %+v", j)
	case <-time.After(100 * time.Millisecond):
	}
}

func openState(t *testing.T, dir string) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(dir, spool.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func testSchedule(id string, every time.Duration) wire.Schedule {
	return wire.Schedule{
		ID: id, Name: "sched-" + id, Kind: "backup", EverySeconds: int64(every / time.Second), CatchUp: true,
		Repository: wire.Repository{ID: "repo-1", Name: "main", URL: "/srv/restic", Password: wire.NewSecret(testPassword)},
		Params:     json.RawMessage(`{"paths":["/srv"]}`),
	}
}

type rig struct {
	t      *testing.T
	clock  *fakeClock
	runner *fakeRunner
	state  State
	s      *Scheduler
	cancel context.CancelFunc
	done   chan struct{}
	jitter time.Duration
}

// newRig starts a scheduler on state at now; jitter is what it draws.
func newRig(t *testing.T, state State, now time.Time, jitter time.Duration) *rig {
	t.Helper()
	r := &rig{t: t, clock: newFakeClock(now), runner: newFakeRunner(), state: state, jitter: jitter}
	s, err := New(Options{
		State: state, Runner: r.runner, Key: testKey, Clock: r.clock,
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, Output: testWriter{t}}),
		Jitter: func(bound time.Duration) time.Duration { return min(r.jitter, bound-time.Millisecond) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	return r
}

// start runs the scheduler until the test ends (or stop).
func (r *rig) start() {
	r.t.Helper()
	// What Replace queued is handled by the first pass anyway; drained,
	// the loop makes exactly one timer before it sleeps.
	select {
	case <-r.s.wake:
	default:
	}
	n := r.clock.timersMade()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel, r.done = cancel, make(chan struct{})
	go func() {
		defer close(r.done)
		r.s.Run(ctx)
	}()
	r.t.Cleanup(r.stop)
	r.clock.waitTimer(r.t, n)
}

func (r *rig) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	r.cancel = nil
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		r.t.Error("the scheduler did not stop")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// mapState is a State in memory, to look at exactly what is stored.
type mapState struct {
	mu sync.Mutex
	m  map[string][]byte
}

func newMapState() *mapState { return &mapState{m: map[string][]byte{}} }

func (s *mapState) PutState(k string, v []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[k] = append([]byte(nil), v...)
	return nil
}

func (s *mapState) GetState(k string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[k]
	if !ok {
		return nil, spool.ErrNotFound
	}
	return append([]byte(nil), v...), nil
}

func (s *mapState) DeleteState(k string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, k)
	return nil
}

func (s *mapState) StateKeys(prefix string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k := range s.m {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out, nil
}
