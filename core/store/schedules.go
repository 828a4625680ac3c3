package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/mattn/go-sqlite3"
)

// scheduleRevisionKey is the settings row holding the schedule revision: a
// counter raised by every change to a schedule, which the hub sends with
// each schedules_sync.
const scheduleRevisionKey = "schedule_revision"

// Schedule kinds: backups, and the repository maintenance the agent fires
// the same way.
const (
	ScheduleBackup = "backup"
	ScheduleCheck  = "check"
	SchedulePrune  = "prune"
	ScheduleForget = "forget"
	ScheduleUnlock = "unlock"
	ScheduleStats  = "stats"
)

// ScheduleKinds are the kinds a schedule may have.
var ScheduleKinds = []string{ScheduleBackup, ScheduleCheck, SchedulePrune, ScheduleForget, ScheduleUnlock, ScheduleStats}

// Schedule is a recurring backup of some paths of a host (HostID) or of
// every host with a tag (HostTag) to a repository, with its retention
// policy. The server is its source of truth; the hub pushes each host's
// enabled schedules to its agent, whose scheduler fires them.
type Schedule struct {
	ID           string
	Name         string
	HostID       string // "" when HostTag names the hosts
	HostTag      string // "" when HostID names the host
	RepositoryID string
	// SecondaryRepositoryID, when set, is where every successful backup's
	// new snapshot is copied (restic copy), for 3-2-1.
	SecondaryRepositoryID string
	Kind                  string
	Paths                 []string
	Excludes              []string
	ExcludeOpts           ExcludeOptions
	Tags                  []string
	OneFileSystem         bool
	// Cron (in Timezone) or EverySeconds says when it fires; exactly one is
	// set (internal/timing).
	Cron          string
	EverySeconds  int64
	Timezone      string
	JitterSeconds int64
	CatchUp       bool
	// Retention, when set, is applied by a forget after every successful
	// run; Prune makes that forget prune too.
	Retention        *Retention
	Prune            bool
	LimitUploadKiB   int64
	LimitDownloadKiB int64
	// ReadDataSubset is a check schedule's --read-data-subset.
	ReadDataSubset string
	// HooksCredentialID is where the schedule's pre/post hooks are kept,
	// sealed (kind "hook", core/hookspec); SetScheduleHooks sets it.
	HooksCredentialID string
	Enabled           bool
	ManagedBy         string
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// ExcludeOptions are restic's exclude options besides the patterns
// (stored as the exclude_options JSON column).
type ExcludeOptions struct {
	ExcludeFiles     []string `json:"exclude_files,omitempty"`
	ExcludeIfPresent []string `json:"exclude_if_present,omitempty"`
	ExcludeCaches    bool     `json:"exclude_caches,omitempty"`
}

// Retention is a forget policy, restic's --keep-* and --group-by (stored as
// the retention JSON column; {} is none).
type Retention struct {
	KeepLast    int      `json:"keep_last,omitempty"`
	KeepHourly  int      `json:"keep_hourly,omitempty"`
	KeepDaily   int      `json:"keep_daily,omitempty"`
	KeepWeekly  int      `json:"keep_weekly,omitempty"`
	KeepMonthly int      `json:"keep_monthly,omitempty"`
	KeepYearly  int      `json:"keep_yearly,omitempty"`
	KeepWithin  string   `json:"keep_within,omitempty"`
	KeepTags    []string `json:"keep_tags,omitempty"`
	GroupBy     string   `json:"group_by,omitempty"`
}

// Empty reports whether the policy keeps nothing in particular (no rule).
func (r *Retention) Empty() bool {
	return r == nil || (r.KeepLast <= 0 && r.KeepHourly <= 0 && r.KeepDaily <= 0 && r.KeepWeekly <= 0 &&
		r.KeepMonthly <= 0 && r.KeepYearly <= 0 && r.KeepWithin == "" && len(r.KeepTags) == 0)
}

// ScheduleFilter narrows ListSchedules; zero fields match everything.
type ScheduleFilter struct {
	// HostID matches the schedules of that host: its own and those of its
	// tags.
	HostID       string
	RepositoryID string
	After        string // cursor: a schedule name; lists names after it
	Limit        int
}

const scheduleCols = `s.id, s.name, COALESCE(s.host_id, ''), COALESCE(s.host_tag, ''), s.repository_id, COALESCE(s.secondary_repository_id, ''), s.kind,
	s.paths, s.excludes, s.exclude_options, s.tags, s.one_file_system, COALESCE(s.cron, ''), COALESCE(s.every_seconds, 0),
	s.timezone, s.jitter_seconds, s.catch_up, s.retention, s.forget_prune, COALESCE(s.limit_upload_kib, 0),
	COALESCE(s.limit_download_kib, 0), COALESCE(s.hooks_credential_id, ''), s.enabled, s.managed_by, s.created_at, s.updated_at, s.read_data_subset`

// hostMatch is the condition "schedule s applies to the host ?", which
// takes the host id twice.
const hostMatch = `(s.host_id = ? OR (s.host_tag IS NOT NULL AND s.host_tag IN
	(SELECT t.value FROM hosts h, json_each(h.tags) t WHERE h.id = ?)))`

func scanSchedule(row interface{ Scan(...any) error }) (Schedule, error) {
	var s Schedule
	var paths, excludes, opts, tags, retention string
	var created, updated int64
	if err := row.Scan(&s.ID, &s.Name, &s.HostID, &s.HostTag, &s.RepositoryID, &s.SecondaryRepositoryID, &s.Kind,
		&paths, &excludes, &opts, &tags, &s.OneFileSystem, &s.Cron, &s.EverySeconds,
		&s.Timezone, &s.JitterSeconds, &s.CatchUp, &retention, &s.Prune, &s.LimitUploadKiB,
		&s.LimitDownloadKiB, &s.HooksCredentialID, &s.Enabled, &s.ManagedBy, &created, &updated, &s.ReadDataSubset); err != nil {
		return Schedule{}, mapErr(err)
	}
	s.Paths, s.Excludes, s.Tags = decodeStrings(paths), decodeStrings(excludes), decodeStrings(tags)
	_ = json.Unmarshal([]byte(opts), &s.ExcludeOpts) // a damaged value reads as none
	var r Retention
	if json.Unmarshal([]byte(retention), &r) == nil && !r.Empty() {
		s.Retention = &r
	}
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	return s, nil
}

// scheduleRow is the stored form of the columns a create or update writes.
func scheduleRow(s Schedule) ([]any, error) {
	opts, err := json.Marshal(s.ExcludeOpts)
	if err != nil {
		return nil, err
	}
	retention := []byte("{}")
	if !s.Retention.Empty() {
		if retention, err = json.Marshal(s.Retention); err != nil {
			return nil, err
		}
	}
	var every, upload, download any
	if s.EverySeconds > 0 {
		every = s.EverySeconds
	}
	if s.LimitUploadKiB > 0 {
		upload = s.LimitUploadKiB
	}
	if s.LimitDownloadKiB > 0 {
		download = s.LimitDownloadKiB
	}
	if s.Kind == "" {
		s.Kind = ScheduleBackup
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	return []any{
		s.Name, nullID(s.HostID), nullID(s.HostTag), s.RepositoryID, s.Kind,
		encodeStrings(s.Paths), encodeStrings(s.Excludes), string(opts), encodeStrings(s.Tags), s.OneFileSystem,
		nullID(s.Cron), every, s.Timezone, s.JitterSeconds, s.CatchUp, string(retention), s.Prune,
		upload, download, s.Enabled, ms(s.UpdatedAt), nullID(s.SecondaryRepositoryID), s.ReadDataSubset,
	}, nil
}

// bumpScheduleRevision raises the schedule revision in tx.
func bumpScheduleRevision(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, '1')
		ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)`, scheduleRevisionKey)
	return err
}

// CreateSchedule stores a new schedule and raises the schedule revision. A
// taken name is ErrConflict; an unknown host or repository is ErrNotFound.
func (db *DB) CreateSchedule(ctx context.Context, s Schedule) error {
	if s.ManagedBy == "" {
		s.ManagedBy = "user"
	}
	row, err := scheduleRow(s)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		args := append([]any{s.ID}, row...)
		args = append(args, s.ManagedBy, ms(s.CreatedAt))
		_, err := tx.ExecContext(ctx, `INSERT INTO schedules (id, name, host_id, host_tag, repository_id, kind,
			paths, excludes, exclude_options, tags, one_file_system, cron, every_seconds, timezone, jitter_seconds,
			catch_up, retention, forget_prune, limit_upload_kib, limit_download_kib, enabled, updated_at,
			secondary_repository_id, read_data_subset, managed_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`, args...)
		if err != nil {
			return scheduleErr(err)
		}
		return bumpScheduleRevision(ctx, tx)
	})
}

// scheduleErr maps a failed insert or update: a foreign key names a host
// or repository that does not exist.
func scheduleErr(err error) error {
	err = mapErr(err)
	if !errors.Is(err, ErrConflict) && err != nil && isForeignKey(err) {
		return fmt.Errorf("%w: the host or repository does not exist", ErrNotFound)
	}
	return err
}

func isForeignKey(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintForeignKey
}

// GetSchedule returns the schedule whose id, or else whose name, is ref.
func (db *DB) GetSchedule(ctx context.Context, ref string) (Schedule, error) {
	return scanSchedule(db.r.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules s
		WHERE s.id = ? OR s.name = ? ORDER BY s.id = ? DESC LIMIT 1`, ref, ref, ref))
}

