package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// exitCode3Warning is job_finished's error for a backup restic finished
// with exit code 3: the job succeeded, with a warning.
const exitCode3Warning = "warning: restic exit code 3: some source files could not be read; " +
	"the snapshot was created without them (the job's error events name them)"

// job is one accepted job running in this process.
type job struct {
	a      *Agent
	id     string
	kind   sdk.JobKind
	repo   wire.Repository  // holds the credentials until the job ends
	toRepo *wire.Repository // a copy's destination, likewise
	// newPassword is a key_add's new key, likewise; secretScrub removes it
	// from what the job reports (newpassword.go).
	newPassword wire.Secret
	secretScrub *strings.Replacer
	// scheduleID, pre and post are the schedule the job belongs to and
	// its hooks (hooks.go).
	scheduleID string
	pre, post  *wire.Hook
	args       sdk.Args
	log        hclog.Logger
	ctx        context.Context
	cancel     context.CancelCauseFunc
	writer     *spool.JobWriter

	// acked is the highest seq the server acknowledged (set by the ack
	// handler); progressSeq is the seq of the last progress event written,
	// lastSummary restic's last summary line and logs the log lines waiting
	// to share an event, all under emitMu.
	acked       atomic.Uint64
	emitMu      sync.Mutex
	progressSeq uint64
	lastSummary json.RawMessage
	logs        *logBatch

	data dataStream // a dump's output, live only (data.go)
}

// handleDispatch answers job_dispatch: job_accept once the job is recorded
// in the spool (then it runs), job_reject when it cannot run. A job id the
// spool knows is accepted again but never run a second time; its
// unacknowledged events are sent again instead.
func (a *Agent) handleDispatch(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var d wire.JobDispatch
	if err := env.DecodePayload(&d); err != nil {
		return err
	}
	log := a.log.Named("job").With("job_id", d.JobID, "kind", d.Kind, "repository", repoLabel(d.Repository))
	accept := func() error {
		return c.Reply(ctx, env, wire.TypeJobAccept, wire.JobAccept{JobID: d.JobID})
	}
	reject := func(reason string) error {
		log.Warn("job rejected", "reason", reason)
		return c.Reply(ctx, env, wire.TypeJobReject, wire.JobReject{JobID: d.JobID, Reason: cleanText(reason, maxErrorText)})
	}
	if a.known(d.JobID) {
		log.Info("job already known; accepted again, not run again")
		a.resend(d.JobID)
		return accept()
	}
	if a.isDraining() {
		return reject("the agent is shutting down")
	}
	kind := sdk.JobKind(d.Kind)
	if !kind.Valid() {
		return reject(fmt.Sprintf("unknown job kind %q", d.Kind))
	}
	args, err := decodeArgs(d.Params)
	if err != nil {
		return reject("invalid params: " + err.Error())
	}
	if !d.Deadline.IsZero() && !time.Now().Before(d.Deadline) {
		return reject("the job's deadline passed before the agent received it")
	}
	err = a.spool.BeginJob(d.JobID, spool.JobMeta{Kind: d.Kind, Repository: d.Repository.ID})
	switch {
	case errors.Is(err, spool.ErrJobKnown):
		log.Info("job already known; accepted again, not run again")
		a.resend(d.JobID)
		return accept()
	case err != nil:
		log.Error("cannot record the job", "error", err)
		return reject("the agent cannot record the job: " + err.Error())
	}
	if err := accept(); err != nil {
		// Recorded, so it runs and reports anyway; the server learns of it
		// from its events or a dispatch again.
		log.Warn("could not send job_accept", "error", err)
	}
	a.start(d, kind, args, log)
	return nil
}

// known reports whether the job id was accepted before, by this process or
// an earlier one.
func (a *Agent) known(id string) bool {
	a.mu.Lock()
	_, running := a.jobs[id]
	a.mu.Unlock()
	if running {
		return true
	}
	_, err := a.spool.Job(id)
	return err == nil
}

func (a *Agent) resend(id string) {
	if s := a.currentSender(); s != nil {
		s.resend(id)
	}
}

