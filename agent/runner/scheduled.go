package runner

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/agent/scheduler"
	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// scheduleKeyInfo names the key that seals the stored schedule list.
const scheduleKeyInfo = "restic-manager-agent schedules v1"

// schedules is the agent's scheduler and the runs it started, by job id.
type schedules struct {
	s *scheduler.Scheduler

	mu   sync.Mutex
	runs map[string]*scheduledRun
}

type scheduledRun struct {
	job  scheduler.Job
	done chan wire.JobFinished
}

// scheduleRunner runs the scheduler's jobs through the path dispatched
// jobs take: the spool, the repository lock, the backend, the sender.
type scheduleRunner struct{ a *Agent }

var _ scheduler.Runner = scheduleRunner{}

// openScheduler starts the scheduler on the spool's state area. The list
// it keeps is sealed with a key derived from the agent's credential, which
// lives in the agent's configuration, not in the state dir.
func (a *Agent) openScheduler() (*scheduler.Scheduler, error) {
	key, err := hkdf.Key(sha256.New, []byte(a.cfg.Credential), nil, scheduleKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the schedules key: %w", err)
	}
	s, err := scheduler.New(scheduler.Options{State: a.spool, Runner: scheduleRunner{a}, Key: key, Logger: a.log})
	if err != nil {
		return nil, err
	}
	a.sched.mu.Lock()
	a.sched.s, a.sched.runs = s, map[string]*scheduledRun{}
	a.sched.mu.Unlock()
	return s, nil
}

// runScheduler fires schedules until ctx ends; stop waits (at most
// ShutdownTimeout) for the runs it started, which shutdown ends.
func (a *Agent) runScheduler(ctx context.Context, s *scheduler.Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.Run(ctx)
	}()
	return func() {
		cancel()
		select {
		case <-done:
		case <-time.After(a.cfg.ShutdownTimeout):
			a.log.Error("scheduled runs did not end in time")
		}
	}
}

// handleSchedules answers schedules_sync: the list is stored and in force
// before the ack. Schedules that do not parse are reported in an error
// reply; the others are applied all the same.
func (a *Agent) handleSchedules(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var m wire.SchedulesSync
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	a.sched.mu.Lock()
	s := a.sched.s
	a.sched.mu.Unlock()
	if s == nil {
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeInternal, Message: "the scheduler is not running"})
	}
	list, listErr := m.List()
	if list == nil && listErr != nil {
		a.log.Named("scheduler").Error("the server's schedule list is unusable; the schedules in force stay", "revision", m.Revision, "error", listErr)
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeInvalid, Message: cleanText(listErr.Error(), maxErrorText)})
	}
	err := errors.Join(listErr, s.Replace(m.Revision, list))
	if err != nil {
		a.log.Named("scheduler").Error("some schedules from the server are unusable; the others are in force", "revision", m.Revision, "error", err)
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeInvalid, Message: cleanText(err.Error(), maxErrorText)})
	}
	return c.Reply(ctx, env, wire.TypeAck, wire.Ack{})
}

