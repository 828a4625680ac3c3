package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Alert statuses. An alert is open until someone acknowledges it, and
// resolved when its condition clears or someone resolves it.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
	// AlertActive is a filter, not a status: open or acknowledged.
	AlertActive = "active"
)

// ResolvedBySystem is an alert's resolved_by when its condition cleared.
const ResolvedBySystem = "system"

// ManagedByConfig marks rows declared in the configuration file.
const ManagedByConfig = "config"

// ErrAlertState means an alert is not in a state the change applies to:
// acknowledging an alert that is not open, resolving a resolved one.
var ErrAlertState = errors.New("alert is not in a state that allows this")

// AlertRule is an alert rule: a condition (Event), its filters and
// thresholds (Params, a JSON object core/alert/rule reads), and where its
// alerts go.
type AlertRule struct {
	ID          string
	Name        string
	Event       string
	Params      json.RawMessage
	MinSeverity string
	Channels    []string
	// Repeat is the repeat interval: an alert's repeats are notified at
	// most once per Repeat (throttle_seconds).
	Repeat    time.Duration
	Enabled   bool
	ManagedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Alert is one firing of a rule for one fingerprint (a host, a host and
// repository, a channel …), from its first occurrence until it is
// resolved.
type Alert struct {
	ID             string
	RuleID         string // "" once the rule is deleted
	RuleName       string
	Kind           string // the rule's condition
	Severity       string
	Status         string
	Fingerprint    string
	HostID         string
	HostName       string
	JobID          string
	RepositoryID   string
	RepositoryName string
	Title          string
	Body           string
	Occurrences    int
	CreatedAt      time.Time
	UpdatedAt      time.Time
	AcknowledgedBy string
	AcknowledgedAt *time.Time
	ResolvedAt     *time.Time
	ResolvedBy     string
	LastNotifiedAt *time.Time
}

// AlertOccurrence updates an unresolved alert: its condition happened
// again or changed.
type AlertOccurrence struct {
	Severity string
	Title    string
	Body     string
	JobID    string // "" keeps the one recorded
	// Count adds one to the alert's occurrences.
	Count bool
	// NotifiedAt, when set, records a notification.
	NotifiedAt *time.Time
	Now        time.Time
}

// AlertFilter narrows ListAlerts; zero fields match everything.
type AlertFilter struct {
	// Status is open, acknowledged, resolved or active (open or
	// acknowledged).
	Status string
	HostID string
	RuleID string
	// Before is a cursor: an alert id; the list continues with older
	// alerts.
	Before string
	Limit  int
}

const ruleCols = `id, name, event, params, min_severity, channels, throttle_seconds, enabled, managed_by, created_at, updated_at`

func scanRule(row interface{ Scan(...any) error }) (AlertRule, error) {
	var r AlertRule
	var params, channels string
	var throttle, created, updated int64
	if err := row.Scan(&r.ID, &r.Name, &r.Event, &params, &r.MinSeverity, &channels, &throttle, &r.Enabled,
		&r.ManagedBy, &created, &updated); err != nil {
		return AlertRule{}, mapErr(err)
	}
	r.Params, r.Channels = json.RawMessage(params), decodeStrings(channels)
	r.Repeat = time.Duration(throttle) * time.Second
	r.CreatedAt, r.UpdatedAt = fromMS(created), fromMS(updated)
	return r, nil
}

func ruleParams(r AlertRule) string {
	if len(r.Params) == 0 {
		return "{}"
	}
	return string(r.Params)
}

func ruleManagedBy(r AlertRule) string {
	if r.ManagedBy == "" {
		return "user"
	}
	return r.ManagedBy
}

// CreateAlertRule stores a new rule; a taken name is ErrConflict.
func (db *DB) CreateAlertRule(ctx context.Context, r AlertRule) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return insertRule(ctx, tx, r) })
}

func insertRule(ctx context.Context, tx *sql.Tx, r AlertRule) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_rules (`+ruleCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?)`,
		r.ID, r.Name, r.Event, ruleParams(r), r.MinSeverity, encodeStrings(r.Channels), int64(r.Repeat/time.Second),
		r.Enabled, ruleManagedBy(r), ms(r.CreatedAt), ms(r.UpdatedAt))
	return mapErr(err)
}

// GetAlertRule returns the rule with the id ref, or else the name ref.
func (db *DB) GetAlertRule(ctx context.Context, ref string) (AlertRule, error) {
	return scanRule(db.r.QueryRowContext(ctx, `SELECT `+ruleCols+` FROM alert_rules WHERE id = ?1
		UNION ALL SELECT `+ruleCols+` FROM alert_rules WHERE name = ?1 AND id != ?1 LIMIT 1`, ref))
}

