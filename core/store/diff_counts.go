package store

import (
	"context"
	"database/sql"
	"encoding/json"
)

// DiffCounts returns the counts stored for diff job jobID (a JSON object
// of change kinds); ErrNotFound when the job does not exist or its counts
// were never stored (its log was not counted yet).
func (db *DB) DiffCounts(ctx context.Context, jobID string) (json.RawMessage, error) {
	var counts sql.NullString
	if err := db.r.QueryRowContext(ctx, `SELECT diff_counts FROM jobs WHERE id = ?`, jobID).Scan(&counts); err != nil {
		return nil, mapErr(err)
	}
	if !counts.Valid {
		return nil, ErrNotFound
	}
	return json.RawMessage(counts.String), nil
}

// SaveDiffCounts stores the counts of a succeeded diff job once; a second
// save of the same job keeps the first (the job's log never changes).
func (db *DB) SaveDiffCounts(ctx context.Context, jobID string, counts json.RawMessage) error {
	_, err := db.w.ExecContext(ctx, `UPDATE jobs SET diff_counts = ? WHERE id = ? AND diff_counts IS NULL`, string(counts), jobID)
	return mapErr(err)
}
