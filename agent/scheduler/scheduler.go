// Package scheduler is the agent's own scheduler: it fires the host's
// schedules by the agent's clock, whether the server is reachable or not.
//
// The server is the source of truth for schedules and sends the agent its
// whole list (schedules_sync); Replace stores it, sealed, in the agent's
// state (it holds repository credentials) and swaps it in. For each
// schedule the scheduler remembers, across restarts, when it is next due,
// when it fires (due plus a random jitter) and its last run.
//
// A fired run is a job with an id the scheduler mints (a random UUID),
// handed to the Runner, which runs it through the same path as a job the
// server dispatched: spooled, reported with (job_id, seq), delivered when
// the server is reachable. After a successful run of a schedule with a
// secondary repository a copy job of the same schedule copies the new
// snapshot there; after a successful run of a schedule with a retention
// policy a forget job of the same schedule follows.
//
// Rules:
//   - A run missed while the agent was not running (or the host slept)
//     runs once, as soon as the agent can, when the schedule's catch-up is
//     on; otherwise it is recorded as skipped. Several missed runs make one.
//   - A run due while the schedule's previous run (its forget included) is
//     still going is recorded as skipped, never stacked.
//   - The Runner keeps one restic job per repository at a time; runs on
//     different repositories go in parallel.
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/timing"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// Defaults of Options.
const (
	DefaultLateAfter = time.Minute
	DefaultMaxWait   = 30 * time.Second
)

// Job statuses the scheduler records besides the wire's terminal ones.
const (
	statusRunning = "running"
	kindForget    = "forget"
	kindCopy      = "copy"
)

// ErrNotRunning is what a Runner returns when it takes no new jobs (the
// agent is shutting down); the job was not recorded.
var ErrNotRunning = errors.New("the agent is not taking new jobs")

// Job is one run the scheduler hands the Runner.
type Job struct {
	// ID is minted by the scheduler, a random UUID; it is never reused.
	ID         string
	ScheduleID string
	// Kind is the schedule's kind (backup), or forget for the follow-up.
	Kind       string
	Repository wire.Repository
	// ToRepository is a copy job's destination (the schedule's CopyTo).
	ToRepository *wire.Repository
	// PreHook and PostHook run around the schedule's own runs (not its
	// copy or forget).
	PreHook, PostHook *wire.Hook
	// Params are the job's params as job_dispatch carries them.
	Params json.RawMessage
}

// Outcome is how a job ended: a wire terminal status, restic's exit code,
// and the error text of a job that did not succeed.
type Outcome struct {
	Status   string
	ExitCode int
	Error    string
	// SnapshotID is the snapshot a successful backup made.
	SnapshotID string
}

// Runner runs the scheduler's jobs; agent/runner implements it with the
// path dispatched jobs take.
type Runner interface {
	// Run records the job, runs it and returns how it ended; it blocks
	// until then. ErrNotRunning means the job was not recorded.
	Run(ctx context.Context, job Job) (Outcome, error)
	// Skip records a job that did not run, as skipped with the reason.
	Skip(job Job, reason string) error
}

