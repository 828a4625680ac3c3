package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Roles, from most to least powerful.
const (
	RoleAdmin    = "admin"
	RoleOperator = "operator"
	RoleViewer   = "viewer"
)

// ValidRole reports whether r is one of the three roles.
func ValidRole(r string) bool {
	return r == RoleAdmin || r == RoleOperator || r == RoleViewer
}

// User is a person who can log in.
type User struct {
	ID           string
	Username     string
	DisplayName  string
	Email        string
	PasswordHash string // empty for users of an external provider
	Role         string
	Disabled     bool
	AuthProvider string
	ManagedBy    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  *time.Time
}

// UserPatch changes some fields of a user; nil fields stay as they are.
type UserPatch struct {
	DisplayName  *string
	Email        *string
	PasswordHash *string
	Role         *string
	Disabled     *bool
}

const userCols = `id, username, display_name, email, COALESCE(password_hash, ''), role, disabled,
	auth_provider, managed_by, created_at, updated_at, last_login_at`

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var u User
	var created, updated int64
	var last sql.NullInt64
	err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Email, &u.PasswordHash, &u.Role, &u.Disabled,
		&u.AuthProvider, &u.ManagedBy, &created, &updated, &last)
	if err != nil {
		return User{}, mapErr(err)
	}
	u.CreatedAt, u.UpdatedAt, u.LastLoginAt = fromMS(created), fromMS(updated), timePtr(last)
	return u, nil
}

func insertUser(ctx context.Context, tx *sql.Tx, u User) error {
	if u.AuthProvider == "" {
		u.AuthProvider = "local"
	}
	if u.ManagedBy == "" {
		u.ManagedBy = "user"
	}
	var hash any
	if u.PasswordHash != "" {
		hash = u.PasswordHash
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, username, display_name, email, password_hash, role,
		disabled, auth_provider, managed_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		u.ID, u.Username, u.DisplayName, u.Email, hash, u.Role, u.Disabled, u.AuthProvider, u.ManagedBy,
		ms(u.CreatedAt), ms(u.UpdatedAt))
	return mapErr(err)
}

// CreateUser inserts u. A taken username gives ErrConflict.
func (db *DB) CreateUser(ctx context.Context, u User) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return insertUser(ctx, tx, u) })
}

// HasUsers reports whether any user exists (setup is complete once one does).
func (db *DB) HasUsers(ctx context.Context) (bool, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM users)`).Scan(&n)
	return n == 1, err
}

// Bootstrap creates the first admin and its API token in one transaction; it
// fails with ErrAlreadyBootstrapped if any user exists, so of several
// concurrent attempts exactly one wins.
func (db *DB) Bootstrap(ctx context.Context, u User, t APIToken) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrAlreadyBootstrapped
		}
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		return insertAPIToken(ctx, tx, t)
	})
}

// GetUser returns the user with the given id.
func (db *DB) GetUser(ctx context.Context, id string) (User, error) {
	return scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
}

// GetUserByName returns the user with the given username (case-insensitive).
func (db *DB) GetUserByName(ctx context.Context, name string) (User, error) {
	return scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = ?`, name))
}

// ListUsers returns up to limit users ordered by username, after the cursor
// (a username; empty for the first page).
func (db *DB) ListUsers(ctx context.Context, after string, limit int) ([]User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users WHERE username > ? COLLATE NOCASE
		ORDER BY username COLLATE NOCASE LIMIT ?`, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}

// UpdateUser applies p to the user and returns the result. Disabling a user
// ends their sessions in the same transaction.
func (db *DB) UpdateUser(ctx context.Context, id string, p UserPatch, now time.Time) (User, error) {
	var sets []string
	var args []any
	add := func(col string, v any) { sets = append(sets, col+" = ?"); args = append(args, v) }
	if p.DisplayName != nil {
		add("display_name", *p.DisplayName)
	}
	if p.Email != nil {
		add("email", *p.Email)
	}
	if p.PasswordHash != nil {
		add("password_hash", *p.PasswordHash)
	}
	if p.Role != nil {
		add("role", *p.Role)
	}
	if p.Disabled != nil {
		add("disabled", *p.Disabled)
	}
	add("updated_at", ms(now))
	args = append(args, id)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`UPDATE users SET %s WHERE id = ?`, strings.Join(sets, ", ")), args...)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if p.Disabled != nil && *p.Disabled {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
		}
		return err
	})
	if err != nil {
		return User{}, err
	}
	return db.GetUser(ctx, id)
}

// CountActiveAdmins counts enabled admins, so the last one cannot be removed.
func (db *DB) CountActiveAdmins(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0`).Scan(&n)
	return n, err
}

// DeleteUser removes a user with their sessions and tokens.
func (db *DB) DeleteUser(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RecordLogin sets the user's last login time.
func (db *DB) RecordLogin(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, ms(now), id)
		return err
	})
}

// DeleteUserSessions ends every session of a user (after a password change).
func (db *DB) DeleteUserSessions(ctx context.Context, userID string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
		return err
	})
}