// ListSchedules returns schedules ordered by name.
func (db *DB) ListSchedules(ctx context.Context, f ScheduleFilter) ([]Schedule, error) {
	q := `SELECT ` + scheduleCols + ` FROM schedules s WHERE s.name > ?
		AND (? = '' OR s.repository_id = ?)`
	args := []any{f.After, f.RepositoryID, f.RepositoryID}
	if f.HostID != "" {
		q += ` AND ` + hostMatch
		args = append(args, f.HostID, f.HostID)
	}
	q += ` ORDER BY s.name LIMIT ?`
	return db.querySchedules(ctx, q, append(args, max(f.Limit, 1))...)
}

// HostSchedules returns the enabled schedules that apply to a host (its
// own and those of its tags), ordered by name: what its agent fires.
func (db *DB) HostSchedules(ctx context.Context, hostID string) ([]Schedule, error) {
	return db.querySchedules(ctx, `SELECT `+scheduleCols+` FROM schedules s WHERE s.enabled = 1 AND `+hostMatch+`
		ORDER BY s.name`, hostID, hostID)
}

// ScheduleForHost returns the schedule if it applies to the host, and
// ErrNotFound if it does not exist or belongs to other hosts.
func (db *DB) ScheduleForHost(ctx context.Context, scheduleID, hostID string) (Schedule, error) {
	return scanSchedule(db.r.QueryRowContext(ctx, `SELECT `+scheduleCols+` FROM schedules s WHERE s.id = ? AND `+hostMatch,
		scheduleID, hostID, hostID))
}