// Clock is the scheduler's time source; tests move a fake one.
type Clock interface {
	Now() time.Time
	// NewTimer fires once after d; stop releases it.
	NewTimer(d time.Duration) (c <-chan time.Time, stop func() bool)
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Options configure a Scheduler.
type Options struct {
	State  State
	Runner Runner
	// Key (32 bytes) seals the schedule list in State. The agent derives it
	// from its credential, which is not kept in the state dir, so a copy of
	// the state dir alone gives away no repository credential.
	Key    []byte
	Logger hclog.Logger
	Clock  Clock
	// Jitter draws a delay in [0, bound); timing.Jitter when nil.
	Jitter func(bound time.Duration) time.Duration
	// NewID mints job ids; random UUIDs when nil.
	NewID func() string
	// LateAfter: a run that fires later than this after its time (the
	// host slept, the clock jumped) counts as missed (DefaultLateAfter).
	LateAfter time.Duration
	// MaxWait bounds each sleep, so that a jump of the wall clock is
	// noticed (DefaultMaxWait).
	MaxWait time.Duration
}

// entry is one schedule the scheduler fires.
type entry struct {
	sched wire.Schedule
	spec  timing.Spec
	fire  FireState
	// missed is set when the state loaded at start-up says the run was
	// due while the agent was not running.
	missed bool
}

// Scheduler fires schedules. Make one with New, give it lists with
// Replace, and run it with Run.
type Scheduler struct {
	opts Options
	log  hclog.Logger

	mu       sync.Mutex
	revision int64
	entries  map[string]*entry
	running  map[string]string // schedule id → job id of its run in progress
	wake     chan struct{}
	runs     sync.WaitGroup
}

// New opens the scheduler's state: the last list the server sent and each
// schedule's fire times. A list that does not open (the agent was enrolled
// again) is dropped; the server sends the current one on connect.
func New(opts Options) (*Scheduler, error) {
	if opts.State == nil || opts.Runner == nil {
		return nil, errors.New("scheduler: a state and a runner are required")
	}
	if len(opts.Key) != keyLen {
		return nil, fmt.Errorf("scheduler: the sealing key must be %d bytes", keyLen)
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	if opts.Jitter == nil {
		opts.Jitter = timing.Jitter
	}
	if opts.NewID == nil {
		opts.NewID = newID
	}
	if opts.LateAfter <= 0 {
		opts.LateAfter = DefaultLateAfter
	}
	if opts.MaxWait <= 0 {
		opts.MaxWait = DefaultMaxWait
	}
	s := &Scheduler{
		opts: opts, log: opts.Logger.Named("scheduler"),
		entries: map[string]*entry{}, running: map[string]string{}, wake: make(chan struct{}, 1),
	}
	var list []wire.Schedule
	sealed, err := opts.State.GetState(listKey)
	if err != nil && !errors.Is(err, spool.ErrNotFound) {
		return nil, fmt.Errorf("scheduler: read the stored schedules: %w", err)
	}
	if err == nil {
		var rev int64
		rev, list, err = open(opts.Key, sealed)
		switch {
		case errors.Is(err, ErrSealed):
			s.log.Warn("the stored schedules do not open with this agent's key (enrolled again?); waiting for the server to send them", "error", err)
			list = nil
		case err != nil:
			s.log.Error("some stored schedules are unusable; the others fire", "error", err)
		}
		s.revision = rev
	}
	fires, err := FireTimes(opts.State)
	if err != nil {
		return nil, fmt.Errorf("scheduler: read fire times: %w", err)
	}
	now := opts.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.install(list, fires, now, true)
	for id := range fires {
		if s.entries[id] == nil {
			_ = opts.State.DeleteState(firePrefix + id)
		}
	}
	if len(s.entries) > 0 {
		s.log.Info("schedules loaded", "revision", s.revision, "schedules", len(s.entries))
	}
	return s, nil
}

// install makes list the entries, keeping the fire times of schedules
// whose timing did not change and planning the others from now. At
// start-up (loading) a schedule whose run came due while the agent was
// down is marked missed. Callers hold s.mu.
func (s *Scheduler) install(list []wire.Schedule, fires map[string]FireState, now time.Time, loading bool) []error {
	var errs []error
	entries := make(map[string]*entry, len(list))
	for _, sc := range list {
		spec, err := timing.Parse(sc.Cron, time.Duration(sc.EverySeconds)*time.Second, sc.Timezone)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))
			continue
		}
		e := &entry{sched: sc, spec: spec}
		key := specKey(sc)
		old := s.entries[sc.ID]
		fs, known := fires[sc.ID]
		switch {
		case old != nil && old.fire.Spec == key:
			e.fire, e.missed = old.fire, old.missed
		case known && fs.Spec == key && !fs.Next.IsZero():
			e.fire = fs
			e.missed = loading && !fs.Next.After(now)
		default:
			e.fire = FireState{Spec: key, LastFire: fs.LastFire, LastJobID: fs.LastJobID, LastStatus: fs.LastStatus}
			if old != nil {
				e.fire.LastFire, e.fire.LastJobID, e.fire.LastStatus = old.fire.LastFire, old.fire.LastJobID, old.fire.LastStatus
			}
			s.plan(e, now)
			if err := putFire(s.opts.State, sc.ID, e.fire); err != nil {
				errs = append(errs, fmt.Errorf("schedule %q: store its fire time: %w", sc.Name, err))
			}
			s.log.Debug("schedule planned", "schedule_id", sc.ID, "schedule", sc.Name, "due", e.fire.Due, "fires", e.fire.Next)
		}
		entries[sc.ID] = e
	}
	for id := range s.entries {
		if entries[id] == nil {
			if err := s.opts.State.DeleteState(firePrefix + id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	s.entries = entries
	return errs
}

// plan sets the entry's next due time after now and the jittered time it
// fires at.
func (s *Scheduler) plan(e *entry, now time.Time) {
	e.fire.Due = e.spec.Next(now)
	e.fire.Next = e.fire.Due
	if j := time.Duration(e.sched.JitterSeconds) * time.Second; j > 0 && !e.fire.Due.IsZero() {
		e.fire.Next = e.fire.Due.Add(s.opts.Jitter(j))
	}
}

// Replace makes list the schedules to fire, as the server sent it with
// revision. The list is stored (sealed) before anything else changes, so a
// restart fires what was acknowledged. Schedules that do not parse are left
// out and reported; the others are applied.
func (s *Scheduler) Replace(revision int64, list []wire.Schedule) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var valid []wire.Schedule
	var errs []error
	for _, sc := range list {
		if _, err := timing.Parse(sc.Cron, time.Duration(sc.EverySeconds)*time.Second, sc.Timezone); err != nil {
			errs = append(errs, fmt.Errorf("schedule %q: %w", sc.Name, err))
			continue
		}
		valid = append(valid, sc)
	}
	sealed, err := seal(s.opts.Key, revision, valid)
	if err != nil {
		return fmt.Errorf("seal the schedules: %w", err)
	}
	if err := s.opts.State.PutState(listKey, sealed); err != nil {
		return fmt.Errorf("store the schedules: %w", err)
	}
	errs = append(errs, s.install(valid, nil, s.opts.Clock.Now(), false)...)
	s.revision = revision
	s.log.Info("schedules updated", "revision", revision, "schedules", len(s.entries))
	s.poke()
	return errors.Join(errs...)
}

// Revision is the revision of the list in force.
func (s *Scheduler) Revision() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.revision
}

