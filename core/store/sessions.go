package store

import (
	"context"
	"database/sql"
	"time"
)

// Session is a browser login. Only hashes of the cookie value and the CSRF
// token are stored, so a copy of the database yields no usable session.
type Session struct {
	ID         string
	TokenHash  string
	CSRFHash   string
	UserID     string
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
	SourceAddr string
	UserAgent  string
}

// CreateSession stores s.
func (db *DB) CreateSession(ctx context.Context, s Session) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, csrf_hash, user_id, created_at,
			last_seen_at, expires_at, source_addr, user_agent) VALUES (?,?,?,?,?,?,?,?,?)`,
			s.ID, s.TokenHash, s.CSRFHash, s.UserID, ms(s.CreatedAt), ms(s.LastSeenAt), ms(s.ExpiresAt),
			s.SourceAddr, s.UserAgent)
		return mapErr(err)
	})
}

// GetSessionByHash returns the session whose cookie hashes to hash, with its user.
func (db *DB) GetSessionByHash(ctx context.Context, hash string) (Session, User, error) {
	row := db.r.QueryRowContext(ctx, `SELECT s.id, s.token_hash, s.csrf_hash, s.user_id, s.created_at,
		s.last_seen_at, s.expires_at, s.source_addr, s.user_agent FROM sessions s WHERE s.token_hash = ?`, hash)
	var s Session
	var created, seen, expires int64
	if err := row.Scan(&s.ID, &s.TokenHash, &s.CSRFHash, &s.UserID, &created, &seen, &expires,
		&s.SourceAddr, &s.UserAgent); err != nil {
		return Session{}, User{}, mapErr(err)
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	u, err := db.GetUser(ctx, s.UserID)
	return s, u, err
}

// TouchSession records activity on a session (for the idle timeout).
func (db *DB) TouchSession(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ? WHERE id = ?`, ms(now), id)
		return err
	})
}

// DeleteSession ends one session.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id = ?`, id)
		return err
	})
}

// DeleteStaleSessions removes sessions past their absolute expiry or idle
// since before idleBefore, and returns how many went.
func (db *DB) DeleteStaleSessions(ctx context.Context, now, idleBefore time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at < ?`,
			ms(now), ms(idleBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
