package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"
)

// Snapshot listing states.
const (
	ListingRunning  = "listing"
	ListingComplete = "complete"
	ListingFailed   = "failed"
)

// SnapshotListing is the snapshot browser's cache of one snapshot: the
// whole `restic ls` of (RepositoryID, SnapshotID), complete or being
// filled by the listing job JobID.
type SnapshotListing struct {
	ID           int64
	RepositoryID string
	SnapshotID   string
	JobID        string // "" once the job row is gone
	Status       string // ListingRunning, ListingComplete, ListingFailed
	Entries      int64
	Error        string
	CreatedAt    time.Time
	FinishedAt   *time.Time
	BrowsedAt    time.Time
}

// SnapshotNode is one entry of a listing. Parent is the folder holding it
// ("/" at the top), so the entry's path is Parent + "/" + Name.
type SnapshotNode struct {
	Parent string
	Name   string
	Type   string // restic's node type: file, dir, symlink, dev, …
	Size   int64
	MTime  time.Time // zero when restic gave none
	Mode   uint32
}

// Path is the node's absolute path inside the snapshot.
func (n SnapshotNode) Path() string {
	if n.Parent == "/" {
		return "/" + n.Name
	}
	return n.Parent + "/" + n.Name
}

func dirRank(typ string) int {
	if typ == "dir" {
		return 0
	}
	return 1
}

const listingCols = `id, repository_id, snapshot_id, COALESCE(job_id, ''), status, entries, error, created_at, finished_at, browsed_at`

func scanListing(row interface{ Scan(...any) error }) (SnapshotListing, error) {
	var l SnapshotListing
	var created, browsed int64
	var finished sql.NullInt64
	if err := row.Scan(&l.ID, &l.RepositoryID, &l.SnapshotID, &l.JobID, &l.Status, &l.Entries, &l.Error,
		&created, &finished, &browsed); err != nil {
		return SnapshotListing{}, mapErr(err)
	}
	l.CreatedAt, l.BrowsedAt = fromMS(created), fromMS(browsed)
	if finished.Valid {
		t := fromMS(finished.Int64)
		l.FinishedAt = &t
	}
	return l, nil
}

// FindHostSnapshot returns the snapshot of host hostID whose full or short
// id is ref. ErrNotFound when there is none; ErrConflict when a short id
// names more than one.
func (db *DB) FindHostSnapshot(ctx context.Context, hostID, ref string) (Snapshot, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+snapshotCols+` FROM snapshots
		WHERE host_id = ? AND (id = ? OR short_id = ?) ORDER BY id = ? DESC, time DESC LIMIT 2`, hostID, ref, ref, ref)
	if err != nil {
		return Snapshot{}, err
	}
	defer rows.Close()
	var found []Snapshot
	for rows.Next() {
		s, err := scanSnapshot(rows)
		if err != nil {
			return Snapshot{}, err
		}
		found = append(found, s)
	}
	if err := rows.Err(); err != nil {
		return Snapshot{}, err
	}
	switch {
	case len(found) == 0:
		return Snapshot{}, ErrNotFound
	case len(found) > 1 && found[0].ID != ref:
		return Snapshot{}, ErrConflict
	}
	return found[0], nil
}

// GetSnapshotListing returns the listing of a snapshot; ErrNotFound when
// the browser never listed it (or it was evicted).
func (db *DB) GetSnapshotListing(ctx context.Context, repositoryID, snapshotID string) (SnapshotListing, error) {
	return scanListing(db.w.QueryRowContext(ctx, `SELECT `+listingCols+` FROM snapshot_listings
		WHERE repository_id = ? AND snapshot_id = ?`, repositoryID, snapshotID))
}

