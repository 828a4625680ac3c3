package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/agent/hooks"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// A job's pre- and post-hooks (a schedule's, sent with the schedule or with
// a run-now backup of it) run through agent/hooks with the host's shell:
// the pre-hook once the job holds its repository, before restic; a failed
// pre-hook fails the job with "pre-hook failed" and restic does not run.
// The post-hook always runs once the job has ended, with the job's status
// in RM_JOB_STATUS, even when the job was cancelled. Their output goes to
// the job's log, each line prefixed "[hook] ".

// errPreHook is the reason of a job whose pre-hook failed.
var errPreHook = errors.New("pre-hook failed")

// hookStream is the log stream hook output is written on.
const hookStream = "stdout"

// runHook runs one hook of the job; status is "" for a pre-hook and the
// job's status for a post-hook.
func (j *job) runHook(ctx context.Context, which string, h *wire.Hook, status string) error {
	hook := hooks.Hook{
		Command: h.Command,
		Shell:   j.a.cfg.HookShell,
		Timeout: time.Duration(h.TimeoutSeconds) * time.Second,
		Env:     hooks.Job{ID: j.id, Kind: string(j.kind), Schedule: j.scheduleID}.Env(status),
	}
	j.hookLine(fmt.Sprintf("%s%s-hook started", hooks.Prefix, which))
	began := time.Now()
	code, err := hooks.Run(ctx, hook, j.hookLine)
	if err != nil {
		j.hookLine(fmt.Sprintf("%s%s-hook failed after %s: %v", hooks.Prefix, which, time.Since(began).Round(time.Millisecond), err))
		j.log.Warn("hook failed", "hook", which, "exit_code", code, "error", err)
		return err
	}
	j.hookLine(fmt.Sprintf("%s%s-hook succeeded in %s", hooks.Prefix, which, time.Since(began).Round(time.Millisecond)))
	return nil
}

// hookLine writes one line of hook output to the job's log.
func (j *job) hookLine(line string) {
	j.emitMu.Lock()
	defer j.emitMu.Unlock()
	if err := j.logs.add(hookStream, line, time.Now()); err != nil {
		j.log.Warn("writing a hook's output to the spool failed", "error", err)
	}
}

// postHook runs the job's post-hook, if any, after the job ended with f.
// It has a context of its own: a cancelled job's post-hook still runs
// (bounded by its timeout), as it may have to start a stopped service.
func (j *job) postHook(f *wire.JobFinished) {
	if j.post == nil {
		return
	}
	if err := j.runHook(context.Background(), "post", j.post, f.Status); err != nil && f.Status == wire.StatusSucceeded && f.Error == "" {
		f.Error = cleanText("post-hook failed: "+err.Error(), maxErrorText)
	}
}
