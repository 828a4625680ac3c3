package store

import (
	"context"
	"database/sql"
	"time"
)

// PendingCancel is a cancel the hub could not deliver yet because the job's
// host was offline. It survives a server restart and is sent when the
// host's agent connects.
type PendingCancel struct {
	JobID       string
	HostID      string
	Reason      string
	RequestedAt time.Time
}

// SavePendingCancel records a cancel to send when the job's host is back.
// A second one for the same job replaces the first (its reason and time).
// A job that has ended gives ErrJobFinished; one that does not exist,
// ErrNotFound.
func (db *DB) SavePendingCancel(ctx context.Context, c PendingCancel) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = ?`, c.JobID).Scan(&status); err != nil {
			return mapErr(err)
		}
		if Terminal(status) {
			return ErrJobFinished
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO job_cancels (job_id, host_id, reason, requested_at) VALUES (?,?,?,?)
			ON CONFLICT (job_id) DO UPDATE SET reason = excluded.reason, requested_at = excluded.requested_at`,
			c.JobID, c.HostID, c.Reason, ms(c.RequestedAt))
		return mapErr(err)
	})
}

// PendingCancels lists the cancels waiting for a host's agent, oldest
// first, and forgets the host's cancels of jobs that have ended meanwhile.
func (db *DB) PendingCancels(ctx context.Context, hostID string) ([]PendingCancel, error) {
	var out []PendingCancel
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		if _, err := tx.ExecContext(ctx, `DELETE FROM job_cancels WHERE host_id = ?
			AND job_id IN (SELECT id FROM jobs WHERE status NOT IN (?, ?))`, hostID, JobQueued, JobRunning); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT job_id, host_id, reason, requested_at FROM job_cancels
			WHERE host_id = ? ORDER BY requested_at, job_id`, hostID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var c PendingCancel
			var at int64
			if err := rows.Scan(&c.JobID, &c.HostID, &c.Reason, &at); err != nil {
				return err
			}
			c.RequestedAt = fromMS(at)
			out = append(out, c)
		}
		return rows.Err()
	})
	return out, err
}

// DeletePendingCancel forgets the job's pending cancel: it was delivered,
// or the job ended. Forgetting one that is not there is no error.
func (db *DB) DeletePendingCancel(ctx context.Context, jobID string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM job_cancels WHERE job_id = ?`, jobID)
		return err
	})
}
