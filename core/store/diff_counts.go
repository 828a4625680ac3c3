package store

import (
	"context"
	"encoding/json"
)

// diffCountsKey is the settings row holding a diff job's counts. A row of
// the key/value settings table rather than a table of its own: the counts
// are one small JSON object per diff job, read by job id, and never
// change once a succeeded job's log is counted. A row outlives its job
// only if the job's host is deleted; ids are never reused, so it is never
// read again.
func diffCountsKey(jobID string) string { return "diff_counts/" + jobID }

// DiffCounts returns the counts stored for diff job jobID (a JSON object
// of change kinds); ErrNotFound when they were never stored (the job's
// log was not counted yet).
func (db *DB) DiffCounts(ctx context.Context, jobID string) (json.RawMessage, error) {
	var counts string
	if err := db.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, diffCountsKey(jobID)).Scan(&counts); err != nil {
		return nil, mapErr(err)
	}
	return json.RawMessage(counts), nil
}

// SaveDiffCounts stores the counts of a succeeded diff job once; a second
// save of the same job keeps the first (the job's log never changes).
func (db *DB) SaveDiffCounts(ctx context.Context, jobID string, counts json.RawMessage) error {
	_, err := db.w.ExecContext(ctx, `INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)`, diffCountsKey(jobID), string(counts))
	return mapErr(err)
}
