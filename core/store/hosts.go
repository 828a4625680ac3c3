package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Host statuses. A revoked host stays in the table for history; nothing
// ever turns it back into an online or offline one.
const (
	HostOnline  = "online"
	HostOffline = "offline"
	HostRevoked = "revoked"
)

// ErrAgentRevoked means an agent credential, or the host it belongs to, has
// been revoked. It wraps ErrNotFound, so a caller that only asks "may this
// agent in?" treats it like an unknown credential.
var ErrAgentRevoked = fmt.Errorf("%w: agent credential or host revoked", ErrNotFound)

// Host is one enrolled machine. Name is fixed at enrollment (the hostname
// the agent reported then); Hostname follows what the agent says in its
// hello. Re-enrolling a machine makes a new Host with a new ID.
type Host struct {
	ID            string
	Name          string
	Hostname      string
	OS            string
	Arch          string
	AgentVersion  string
	ResticVersion string
	Backends      []string
	Tags          []string
	Status        string
	LastSeenAt    *time.Time
	EnrolledAt    time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	ManagedBy     string
	// Summary is what the host list shows beside the host: its last backup
	// and snapshots. ListHosts sets it; other reads leave it nil.
	Summary *HostSummary
}

// AgentCredential is the secret an agent authenticates with; only its
// hash is stored.
type AgentCredential struct {
	ID         string
	HostID     string
	SecretHash string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// HostHello is what an agent reports about itself when it connects.
type HostHello struct {
	Hostname      string
	OS            string
	Arch          string
	AgentVersion  string
	ResticVersion string
	Backends      []string
}

const hostCols = `h.id, h.name, h.hostname, h.os, h.arch, h.agent_version, h.restic_version, h.backends, h.tags,
	h.status, h.last_seen_at, h.enrolled_at, h.created_at, h.updated_at, h.managed_by`

func scanHost(row interface{ Scan(...any) error }, extra ...any) (Host, error) {
	var h Host
	var backends, tags string
	var lastSeen sql.NullInt64
	var enrolled, created, updated int64
	dest := []any{
		&h.ID, &h.Name, &h.Hostname, &h.OS, &h.Arch, &h.AgentVersion, &h.ResticVersion, &backends, &tags,
		&h.Status, &lastSeen, &enrolled, &created, &updated, &h.ManagedBy,
	}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return Host{}, mapErr(err)
	}
	h.LastSeenAt, h.EnrolledAt, h.CreatedAt, h.UpdatedAt = timePtr(lastSeen), fromMS(enrolled), fromMS(created), fromMS(updated)
	h.Backends, h.Tags = decodeStrings(backends), decodeStrings(tags)
	return h, nil
}

// decodeStrings reads a JSON array column; a damaged value reads as empty
// rather than failing every listing.
func decodeStrings(s string) []string {
	out := []string{}
	_ = json.Unmarshal([]byte(s), &out)
	if out == nil {
		out = []string{}
	}
	return out
}

