package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"time"
)

// CreateAgentJob stores a job an agent started on its own (a schedule that
// fired): the agent chose its id, and it starts out running. A repository
// or schedule the server does not know (deleted since the agent last
// synced) is stored as none rather than refusing the job, so that its log
// and result are kept. A second create of the same id is ErrConflict.
func (db *DB) CreateAgentJob(ctx context.Context, j Job) error {
	if len(j.Params) == 0 {
		j.Params = json.RawMessage("{}")
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, host_id, kind, status, repository_id, schedule_id, params,
			created_by, created_at, started_at) VALUES (?,?,?,?,
			(SELECT id FROM repositories WHERE id = ?), (SELECT id FROM schedules WHERE id = ?), ?,?,?,?)`,
			j.ID, j.HostID, j.Kind, j.Status, j.RepositoryID, j.ScheduleID, string(j.Params),
			j.CreatedBy, ms(j.CreatedAt), nullMS(j.StartedAt))
		return mapErr(err)
	})
}

// QueuedJobsPastDeadline returns the queued jobs whose deadline is at or
// before now, oldest first: their host did not come online in time.
func (db *DB) QueuedJobsPastDeadline(ctx context.Context, now time.Time, limit int) ([]Job, error) {
	return db.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE status = 'queued' AND deadline_at IS NOT NULL
		AND deadline_at <= ? ORDER BY deadline_at, id LIMIT ?`, ms(now), max(limit, 1))
}

// QueuedJobs returns up to limit queued jobs, oldest first, the order they
// are dispatched in.
func (db *DB) QueuedJobs(ctx context.Context, hostID string, limit int) ([]Job, error) {
	return db.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE status = 'queued' AND (? = '' OR host_id = ?)
		ORDER BY created_at, id LIMIT ?`, hostID, hostID, max(limit, 1))
}

// RunningJobs returns the jobs of a host that are running.
func (db *DB) RunningJobs(ctx context.Context, hostID string) ([]Job, error) {
	return db.queryJobs(ctx, `SELECT `+jobCols+` FROM jobs WHERE status = 'running' AND host_id = ?
		ORDER BY created_at, id`, hostID)
}

func (db *DB) queryJobs(ctx context.Context, q string, args ...any) ([]Job, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// JobLogPrefix returns the highest n such that every event 1…n of the job
// is stored: what the server may acknowledge to the agent. A job with no
// events, or without event 1, gives 0.
func (db *DB) JobLogPrefix(ctx context.Context, jobID string) (int64, error) {
	var count, maxSeq int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(seq), 0) FROM job_logs WHERE job_id = ?`,
		jobID).Scan(&count, &maxSeq); err != nil {
		return 0, err
	}
	if count == maxSeq {
		return maxSeq, nil // seqs are unique and start at 1: no gap
	}
	var first int64
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM job_logs WHERE job_id = ? AND seq = 1`, jobID).Scan(&first); err != nil {
		return 0, err
	}
	if first == 0 {
		return 0, nil
	}
	// The first stored seq whose successor is missing ends the prefix.
	var end int64
	err := db.r.QueryRowContext(ctx, `SELECT MIN(a.seq) FROM job_logs a WHERE a.job_id = ?
		AND NOT EXISTS (SELECT 1 FROM job_logs b WHERE b.job_id = a.job_id AND b.seq = a.seq + 1)`, jobID).Scan(&end)
	return end, err
}

// LastJobLog returns the job's last event of the given type (summary,
// status, …), or ErrNotFound.
func (db *DB) LastJobLog(ctx context.Context, jobID, typ string) (JobLog, error) {
	var l JobLog
	var t int64
	err := db.r.QueryRowContext(ctx, `SELECT job_id, seq, time, stream, type, line FROM job_logs
		WHERE job_id = ? AND type = ? ORDER BY seq DESC LIMIT 1`, jobID, typ).
		Scan(&l.JobID, &l.Seq, &t, &l.Stream, &l.Type, &l.Line)
	if err != nil {
		return JobLog{}, mapErr(err)
	}
	l.Time = fromMS(t)
	return l, nil
}
