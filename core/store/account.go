package store

import (
	"context"
	"database/sql"
)

// DeleteOtherSessions ends every session of the user but keepID (when
// keepID is empty, all of them): a changed password logs out everywhere
// else.
func (db *DB) DeleteOtherSessions(ctx context.Context, userID, keepID string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND id != ?`, userID, keepID)
		return err
	})
}