func (a *Agent) isDraining() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.draining
}

// start runs an accepted job on its own goroutine.
func (a *Agent) start(d wire.JobDispatch, kind sdk.JobKind, args sdk.Args, log hclog.Logger) {
	ctx, cancel := context.WithCancelCause(context.Background())
	if !d.Deadline.IsZero() {
		var stop context.CancelFunc
		ctx, stop = context.WithDeadlineCause(ctx, d.Deadline, errDeadline)
		base := cancel
		cancel = func(cause error) {
			base(cause)
			stop()
		}
	}
	j := &job{
		a: a, id: d.JobID, kind: kind, repo: d.Repository, toRepo: d.ToRepository, args: args, log: log,
		scheduleID: d.ScheduleID, pre: d.PreHook, post: d.PostHook,
		ctx: ctx, cancel: cancel, writer: a.spool.NewJobWriter(d.JobID, a.cfg.EventBuffer),
		newPassword: d.NewPassword, secretScrub: newSecretScrubber(d.NewPassword.Reveal()),
	}
	j.logs = newLogBatch(&j.emitMu, j.writer.Write, a.cfg.LogLinger, a.cfg.LogBatchLines, a.cfg.LogBatchBytes)
	a.mu.Lock()
	a.jobs[j.id] = j
	draining := a.draining
	a.jobWG.Add(1)
	a.mu.Unlock()
	if draining {
		j.cancel(errShutdown)
	}
	log.Info("job accepted")
	go j.run()
}

// handleCancel answers job_cancel at once; the job's job_finished
// (cancelled) follows once restic has gone.
func (a *Agent) handleCancel(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	var m wire.JobCancel
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	a.mu.Lock()
	j := a.jobs[m.JobID]
	a.mu.Unlock()
	if j != nil {
		j.log.Info("cancelling job", "reason", m.Reason)
		j.cancel(&cancelled{reason: cleanText(m.Reason, 512)})
	} else {
		a.log.Named("job").Debug("cancel for a job not running here", "job_id", m.JobID)
	}
	return c.Reply(ctx, env, wire.TypeAck, wire.Ack{})
}

// handleAck drops the events the server acknowledged from the spool.
func (a *Agent) handleAck(_ context.Context, _ *wire.Conn, env wire.Envelope) error {
	var m wire.JobEventAck
	if err := env.DecodePayload(&m); err != nil {
		return err
	}
	err := a.spool.Ack(m.JobID, m.UpToSeq)
	switch {
	case err == nil:
	case errors.Is(err, spool.ErrJobUnknown):
		a.log.Named("sender").Debug("ack for a job the spool no longer knows", "job_id", m.JobID)
		return nil
	case errors.Is(err, spool.ErrAckBeyondLast):
		a.log.Named("sender").Warn("the server acknowledged events the agent never sent; ignored", "job_id", m.JobID, "error", err)
		return nil
	default:
		a.log.Named("sender").Error("cannot record an acknowledgement", "job_id", m.JobID, "error", err)
		return nil
	}
	a.mu.Lock()
	j := a.jobs[m.JobID]
	a.mu.Unlock()
	if j != nil {
		for {
			cur := j.acked.Load()
			if m.UpToSeq <= cur || j.acked.CompareAndSwap(cur, m.UpToSeq) {
				break
			}
		}
	}
	return nil
}

// run runs the job and records how it ended.
func (j *job) run() {
	defer j.a.jobWG.Done()
	began := time.Now()
	f := j.execute()
	j.postHook(&f) // hooks.go
	j.cancel(nil)
	j.repo, j.toRepo = wire.Repository{}, nil // drop the credentials
	j.newPassword, j.secretScrub = wire.Secret{}, nil

	j.emitMu.Lock()
	err := j.logs.close()
	j.emitMu.Unlock()
	if err != nil {
		j.log.Error("writing the job's last log lines to the spool failed", "error", err)
	}
	if err := j.writer.Close(); err != nil {
		j.log.Error("writing the job's events to the spool failed", "error", err)
	}
	ev, err := finishedEvent(f)
	if err == nil {
		_, err = j.a.spool.FinishJob(j.id, ev)
	}
	if err != nil {
		j.log.Error("cannot record the job's end; the next start reports it as failed", "error", err)
	}
	j.a.mu.Lock()
	delete(j.a.jobs, j.id)
	j.a.mu.Unlock()
	j.a.scheduledEnded(j.id, f)

	args := []any{"status", f.Status, "exit_code", f.ExitCode, "duration", time.Since(began).Round(time.Millisecond)}
	if f.Error != "" {
		args = append(args, "error", f.Error)
	}
	if f.Status == wire.StatusSucceeded {
		j.log.Info("job finished", args...)
	} else {
		j.log.Warn("job finished", args...)
	}
}

