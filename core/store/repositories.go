package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Credential kinds a repository points at.
const (
	KindRepositoryPassword = "repository_password"
	KindBackendEnv         = "backend_env"
	// KindRepositoryURL is a repository URL that carries a password. The
	// credentials table's CHECK (0001) names no kind of its own for it.
	KindRepositoryURL = "generic"
)

// ErrInUse means a row cannot be removed while other rows depend on it (a
// repository that schedules still back up to).
var ErrInUse = errors.New("in use")

// Repository is a restic repository the server knows: where it is, and the
// sealed credentials rows that hold its password and backend environment.
// The store never sees a secret in the clear: the caller (core/repos) seals
// each credential with CredentialAAD of its id before handing it over, and
// opens what it reads back.
type Repository struct {
	ID          string
	Name        string
	URL         string // with a password in it replaced by *** when URLSecret is set
	Description string
	URLSecret   *Credential // kind repository_url: the whole URL, when it carries a password
	Password    *Credential // kind repository_password; nil when none
	Env         *Credential // kind backend_env, a sealed JSON object; nil when none
	ManagedBy   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// RepositoryPatch changes some fields of a repository; nil fields stay as
// they are. A new credential replaces the old row, which is deleted in the
// same transaction, so a rotated secret leaves nothing behind.
type RepositoryPatch struct {
	URL *string
	// URLSecret replaces the sealed URL whenever URL is set; nil when the
	// new URL carries no password.
	URLSecret   *Credential
	Description *string
	Password    *Credential
	// SetEnv replaces the backend environment with Env; a nil Env removes it.
	SetEnv bool
	Env    *Credential
}

// repositorySelect reads a repository with its credential rows in one
// statement, so a concurrent rotation is seen entirely or not at all.
const repositorySelect = `SELECT r.id, r.name, r.url, r.description, r.managed_by, r.created_at, r.updated_at,
	p.id, p.kind, p.key_id, p.sealed, p.created_at, p.updated_at,
	e.id, e.kind, e.key_id, e.sealed, e.created_at, e.updated_at,
	u.id, u.kind, u.key_id, u.sealed, u.created_at, u.updated_at
	FROM repositories r
	LEFT JOIN credentials p ON p.id = r.password_credential_id
	LEFT JOIN credentials e ON e.id = r.env_credential_id
	LEFT JOIN credentials u ON u.id = r.url_credential_id`

// nullCredential scans the columns of a LEFT JOINed credentials row.
type nullCredential struct {
	id, kind, keyID  sql.NullString
	sealed           []byte
	created, updated sql.NullInt64
}

func (n *nullCredential) dest() []any {
	return []any{&n.id, &n.kind, &n.keyID, &n.sealed, &n.created, &n.updated}
}

func (n *nullCredential) credential() *Credential {
	if !n.id.Valid {
		return nil
	}
	return &Credential{
		ID: n.id.String, Kind: n.kind.String, KeyID: n.keyID.String, Sealed: n.sealed,
		CreatedAt: fromMS(n.created.Int64), UpdatedAt: fromMS(n.updated.Int64),
	}
}

func scanRepository(row interface{ Scan(...any) error }) (Repository, error) {
	var r Repository
	var created, updated int64
	var pw, env, url nullCredential
	dest := []any{&r.ID, &r.Name, &r.URL, &r.Description, &r.ManagedBy, &created, &updated}
	dest = append(dest, pw.dest()...)
	dest = append(dest, env.dest()...)
	if err := row.Scan(append(dest, url.dest()...)...); err != nil {
		return Repository{}, mapErr(err)
	}
	r.CreatedAt, r.UpdatedAt = fromMS(created), fromMS(updated)
	r.Password, r.Env, r.URLSecret = pw.credential(), env.credential(), url.credential()
	return r, nil
}

func credentialID(c *Credential) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// nullID stores an empty id as NULL.
func nullID(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

func insertCredential(ctx context.Context, tx *sql.Tx, c *Credential, kind string) error {
	if c.Kind != kind {
		return fmt.Errorf("credential %s is of kind %q, want %q", c.ID, c.Kind, kind)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO credentials (id, kind, key_id, sealed, created_at, updated_at)
		VALUES (?,?,?,?,?,?)`, c.ID, c.Kind, c.KeyID, c.Sealed, ms(c.CreatedAt), ms(c.UpdatedAt))
	return mapErr(err)
}

// CreateRepository stores r with its sealed credentials in one transaction:
// either the repository and every secret row exist afterwards, or none
// does. A taken name is ErrConflict.
func (db *DB) CreateRepository(ctx context.Context, r Repository) error {
	if r.ManagedBy == "" {
		r.ManagedBy = "user"
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		if r.Password != nil {
			if err := insertCredential(ctx, tx, r.Password, KindRepositoryPassword); err != nil {
				return err
			}
		}
		if r.Env != nil {
			if err := insertCredential(ctx, tx, r.Env, KindBackendEnv); err != nil {
				return err
			}
		}
		if r.URLSecret != nil {
			if err := insertCredential(ctx, tx, r.URLSecret, KindRepositoryURL); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO repositories (id, name, url, description, password_credential_id,
			env_credential_id, url_credential_id, managed_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)`,
			r.ID, r.Name, r.URL, r.Description, nullID(credentialID(r.Password)), nullID(credentialID(r.Env)),
			nullID(credentialID(r.URLSecret)), r.ManagedBy, ms(r.CreatedAt), ms(r.UpdatedAt))
		return mapErr(err)
	})
}