// Run records a fired job in the spool, runs it as a dispatched job runs,
// and waits for its end. The job's first event is a status event naming
// its kind, schedule, repository and params, from which the server
// creates the job when it hears of it, however much later.
func (r scheduleRunner) Run(ctx context.Context, sj scheduler.Job) (scheduler.Outcome, error) {
	a := r.a
	kind := sdk.JobKind(sj.Kind)
	args, err := decodeArgs(sj.Params)
	switch {
	case !kind.Valid():
		err = fmt.Errorf("unknown job kind %q", sj.Kind)
	case err != nil:
		err = fmt.Errorf("invalid params: %w", err)
	}
	if err != nil {
		if rerr := a.recordEnded(sj, wire.StatusFailed, err.Error()); rerr != nil {
			return scheduler.Outcome{}, rerr
		}
		return scheduler.Outcome{Status: wire.StatusFailed, ExitCode: -1, Error: err.Error()}, nil
	}
	if ctx.Err() != nil || a.isDraining() {
		return scheduler.Outcome{}, scheduler.ErrNotRunning
	}
	if needsAdminKey(sj, args) { // scheduled_adminkey.go
		key, reason := a.adminKey(ctx, sj)
		if reason != "" {
			if ctx.Err() != nil || a.isDraining() {
				return scheduler.Outcome{}, scheduler.ErrNotRunning
			}
			if err := a.recordEnded(sj, wire.StatusSkipped, reason); err != nil {
				return scheduler.Outcome{}, err
			}
			return scheduler.Outcome{Status: wire.StatusSkipped, ExitCode: -1, Error: reason}, nil
		}
		sj.Repository.Password = key // this job only; dropped when it ends
	}
	run := &scheduledRun{job: sj, done: make(chan wire.JobFinished, 1)}
	a.sched.mu.Lock()
	a.sched.runs[sj.ID] = run
	a.sched.mu.Unlock()
	defer func() {
		a.sched.mu.Lock()
		delete(a.sched.runs, sj.ID)
		a.sched.mu.Unlock()
	}()
	if err := a.spool.BeginJob(sj.ID, spool.JobMeta{Kind: sj.Kind, Repository: sj.Repository.ID, ScheduleID: sj.ScheduleID}); err != nil {
		return scheduler.Outcome{}, fmt.Errorf("record the job: %w", err)
	}
	if _, err := a.spool.Append(sj.ID, scheduledStatus(sj, "running", "started by the agent's schedule")); err != nil {
		// Close the job the spool has begun, so that no restart reports it.
		now := time.Now().UTC()
		if fin, ferr := finishedEvent(wire.JobFinished{JobID: sj.ID, Status: wire.StatusFailed, ExitCode: -1, Error: cleanText(err.Error(), maxErrorText), StartedAt: now, FinishedAt: now}); ferr == nil {
			_, _ = a.spool.FinishJob(sj.ID, fin)
		}
		return scheduler.Outcome{}, fmt.Errorf("record the job: %w", err)
	}
	log := a.log.Named("job").With("job_id", sj.ID, "kind", sj.Kind, "repository", repoLabel(sj.Repository), "schedule_id", sj.ScheduleID)
	a.start(wire.JobDispatch{
		JobID: sj.ID, Kind: sj.Kind, Repository: sj.Repository, ToRepository: sj.ToRepository, Params: sj.Params,
		ScheduleID: sj.ScheduleID, PreHook: sj.PreHook, PostHook: sj.PostHook,
	}, kind, args, log)
	f := <-run.done
	return scheduler.Outcome{Status: f.Status, ExitCode: f.ExitCode, Error: f.Error, SnapshotID: summarySnapshot(f.Summary)}, nil
}

// summarySnapshot is the snapshot id a job's summary names ("" for none).
func summarySnapshot(summary json.RawMessage) string {
	var s struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if len(summary) == 0 || json.Unmarshal(summary, &s) != nil {
		return ""
	}
	return s.SnapshotID
}

// Skip records a run that did not run: a job that is skipped at once,
// with the reason, reported like any other.
func (r scheduleRunner) Skip(sj scheduler.Job, reason string) error {
	return r.a.recordEnded(sj, wire.StatusSkipped, reason)
}

// recordEnded records a scheduled job that ends without running restic:
// its identifying status event and its end, in one spool commit.
func (a *Agent) recordEnded(sj scheduler.Job, status, reason string) error {
	reason = cleanText(reason, maxErrorText)
	if err := a.spool.BeginJob(sj.ID, spool.JobMeta{Kind: sj.Kind, Repository: sj.Repository.ID, ScheduleID: sj.ScheduleID}); err != nil {
		return fmt.Errorf("record the %s job: %w", status, err)
	}
	now := time.Now().UTC()
	fin, err := finishedEvent(wire.JobFinished{JobID: sj.ID, Status: status, ExitCode: -1, Error: reason, StartedAt: now, FinishedAt: now})
	if err != nil {
		return err
	}
	if _, err := a.spool.FinishJob(sj.ID, scheduledStatus(sj, status, reason), fin); err != nil {
		return fmt.Errorf("record the %s job: %w", status, err)
	}
	return nil
}

// scheduledStatus is the status event that introduces a scheduled job to
// the server.
func scheduledStatus(sj scheduler.Job, status, message string) spool.Event {
	data, _ := json.Marshal(wire.StatusData{
		Status: status, Message: message, Kind: sj.Kind, ScheduleID: sj.ScheduleID,
		RepositoryID: sj.Repository.ID, Params: sj.Params,
	})
	return spool.Event{Kind: string(wire.EventStatus), Time: time.Now(), Data: data}
}

// scheduleRevision is the revision of the schedule list in force, which
// hello reports.
func (a *Agent) scheduleRevision() int64 {
	a.sched.mu.Lock()
	s := a.sched.s
	a.sched.mu.Unlock()
	if s == nil {
		return 0
	}
	return s.Revision()
}

// scheduledEnded tells a scheduled run's Run how its job ended; the job
// runner calls it for every job once the end is in the spool.
func (a *Agent) scheduledEnded(jobID string, f wire.JobFinished) {
	a.sched.mu.Lock()
	run := a.sched.runs[jobID]
	a.sched.mu.Unlock()
	if run != nil {
		run.done <- f
	}
}