// execute waits for the repository, runs restic through the backend, and
// returns the job's job_finished (without seq).
func (j *job) execute() wire.JobFinished {
	f := wire.JobFinished{JobID: j.id}
	message := ""
	// A copy holds its destination too; both in one order, so that two
	// copies between the same repositories cannot wait on each other.
	keys := []string{repoKey(j.repo)}
	if j.toRepo != nil && j.kind == sdk.JobCopy {
		keys = append(keys, repoKey(*j.toRepo))
		slices.Sort(keys)
		keys = slices.Compact(keys)
	}
	for _, key := range keys {
		if key == "" {
			continue
		}
		release, waited, err := j.a.locks.acquire(j.ctx, key)
		if err != nil {
			return j.ended(f, sdk.Result{}, err)
		}
		defer release()
		if waited {
			message = "started after another job on the same repository finished"
		}
	}
	if err := j.a.ensureBackend(j.ctx); err != nil {
		return j.ended(f, sdk.Result{}, err)
	}
	f.StartedAt = time.Now().UTC()
	if err := j.writer.Write(statusEvent("running", message)); err != nil {
		return j.ended(f, sdk.Result{}, err)
	}
	j.log.Debug("job running")
	if j.kind == sdk.JobRestore {
		if err := j.guardRestore(j.ctx); err != nil {
			return j.ended(f, sdk.Result{}, err)
		}
	}
	if j.pre != nil {
		if err := j.runHook(j.ctx, "pre", j.pre, ""); err != nil {
			if j.ctx.Err() != nil {
				return j.ended(f, sdk.Result{}, err)
			}
			return j.ended(f, sdk.Result{}, fmt.Errorf("%w: %w", errPreHook, err))
		}
	}

	before := grandchildren()
	res, err := j.a.backend.Run(j.ctx, j.backendJob(), j.emit)
	if err == nil && j.kind == sdk.JobDump {
		err = j.endData()
	}
	if err != nil && j.ctx.Err() != nil {
		// Interrupted: the plugin is still stopping restic. Report once
		// restic has gone, and keep the repository until then.
		settle, cancel := context.WithTimeout(context.Background(), j.a.cfg.CancelSettle)
		if !waitGone(settle, before) {
			j.log.Warn("restic is still exiting; reporting the job anyway", "waited", j.a.cfg.CancelSettle)
		}
		cancel()
	}
	return j.ended(f, res, err)
}

// ended fills in how the job ended.
func (j *job) ended(f wire.JobFinished, res sdk.Result, err error) wire.JobFinished {
	f.FinishedAt = time.Now().UTC()
	if f.StartedAt.IsZero() {
		f.StartedAt = f.FinishedAt
	}
	f.ExitCode = res.ExitCode
	j.emitMu.Lock()
	f.Summary = jobSummary(res, j.lastSummary)
	j.emitMu.Unlock()
	var c *cancelled
	cause := context.Cause(j.ctx)
	switch {
	case err == nil:
		f.Status = wire.StatusSucceeded
		if res.ExitCode == 3 {
			f.Error = exitCode3Warning
		}
	case j.ctx.Err() != nil && errors.As(cause, &c):
		f.Status, f.Error = wire.StatusCancelled, c.Error()
	case j.ctx.Err() != nil && (errors.Is(cause, errShutdown) || errors.Is(cause, errDeadline)):
		f.Status, f.Error = wire.StatusFailed, cause.Error()
	default:
		f.Status, f.Error = wire.StatusFailed, err.Error()
	}
	if f.Status != wire.StatusSucceeded && f.ExitCode == 0 {
		f.ExitCode = -1 // restic did not exit with a code of its own
	}
	f.Error = cleanText(j.scrubText(f.Error), maxErrorText)
	if len(f.Summary) > 0 {
		f.Summary = json.RawMessage(j.scrubText(string(f.Summary)))
	}
	return f
}

