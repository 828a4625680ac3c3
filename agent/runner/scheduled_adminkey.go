package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/agent/scheduler"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// A schedule's repository may have an admin key: the credential allowed
// to delete data, which the server never pushes with the schedules. A
// scheduled step that removes data (a prune, a forget with prune) asks
// the server for it right before it runs, uses it for that one job (kept
// in memory only; the backend scrubs it from restic's output like any
// repository password) and never falls back to the day-to-day key: without
// the key the step is recorded as skipped, and the backup before it still
// counts.

const (
	// adminKeyConnectWait bounds the wait for a connection to the server
	// (a reconnect in progress) before the step is skipped.
	adminKeyConnectWait = 15 * time.Second
	// adminKeyTimeout bounds the server's answer.
	adminKeyTimeout = 30 * time.Second
)

// reasonAdminKeyUnreachable is the skipped step's reason when the server
// could not be asked.
const reasonAdminKeyUnreachable = "pruning needs the repository's admin key, which only the server can give; the server was unreachable"

// needsAdminKey reports whether a scheduled job removes data on a
// repository with an admin key.
func needsAdminKey(sj scheduler.Job, args sdk.Args) bool {
	if !sj.Repository.AdminKey || sj.ScheduleID == "" {
		return false
	}
	switch sdk.JobKind(sj.Kind) {
	case sdk.JobPrune:
		return true
	case sdk.JobForget:
		return args.Prune
	}
	return false
}

// adminKey asks the server for the admin key of a scheduled job's
// repository. A non-empty reason says why the job cannot run with it.
func (a *Agent) adminKey(ctx context.Context, sj scheduler.Job) (key wire.Secret, reason string) {
	log := a.log.Named("job").With("job_id", sj.ID, "kind", sj.Kind, "schedule_id", sj.ScheduleID)
	c := a.waitConnection(ctx, adminKeyConnectWait)
	if c == nil {
		log.Warn("the step that removes data is skipped: the server is unreachable, and only it has the admin key")
		return wire.Secret{}, reasonAdminKeyUnreachable
	}
	rctx, cancel := context.WithTimeout(ctx, adminKeyTimeout)
	defer cancel()
	reply, err := c.Request(rctx, wire.TypeAdminKey, wire.AdminKey{ScheduleID: sj.ScheduleID, JobID: sj.ID, Kind: sj.Kind})
	var res wire.AdminKeyResult
	if err == nil {
		err = reply.DecodePayload(&res)
	}
	var perr *wire.Error
	switch {
	case errors.As(err, &perr):
		log.Warn("the server refused the admin key; the step that removes data is skipped", "code", perr.Code, "reason", perr.Message)
		return wire.Secret{}, "pruning needs the repository's admin key, and the server refused it: " + perr.Message
	case err != nil:
		log.Warn("asking the server for the admin key failed; the step that removes data is skipped", "error", err)
		return wire.Secret{}, fmt.Sprintf("%s (%v)", reasonAdminKeyUnreachable, err)
	}
	log.Info("the server gave the admin key for this run")
	return res.Password, ""
}

// waitConnection returns the connection to the server, waiting up to wait
// for one; nil when there is none by then or ctx ends.
func (a *Agent) waitConnection(ctx context.Context, wait time.Duration) *wire.Conn {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if s := a.currentSender(); s != nil && s.c.Context().Err() == nil {
			return s.c
		}
		select {
		case <-ctx.Done():
			return nil
		case <-deadline.C:
			return nil
		case <-tick.C:
		}
	}
}
