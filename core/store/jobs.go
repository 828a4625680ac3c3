package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Job statuses. A job is created queued (or skipped), runs once, and ends in
// exactly one terminal status.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
	JobCancelled = "cancelled"
	JobSkipped   = "skipped"
)

// ErrJobFinished means a job already reached a terminal status; a second
// ending is refused so every job ends exactly once.
var ErrJobFinished = errors.New("job has already finished")

// Terminal reports whether status is one a job ends in.
func Terminal(status string) bool {
	switch status {
	case JobSucceeded, JobFailed, JobCancelled, JobSkipped:
		return true
	}
	return false
}

// Job is one restic run on one host.
type Job struct {
	ID           string
	HostID       string
	Kind         string
	Status       string
	RepositoryID string // "" when none
	ScheduleID   string // "" for run-now jobs
	Params       json.RawMessage
	CreatedBy    string
	CreatedAt    time.Time
	StartedAt    *time.Time
	FinishedAt   *time.Time
	DeadlineAt   *time.Time
	ExitCode     *int
	Error        string
	Summary      json.RawMessage
	LastSeq      int64
}

// JobFilter narrows ListJobs; zero fields match everything.
type JobFilter struct {
	HostID string
	Status string
	Before string // cursor: a job id; lists jobs created before it
	Limit  int
}

const jobCols = `id, host_id, kind, status, COALESCE(repository_id, ''), COALESCE(schedule_id, ''), params,
	created_by, created_at, started_at, finished_at, deadline_at, exit_code, error, summary, last_seq`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var params string
	var summary sql.NullString
	var created int64
	var started, finished, deadline, exit sql.NullInt64
	if err := row.Scan(&j.ID, &j.HostID, &j.Kind, &j.Status, &j.RepositoryID, &j.ScheduleID, &params,
		&j.CreatedBy, &created, &started, &finished, &deadline, &exit, &j.Error, &summary, &j.LastSeq); err != nil {
		return Job{}, mapErr(err)
	}
	j.Params = json.RawMessage(params)
	if summary.Valid {
		j.Summary = json.RawMessage(summary.String)
	}
	j.CreatedAt, j.StartedAt, j.FinishedAt, j.DeadlineAt = fromMS(created), timePtr(started), timePtr(finished), timePtr(deadline)
	if exit.Valid {
		c := int(exit.Int64)
		j.ExitCode = &c
	}
	return j, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateJob stores a new job. Its id is created once, by the server for
// dispatched jobs or by the agent for scheduled runs; a second create with
// the same id gives ErrConflict, so a job never runs twice.
func (db *DB) CreateJob(ctx context.Context, j Job) error {
	if len(j.Params) == 0 {
		j.Params = json.RawMessage("{}")
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, host_id, kind, status, repository_id, schedule_id, params,
			created_by, created_at, started_at, finished_at, deadline_at, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			j.ID, j.HostID, j.Kind, j.Status, nullString(j.RepositoryID), nullString(j.ScheduleID), string(j.Params),
			j.CreatedBy, ms(j.CreatedAt), nullMS(j.StartedAt), nullMS(j.FinishedAt), nullMS(j.DeadlineAt), j.Error)
		return mapErr(err)
	})
}

// GetJob returns one job.
func (db *DB) GetJob(ctx context.Context, id string) (Job, error) {
	return scanJob(db.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
}

// ListJobs returns jobs newest first.
func (db *DB) ListJobs(ctx context.Context, f JobFilter) ([]Job, error) {
	var where []string
	var args []any
	if f.HostID != "" {
		where = append(where, "host_id = ?")
		args = append(args, f.HostID)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.Before != "" {
		where = append(where, "(created_at, id) < (SELECT created_at, id FROM jobs WHERE id = ?)")
		args = append(args, f.Before)
	}
	q := `SELECT ` + jobCols + ` FROM jobs`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ") //nolint:gosec // G202: fixed clauses; values are bound
	}
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, max(f.Limit, 1))
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

// StartJob moves a queued job to running. Starting a job that is not queued
// is refused: ErrJobFinished when it has ended, ErrConflict when it runs.
func (db *DB) StartJob(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = ?`, id).Scan(&status); err != nil {
			return mapErr(err)
		}
		switch {
		case Terminal(status):
			return ErrJobFinished
		case status != JobQueued:
			return fmt.Errorf("%w: job %s is %s", ErrConflict, id, status)
		}
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'running', started_at = ? WHERE id = ?`, ms(now), id)
		return err
	})
}

// JobEnd is how a job ended.
type JobEnd struct {
	Status   string // a terminal status
	ExitCode *int
	Error    string
	Summary  json.RawMessage
	At       time.Time
}

// FinishJob records a job's end. It is refused with ErrJobFinished when the
// job has ended already, so whichever of several racing endings (agent
// result, cancel, deadline) comes first is the one that stands.
func (db *DB) FinishJob(ctx context.Context, id string, end JobEnd) error {
	if !Terminal(end.Status) {
		return fmt.Errorf("finish job %s: %q is not a terminal status", id, end.Status)
	}
	var summary any
	if len(end.Summary) > 0 {
		summary = string(end.Summary)
	}
	var exit any
	if end.ExitCode != nil {
		exit = *end.ExitCode
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE jobs SET status = ?, exit_code = ?, error = ?, summary = COALESCE(?, summary),
			finished_at = ?, started_at = COALESCE(started_at, ?)
			WHERE id = ? AND status IN ('queued', 'running')`,
			end.Status, exit, end.Error, summary, ms(end.At), ms(end.At), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 1 {
			return nil
		}
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM jobs WHERE id = ?`, id).Scan(&status); err != nil {
			return mapErr(err)
		}
		return ErrJobFinished
	})
}

// ExpireQueuedJobs fails queued jobs whose deadline has passed (their host
// never came online in time) and returns them.
func (db *DB) ExpireQueuedJobs(ctx context.Context, now time.Time, reason string) ([]string, error) {
	var ids []string
	err := db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM jobs WHERE status = 'queued' AND deadline_at IS NOT NULL AND deadline_at <= ?`, ms(now))
		if err != nil {
			return err
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET status = 'failed', error = ?, finished_at = ? WHERE id = ?`,
				reason, ms(now), id); err != nil {
				return err
			}
		}
		return nil
	})
	return ids, err
}