// backendJob is the job as the backend takes it, with the repositories'
// credentials revealed for restic's environment.
func (j *job) backendJob() sdk.Job {
	out := sdk.Job{ID: j.id, Kind: j.kind, Repository: backendRepository(j.repo), Args: j.args, NewPassword: j.newPassword.Reveal()}
	if j.toRepo != nil && j.kind == sdk.JobCopy {
		to := backendRepository(*j.toRepo)
		out.ToRepository = &to
	}
	return out
}

func backendRepository(r wire.Repository) sdk.Repository {
	var env map[string]string
	if len(r.Env) > 0 {
		env = make(map[string]string, len(r.Env))
		for k, v := range r.Env {
			env[k] = v.Reveal()
		}
	}
	return sdk.Repository{URL: r.URL, Password: r.Password.Reveal(), Env: env}
}

// emit takes the backend's events, in order, and writes them to the spool.
// Log lines that come close together share one event (logBatch), which
// goes out before any other event. Progress is coalesced: a progress event
// is written only once the server has acknowledged the previous one, and
// dropped otherwise (the next one comes within a second).
func (j *job) emit(ev sdk.Event) error {
	if ev.Kind() == sdk.EventData {
		return j.sendData(ev.Data.Bytes)
	}
	ev = j.scrubEvent(ev) // newpassword.go
	if ev.Kind() == sdk.EventLog {
		j.emitMu.Lock()
		defer j.emitMu.Unlock()
		return j.logs.add(ev.Log.Stream, ev.Log.Text, ev.Time)
	}
	se, err := spoolEvent(ev)
	if err != nil {
		j.log.Warn("dropping a malformed backend event", "error", err)
		return nil
	}
	j.emitMu.Lock()
	defer j.emitMu.Unlock()
	if err := j.logs.flush(); err != nil {
		return err
	}
	switch ev.Kind() {
	case sdk.EventProgress:
		return j.progress(se)
	case sdk.EventSummary:
		j.lastSummary = se.Data
	}
	return j.writer.Write(se)
}

func (j *job) progress(se spool.Event) error {
	if j.progressSeq > j.acked.Load() {
		return nil
	}
	// Keep the stream in order: what the writer holds goes first.
	if err := j.writer.Flush(); err != nil {
		return err
	}
	seq, err := j.a.spool.Append(j.id, se)
	switch {
	case errors.Is(err, spool.ErrSpoolFull):
		return nil
	case err != nil:
		return err
	}
	j.progressSeq = seq
	return nil
}

// decodeArgs decodes job_dispatch's params as the backend's Args (their
// JSON field names). Unknown fields are refused: a misspelt exclude must not
// silently back up what it meant to leave out.
func decodeArgs(raw json.RawMessage) (sdk.Args, error) {
	var args sdk.Args
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return args, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&args); err != nil {
		return sdk.Args{}, err
	}
	if dec.More() {
		return sdk.Args{}, errors.New("trailing data after the params object")
	}
	return args, nil
}

// repoKey names the repository for the per-repository lock: its URL, which
// is what restic locks.
func repoKey(r wire.Repository) string {
	if u := strings.TrimSpace(r.URL); u != "" {
		return "url:" + u
	}
	if r.ID != "" {
		return "id:" + r.ID
	}
	return ""
}

// repoLabel names the repository in log lines: its id or name, never its
// URL, which may embed credentials (rest:https://user:pass@…).
func repoLabel(r wire.Repository) string {
	switch {
	case r.Name != "":
		return r.Name
	case r.ID != "":
		return r.ID
	}
	return "-"
}
