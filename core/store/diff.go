package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
)

// KindDiff is the job kind of `restic diff`. Its result stays in the job:
// the changed paths in job_logs, restic's statistics in the summary.
const KindDiff = "diff"

// diffJobOrder puts a succeeded job first (its result is reusable: the two
// snapshots never change), then the newest.
const diffJobOrder = ` ORDER BY status = 'succeeded' DESC, created_at DESC, id DESC LIMIT 1`

// FindDiffJob returns the diff job of host hostID in repository
// repositoryID whose params are exactly params: a succeeded one if there
// is any, else the newest. ErrNotFound when there is none.
func (db *DB) FindDiffJob(ctx context.Context, hostID, repositoryID string, params json.RawMessage) (Job, error) {
	return scanJob(db.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs
		WHERE host_id = ? AND kind = ? AND repository_id = ? AND params = ?`+diffJobOrder,
		hostID, KindDiff, repositoryID, string(params)))
}

// StartDiffJob creates j, a queued diff job, unless a diff job with the
// same host, repository and params is queued, running or has succeeded:
// then it returns that one with created false. The check and the insert
// are one transaction, so two requests for the same pair start one job.
func (db *DB) StartDiffJob(ctx context.Context, j Job) (Job, bool, error) {
	if j.Kind != KindDiff {
		return Job{}, false, errors.New("store: StartDiffJob takes diff jobs only")
	}
	var found Job
	created := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var err error
		found, err = scanJob(tx.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs
			WHERE host_id = ? AND kind = ? AND repository_id = ? AND params = ? AND status IN (?, ?, ?)`+diffJobOrder,
			j.HostID, KindDiff, j.RepositoryID, string(j.Params), JobQueued, JobRunning, JobSucceeded))
		if err == nil {
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO jobs (id, host_id, kind, status, repository_id, params,
			created_by, created_at, deadline_at, error) VALUES (?,?,?,?,?,?,?,?,?,'')`,
			j.ID, j.HostID, j.Kind, j.Status, nullString(j.RepositoryID), string(j.Params),
			j.CreatedBy, ms(j.CreatedAt), nullMS(j.DeadlineAt))
		if err != nil {
			return mapErr(err)
		}
		created = true
		return nil
	})
	if err != nil {
		return Job{}, false, err
	}
	if created {
		found, err = db.GetJob(ctx, j.ID)
	}
	return found, created, err
}