// ListAlertRules returns rules by name, those after the name after.
func (db *DB) ListAlertRules(ctx context.Context, after string, limit int) ([]AlertRule, error) {
	return db.queryRules(ctx, `SELECT `+ruleCols+` FROM alert_rules WHERE name > ? ORDER BY name LIMIT ?`, after, max(limit, 1))
}

// EnabledAlertRules returns every enabled rule, by name: what the alert
// engine evaluates.
func (db *DB) EnabledAlertRules(ctx context.Context) ([]AlertRule, error) {
	return db.queryRules(ctx, `SELECT `+ruleCols+` FROM alert_rules WHERE enabled = 1 ORDER BY name`)
}

func (db *DB) queryRules(ctx context.Context, q string, args ...any) ([]AlertRule, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AlertRule
	for rows.Next() {
		r, err := scanRule(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// UpdateAlertRule replaces the rule r.ID's name, condition, params,
// routing and enabled flag; a taken name is ErrConflict.
func (db *DB) UpdateAlertRule(ctx context.Context, r AlertRule) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alert_rules SET name = ?, event = ?, params = ?, min_severity = ?,
			channels = ?, throttle_seconds = ?, enabled = ?, updated_at = ? WHERE id = ?`,
			r.Name, r.Event, ruleParams(r), r.MinSeverity, encodeStrings(r.Channels), int64(r.Repeat/time.Second),
			r.Enabled, ms(r.UpdatedAt), r.ID)
		if err != nil {
			return mapErr(err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		return nil
	})
}

// DeleteAlertRule deletes a rule. Its unresolved alerts are resolved first
// (by "rule deleted"), so nothing stays open that no rule will ever
// resolve; the alerts stay as history.
func (db *DB) DeleteAlertRule(ctx context.Context, id string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return deleteRule(ctx, tx, id, now) })
}

func deleteRule(ctx context.Context, tx *sql.Tx, id string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'resolved', resolved_at = ?, resolved_by = 'rule deleted',
		updated_at = ? WHERE rule_id = ? AND status != 'resolved'`, ms(now), ms(now), id); err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM alert_rules WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// RuleSync is what SyncConfigAlertRules changed, by rule name.
type RuleSync struct {
	Created, Updated, Deleted []string
	// TakenOver are rules created through the API that a declaration of
	// the same name replaced.
	TakenOver []string
}

// SyncConfigAlertRules makes the config-managed rules exactly rules, in one
// transaction: new names are created, existing ones updated (a rule of the
// same name created through the API becomes config-managed), and
// config-managed rules no longer declared are deleted. Each rule's ID is
// used only when it is created.
func (db *DB) SyncConfigAlertRules(ctx context.Context, rules []AlertRule, now time.Time) (RuleSync, error) {
	var out RuleSync
	err := db.tx(ctx, func(tx *sql.Tx) error {
		out = RuleSync{}
		declared := map[string]bool{}
		for _, r := range rules {
			declared[r.Name] = true
			var id, managed string
			err := tx.QueryRowContext(ctx, `SELECT id, managed_by FROM alert_rules WHERE name = ?`, r.Name).Scan(&id, &managed)
			switch {
			case errors.Is(err, sql.ErrNoRows):
				r.ManagedBy, r.CreatedAt, r.UpdatedAt = ManagedByConfig, now, now
				if err := insertRule(ctx, tx, r); err != nil {
					return fmt.Errorf("rule %q: %w", r.Name, err)
				}
				out.Created = append(out.Created, r.Name)
				continue
			case err != nil:
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE alert_rules SET event = ?, params = ?, min_severity = ?, channels = ?,
				throttle_seconds = ?, enabled = ?, managed_by = 'config', updated_at = ? WHERE id = ?`,
				r.Event, ruleParams(r), r.MinSeverity, encodeStrings(r.Channels), int64(r.Repeat/time.Second), r.Enabled,
				ms(now), id); err != nil {
				return err
			}
			if managed != ManagedByConfig {
				out.TakenOver = append(out.TakenOver, r.Name)
			} else {
				out.Updated = append(out.Updated, r.Name)
			}
		}
		rows, err := tx.QueryContext(ctx, `SELECT id, name FROM alert_rules WHERE managed_by = 'config' ORDER BY name`)
		if err != nil {
			return err
		}
		var gone [][2]string
		for rows.Next() {
			var id, name string
			if err := rows.Scan(&id, &name); err != nil {
				rows.Close()
				return err
			}
			if !declared[name] {
				gone = append(gone, [2]string{id, name})
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, g := range gone {
			if err := deleteRule(ctx, tx, g[0], now); err != nil {
				return err
			}
			out.Deleted = append(out.Deleted, g[1])
		}
		return nil
	})
	return out, err
}

const alertCols = `a.id, COALESCE(a.rule_id, ''), COALESCE(r.name, ''), a.kind, a.severity, a.status, a.fingerprint,
	COALESCE(a.host_id, ''), COALESCE(h.name, ''), COALESCE(a.job_id, ''), COALESCE(a.repository_id, ''), COALESCE(p.name, ''),
	a.title, a.body, a.occurrences, a.created_at, a.updated_at, COALESCE(a.acknowledged_by, ''), a.acknowledged_at,
	a.resolved_at, COALESCE(a.resolved_by, ''), a.last_notified_at`

const alertFrom = ` FROM alerts a LEFT JOIN alert_rules r ON r.id = a.rule_id LEFT JOIN hosts h ON h.id = a.host_id
	LEFT JOIN repositories p ON p.id = a.repository_id`

func scanAlert(row interface{ Scan(...any) error }) (Alert, error) {
	var a Alert
	var created, updated int64
	var acked, resolved, notified sql.NullInt64
	if err := row.Scan(&a.ID, &a.RuleID, &a.RuleName, &a.Kind, &a.Severity, &a.Status, &a.Fingerprint, &a.HostID, &a.HostName,
		&a.JobID, &a.RepositoryID, &a.RepositoryName, &a.Title, &a.Body, &a.Occurrences, &created, &updated, &a.AcknowledgedBy,
		&acked, &resolved, &a.ResolvedBy, &notified); err != nil {
		return Alert{}, mapErr(err)
	}
	a.CreatedAt, a.UpdatedAt = fromMS(created), fromMS(updated)
	a.AcknowledgedAt, a.ResolvedAt, a.LastNotifiedAt = timePtr(acked), timePtr(resolved), timePtr(notified)
	return a, nil
}

// CreateAlert stores a new alert.
func (db *DB) CreateAlert(ctx context.Context, a Alert) error {
	if a.Occurrences == 0 {
		a.Occurrences = 1
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO alerts (id, rule_id, kind, severity, status, fingerprint, host_id, job_id,
			repository_id, title, body, occurrences, created_at, updated_at, last_notified_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			a.ID, nullString(a.RuleID), a.Kind, a.Severity, a.Status, a.Fingerprint, nullString(a.HostID), nullString(a.JobID),
			nullString(a.RepositoryID), a.Title, a.Body, a.Occurrences, ms(a.CreatedAt), ms(a.UpdatedAt), nullMS(a.LastNotifiedAt))
		return mapErr(err)
	})
}

// GetAlert returns one alert.
func (db *DB) GetAlert(ctx context.Context, id string) (Alert, error) {
	return scanAlert(db.r.QueryRowContext(ctx, `SELECT `+alertCols+alertFrom+` WHERE a.id = ?`, id))
}

// UnresolvedAlert returns the rule's open or acknowledged alert for the
// fingerprint; ErrNotFound when there is none.
func (db *DB) UnresolvedAlert(ctx context.Context, ruleID, fingerprint string) (Alert, error) {
	return scanAlert(db.r.QueryRowContext(ctx, `SELECT `+alertCols+alertFrom+`
		WHERE a.rule_id = ? AND a.fingerprint = ? AND a.status != 'resolved' ORDER BY a.created_at DESC LIMIT 1`, ruleID, fingerprint))
}

// LatestAlert returns the rule's newest alert for the fingerprint, in any
// status; ErrNotFound when there is none.
func (db *DB) LatestAlert(ctx context.Context, ruleID, fingerprint string) (Alert, error) {
	return scanAlert(db.r.QueryRowContext(ctx, `SELECT `+alertCols+alertFrom+`
		WHERE a.rule_id = ? AND a.fingerprint = ? ORDER BY a.created_at DESC, a.id DESC LIMIT 1`, ruleID, fingerprint))
}

// UnresolvedAlerts returns the rule's open and acknowledged alerts.
func (db *DB) UnresolvedAlerts(ctx context.Context, ruleID string) ([]Alert, error) {
	return db.queryAlerts(ctx, `SELECT `+alertCols+alertFrom+` WHERE a.rule_id = ? AND a.status != 'resolved'
		ORDER BY a.created_at, a.id`, ruleID)
}

func (db *DB) queryAlerts(ctx context.Context, q string, args ...any) ([]Alert, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RecordAlertOccurrence updates an unresolved alert. An alert resolved
// meanwhile is ErrAlertState: the caller starts a new one.
func (db *DB) RecordAlertOccurrence(ctx context.Context, id string, o AlertOccurrence) error {
	count := 0
	if o.Count {
		count = 1
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET severity = ?, title = ?, body = ?,
			job_id = COALESCE(?, job_id), occurrences = occurrences + ?, updated_at = ?,
			last_notified_at = COALESCE(?, last_notified_at) WHERE id = ? AND status != 'resolved'`,
			o.Severity, o.Title, o.Body, nullString(o.JobID), count, ms(o.Now), nullMS(o.NotifiedAt), id)
		if err != nil {
			return err
		}
		return alertChanged(ctx, tx, res, id)
	})
}

// AcknowledgeAlert marks an open alert acknowledged by user: its repeats
// are no longer notified, its resolution still is. An alert that is not
// open is ErrAlertState.
func (db *DB) AcknowledgeAlert(ctx context.Context, id, user string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'acknowledged', acknowledged_by = ?, acknowledged_at = ?,
			updated_at = ? WHERE id = ? AND status = 'open'`, user, ms(now), ms(now), id)
		if err != nil {
			return err
		}
		return alertChanged(ctx, tx, res, id)
	})
}

// ResolveAlert resolves an unresolved alert; by is the user's name or
// ResolvedBySystem. A resolved alert is ErrAlertState.
func (db *DB) ResolveAlert(ctx context.Context, id, by string, now time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE alerts SET status = 'resolved', resolved_by = ?, resolved_at = ?, updated_at = ?
			WHERE id = ? AND status != 'resolved'`, by, ms(now), ms(now), id)
		if err != nil {
			return err
		}
		return alertChanged(ctx, tx, res, id)
	})
}