func encodeStrings(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

func insertHost(ctx context.Context, tx *sql.Tx, h Host) error {
	if h.ManagedBy == "" {
		h.ManagedBy = "user"
	}
	if h.Status == "" {
		h.Status = HostOffline
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO hosts (id, name, hostname, os, arch, agent_version, restic_version,
		backends, tags, status, last_seen_at, enrolled_at, created_at, updated_at, managed_by)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		h.ID, h.Name, h.Hostname, h.OS, h.Arch, h.AgentVersion, h.ResticVersion, encodeStrings(h.Backends),
		encodeStrings(h.Tags), h.Status, nullMS(h.LastSeenAt), ms(h.EnrolledAt), ms(h.CreatedAt), ms(h.UpdatedAt), h.ManagedBy)
	return mapErr(err)
}

// GetHost returns the host with the given id.
func (db *DB) GetHost(ctx context.Context, id string) (Host, error) {
	return scanHost(db.r.QueryRowContext(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.id = ?`, id))
}

// GetHostsByName returns every host with that name (re-enrolled machines
// share one), oldest first.
func (db *DB) GetHostsByName(ctx context.Context, name string) ([]Host, error) {
	return db.queryHosts(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.name = ? ORDER BY h.created_at, h.id`, name)
}

func (db *DB) queryHosts(ctx context.Context, q string, args ...any) ([]Host, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		h, err := scanHost(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// RevokeHost revokes every credential of the host and marks it revoked, in
// one transaction; the row stays for history. Revoking twice is not an
// error.
func (db *DB) RevokeHost(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET status = 'revoked', updated_at = ? WHERE id = ?`, ms(now), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `UPDATE agent_credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE host_id = ?`,
			ms(now), id)
		return err
	})
}

// AuthenticateAgent returns the host whose agent credential hashes to
// secretHash. An unknown credential is ErrNotFound; a revoked credential or
// a revoked host is ErrAgentRevoked (which is also ErrNotFound).
func (db *DB) AuthenticateAgent(ctx context.Context, secretHash string) (Host, error) {
	var revoked sql.NullInt64
	h, err := scanHost(db.r.QueryRowContext(ctx, `SELECT `+hostCols+`, c.revoked_at
		FROM agent_credentials c JOIN hosts h ON h.id = c.host_id WHERE c.secret_hash = ?`, secretHash), &revoked)
	if err != nil {
		return Host{}, err
	}
	if revoked.Valid || h.Status == HostRevoked {
		return Host{}, ErrAgentRevoked
	}
	return h, nil
}

// ListAgentCredentials returns the credentials of a host, oldest first.
func (db *DB) ListAgentCredentials(ctx context.Context, hostID string) ([]AgentCredential, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, host_id, secret_hash, created_at, last_used_at, revoked_at
		FROM agent_credentials WHERE host_id = ? ORDER BY created_at, id`, hostID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AgentCredential
	for rows.Next() {
		var c AgentCredential
		var created int64
		var used, revoked sql.NullInt64
		if err := rows.Scan(&c.ID, &c.HostID, &c.SecretHash, &created, &used, &revoked); err != nil {
			return nil, err
		}
		c.CreatedAt, c.LastUsedAt, c.RevokedAt = fromMS(created), timePtr(used), timePtr(revoked)
		out = append(out, c)
	}
	return out, rows.Err()
}

// UpdateHostHello records what a connecting agent reports and marks the
// host online. A revoked host is left alone and gives ErrAgentRevoked.
func (db *DB) UpdateHostHello(ctx context.Context, id string, hello HostHello, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET hostname = ?, os = ?, arch = ?, agent_version = ?,
			restic_version = ?, backends = ?, status = 'online', last_seen_at = ?, updated_at = ?
			WHERE id = ? AND status != 'revoked'`,
			hello.Hostname, hello.OS, hello.Arch, hello.AgentVersion, hello.ResticVersion, encodeStrings(hello.Backends),
			ms(now), ms(now), id)
		if err != nil {
			return err
		}
		return hostUpdated(ctx, tx, res, id)
	})
}

// SetHostStatus marks a host online (which also records it as seen at now)
// or offline. Revocation goes through RevokeHost; a revoked host is never
// changed here and gives ErrAgentRevoked.
func (db *DB) SetHostStatus(ctx context.Context, id, status string, now time.Time) error {
	if status != HostOnline && status != HostOffline {
		return fmt.Errorf("set host status: %q is not online or offline", status)
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET status = ?, updated_at = ?,
			last_seen_at = CASE WHEN ? = 'online' THEN ? ELSE last_seen_at END
			WHERE id = ? AND status != 'revoked'`, status, ms(now), status, ms(now), id)
		if err != nil {
			return err
		}
		return hostUpdated(ctx, tx, res, id)
	})
}

// MarkStaleHostsOffline marks online hosts last seen before the cutoff
// offline, and returns how many it changed. The hub calls it at start-up
// (every host is offline until it connects again) and periodically.
func (db *DB) MarkStaleHostsOffline(ctx context.Context, seenBefore, now time.Time) (int64, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE hosts SET status = 'offline', updated_at = ?
			WHERE status = 'online' AND (last_seen_at IS NULL OR last_seen_at < ?)`, ms(now), ms(seenBefore))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// hostUpdated turns an UPDATE … AND status != 'revoked' that changed no row
// into ErrNotFound or ErrAgentRevoked.
func hostUpdated(ctx context.Context, tx *sql.Tx, res sql.Result, id string) error {
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var status string
	err := tx.QueryRowContext(ctx, `SELECT status FROM hosts WHERE id = ?`, id).Scan(&status)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	return ErrAgentRevoked
}