// GetRepository returns the repository whose id, or else whose name, is ref.
func (db *DB) GetRepository(ctx context.Context, ref string) (Repository, error) {
	return scanRepository(db.r.QueryRowContext(ctx, repositorySelect+`
		WHERE r.id = ? OR r.name = ? ORDER BY r.id = ? DESC LIMIT 1`, ref, ref, ref))
}

// ListRepositories returns up to limit repositories ordered by name, after
// the cursor (a name; empty for the first page).
func (db *DB) ListRepositories(ctx context.Context, after string, limit int) ([]Repository, error) {
	rows, err := db.r.QueryContext(ctx, repositorySelect+` WHERE r.name > ? ORDER BY r.name LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		r, err := scanRepository(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateRepository applies p to the repository with the given id and
// returns the result. New credential rows are inserted, the repository is
// pointed at them and the rows they replace are deleted, all in one
// transaction.
func (db *DB) UpdateRepository(ctx context.Context, id string, p RepositoryPatch, now time.Time) (Repository, error) {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		cur, err := scanRepository(tx.QueryRowContext(ctx, repositorySelect+` WHERE r.id = ?`, id))
		if err != nil {
			return err
		}
		var sets, stale []string
		var args []any
		add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
		if p.URL != nil {
			add("url", *p.URL)
			if p.URLSecret != nil {
				if err := insertCredential(ctx, tx, p.URLSecret, KindRepositoryURL); err != nil {
					return err
				}
			}
			add("url_credential_id", nullID(credentialID(p.URLSecret)))
			stale = append(stale, credentialID(cur.URLSecret))
		}
		if p.Description != nil {
			add("description", *p.Description)
		}
		if p.Password != nil {
			if err := insertCredential(ctx, tx, p.Password, KindRepositoryPassword); err != nil {
				return err
			}
			add("password_credential_id", p.Password.ID)
			stale = append(stale, credentialID(cur.Password))
		}
		if p.SetEnv {
			if p.Env != nil {
				if err := insertCredential(ctx, tx, p.Env, KindBackendEnv); err != nil {
					return err
				}
			}
			add("env_credential_id", nullID(credentialID(p.Env)))
			stale = append(stale, credentialID(cur.Env))
		}
		add("updated_at", ms(now))
		args = append(args, id)
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE repositories SET %s WHERE id = ?`, strings.Join(sets, ", ")), args...); err != nil {
			return mapErr(err)
		}
		return deleteCredentials(ctx, tx, stale...)
	})
	if err != nil {
		return Repository{}, err
	}
	return scanRepository(db.r.QueryRowContext(ctx, repositorySelect+` WHERE r.id = ?`, id))
}

func deleteCredentials(ctx context.Context, tx *sql.Tx, ids ...string) error {
	for _, id := range ids {
		if id == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete credential %s: %w", id, err)
		}
	}
	return nil
}

// DeleteRepository removes a repository and its credential rows. It refuses
// with ErrInUse while a schedule backs up (or copies) to it, so deleting a
// repository never drops a schedule by surprise. Jobs keep their history
// with no repository; the repository's snapshot projection and alerts go.
func (db *DB) DeleteRepository(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		cur, err := scanRepository(tx.QueryRowContext(ctx, repositorySelect+` WHERE r.id = ?`, id))
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schedules WHERE repository_id = ? OR secondary_repository_id = ?`,
			id, id).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: %d schedule(s) use repository %q", ErrInUse, n, cur.Name)
		}
		var admin sql.NullString // repo_admin.go
		if err := tx.QueryRowContext(ctx, `SELECT admin_credential_id FROM repositories WHERE id = ?`, id).Scan(&admin); err != nil {
			return mapErr(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM repositories WHERE id = ?`, id); err != nil {
			return err
		}
		return deleteCredentials(ctx, tx, credentialID(cur.Password), credentialID(cur.Env), credentialID(cur.URLSecret), admin.String)
	})
}
