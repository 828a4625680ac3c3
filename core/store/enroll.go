package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

var (
	// ErrEnrollmentExpired means the enrollment token's lifetime is over.
	ErrEnrollmentExpired = errors.New("enrollment token has expired")
	// ErrEnrollmentUsedUp means the enrollment token has no uses left.
	ErrEnrollmentUsedUp = errors.New("enrollment token has been used up")
	// ErrEnrollmentRevoked means an admin revoked the enrollment token.
	ErrEnrollmentRevoked = errors.New("enrollment token has been revoked")
)

// EnrollmentToken lets agents enroll up to UsesTotal hosts until ExpiresAt.
// Only its hash is stored.
type EnrollmentToken struct {
	ID         string
	TokenHash  string
	CreatedBy  string // user id; empty once that user is deleted
	CreatedAt  time.Time
	ExpiresAt  time.Time
	UsesTotal  int
	UsesLeft   int
	LastUsedAt *time.Time
	RevokedAt  *time.Time
	Tags       []string // given to every host enrolled with it
}

// Enrollment is one redemption of an enrollment token: the host to create
// and its first agent credential.
type Enrollment struct {
	TokenHash string
	// Host needs ID, Name and whatever the agent reported (Hostname, OS,
	// Arch, AgentVersion); status, tags and times are set from the token
	// and Now.
	Host         Host
	CredentialID string
	SecretHash   string
	Now          time.Time
}

// Enrolled is what a redemption made.
type Enrolled struct {
	Host    Host
	TokenID string
}

const enrollCols = `id, token_hash, COALESCE(created_by, ''), created_at, expires_at, uses_total, uses_left,
	last_used_at, revoked_at, tags`

func scanEnrollmentToken(row interface{ Scan(...any) error }) (EnrollmentToken, error) {
	var t EnrollmentToken
	var created, expires int64
	var used, revoked sql.NullInt64
	var tags string
	if err := row.Scan(&t.ID, &t.TokenHash, &t.CreatedBy, &created, &expires, &t.UsesTotal, &t.UsesLeft,
		&used, &revoked, &tags); err != nil {
		return EnrollmentToken{}, mapErr(err)
	}
	t.CreatedAt, t.ExpiresAt, t.LastUsedAt, t.RevokedAt = fromMS(created), fromMS(expires), timePtr(used), timePtr(revoked)
	t.Tags = decodeStrings(tags)
	return t, nil
}

// CreateEnrollmentToken stores t; UsesLeft starts at UsesTotal.
func (db *DB) CreateEnrollmentToken(ctx context.Context, t EnrollmentToken) error {
	var createdBy any
	if t.CreatedBy != "" {
		createdBy = t.CreatedBy
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO enrollment_tokens (id, token_hash, created_by, created_at,
			expires_at, uses_total, uses_left, tags) VALUES (?,?,?,?,?,?,?,?)`,
			t.ID, t.TokenHash, createdBy, ms(t.CreatedAt), ms(t.ExpiresAt), t.UsesTotal, t.UsesTotal, encodeStrings(t.Tags))
		return mapErr(err)
	})
}

// GetEnrollmentToken returns one token by id.
func (db *DB) GetEnrollmentToken(ctx context.Context, id string) (EnrollmentToken, error) {
	return scanEnrollmentToken(db.r.QueryRowContext(ctx, `SELECT `+enrollCols+` FROM enrollment_tokens WHERE id = ?`, id))
}

// ListEnrollmentTokens returns tokens newest first, after the cursor (a
// token id).
func (db *DB) ListEnrollmentTokens(ctx context.Context, after string, limit int) ([]EnrollmentToken, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+enrollCols+` FROM enrollment_tokens
		WHERE (? = '' OR (created_at, id) < (SELECT created_at, id FROM enrollment_tokens WHERE id = ?))
		ORDER BY created_at DESC, id DESC LIMIT ?`, after, after, max(limit, 1))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []EnrollmentToken
	for rows.Next() {
		t, err := scanEnrollmentToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeEnrollmentToken revokes a token; revoking twice is not an error.
func (db *DB) RevokeEnrollmentToken(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE enrollment_tokens SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`,
			ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// RedeemEnrollmentToken checks the token, takes one use of it, and creates
// the host (offline, with the token's tags) and its credential, all in one
// write transaction: of concurrent redemptions of a one-use token exactly
// one succeeds. An unknown token is ErrNotFound; a revoked, expired or
// used-up one is ErrEnrollmentRevoked, ErrEnrollmentExpired or
// ErrEnrollmentUsedUp.
func (db *DB) RedeemEnrollmentToken(ctx context.Context, e Enrollment) (Enrolled, error) {
	var out Enrolled
	err := db.tx(ctx, func(tx *sql.Tx) error {
		t, err := scanEnrollmentToken(tx.QueryRowContext(ctx, `SELECT `+enrollCols+` FROM enrollment_tokens
			WHERE token_hash = ?`, e.TokenHash))
		if err != nil {
			return err
		}
		switch {
		case t.RevokedAt != nil:
			return ErrEnrollmentRevoked
		case !e.Now.Before(t.ExpiresAt):
			return ErrEnrollmentExpired
		case t.UsesLeft <= 0:
			return ErrEnrollmentUsedUp
		}
		res, err := tx.ExecContext(ctx, `UPDATE enrollment_tokens SET uses_left = uses_left - 1, last_used_at = ?
			WHERE id = ? AND uses_left > 0`, ms(e.Now), t.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return ErrEnrollmentUsedUp
		}
		h := e.Host
		h.Status, h.Tags, h.LastSeenAt = HostOffline, t.Tags, nil
		h.EnrolledAt, h.CreatedAt, h.UpdatedAt = e.Now, e.Now, e.Now
		if h.ManagedBy == "" {
			h.ManagedBy = "user"
		}
		if h.Backends == nil {
			h.Backends = []string{}
		}
		if err := insertHost(ctx, tx, h); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE hosts SET enrollment_token_id = ? WHERE id = ?`, t.ID, h.ID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO agent_credentials (id, host_id, secret_hash, created_at)
			VALUES (?,?,?,?)`, e.CredentialID, h.ID, e.SecretHash, ms(e.Now))
		if err != nil {
			return mapErr(err)
		}
		out = Enrolled{Host: h, TokenID: t.ID}
		return nil
	})
	return out, err
}
