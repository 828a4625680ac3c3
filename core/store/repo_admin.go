package store

import (
	"context"
	"database/sql"
)

// A repository's admin credential (repositories.admin_credential_id) is a
// second password for it, sealed like the first (kind
// repository_password): a key that may delete data, for prune, while the
// agents' day-to-day jobs use an append-only one. Only jobs that remove
// data (prune, forget with prune) are sent it.

// SetRepositoryAdminCredential replaces a repository's admin credential
// with c (nil removes it); the old row is deleted in the same transaction.
// It raises the schedule revision, as agents holding a pruning schedule
// must be sent the new one, and marks the repository changed.
func (db *DB) SetRepositoryAdminCredential(ctx context.Context, repoID string, c *Credential, now int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var old sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT admin_credential_id FROM repositories WHERE id = ?`, repoID).Scan(&old); err != nil {
			return mapErr(err)
		}
		var newID sql.NullString
		if c != nil {
			if err := insertCredential(ctx, tx, c, KindRepositoryPassword); err != nil {
				return err
			}
			newID = nullID(c.ID)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE repositories SET admin_credential_id = ?, updated_at = MAX(updated_at + 1, ?)
			WHERE id = ?`, newID, now, repoID); err != nil {
			return err
		}
		if old.Valid {
			if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ?`, old.String); err != nil {
				return err
			}
		}
		return bumpScheduleRevision(ctx, tx)
	})
}

// RepositoryAdminCredential returns the id of a repository's admin
// credential, "" for none.
func (db *DB) RepositoryAdminCredential(ctx context.Context, repoID string) (string, error) {
	var id sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT admin_credential_id FROM repositories WHERE id = ?`, repoID).Scan(&id)
	if err != nil {
		return "", mapErr(err)
	}
	return id.String, nil
}