// RunningSnapshotListings returns the listings still being filled, so
// that the browser knows again, after a restart, which jobs feed it.
func (db *DB) RunningSnapshotListings(ctx context.Context) ([]SnapshotListing, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+listingCols+` FROM snapshot_listings WHERE status = ?`, ListingRunning)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SnapshotListing
	for rows.Next() {
		l, err := scanListing(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// StartSnapshotListing creates the listing of a snapshot together with
// the job that fills it, in one transaction: a listing never exists
// without its job. A failed listing of the snapshot is replaced.
// ErrConflict when the snapshot has a listing running or complete.
func (db *DB) StartSnapshotListing(ctx context.Context, j Job, repositoryID, snapshotID string, now time.Time) (SnapshotListing, error) {
	var id int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status FROM snapshot_listings WHERE repository_id = ? AND snapshot_id = ?`,
			repositoryID, snapshotID).Scan(&status)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case status != ListingFailed:
			return ErrConflict
		default:
			// A failed listing holds at most the entries that arrived
			// before it failed; they go with it.
			if _, err := tx.ExecContext(ctx, `DELETE FROM snapshot_listings WHERE repository_id = ? AND snapshot_id = ?`,
				repositoryID, snapshotID); err != nil {
				return err
			}
		}
		if len(j.Params) == 0 {
			j.Params = []byte("{}")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO jobs (id, host_id, kind, status, repository_id, params,
			created_by, created_at, deadline_at) VALUES (?,?,?,?,?,?,?,?,?)`,
			j.ID, j.HostID, j.Kind, j.Status, nullString(j.RepositoryID), string(j.Params),
			j.CreatedBy, ms(j.CreatedAt), nullMS(j.DeadlineAt)); err != nil {
			return mapErr(err)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO snapshot_listings
			(repository_id, snapshot_id, job_id, status, created_at, browsed_at) VALUES (?,?,?,?,?,?)`,
			repositoryID, snapshotID, j.ID, ListingRunning, ms(now), ms(now))
		if err != nil {
			return mapErr(err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return SnapshotListing{}, err
	}
	return scanListing(db.w.QueryRowContext(ctx, `SELECT `+listingCols+` FROM snapshot_listings WHERE id = ?`, id))
}

// nodesPerInsert is how many entries one INSERT statement takes (8
// parameters each, well under SQLite's limit of 32,766).
const nodesPerInsert = 256

// AddSnapshotNodes stores entries of a running listing in one
// transaction. An entry stored before (an event the agent sent again) is
// kept once; the listing's entry count grows by the new ones only, which
// AddSnapshotNodes returns. Entries of a listing that is no longer
// running are dropped.
func (db *DB) AddSnapshotNodes(ctx context.Context, listingID int64, nodes []SnapshotNode) (int64, error) {
	if len(nodes) == 0 {
		return 0, nil
	}
	var added int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var status string
		if err := tx.QueryRowContext(ctx, `SELECT status FROM snapshot_listings WHERE id = ?`, listingID).Scan(&status); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			return err
		}
		if status != ListingRunning {
			return nil
		}
		for chunk := range slices.Chunk(nodes, nodesPerInsert) {
			args := make([]any, 0, len(chunk)*8)
			for _, n := range chunk {
				var mtime sql.NullInt64
				if !n.MTime.IsZero() {
					mtime = sql.NullInt64{Int64: ms(n.MTime), Valid: true}
				}
				args = append(args, listingID, n.Parent, dirRank(n.Type), n.Name, n.Type, n.Size, mtime, int64(n.Mode))
			}
			rows := strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?,?,?),", len(chunk)), ",")
			q := `INSERT OR IGNORE INTO snapshot_nodes (listing_id, parent, dir_rank, name, type, size, mtime, mode) VALUES ` + rows //nolint:gosec // G202: placeholders only; values are bound
			res, err := tx.ExecContext(ctx, q, args...)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			added += k
		}
		_, err := tx.ExecContext(ctx, `UPDATE snapshot_listings SET entries = entries + ? WHERE id = ?`, added, listingID)
		return err
	})
	return added, err
}

// FinishSnapshotListing records the end of a running listing: complete,
// or failed with the job's error. Failed listings lose their entries.
func (db *DB) FinishSnapshotListing(ctx context.Context, listingID int64, status, errText string, now time.Time) error {
	if status != ListingComplete && status != ListingFailed {
		return errors.New("finish snapshot listing: status must be complete or failed")
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE snapshot_listings SET status = ?, error = ?, finished_at = ?
			WHERE id = ? AND status = ?`, status, errText, ms(now), listingID, ListingRunning)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 || status != ListingFailed {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM snapshot_nodes WHERE listing_id = ?`, listingID)
		return err
	})
}

// TouchSnapshotListing records that the listing was browsed at now; the
// least recently browsed listings are evicted first.
func (db *DB) TouchSnapshotListing(ctx context.Context, listingID int64, now time.Time) error {
	_, err := db.w.ExecContext(ctx, `UPDATE snapshot_listings SET browsed_at = ? WHERE id = ? AND browsed_at < ?`,
		ms(now), listingID, ms(now))
	return err
}

// SnapshotNodes returns up to limit entries of the folder parent, folders
// first and then by name (byte order), after the entry named after ("":
// from the start).
func (db *DB) SnapshotNodes(ctx context.Context, listingID int64, parent, after string, limit int) ([]SnapshotNode, error) {
	q := `SELECT parent, name, type, size, mtime, mode FROM snapshot_nodes WHERE listing_id = ? AND parent = ?`
	args := []any{listingID, parent}
	if after != "" {
		rank := 1
		var r int
		err := db.r.QueryRowContext(ctx, `SELECT dir_rank FROM snapshot_nodes
			WHERE listing_id = ? AND parent = ? AND dir_rank IN (0, 1) AND name = ? ORDER BY dir_rank LIMIT 1`,
			listingID, parent, after).Scan(&r)
		switch {
		case err == nil:
			rank = r
		case !errors.Is(err, sql.ErrNoRows):
			return nil, err
		}
		// A cursor naming no entry (it is only a name) continues with the
		// files after that name.
		q += ` AND (dir_rank, name) > (?, ?)`
		args = append(args, rank, after)
	}
	q += ` ORDER BY dir_rank, name LIMIT ?`
	args = append(args, max(limit, 1))
	return db.queryNodes(ctx, q, args...)
}

// CountSnapshotNodes counts the entries of the folder parent.
func (db *DB) CountSnapshotNodes(ctx context.Context, listingID int64, parent string) (int64, error) {
	var n int64
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM snapshot_nodes WHERE listing_id = ? AND parent = ? AND dir_rank IN (0, 1)`,
		listingID, parent).Scan(&n)
	return n, err
}

// GetSnapshotNode returns the entry at path p ("/a/b"); ErrNotFound when
// the listing has none.
func (db *DB) GetSnapshotNode(ctx context.Context, listingID int64, parent, name string) (SnapshotNode, error) {
	nodes, err := db.queryNodes(ctx, `SELECT parent, name, type, size, mtime, mode FROM snapshot_nodes
		WHERE listing_id = ? AND parent = ? AND dir_rank IN (0, 1) AND name = ? ORDER BY dir_rank LIMIT 1`, listingID, parent, name)
	if err != nil {
		return SnapshotNode{}, err
	}
	if len(nodes) == 0 {
		return SnapshotNode{}, ErrNotFound
	}
	return nodes[0], nil
}

// SearchSnapshotNodes returns up to limit entries whose path contains q,
// ignoring ASCII case, in key order (by folder, then folders first, then
// name). It reads the listing once at most. A q without "/" cannot span
// a folder and a name, so it is matched against each of them as stored,
// without building every path (snapshot_search.go has the name-prefix
// search, which reads an index instead).
func (db *DB) SearchSnapshotNodes(ctx context.Context, listingID int64, q string, limit int) ([]SnapshotNode, error) {
	pattern := "%" + escapeLike(q) + "%"
	if !strings.Contains(q, "/") {
		return db.queryNodes(ctx, `SELECT parent, name, type, size, mtime, mode FROM snapshot_nodes
			WHERE listing_id = ? AND (name LIKE ?2 ESCAPE '\' OR parent LIKE ?2 ESCAPE '\')
			ORDER BY parent, dir_rank, name LIMIT ?3`, listingID, pattern, max(limit, 1))
	}
	return db.queryNodes(ctx, `SELECT parent, name, type, size, mtime, mode FROM snapshot_nodes
		WHERE listing_id = ? AND (CASE parent WHEN '/' THEN '/' || name ELSE parent || '/' || name END) LIKE ? ESCAPE '\'
		ORDER BY parent, dir_rank, name LIMIT ?`, listingID, pattern, max(limit, 1))
}

func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

func (db *DB) queryNodes(ctx context.Context, q string, args ...any) ([]SnapshotNode, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []SnapshotNode
	for rows.Next() {
		var n SnapshotNode
		var mtime sql.NullInt64
		var mode int64
		if err := rows.Scan(&n.Parent, &n.Name, &n.Type, &n.Size, &mtime, &mode); err != nil {
			return nil, err
		}
		if mtime.Valid {
			n.MTime = fromMS(mtime.Int64)
		}
		n.Mode = uint32(mode) //nolint:gosec // G115: stored from a uint32
		out = append(out, n)
	}
	return out, rows.Err()
}

// evictChunk bounds the entries one eviction statement deletes, so the
// writer is free for job events between chunks.
const evictChunk = 5000

// EvictSnapshotListings removes the least recently browsed listings that
// are not running until at most keep listings are left, and returns how
// many it removed. Entries go in chunks of evictChunk.
func (db *DB) EvictSnapshotListings(ctx context.Context, keep int) (int, error) {
	// One statement, so a listing that ends meanwhile is counted once:
	// running listings sort first and so always take kept places.
	rows, err := db.r.QueryContext(ctx, `SELECT id, status = ? FROM snapshot_listings
		ORDER BY status = ? DESC, browsed_at DESC, id DESC LIMIT -1 OFFSET ?`, ListingRunning, ListingRunning, max(keep, 0))
	if err != nil {
		return 0, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		var running bool
		if err := rows.Scan(&id, &running); err != nil {
			rows.Close()
			return 0, err
		}
		if !running {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	for i, id := range ids {
		if err := db.DeleteSnapshotListing(ctx, id); err != nil {
			return i, err
		}
	}
	return len(ids), nil
}

// DeleteSnapshotListing removes a listing and its entries, the entries in
// chunks. The listing is marked failed ("evicted") first, so that one cut
// short is never served as complete: the next browse replaces it.
func (db *DB) DeleteSnapshotListing(ctx context.Context, listingID int64) error {
	if _, err := db.w.ExecContext(ctx, `UPDATE snapshot_listings SET status = ?, error = 'evicted from the cache', finished_at = 0
		WHERE id = ?`, ListingFailed, listingID); err != nil {
		return err
	}
	for {
		res, err := db.w.ExecContext(ctx, `DELETE FROM snapshot_nodes WHERE (listing_id, parent, dir_rank, name) IN
			(SELECT listing_id, parent, dir_rank, name FROM snapshot_nodes WHERE listing_id = ? LIMIT ?)`, listingID, evictChunk)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		db.nodeChunkDone(n) // snapshot_forget.go
		if n < evictChunk {
			break
		}
	}
	_, err := db.w.ExecContext(ctx, `DELETE FROM snapshot_listings WHERE id = ?`, listingID)
	return err
}
