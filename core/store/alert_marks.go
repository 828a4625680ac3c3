package store

import (
	"context"
	"database/sql"
	"time"
)

// RepositoryLock is a lock on a repository as the server learnt it from a
// job that failed because restic found the repository locked.
type RepositoryLock struct {
	RepositoryID string
	Name         string
	// Since is when the lock was created (restic's "lock was created at"),
	// or when the failing job ended when restic did not say.
	Since time.Time
	// Holder is who holds it, as restic names it ("PID 42 on web-1 by
	// root"); "" when unknown.
	Holder string
}

// SetRepositoryLocked records that the repository is locked. A lock
// already recorded keeps the earlier of the two creation times.
func (db *DB) SetRepositoryLocked(ctx context.Context, l RepositoryLock, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE repositories SET locked = 1,
			locked_since = CASE WHEN locked = 1 AND locked_since IS NOT NULL AND locked_since <= ?2 THEN locked_since ELSE ?2 END,
			lock_holder = CASE WHEN ?3 != '' THEN ?3 ELSE lock_holder END, updated_at = ?4 WHERE id = ?1`,
			l.RepositoryID, ms(l.Since), l.Holder, ms(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// ClearRepositoryLock records that the repository is no longer locked; it
// reports whether it was.
func (db *DB) ClearRepositoryLock(ctx context.Context, repoID string, now time.Time) (bool, error) {
	var was bool
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE repositories SET locked = 0, locked_since = NULL, lock_holder = NULL, updated_at = ?2
			WHERE id = ?1 AND locked = 1`, repoID, ms(now))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		was = n > 0
		return nil
	})
	return was, err
}

// LockedRepositories lists the repositories recorded as locked.
func (db *DB) LockedRepositories(ctx context.Context) ([]RepositoryLock, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name, COALESCE(locked_since, updated_at), COALESCE(lock_holder, '')
		FROM repositories WHERE locked = 1 ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RepositoryLock
	for rows.Next() {
		var l RepositoryLock
		var since int64
		if err := rows.Scan(&l.RepositoryID, &l.Name, &since, &l.Holder); err != nil {
			return nil, err
		}
		l.Since = fromMS(since)
		out = append(out, l)
	}
	return out, rows.Err()
}

// PendingAlertJobs lists up to limit jobs that have ended but whose end the
// alert engine has not evaluated, oldest end first.
func (db *DB) PendingAlertJobs(ctx context.Context, limit int) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id FROM jobs WHERE alerts_done = 0 AND finished_at IS NOT NULL
		AND status IN ('succeeded', 'failed', 'cancelled', 'skipped') ORDER BY finished_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// JobAlertsDone reports whether the alert engine has evaluated the job's
// end.
func (db *DB) JobAlertsDone(ctx context.Context, id string) (bool, error) {
	var done bool
	err := db.r.QueryRowContext(ctx, `SELECT alerts_done FROM jobs WHERE id = ?`, id).Scan(&done)
	return done, mapErr(err)
}

// MarkJobAlertsDone records that the alert engine has evaluated the job's
// end.
func (db *DB) MarkJobAlertsDone(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET alerts_done = 1 WHERE id = ?`, id)
		return err
	})
}
