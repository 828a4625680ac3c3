package store

import (
	"context"
	"database/sql"
	"time"
)

// APIToken is a named bearer token of a user. Only its hash is stored.
type APIToken struct {
	ID         string
	UserID     string
	Name       string
	TokenHash  string
	CreatedAt  time.Time
	ExpiresAt  *time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	ManagedBy  string
}

//nolint:gosec // G101: a column list, not a credential
const tokenCols = `id, user_id, name, token_hash, created_at, expires_at, last_used_at, revoked_at, managed_by`

func scanToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var t APIToken
	var created int64
	var expires, used, revoked sql.NullInt64
	if err := row.Scan(&t.ID, &t.UserID, &t.Name, &t.TokenHash, &created, &expires, &used, &revoked, &t.ManagedBy); err != nil {
		return APIToken{}, mapErr(err)
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMS(created), timePtr(expires), timePtr(used), timePtr(revoked)
	return t, nil
}

func insertAPIToken(ctx context.Context, tx *sql.Tx, t APIToken) error {
	if t.ManagedBy == "" {
		t.ManagedBy = "user"
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO api_tokens (id, user_id, name, token_hash, created_at, expires_at,
		managed_by) VALUES (?,?,?,?,?,?,?)`, t.ID, t.UserID, t.Name, t.TokenHash, ms(t.CreatedAt), nullMS(t.ExpiresAt), t.ManagedBy)
	return mapErr(err)
}

// CreateAPIToken stores t.
func (db *DB) CreateAPIToken(ctx context.Context, t APIToken) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return insertAPIToken(ctx, tx, t) })
}

// GetAPITokenByHash returns the token whose secret hashes to hash, and its user.
func (db *DB) GetAPITokenByHash(ctx context.Context, hash string) (APIToken, User, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE token_hash = ?`, hash))
	if err != nil {
		return APIToken{}, User{}, err
	}
	u, err := db.GetUser(ctx, t.UserID)
	return t, u, err
}

// GetAPIToken returns one token by id.
func (db *DB) GetAPIToken(ctx context.Context, id string) (APIToken, error) {
	return scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`, id))
}

// ListAPITokens returns the tokens of a user (all users when userID is
// empty), newest first, after the cursor (a token id).
func (db *DB) ListAPITokens(ctx context.Context, userID, after string, limit int) ([]APIToken, error) {
	q := `SELECT ` + tokenCols + ` FROM api_tokens WHERE (? = '' OR user_id = ?)
		AND (? = '' OR (created_at, id) < (SELECT created_at, id FROM api_tokens WHERE id = ?))
		ORDER BY created_at DESC, id DESC LIMIT ?`
	rows, err := db.r.QueryContext(ctx, q, userID, userID, after, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeAPIToken marks a token revoked; revoking twice is not an error.
func (db *DB) RevokeAPIToken(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// TouchAPIToken records that a token was used.
func (db *DB) TouchAPIToken(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, ms(now), id)
		return err
	})
}