// alertChanged turns an UPDATE that changed no row into ErrNotFound or
// ErrAlertState.
func alertChanged(ctx context.Context, tx *sql.Tx, res sql.Result, id string) error {
	if n, _ := res.RowsAffected(); n > 0 {
		return nil
	}
	var status string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM alerts WHERE id = ?`, id).Scan(&status); err != nil {
		return mapErr(err)
	}
	return fmt.Errorf("%w: it is %s", ErrAlertState, status)
}

// ListAlerts returns alerts newest first.
func (db *DB) ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error) {
	var where []string
	var args []any
	switch f.Status {
	case "":
	case AlertActive:
		where = append(where, "a.status != 'resolved'")
	default:
		where = append(where, "a.status = ?")
		args = append(args, f.Status)
	}
	if f.HostID != "" {
		where = append(where, "a.host_id = ?")
		args = append(args, f.HostID)
	}
	if f.RuleID != "" {
		where = append(where, "a.rule_id = ?")
		args = append(args, f.RuleID)
	}
	if f.Before != "" {
		where = append(where, "(a.created_at, a.id) < (SELECT created_at, id FROM alerts WHERE id = ?)")
		args = append(args, f.Before)
	}
	q := `SELECT ` + alertCols + alertFrom
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ") //nolint:gosec // G202: fixed clauses; values are bound
	}
	q += " ORDER BY a.created_at DESC, a.id DESC LIMIT ?"
	args = append(args, max(f.Limit, 1))
	return db.queryAlerts(ctx, q, args...)
}

// ActiveHosts returns every host that is not revoked, by name: the hosts
// the alert engine watches.
func (db *DB) ActiveHosts(ctx context.Context) ([]Host, error) {
	return db.queryHosts(ctx, `SELECT `+hostCols+` FROM hosts h WHERE h.status != 'revoked' ORDER BY h.name, h.id`)
}

// BackupFreshness is when a host last backed up to a repository
// successfully.
type BackupFreshness struct {
	HostID       string
	RepositoryID string
	// LastSuccess is the end of the newest succeeded backup; nil when every
	// backup of the pair failed.
	LastSuccess *time.Time
}

// BackupFreshnesses returns one row per host and repository that any
// backup job was run for.
func (db *DB) BackupFreshnesses(ctx context.Context) ([]BackupFreshness, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT host_id, COALESCE(repository_id, ''),
		MAX(CASE WHEN status = 'succeeded' THEN finished_at END)
		FROM jobs WHERE kind = 'backup' GROUP BY host_id, repository_id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BackupFreshness
	for rows.Next() {
		var f BackupFreshness
		var last sql.NullInt64
		if err := rows.Scan(&f.HostID, &f.RepositoryID, &last); err != nil {
			return nil, err
		}
		f.LastSuccess = timePtr(last)
		out = append(out, f)
	}
	return out, rows.Err()
}

// RepositoryNames maps every repository's id to its name.
func (db *DB) RepositoryNames(ctx context.Context) (map[string]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT id, name FROM repositories`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var id, name string
		if err := rows.Scan(&id, &name); err != nil {
			return nil, err
		}
		out[id] = name
	}
	return out, rows.Err()
}