func (db *DB) querySchedules(ctx context.Context, q string, args ...any) ([]Schedule, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Schedule
	for rows.Next() {
		s, err := scanSchedule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// UpdateSchedule replaces every field of the schedule with the given id
// but its id, managed_by and created_at, and raises the schedule revision.
func (db *DB) UpdateSchedule(ctx context.Context, s Schedule) error {
	row, err := scheduleRow(s)
	if err != nil {
		return err
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE schedules SET name = ?, host_id = ?, host_tag = ?, repository_id = ?,
			kind = ?, paths = ?, excludes = ?, exclude_options = ?, tags = ?, one_file_system = ?, cron = ?,
			every_seconds = ?, timezone = ?, jitter_seconds = ?, catch_up = ?, retention = ?, forget_prune = ?,
			limit_upload_kib = ?, limit_download_kib = ?, enabled = ?, updated_at = ?, secondary_repository_id = ?,
			read_data_subset = ? WHERE id = ?`, append(row, s.ID)...)
		if err != nil {
			return scheduleErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return bumpScheduleRevision(ctx, tx)
	})
}

// DeleteSchedule removes a schedule and raises the schedule revision. Its
// jobs keep their history without it.
func (db *DB) DeleteSchedule(ctx context.Context, id string) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var hooks sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT hooks_credential_id FROM schedules WHERE id = ?`, id).Scan(&hooks); err != nil {
			return mapErr(err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM schedules WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if hooks.Valid { // its hooks go with it
			if _, err := tx.ExecContext(ctx, `DELETE FROM credentials WHERE id = ?`, hooks.String); err != nil {
				return err
			}
		}
		return bumpScheduleRevision(ctx, tx)
	})
}

// ScheduleRevision returns the schedule revision: 0 before the first
// change, then raised by every one.
func (db *DB) ScheduleRevision(ctx context.Context) (int64, error) {
	var v string
	err := db.r.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, scheduleRevisionKey).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(v, 10, 64)
}

// BumpScheduleRevision raises the schedule revision on its own, for a
// change outside the schedules table that changes what agents are sent (a
// repository's credentials).
func (db *DB) BumpScheduleRevision(ctx context.Context) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return bumpScheduleRevision(ctx, tx) })
}

