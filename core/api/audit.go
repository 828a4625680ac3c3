package api

import (
	"net/http"
	"strconv"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

type auditJSON struct {
	ID         int64          `json:"id"`
	Time       time.Time      `json:"time"`
	ActorKind  string         `json:"actor_kind"`
	ActorID    string         `json:"actor_id"`
	Actor      string         `json:"actor"`
	Action     string         `json:"action"`
	TargetKind string         `json:"target_kind"`
	TargetID   string         `json:"target_id"`
	SourceAddr string         `json:"source_addr"`
	Outcome    string         `json:"outcome"`
	Detail     map[string]any `json:"detail"`
}

func parseTime(name, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, errorf(http.StatusBadRequest, "bad_request", "%s must be an RFC 3339 time such as 2026-01-02T15:04:05Z", name)
	}
	return t, nil
}

// listAudit lists audit entries, newest first, filtered by actor, action
// (exact or a prefix ending in "."), target, outcome and time.
func (a *API) listAudit(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{
		Actor: q.Get("actor"), Action: q.Get("action"), Target: q.Get("target"), Outcome: q.Get("outcome"), Limit: limit + 1,
	}
	switch f.Outcome {
	case "", "success", "failure", "denied":
	default:
		return errorf(http.StatusBadRequest, "bad_request", "outcome must be success, failure or denied")
	}
	if f.Since, err = parseTime("since", q.Get("since")); err != nil {
		return err
	}
	if f.Until, err = parseTime("until", q.Get("until")); err != nil {
		return err
	}
	if cursor != "" {
		if f.Before, err = strconv.ParseInt(cursor, 10, 64); err != nil {
			return errorf(http.StatusBadRequest, "bad_request", "cursor is not one this server gave out")
		}
	}
	entries, err := a.store.ListAudit(r.Context(), f)
	if err != nil {
		return err
	}
	key := func(e store.AuditEntry) string { return strconv.FormatInt(e.ID, 10) }
	writePage(w, entries, limit, key, toAuditJSON)
	return nil
}

func toAuditJSON(e store.AuditEntry) auditJSON {
	d := e.Detail
	if d == nil {
		d = map[string]any{}
	}
	return auditJSON{
		ID: e.ID, Time: e.Time, ActorKind: e.ActorKind, ActorID: e.ActorID, Actor: e.ActorName,
		Action: e.Action, TargetKind: e.TargetKind, TargetID: e.TargetID, SourceAddr: e.SourceAddr, Outcome: e.Outcome, Detail: d,
	}
}
