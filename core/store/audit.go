package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"
)

// AuditEntry is one state change: who did what to which object, from where,
// and how it ended. Detail never holds secrets.
type AuditEntry struct {
	ID         int64
	Time       time.Time
	ActorKind  string // user, token, agent, system, anonymous
	ActorID    string
	ActorName  string
	Action     string // e.g. "user.create"
	TargetKind string
	TargetID   string
	SourceAddr string
	Outcome    string // success, failure, denied
	Detail     map[string]any
}

// AuditFilter narrows ListAudit. Zero fields match everything.
type AuditFilter struct {
	Actor   string // actor name or id
	Action  string // exact, or a prefix ending in '.' ("user.")
	Target  string // target id
	Outcome string // success, failure or denied
	Since   time.Time
	Until   time.Time
	Before  int64 // cursor: entries with a smaller id
	Limit   int
}

// AppendAudit writes one entry.
func (db *DB) AppendAudit(ctx context.Context, e AuditEntry) error {
	detail := []byte("{}")
	if len(e.Detail) > 0 {
		b, err := json.Marshal(e.Detail)
		if err != nil {
			return err
		}
		detail = b
	}
	return db.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (time, actor_kind, actor_id, actor_name, action,
			target_kind, target_id, source_addr, outcome, detail) VALUES (?,?,?,?,?,?,?,?,?,?)`,
			ms(e.Time), e.ActorKind, e.ActorID, e.ActorName, e.Action, e.TargetKind, e.TargetID, e.SourceAddr,
			e.Outcome, string(detail))
		return err
	})
}

// ListAudit returns entries newest first.
func (db *DB) ListAudit(ctx context.Context, f AuditFilter) ([]AuditEntry, error) {
	var where []string
	var args []any
	if f.Actor != "" {
		where = append(where, "(actor_name = ? OR actor_id = ?)")
		args = append(args, f.Actor, f.Actor)
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			where = append(where, "substr(action, 1, ?) = ?")
			args = append(args, len(f.Action), f.Action)
		} else {
			where = append(where, "action = ?")
			args = append(args, f.Action)
		}
	}
	if f.Target != "" {
		where = append(where, "target_id = ?")
		args = append(args, f.Target)
	}
	if f.Outcome != "" {
		where = append(where, "outcome = ?")
		args = append(args, f.Outcome)
	}
	if !f.Since.IsZero() {
		where = append(where, "time >= ?")
		args = append(args, ms(f.Since))
	}
	if !f.Until.IsZero() {
		where = append(where, "time < ?")
		args = append(args, ms(f.Until))
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	q := `SELECT id, time, actor_kind, actor_id, actor_name, action, target_kind, target_id, source_addr, outcome, detail
		FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ") //nolint:gosec // G202: only fixed clauses are joined; values are bound
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, max(f.Limit, 1))
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var t int64
		var detail string
		if err := rows.Scan(&e.ID, &t, &e.ActorKind, &e.ActorID, &e.ActorName, &e.Action, &e.TargetKind,
			&e.TargetID, &e.SourceAddr, &e.Outcome, &detail); err != nil {
			return nil, err
		}
		e.Time = fromMS(t)
		if detail != "{}" {
			_ = json.Unmarshal([]byte(detail), &e.Detail)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
