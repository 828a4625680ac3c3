package store

import (
	"context"
	"database/sql"
	"errors"
)

// CredentialHook is the kind of the credentials that hold pre/post hooks.
const CredentialHook = "hook"

// Hooks are sealed at rest in a credential of kind "hook": a schedule's own
// (schedules.hooks_credential_id) and its host's default
// (hosts.hooks_credential_id). Setting them replaces the credential row in
// the same transaction and raises the schedule revision, so agents are
// sent the change.

// SetScheduleHooks replaces a schedule's hooks credential with c (nil
// removes them).
func (db *DB) SetScheduleHooks(ctx context.Context, scheduleID string, c *Credential) error {
	return db.setHooks(ctx, "schedules", scheduleID, c)
}

// SetHostHooks replaces a host's default hooks credential with c (nil
// removes them).
func (db *DB) SetHostHooks(ctx context.Context, hostID string, c *Credential) error {
	return db.setHooks(ctx, "hosts", hostID, c)
}

// HostHooksCredential returns the id of a host's default hooks
// credential, "" for none.
func (db *DB) HostHooksCredential(ctx context.Context, hostID string) (string, error) {
	var id sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT hooks_credential_id FROM hosts WHERE id = ?`, hostID).Scan(&id)
	if err != nil {
		return "", mapErr(err)
	}
	return id.String, nil
}

// setHooks points table's row id at c, drops the credential it pointed
// at before, and raises the schedule revision. table is a constant.
func (db *DB) setHooks(ctx context.Context, table, id string, c *Credential) error {
	if c != nil && c.Kind != CredentialHook {
		return errors.New("a hooks credential must be of kind hook")
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		var old sql.NullString
		//nolint:gosec // G202: table is one of two constants
		if err := tx.QueryRowContext(ctx, `SELECT hooks_credential_id FROM `+table+` WHERE id = ?`, id).Scan(&old); err != nil {
			return mapErr(err)
		}
		var newID sql.NullString
		if c != nil {
			if err := insertCredential(ctx, tx, c, CredentialHook); err != nil {
				return err
			}
			newID = nullID(c.ID)
		}
		//nolint:gosec // G202: table is one of two constants
		if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET hooks_credential_id = ? WHERE id = ?`, newID, id); err != nil {
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
