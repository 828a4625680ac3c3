package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Snapshot is one restic snapshot in the server's projection of a
// repository: what the last `restic snapshots` run through an agent listed,
// plus snapshots that backups reported since. The repository is the truth;
// the projection lets the UI and API list snapshots without running restic.
type Snapshot struct {
	RepositoryID string
	ID           string // restic's full snapshot id
	ShortID      string
	// HostID is the enrolled host whose hostname made the snapshot; ""
	// when no known host matches.
	HostID         string
	Time           time.Time
	Hostname       string
	Username       string
	Paths          []string
	Tags           []string
	Parent         string
	Tree           string
	ProgramVersion string
	Summary        json.RawMessage // restic's snapshot summary (restic >= 0.17), if any
	JobID          string          // the backup job that made it, when known
	CreatedAt      time.Time       // when the projection first saw it
}

// SnapshotFilter narrows ListSnapshots; zero fields match everything.
type SnapshotFilter struct {
	HostID       string
	RepositoryID string
	// After is a cursor: the "repository_id/id" of the last snapshot of the
	// previous page.
	After string
	Limit int
}

const snapshotCols = `repository_id, id, short_id, COALESCE(host_id, ''), time, hostname, username, paths, tags,
	COALESCE(parent, ''), COALESCE(tree, ''), program_version, summary, COALESCE(job_id, ''), created_at`

func scanSnapshot(row interface{ Scan(...any) error }) (Snapshot, error) {
	var s Snapshot
	var paths, tags string
	var summary sql.NullString
	var tm, created int64
	if err := row.Scan(&s.RepositoryID, &s.ID, &s.ShortID, &s.HostID, &tm, &s.Hostname, &s.Username, &paths, &tags,
		&s.Parent, &s.Tree, &s.ProgramVersion, &summary, &s.JobID, &created); err != nil {
		return Snapshot{}, mapErr(err)
	}
	s.Time, s.CreatedAt = fromMS(tm), fromMS(created)
	s.Paths, s.Tags = decodeStrings(paths), decodeStrings(tags)
	if summary.Valid {
		s.Summary = json.RawMessage(summary.String)
	}
	return s, nil
}

// ReplaceSnapshots makes snaps the whole projection of the repository:
// snapshots it no longer lists (forgotten, pruned) are removed, the others
// inserted or updated, in one transaction. preferHost is the host that ran
// the listing; see UpsertSnapshots for how hosts are matched.
func (db *DB) ReplaceSnapshots(ctx context.Context, repositoryID, preferHost string, snaps []Snapshot, now time.Time) error {
	keep := make(map[string]bool, len(snaps))
	for _, s := range snaps {
		keep[s.ID] = true
	}
	if err := db.dropForgottenListings(ctx, repositoryID, keep); err != nil { // snapshot_forget.go
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM snapshots WHERE repository_id = ?`, repositoryID)
		if err != nil {
			return err
		}
		var gone []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			if !keep[id] {
				gone = append(gone, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, id := range gone {
			if _, err := tx.ExecContext(ctx, `DELETE FROM snapshots WHERE repository_id = ? AND id = ?`, repositoryID, id); err != nil {
				return err
			}
		}
		for _, s := range snaps {
			s.RepositoryID = repositoryID
			if err := upsertSnapshot(ctx, tx, s, preferHost, now); err != nil {
				return err
			}
		}
		return nil
	})
}

// UpsertSnapshots inserts or updates snapshots without removing any (a
// filtered listing, or the snapshot a backup just made). A snapshot
// without a HostID is matched to a host by its hostname: preferHost when
// that host's hostname or name is the snapshot's hostname, else the most
// recently seen host that is not revoked and has that hostname. An update
// keeps a job id or host id already known when the new row has none.
func (db *DB) UpsertSnapshots(ctx context.Context, preferHost string, snaps []Snapshot, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		for _, s := range snaps {
			if err := upsertSnapshot(ctx, tx, s, preferHost, now); err != nil {
				return err
			}
		}
		return nil
	})
}

func upsertSnapshot(ctx context.Context, tx *sql.Tx, s Snapshot, preferHost string, now time.Time) error {
	if s.ShortID == "" {
		s.ShortID = s.ID[:min(8, len(s.ID))]
	}
	hostID := s.HostID
	if hostID == "" && s.Hostname != "" {
		err := tx.QueryRowContext(ctx, `SELECT id FROM hosts
			WHERE (hostname = ? OR name = ?) AND status != 'revoked'
			ORDER BY id = ? DESC, last_seen_at DESC LIMIT 1`, s.Hostname, s.Hostname, preferHost).Scan(&hostID)
		if err != nil && !errors.Is(mapErr(err), ErrNotFound) {
			return err
		}
	}
	var summary any
	if len(s.Summary) > 0 {
		summary = string(s.Summary)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO snapshots (repository_id, id, short_id, host_id, time, hostname, username,
		paths, tags, parent, tree, program_version, summary, job_id, created_at)
		VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,(SELECT id FROM jobs WHERE id = ?),?)
		ON CONFLICT (repository_id, id) DO UPDATE SET
			short_id = excluded.short_id,
			host_id = COALESCE(excluded.host_id, snapshots.host_id),
			time = excluded.time, hostname = excluded.hostname,
			username = CASE WHEN excluded.username != '' THEN excluded.username ELSE snapshots.username END,
			paths = excluded.paths, tags = excluded.tags,
			parent = COALESCE(excluded.parent, snapshots.parent), tree = COALESCE(excluded.tree, snapshots.tree),
			program_version = CASE WHEN excluded.program_version != '' THEN excluded.program_version ELSE snapshots.program_version END,
			summary = COALESCE(excluded.summary, snapshots.summary),
			job_id = COALESCE(excluded.job_id, snapshots.job_id)`,
		s.RepositoryID, s.ID, s.ShortID, nullText(hostID), ms(s.Time), s.Hostname, s.Username,
		encodeStrings(s.Paths), encodeStrings(s.Tags), nullText(s.Parent), nullText(s.Tree), s.ProgramVersion, summary,
		s.JobID, ms(now))
	return mapErr(err)
}

// nullText stores "" as NULL.
func nullText(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// ListSnapshots returns snapshots newest first.
func (db *DB) ListSnapshots(ctx context.Context, f SnapshotFilter) ([]Snapshot, error) {
	var where []string
	var args []any
	if f.HostID != "" {
		where = append(where, "host_id = ?")
		args = append(args, f.HostID)
	}
	if f.RepositoryID != "" {
		where = append(where, "repository_id = ?")
		args = append(args, f.RepositoryID)
	}
	if repo, id, ok := strings.Cut(f.After, "/"); ok {
		where = append(where, "(time, repository_id, id) < (SELECT time, repository_id, id FROM snapshots WHERE repository_id = ? AND id = ?)")
		args = append(args, repo, id)
	}
	q := `SELECT ` + snapshotCols + ` FROM snapshots`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ") //nolint:gosec // G202: fixed clauses; values are bound
	}
	q += " ORDER BY time DESC, repository_id DESC, id DESC LIMIT ?"
	args = append(args, max(f.Limit, 1))
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Snapshot
	for rows.Next() {
		s, err := scanSnapshot(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}