// ScheduleHosts returns the ids of the hosts a schedule applies to that
// are not revoked: its host, or the hosts with its tag.
func (db *DB) ScheduleHosts(ctx context.Context, s Schedule) ([]string, error) {
	if s.HostID != "" {
		return db.queryIDs(ctx, `SELECT id FROM hosts WHERE id = ? AND status != 'revoked'`, s.HostID)
	}
	return db.queryIDs(ctx, `SELECT h.id FROM hosts h WHERE h.status != 'revoked'
		AND EXISTS (SELECT 1 FROM json_each(h.tags) t WHERE t.value = ?) ORDER BY h.id`, s.HostTag)
}

// ScheduleHostsOfRepositoriesUpdatedAfter returns the hosts (not revoked)
// with a schedule on a repository changed after the given time (created
// ones do not count: a schedule on one is new itself), and the newest
// repository change time (the zero time without repositories).
func (db *DB) ScheduleHostsOfRepositoriesUpdatedAfter(ctx context.Context, after time.Time) ([]string, time.Time, error) {
	var newest sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(updated_at) FROM repositories`).Scan(&newest); err != nil {
		return nil, time.Time{}, err
	}
	if !newest.Valid {
		return nil, time.Time{}, nil
	}
	ids, err := db.queryIDs(ctx, `SELECT DISTINCT h.id FROM schedules s
		JOIN repositories r ON r.id = s.repository_id OR r.id = s.secondary_repository_id
		JOIN hosts h ON h.status != 'revoked' AND (h.id = s.host_id OR
			(s.host_tag IS NOT NULL AND EXISTS (SELECT 1 FROM json_each(h.tags) t WHERE t.value = s.host_tag)))
		WHERE r.updated_at > ? AND r.updated_at > r.created_at ORDER BY h.id`, ms(after))
	return ids, fromMS(newest.Int64), err
}

func (db *DB) queryIDs(ctx context.Context, q string, args ...any) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
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

// ScheduleRuns is what the jobs table says of a schedule's runs on one
// host, or on all of its hosts.
type ScheduleRuns struct {
	// Last is the newest job of the schedule's own kind (its backups,
	// skipped ones included); nil before the first run.
	Last *Job
	// LastSuccessAt is when its newest succeeded run finished.
	LastSuccessAt *time.Time
}

// ScheduleRunsOf returns the runs of a schedule, on hostID ("" for every
// host).
func (db *DB) ScheduleRunsOf(ctx context.Context, s Schedule, hostID string) (ScheduleRuns, error) {
	var out ScheduleRuns
	kind := s.Kind
	if kind == "" {
		kind = ScheduleBackup
	}
	j, err := scanJob(db.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE schedule_id = ? AND kind = ?
		AND (? = '' OR host_id = ?) ORDER BY created_at DESC, id DESC LIMIT 1`, s.ID, kind, hostID, hostID))
	switch {
	case errors.Is(err, ErrNotFound):
		return out, nil
	case err != nil:
		return out, err
	}
	out.Last = &j
	var at sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(finished_at) FROM jobs WHERE schedule_id = ? AND kind = ?
		AND status = 'succeeded' AND (? = '' OR host_id = ?)`, s.ID, kind, hostID, hostID).Scan(&at); err != nil {
		return out, err
	}
	out.LastSuccessAt = timePtr(at)
	return out, nil
}