// Fire returns a schedule's fire state.
func (s *Scheduler) Fire(scheduleID string) (FireState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[scheduleID]
	if e == nil {
		return FireState{}, false
	}
	return e.fire, true
}

func (s *Scheduler) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run fires schedules until ctx ends, then waits for the runs it started
// to return (the Runner ends them when the agent shuts down).
func (s *Scheduler) Run(ctx context.Context) {
	defer s.runs.Wait()
	for {
		now := s.opts.Clock.Now()
		wait := s.fireDue(ctx, now)
		c, stop := s.opts.Clock.NewTimer(wait)
		select {
		case <-ctx.Done():
			stop()
			return
		case <-s.wake:
			stop()
		case <-c:
		}
	}
}

// fireDue fires every schedule due at now and returns how long to sleep
// before the next one is.
func (s *Scheduler) fireDue(ctx context.Context, now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	wait := s.opts.MaxWait
	for _, e := range s.entries {
		if e.fire.Next.IsZero() {
			continue
		}
		if !e.fire.Next.After(now) {
			if ctx.Err() != nil {
				return wait
			}
			s.fire(ctx, e, now)
		}
		if d := e.fire.Next.Sub(now); d < wait {
			wait = max(d, time.Millisecond)
		}
	}
	return wait
}

// fire starts (or records as skipped) the run due now and plans the next
// one; runs missed in between make no runs of their own. Callers hold s.mu.
func (s *Scheduler) fire(ctx context.Context, e *entry, now time.Time) {
	sc := e.sched
	due := e.fire.Due
	missed := e.missed || now.Sub(e.fire.Next) > s.opts.LateAfter
	e.missed = false
	s.plan(e, now)
	job := Job{
		ID: s.opts.NewID(), ScheduleID: sc.ID, Kind: sc.Kind, Repository: sc.Repository, Params: sc.Params,
		PreHook: sc.PreHook, PostHook: sc.PostHook,
	}
	log := s.log.With("schedule_id", sc.ID, "schedule", sc.Name, "job_id", job.ID)
	e.fire.LastFire, e.fire.LastJobID = now, job.ID

	reason := ""
	switch prev := s.running[sc.ID]; {
	case missed && !sc.CatchUp:
		reason = fmt.Sprintf("missed: the run due at %s came while the agent was not running (or the host was asleep), and the schedule's catch-up is off",
			due.UTC().Format(time.RFC3339))
	case prev != "":
		reason = fmt.Sprintf("the previous run of this schedule (job %s) is still running", prev)
	}
	if reason != "" {
		e.fire.LastStatus = wire.StatusSkipped
		s.saveFire(e)
		log.Warn("run skipped", "reason", reason, "next", e.fire.Next)
		if err := s.opts.Runner.Skip(job, reason); err != nil {
			log.Error("recording the skipped run failed", "error", err)
		}
		return
	}
	e.fire.LastStatus = statusRunning
	s.saveFire(e)
	s.running[sc.ID] = job.ID
	if missed {
		log.Info("running a run missed while the agent was down (catch-up)", "due", due, "next", e.fire.Next)
	} else {
		log.Info("schedule fired", "due", due, "next", e.fire.Next)
	}
	s.runs.Add(1)
	go s.runChain(ctx, sc, job, log)
}

