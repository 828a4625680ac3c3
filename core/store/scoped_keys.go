package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// Scoped key states (migration 0009): a one-job repository key for a
// cross-host restore goes adding → ready → removing → removed, or adding →
// failed when it could not be made.
const (
	ScopedAdding   = "adding"
	ScopedReady    = "ready"
	ScopedRemoving = "removing"
	ScopedRemoved  = "removed"
	ScopedFailed   = "failed"
)

// CredentialScopedKey is the kind of the credential holding a one-job
// key's password: 0001's CHECK on credentials.kind allows no new kind, and
// scoped_keys.credential_id says what the row is for.
const CredentialScopedKey = "generic"

// ScopedKey is the one-job key of a cross-host restore: JobID is the
// restore, AddJobID the key_add that makes the key on a key holder,
// RemoveJobID the key_remove that removes it ("" while none is queued).
type ScopedKey struct {
	JobID        string
	RepositoryID string
	SourceHostID string
	CredentialID string // "" once the password is deleted
	AddJobID     string
	RemoveJobID  string
	KeyID        string
	State        string
	Attempts     int
	RetryAt      time.Time
	Error        string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Open reports whether the key may still exist or be needed.
func (k ScopedKey) Open() bool {
	return k.State == ScopedAdding || k.State == ScopedReady || k.State == ScopedRemoving
}

const scopedCols = `job_id, repository_id, source_host_id, COALESCE(credential_id, ''), add_job_id, remove_job_id,
	key_id, state, attempts, retry_at, error, created_at, updated_at`

func scanScopedKey(row interface{ Scan(...any) error }) (ScopedKey, error) {
	var k ScopedKey
	var retry, created, updated int64
	if err := row.Scan(&k.JobID, &k.RepositoryID, &k.SourceHostID, &k.CredentialID, &k.AddJobID, &k.RemoveJobID,
		&k.KeyID, &k.State, &k.Attempts, &retry, &k.Error, &created, &updated); err != nil {
		return ScopedKey{}, mapErr(err)
	}
	k.RetryAt, k.CreatedAt, k.UpdatedAt = fromMS(retry), fromMS(created), fromMS(updated)
	return k, nil
}

func insertJobTx(ctx context.Context, tx *sql.Tx, j Job) error {
	if len(j.Params) == 0 {
		j.Params = json.RawMessage("{}")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, host_id, kind, status, repository_id, schedule_id, params,
		created_by, created_at, started_at, finished_at, deadline_at, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		j.ID, j.HostID, j.Kind, j.Status, nullString(j.RepositoryID), nullString(j.ScheduleID), string(j.Params),
		j.CreatedBy, ms(j.CreatedAt), nullMS(j.StartedAt), nullMS(j.FinishedAt), nullMS(j.DeadlineAt), j.Error)
	return mapErr(err)
}

// CreateScopedRestore stores a cross-host restore in one transaction: the
// sealed one-job password, the restore job, the key_add job and the key's
// row (state adding). Either all of it exists afterwards or none.
func (db *DB) CreateScopedRestore(ctx context.Context, restore, add Job, cred Credential, k ScopedKey) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, kind, key_id, sealed, created_at, updated_at)
			VALUES (?,?,?,?,?,?)`, cred.ID, cred.Kind, cred.KeyID, cred.Sealed, ms(cred.CreatedAt), ms(cred.UpdatedAt)); err != nil {
			return mapErr(err)
		}
		if err := insertJobTx(ctx, tx, restore); err != nil {
			return err
		}
		if err := insertJobTx(ctx, tx, add); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO scoped_keys (job_id, repository_id, source_host_id, credential_id,
			add_job_id, state, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)`,
			restore.ID, k.RepositoryID, k.SourceHostID, cred.ID, add.ID, ScopedAdding, ms(k.CreatedAt), ms(k.CreatedAt))
		return mapErr(err)
	})
}

// ScopedKeyForJob returns the scoped key that jobID is part of: as the
// restore, its key_add or its key_remove. ErrNotFound when none.
func (db *DB) ScopedKeyForJob(ctx context.Context, jobID string) (ScopedKey, error) {
	return scanScopedKey(db.r.QueryRowContext(ctx, `SELECT `+scopedCols+` FROM scoped_keys
		WHERE job_id = ?1 OR add_job_id = ?1 OR (remove_job_id != '' AND remove_job_id = ?1) LIMIT 1`, jobID))
}

