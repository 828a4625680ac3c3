package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Orders of the host list.
const (
	HostSortName       = "name"
	HostSortStatus     = "status"
	HostSortLastSeen   = "last_seen"
	HostSortLastBackup = "last_backup"
)

// HostSorts are the orders ListHosts knows, the default first.
var HostSorts = []string{HostSortName, HostSortStatus, HostSortLastSeen, HostSortLastBackup}

// HostFilter narrows and orders ListHosts; zero fields match everything,
// sorted by name.
type HostFilter struct {
	Status string
	Name   string // the exact name
	Search string // a part of the name, any case
	// Sort is one of HostSorts ("" is by name). Hosts that tie are ordered
	// by name, then id. Status sorts online, offline, revoked; hosts never
	// seen or never backed up sort as the oldest.
	Sort string
	Desc bool
	// After is a cursor: a host id; the list continues after that host (in
	// the order asked for, where it sorts now).
	After  string
	Offset int
	Limit  int
}

// HostSummary is a host's backup state as the host list shows it.
type HostSummary struct {
	// LastBackup is the backup job that finished last; nil when none has.
	LastBackup *BackupRun
	// SnapshotCount counts the host's snapshots in the projection, over
	// every repository.
	SnapshotCount int
	// RepositorySize is the size in bytes of the repository of the last
	// backup, when a stats run has recorded it.
	RepositorySize *int64
}

// BackupRun is one finished backup job, as summaries show it.
type BackupRun struct {
	JobID        string
	Status       string
	RepositoryID string // "" once the repository is removed
	StartedAt    *time.Time
	FinishedAt   time.Time
}

// Duration is how long the backup ran; 0 when it never started.
func (b BackupRun) Duration() time.Duration {
	if b.StartedAt == nil {
		return 0
	}
	return max(b.FinishedAt.Sub(*b.StartedAt), 0)
}

// hostSortKey is the SQL sort key of a host row alias a for sort: a number,
// negated for a descending order so that ties still go by name ascending.
// The name order has no key.
func hostSortKey(sort, a string, desc bool) string {
	var k string
	switch sort {
	case HostSortStatus:
		k = `CASE ` + a + `.status WHEN 'online' THEN 0 WHEN 'offline' THEN 1 ELSE 2 END`
	case HostSortLastSeen:
		k = `COALESCE(` + a + `.last_seen_at, -1)`
	case HostSortLastBackup:
		k = `COALESCE((SELECT MAX(j.finished_at) FROM jobs j WHERE j.host_id = ` + a + `.id AND j.kind = 'backup'), -1)`
	default:
		return "0"
	}
	if desc {
		return "-(" + k + ")"
	}
	return k
}

// hostWhere is the filter part of a host listing (without the cursor).
func hostWhere(f HostFilter) (string, []any) {
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "h.status = ?")
		args = append(args, f.Status)
	}
	if f.Name != "" {
		where = append(where, "h.name = ?")
		args = append(args, f.Name)
	}
	if f.Search != "" {
		where = append(where, "instr(lower(h.name), lower(?)) > 0")
		args = append(args, f.Search)
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), args
}

// summaryCols read a host's summary: its last finished backup job (found
// with one seek of jobs_host_kind_finished), that job's repository size and
// the host's snapshot count (an index count of snapshots_host_time).
const summaryCols = `lb.id, lb.status, COALESCE(lb.repository_id, ''), lb.started_at, lb.finished_at, r.total_size,
	(SELECT count(*) FROM snapshots s WHERE s.host_id = h.id)`

const summaryJoins = ` LEFT JOIN jobs lb ON lb.id = (SELECT j.id FROM jobs j
		WHERE j.host_id = h.id AND j.kind = 'backup' AND j.finished_at IS NOT NULL
		ORDER BY j.finished_at DESC, j.id DESC LIMIT 1)
	LEFT JOIN repositories r ON r.id = lb.repository_id`

func scanHostWithSummary(row interface{ Scan(...any) error }) (Host, error) {
	var jobID, status, repoID sql.NullString
	var started, finished, size sql.NullInt64
	var sum HostSummary
	h, err := scanHost(row, &jobID, &status, &repoID, &started, &finished, &size, &sum.SnapshotCount)
	if err != nil {
		return Host{}, err
	}
	if jobID.Valid {
		sum.LastBackup = &BackupRun{
			JobID: jobID.String, Status: status.String, RepositoryID: repoID.String,
			StartedAt: timePtr(started), FinishedAt: fromMS(finished.Int64),
		}
	}
	if size.Valid {
		sum.RepositorySize = &size.Int64
	}
	h.Summary = &sum
	return h, nil
}

// ListHosts returns one page of hosts with their summaries, filtered and
// ordered as f says, in one statement: the page's ids are chosen first
// (sorting on the hosts table and, for the last-backup order, one index
// seek per host), then only the page's rows get their summaries.
func (db *DB) ListHosts(ctx context.Context, f HostFilter) ([]Host, error) {
	q, args, err := hostListQuery(f)
	if err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Host
	for rows.Next() {
		h, err := scanHostWithSummary(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// hostListQuery is ListHosts' statement.
func hostListQuery(f HostFilter) (string, []any, error) {
	if f.Sort == "" {
		f.Sort = HostSortName
	}
	if !slices.Contains(HostSorts, f.Sort) {
		return "", nil, fmt.Errorf("list hosts: unknown order %q", f.Sort)
	}
	where, args := hostWhere(f)
	sk := hostSortKey(f.Sort, "h", f.Desc)
	cmp, dir := ">", "ASC"
	if f.Sort == HostSortName && f.Desc {
		cmp, dir = "<", "DESC"
	}
	if f.After != "" {
		cond := `(` + sk + `, h.name, h.id) ` + cmp + ` (SELECT ` + hostSortKey(f.Sort, "c", f.Desc) +
			`, c.name, c.id FROM hosts c WHERE c.id = ?)`
		if where == "" {
			where = " WHERE " + cond
		} else {
			where += " AND " + cond
		}
		args = append(args, f.After)
	}
	order := func(t string) string {
		o := t + "name " + dir + ", " + t + "id " + dir
		if f.Sort == HostSortName {
			return o // hosts_name_id gives this order without a sort
		}
		return t + "sk " + dir + ", " + o
	}
	q := `WITH page AS (SELECT h.id AS id, ` + sk + ` AS sk, h.name AS name FROM hosts h` + where +
		` ORDER BY ` + order("") + ` LIMIT ? OFFSET ?)
		SELECT ` + hostCols + `, ` + summaryCols + ` FROM page JOIN hosts h ON h.id = page.id` + summaryJoins +
		` ORDER BY ` + order("page.")
	return q, append(args, max(f.Limit, 1), max(f.Offset, 0)), nil
}

// CountHosts counts the hosts f's filters match (its order, cursor and
// paging do not matter).
func (db *DB) CountHosts(ctx context.Context, f HostFilter) (int, error) {
	where, args := hostWhere(f)
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM hosts h`+where, args...).Scan(&n) //nolint:gosec // G202: fixed clauses; values are bound
	return n, err
}

// GetHostWithSummary returns one host with its summary.
func (db *DB) GetHostWithSummary(ctx context.Context, id string) (Host, error) {
	return scanHostWithSummary(db.r.QueryRowContext(ctx,
		`SELECT `+hostCols+`, `+summaryCols+` FROM hosts h`+summaryJoins+` WHERE h.id = ?`, id))
}
