package alert

import (
	"context"
	"time"
)

// catchUpBatch is how many pending job ends one read of the store takes.
const catchUpBatch = 200

// markDone records that the job's end has been evaluated.
func (e *Engine) markDone(ctx context.Context, jobID string) {
	if err := e.store.MarkJobAlertsDone(ctx, jobID); err != nil && ctx.Err() == nil {
		e.log.Error("marking a job's end as evaluated failed; it is evaluated again later", "job_id", jobID, "error", err)
	}
}

// catchUp evaluates the job ends the store holds as not evaluated yet:
// those of a server that stopped between a job's end and its evaluation,
// and any dropped from a full queue. It runs when the engine starts and at
// every check; a job end still queued is skipped when its turn comes.
func (e *Engine) catchUp(ctx context.Context) {
	seen := map[string]bool{}
	for {
		ids, err := e.store.PendingAlertJobs(ctx, catchUpBatch)
		if err != nil {
			if ctx.Err() == nil {
				e.log.Error("reading the job ends not yet evaluated failed", "error", err)
			}
			return
		}
		progress := false
		for _, id := range ids {
			if seen[id] {
				continue // its mark failed; the next check tries again
			}
			seen[id] = true
			progress = true
			e.log.Info("evaluating a job end left over", "job_id", id)
			e.onJobEnd(ctx, jobEnd{id: id, at: time.Now()})
		}
		if !progress || len(ids) < catchUpBatch || ctx.Err() != nil {
			return
		}
	}
}