// OpenScopedKeys lists the keys that may still exist or be needed
// (adding, ready, removing), oldest first.
func (db *DB) OpenScopedKeys(ctx context.Context, limit int) ([]ScopedKey, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+scopedCols+` FROM scoped_keys
		WHERE state IN ('adding', 'ready', 'removing') ORDER BY created_at LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []ScopedKey
	for rows.Next() {
		k, err := scanScopedKey(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ScopedKeyReady moves a key from adding to ready with the id restic gave
// it. It reports whether this call moved it.
func (db *DB) ScopedKeyReady(ctx context.Context, jobID, keyID string, now time.Time) (bool, error) {
	return db.scopedUpdate(ctx, `UPDATE scoped_keys SET state = 'ready', key_id = ?, updated_at = ?
		WHERE job_id = ? AND state = 'adding'`, keyID, ms(now), jobID)
}

// ScopedKeyRemoving moves a ready key to removing: its restore ended.
func (db *DB) ScopedKeyRemoving(ctx context.Context, jobID string, now time.Time) (bool, error) {
	return db.scopedUpdate(ctx, `UPDATE scoped_keys SET state = 'removing', retry_at = 0, updated_at = ?
		WHERE job_id = ? AND state = 'ready'`, ms(now), jobID)
}

// ScopedKeyRemoveFailed records a key_remove that did not remove the key:
// the key stays removing, with no removal queued, until retryAt.
func (db *DB) ScopedKeyRemoveFailed(ctx context.Context, jobID, removeJobID, reason string, retryAt, now time.Time) (bool, error) {
	return db.scopedUpdate(ctx, `UPDATE scoped_keys SET remove_job_id = '', attempts = attempts + 1, retry_at = ?,
		error = ?, updated_at = ? WHERE job_id = ? AND state = 'removing' AND remove_job_id = ?`,
		ms(retryAt), reason, ms(now), jobID, removeJobID)
}

// ScopedKeyQueueRemoval stores the key_remove job of a removing key and
// links it, in one transaction; false (and no job) when the key already
// has a removal queued or is no longer removing.
func (db *DB) ScopedKeyQueueRemoval(ctx context.Context, jobID string, remove Job, now time.Time) (bool, error) {
	moved := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE scoped_keys SET remove_job_id = ?, updated_at = ?
			WHERE job_id = ? AND state = 'removing' AND remove_job_id = ''`, remove.ID, ms(now), jobID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		moved = true
		return insertJobTx(ctx, tx, remove)
	})
	return moved, err
}

// EndScopedKey ends a key: removed (from removing) or failed (from
// adding), deleting its sealed password in the same transaction. It
// reports whether this call ended it.
func (db *DB) EndScopedKey(ctx context.Context, jobID, state, reason string, now time.Time) (bool, error) {
	from := ScopedRemoving
	switch state {
	case ScopedRemoved:
	case ScopedFailed:
		from = ScopedAdding
	default:
		return false, errors.New("store: a scoped key ends as removed or failed")
	}
	ended := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var cred sql.NullString
		err := tx.QueryRowContext(ctx, `SELECT credential_id FROM scoped_keys WHERE job_id = ? AND state = ?`, jobID, from).Scan(&cred)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE scoped_keys SET state = ?, error = ?, credential_id = NULL, updated_at = ?
			WHERE job_id = ?`, state, reason, ms(now), jobID); err != nil {
			return err
		}
		if cred.Valid && cred.String != "" {
			if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ?`, cred.String); err != nil {
				return err
			}
		}
		ended = true
		return nil
	})
	return ended, err
}

// KeyHolderHosts lists the hosts that ran a job on the repository with its
// own password (any job but a restore run with a one-job key), most recent
// first: they hold the repository's password already.
func (db *DB) KeyHolderHosts(ctx context.Context, repoID string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT host_id FROM jobs
		WHERE repository_id = ? AND status = 'succeeded' AND id NOT IN (SELECT job_id FROM scoped_keys)
		GROUP BY host_id ORDER BY MAX(created_at) DESC LIMIT 100`, repoID)
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

func (db *DB) scopedUpdate(ctx context.Context, query string, args ...any) (bool, error) {
	n := int64(0)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}
