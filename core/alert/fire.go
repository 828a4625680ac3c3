package alert

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// firing is a rule's condition found to hold for one fingerprint.
type firing struct {
	fingerprint string
	severity    notify.Severity
	hostID      string
	hostName    string
	jobID       string
	repoID      string
	title       string
	body        string
	// event: the condition happened again (a job failed) rather than still
	// holds (a host is still offline); events count as occurrences.
	event bool
	// at is when it happened: a job's end as the server recorded it, or
	// when the condition was found; latency is measured from it.
	at time.Time
	// when is the time the notification carries.
	when time.Time
	// exclude is a channel the alert must not go to: the failing one of
	// a plugin_failing alert.
	exclude string
}

// fire records a firing: a new alert, or another occurrence of the
// unresolved one (existing, nil when the caller has not looked it up), and
// notifies the rule's channels when the throttle allows.
func (e *Engine) fire(ctx context.Context, r activeRule, f firing, existing *store.Alert) {
	now := e.now()
	if existing == nil {
		a, err := e.store.UnresolvedAlert(ctx, r.id, f.fingerprint)
		switch {
		case err == nil:
			existing = &a
		case !errors.Is(err, store.ErrNotFound):
			e.log.Error("reading an alert failed", "rule", r.spec.Name, "error", err)
			return
		}
	}
	if existing != nil {
		if e.again(ctx, r, f, *existing, now) {
			return
		}
		// Resolved meanwhile (by someone, through the API): a new alert.
	}
	e.open(ctx, r, f, now)
}

// again records another occurrence of an unresolved alert and notifies it
// if due. It reports false when the alert was resolved meanwhile.
func (e *Engine) again(ctx context.Context, r activeRule, f firing, a store.Alert, now time.Time) bool {
	old := notify.Severity(a.Severity)
	sev := f.severity
	escalated := sev.Rank() > old.Rank()
	if !escalated {
		sev = old // a severity never drops while the alert is unresolved
	}
	// An alert never notified (it opened throttled, after a resolution by
	// hand) counts its interval from when it opened.
	last := a.CreatedAt
	if a.LastNotifiedAt != nil {
		last = *a.LastNotifiedAt
	}
	due := a.Status == store.AlertOpen && now.Sub(last) >= r.spec.RepeatInterval
	notifyNow := r.notifiable(sev) && (escalated || due)
	if !f.event && !notifyNow && !escalated {
		return true // a condition that still holds, nothing new to record
	}
	o := store.AlertOccurrence{Severity: string(sev), Title: f.title, Body: f.body, JobID: f.jobID, Count: f.event, Now: now}
	if notifyNow {
		o.NotifiedAt = &now
	}
	err := e.store.RecordAlertOccurrence(ctx, a.ID, o)
	switch {
	case errors.Is(err, store.ErrAlertState):
		return false
	case err != nil:
		e.log.Error("recording an alert's occurrence failed", "alert_id", a.ID, "error", err)
		return true
	}
	if notifyNow {
		a.Severity, a.Title, a.Body = string(sev), f.title, f.body
		if f.event {
			a.Occurrences++
		}
		e.notify(r, a, f, false)
	} else {
		e.log.Debug("alert repeat throttled", "alert_id", a.ID, "rule", r.spec.Name, "status", a.Status)
	}
	return true
}

// open starts a new alert and notifies it, unless the rule's minimum
// severity keeps it quiet or it came back soon after someone resolved its
// previous alert by hand.
func (e *Engine) open(ctx context.Context, r activeRule, f firing, now time.Time) {
	throttled := false
	if prev, err := e.store.LatestAlert(ctx, r.id, f.fingerprint); err == nil &&
		prev.ResolvedBy != store.ResolvedBySystem && prev.LastNotifiedAt != nil && now.Sub(*prev.LastNotifiedAt) < r.spec.RepeatInterval {
		throttled = true
	}
	notifyNow := r.notifiable(f.severity) && !throttled
	a := store.Alert{
		ID: auth.NewID(), RuleID: r.id, RuleName: r.spec.Name, Kind: string(r.spec.On), Severity: string(f.severity),
		Status: store.AlertOpen, Fingerprint: f.fingerprint, HostID: f.hostID, HostName: f.hostName, JobID: f.jobID,
		RepositoryID: f.repoID, Title: f.title, Body: f.body, Occurrences: 1, CreatedAt: now, UpdatedAt: now,
	}
	if notifyNow {
		a.LastNotifiedAt = &now
	}
	if err := e.store.CreateAlert(ctx, a); err != nil {
		e.log.Error("storing an alert failed", "rule", r.spec.Name, "error", err)
		return
	}
	e.log.Info("alert opened", "alert_id", a.ID, "rule", r.spec.Name, "condition", r.spec.On, "severity", f.severity,
		"host_id", f.hostID, "job_id", f.jobID, "notified", notifyNow)
	e.audit(ctx, "alert.fire", a.ID, map[string]any{
		"rule": r.spec.Name, "condition": string(r.spec.On), "severity": string(f.severity), "host_id": f.hostID,
		"job_id": f.jobID, "notified": notifyNow,
	})
	if notifyNow {
		e.notify(r, a, f, false)
	}
}

