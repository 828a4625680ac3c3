package store

import "context"

// ListHostsByEnrollmentToken returns the hosts the enrollment token
// enrolled, oldest first, at most limit of them.
func (db *DB) ListHostsByEnrollmentToken(ctx context.Context, tokenID string, limit int) ([]Host, error) {
	return db.queryHosts(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.enrollment_token_id = ?
		ORDER BY h.enrolled_at, h.id LIMIT ?`, tokenID, max(limit, 1))
}
