package store

import (
	"context"
	"database/sql"
	"time"
)

// RepositoryCare is what the server knows of a repository's state from
// the jobs that looked at it: its sizes and snapshot count from the last
// stats job, and its last check. Recording them leaves updated_at alone:
// that column says when the repository's settings or credentials changed.
type RepositoryCare struct {
	// TotalSize is what restoring every snapshot would write; RawSize what
	// the repository stores (after deduplication and compression). Nil
	// until a stats job reported them.
	TotalSize      *int64
	RawSize        *int64
	SnapshotCount  *int64
	StatsUpdatedAt *time.Time
	// LastCheckAt is when the last check ended, LastCheckStatus how
	// (succeeded or failed).
	LastCheckAt     *time.Time
	LastCheckStatus string
	Locked          bool
}

// RepositoryStats are the figures of a stats job; nil fields were not
// reported and keep their stored value.
type RepositoryStats struct {
	TotalSize     *int64
	RawSize       *int64
	SnapshotCount *int64
}

// GetRepositoryCare returns a repository's recorded state.
func (db *DB) GetRepositoryCare(ctx context.Context, id string) (RepositoryCare, error) {
	var c RepositoryCare
	var total, raw, count, statsAt, checkAt sql.NullInt64
	var status sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT total_size, raw_size, snapshot_count, stats_updated_at,
		last_check_at, last_check_status, locked FROM repositories WHERE id = ?`, id).
		Scan(&total, &raw, &count, &statsAt, &checkAt, &status, &c.Locked)
	if err != nil {
		return RepositoryCare{}, mapErr(err)
	}
	opt := func(v sql.NullInt64) *int64 {
		if !v.Valid {
			return nil
		}
		return &v.Int64
	}
	c.TotalSize, c.RawSize, c.SnapshotCount = opt(total), opt(raw), opt(count)
	c.StatsUpdatedAt, c.LastCheckAt = timePtr(statsAt), timePtr(checkAt)
	c.LastCheckStatus = status.String
	return c, nil
}

// RecordRepositoryStats stores the figures of a stats job that ended at.
func (db *DB) RecordRepositoryStats(ctx context.Context, id string, s RepositoryStats, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE repositories SET total_size = COALESCE(?, total_size),
			raw_size = COALESCE(?, raw_size), snapshot_count = COALESCE(?, snapshot_count), stats_updated_at = ?
			WHERE id = ?`, s.TotalSize, s.RawSize, s.SnapshotCount, ms(at), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RecordRepositoryCheck stores how a check that ended at went. An older
// check reported late (after a reconnect) does not replace a newer one.
func (db *DB) RecordRepositoryCheck(ctx context.Context, id, status string, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE repositories SET last_check_at = ?, last_check_status = ?
			WHERE id = ? AND (last_check_at IS NULL OR last_check_at <= ?)`, ms(at), status, id, ms(at))
		return err
	})
}