// resolve resolves an unresolved alert whose condition cleared and, if it
// was notified, sends the resolution notice to the rule's channels.
func (e *Engine) resolve(ctx context.Context, r activeRule, a store.Alert, why string) {
	now := e.now()
	err := e.store.ResolveAlert(ctx, a.ID, store.ResolvedBySystem, now)
	switch {
	case errors.Is(err, store.ErrAlertState), errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		e.log.Error("resolving an alert failed", "alert_id", a.ID, "error", err)
		return
	}
	e.log.Info("alert resolved", "alert_id", a.ID, "rule", r.spec.Name, "reason", why)
	e.audit(ctx, "alert.resolve", a.ID, map[string]any{"rule": r.spec.Name, "condition": a.Kind, "reason": why, "notified": a.LastNotifiedAt != nil})
	if a.LastNotifiedAt == nil {
		return
	}
	f := firing{severity: notify.SeverityInfo, hostID: a.HostID, hostName: a.HostName, jobID: a.JobID, at: now, when: now}
	a.Title = "Resolved: " + a.Title
	a.Body = why
	e.notify(r, a, f, true)
}

// resolveFingerprint resolves the rule's unresolved alert for fp, if any.
func (e *Engine) resolveFingerprint(ctx context.Context, r activeRule, fp, why string) {
	a, err := e.store.UnresolvedAlert(ctx, r.id, fp)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return
	case err != nil:
		e.log.Error("reading an alert failed", "rule", r.spec.Name, "error", err)
		return
	}
	e.resolve(ctx, r, a, why)
}

// settle brings a rule's alerts in line with the fingerprints its
// condition holds for now: each firing recorded, every other unresolved
// alert resolved with why(alert).
func (e *Engine) settle(ctx context.Context, r activeRule, active map[string]firing, why func(store.Alert) string) {
	unresolved, err := e.store.UnresolvedAlerts(ctx, r.id)
	if err != nil {
		if ctx.Err() == nil {
			e.log.Error("reading alerts failed", "rule", r.spec.Name, "error", err)
		}
		return
	}
	byFP := map[string]store.Alert{}
	for _, a := range unresolved {
		byFP[a.Fingerprint] = a
	}
	fps := make([]string, 0, len(active))
	for fp := range active {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	for _, fp := range fps {
		if a, ok := byFP[fp]; ok {
			e.fire(ctx, r, active[fp], &a)
		} else {
			e.fire(ctx, r, active[fp], nil)
		}
	}
	for _, a := range unresolved {
		if _, ok := active[a.Fingerprint]; !ok {
			e.resolve(ctx, r, a, why(a))
		}
	}
}

// notify sends the alert a to the rule's channels. resolution marks a
// resolution notice.
func (e *Engine) notify(r activeRule, a store.Alert, f firing, resolution bool) {
	n := notify.Notification{
		Event:    eventOf(r.spec.On),
		Severity: notify.Severity(a.Severity),
		Title:    a.Title,
		Body:     a.Body + footer(r.spec.Name, a.ID, a.Occurrences),
		Host:     a.HostName,
		Job:      a.JobID,
		Links:    e.links(a.JobID, a.HostID),
		Time:     f.when,
	}
	if resolution {
		n.Event, n.Severity = notify.EventAlertResolved, notify.SeverityInfo
	}
	if n.Time.IsZero() {
		n.Time = e.now()
	}
	sent := 0
	for _, ch := range r.spec.Channels {
		if ch == f.exclude {
			continue
		}
		e.out.enqueue(delivery{channel: ch, alertID: a.ID, n: n, since: f.at})
		sent++
	}
	if sent == 0 {
		e.log.Warn("alert has no channel to go to", "alert_id", a.ID, "rule", r.spec.Name, "excluded", f.exclude)
	}
}

// audit writes a system audit entry about an alert.
func (e *Engine) audit(ctx context.Context, action, alertID string, detail map[string]any) {
	err := e.store.AppendAudit(ctx, store.AuditEntry{
		Time: e.now(), ActorKind: "system", ActorName: "alert_engine", Action: action,
		TargetKind: "alert", TargetID: alertID, Outcome: "success", Detail: detail,
	})
	if err != nil && ctx.Err() == nil {
		e.log.Error("writing an audit entry failed", "action", action, "error", err)
	}
}