func (s *Scheduler) saveFire(e *entry) {
	if err := putFire(s.opts.State, e.sched.ID, e.fire); err != nil {
		s.log.Error("storing a schedule's fire time failed; a restart may plan it anew", "schedule_id", e.sched.ID, "error", err)
	}
}

// runChain runs a fired job and, after a success, the schedule's copy to
// its secondary repository and its forget.
func (s *Scheduler) runChain(ctx context.Context, sc wire.Schedule, job Job, log hclog.Logger) {
	defer s.runs.Done()
	out := s.runOne(ctx, job, log)
	status := out.Status
	if status == wire.StatusSucceeded && sc.CopyTo != nil {
		s.runCopy(ctx, sc, out.SnapshotID, log)
	}
	if status == wire.StatusSucceeded && len(sc.Forget) > 0 {
		forget := Job{ID: s.opts.NewID(), ScheduleID: sc.ID, Kind: kindForget, Repository: sc.Repository, Params: sc.Forget}
		flog := log.With("forget_job_id", forget.ID)
		switch {
		case ctx.Err() != nil:
			s.skip(forget, "the agent shut down before the retention policy's forget could run", flog)
		case !s.has(sc.ID):
			flog.Info("the schedule was removed; its forget does not run")
		default:
			s.runOne(ctx, forget, flog)
		}
	}
	s.mu.Lock()
	if s.running[sc.ID] == job.ID {
		delete(s.running, sc.ID)
	}
	if e := s.entries[sc.ID]; e != nil && e.fire.LastJobID == job.ID {
		e.fire.LastStatus = status
		s.saveFire(e)
	}
	s.mu.Unlock()
}

// runCopy copies the snapshot a run made to the schedule's secondary
// repository, as a copy job of the schedule. Its outcome does not change
// the run's: the backup is made either way, and the copy's job says how it
// went.
func (s *Scheduler) runCopy(ctx context.Context, sc wire.Schedule, snapshotID string, log hclog.Logger) {
	params, _ := json.Marshal(map[string][]string{"snapshots": {snapshotID}})
	cp := Job{
		ID: s.opts.NewID(), ScheduleID: sc.ID, Kind: kindCopy,
		Repository: sc.Repository, ToRepository: sc.CopyTo, Params: params,
	}
	clog := log.With("copy_job_id", cp.ID)
	switch {
	case snapshotID == "":
		s.skip(cp, "the backup reported no snapshot id, so there is nothing to copy to the secondary repository", clog)
	case ctx.Err() != nil:
		s.skip(cp, "the agent shut down before the copy to the secondary repository could run", clog)
	case !s.has(sc.ID):
		clog.Info("the schedule was removed; its copy does not run")
	default:
		s.runOne(ctx, cp, clog)
	}
}

// runOne runs one job and returns how it ended.
func (s *Scheduler) runOne(ctx context.Context, job Job, log hclog.Logger) Outcome {
	out, err := s.opts.Runner.Run(ctx, job)
	switch {
	case errors.Is(err, ErrNotRunning):
		log.Warn("the agent is shutting down; the run did not start", "kind", job.Kind)
		return Outcome{Status: wire.StatusCancelled}
	case err != nil:
		log.Error("the run could not be started", "kind", job.Kind, "error", err)
		return Outcome{Status: wire.StatusFailed}
	}
	return out
}

func (s *Scheduler) skip(job Job, reason string, log hclog.Logger) {
	log.Warn("run skipped", "kind", job.Kind, "reason", reason)
	if err := s.opts.Runner.Skip(job, reason); err != nil {
		log.Error("recording the skipped run failed", "error", err)
	}
}

func (s *Scheduler) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries[id] != nil
}
