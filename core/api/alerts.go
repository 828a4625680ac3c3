package api

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/alert"
	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/api/apijson"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// AlertStore is what the alert and alert rule endpoints need of the store.
type AlertStore interface {
	CreateAlertRule(ctx context.Context, r store.AlertRule) error
	GetAlertRule(ctx context.Context, ref string) (store.AlertRule, error)
	ListAlertRules(ctx context.Context, after string, limit int) ([]store.AlertRule, error)
	UpdateAlertRule(ctx context.Context, r store.AlertRule) error
	DeleteAlertRule(ctx context.Context, id string, now time.Time) error
	GetAlert(ctx context.Context, id string) (store.Alert, error)
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error)
	AcknowledgeAlert(ctx context.Context, id, user string, now time.Time) error
	ResolveAlert(ctx context.Context, id, by string, now time.Time) error
}

// alertRoutes are the alert rules, the alerts and a host's alert history.
// Anyone may read them; operators manage rules and handle alerts.
func (a *API) alertRoutes() []route {
	return []route{
		{name: "alert_rule.list", method: http.MethodGet, path: "/api/v1/alert-rules", access: viewer, handle: a.listAlertRules},
		{name: "alert_rule.create", method: http.MethodPost, path: "/api/v1/alert-rules", access: operator, handle: a.createAlertRule},
		{name: "alert_rule.show", method: http.MethodGet, path: "/api/v1/alert-rules/{id}", access: viewer, handle: a.showAlertRule},
		{name: "alert_rule.update", method: http.MethodPatch, path: "/api/v1/alert-rules/{id}", access: operator, handle: a.updateAlertRule},
		{name: "alert_rule.delete", method: http.MethodDelete, path: "/api/v1/alert-rules/{id}", access: operator, handle: a.deleteAlertRule},
		{name: "alert.list", method: http.MethodGet, path: "/api/v1/alerts", access: viewer, handle: a.listAlerts},
		{name: "alert.show", method: http.MethodGet, path: "/api/v1/alerts/{id}", access: viewer, handle: a.showAlert},
		{name: "alert.ack", method: http.MethodPost, path: "/api/v1/alerts/{id}/ack", access: operator, handle: a.ackAlert},
		{name: "alert.resolve", method: http.MethodPost, path: "/api/v1/alerts/{id}/resolve", access: operator, handle: a.resolveAlert},
		{name: "host.alerts", method: http.MethodGet, path: "/api/v1/hosts/{id}/alerts", access: viewer, handle: a.hostAlerts},
	}
}

type alertRuleJSON = apijson.AlertRule

func toAlertRuleJSON(r store.AlertRule) alertRuleJSON {
	out := alertRuleJSON{
		ID: r.ID, Name: r.Name, On: r.Event, Channels: nonNilStrings(r.Channels), MinSeverity: r.MinSeverity,
		RepeatInterval: rule.FormatDuration(r.Repeat), Enabled: r.Enabled, Kinds: []string{}, Hosts: []string{},
		Tags: []string{}, Repositories: []string{}, ManagedBy: r.ManagedBy, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
	}
	if s, err := alert.FromStore(r); err == nil {
		out.Kinds, out.Hosts, out.Tags, out.Repositories = nonNilStrings(s.Kinds), nonNilStrings(s.Hosts), nonNilStrings(s.Tags), nonNilStrings(s.Repositories)
		if s.On == rule.BackupStale {
			out.MaxAge = rule.FormatDuration(s.MaxAge)
			out.Intervals = s.Intervals
		}
		if s.On == rule.HostOffline || s.On == rule.RepoLocked {
			out.After = rule.FormatDuration(s.After)
		}
	}
	return out
}

// ruleError turns a rule's validation problems into a 400 naming the
// first field, with every problem in the message.
func ruleError(err error) error {
	probs := rule.Problems(err)
	if len(probs) == 0 {
		return err
	}
	msgs := make([]string, len(probs))
	for i, p := range probs {
		msgs[i] = p.Error()
	}
	return errorf(http.StatusBadRequest, "bad_"+probs[0].Field, "%s", strings.Join(msgs, "; "))
}

// checkChannels refuses channels the server does not have.
func (a *API) checkChannels(channels []string) error {
	var known []string
	if a.opts.Plugins != nil {
		for _, c := range a.opts.Plugins.Channels() {
			known = append(known, c.Name)
		}
	}
	for _, c := range channels {
		if slices.Contains(known, c) {
			continue
		}
		if len(known) == 0 {
			return errorf(http.StatusBadRequest, "bad_channels", "channels: no channel %q; the server has no channels (an admin adds them on the channels page, with POST /api/v1/channels, or in the configuration file)", c)
		}
		return errorf(http.StatusBadRequest, "bad_channels", "channels: no channel %q; the channels are %s", c, strings.Join(known, ", "))
	}
	return nil
}

// lookupAlertRule resolves {id}: a rule id, or else a rule name.
func (a *API) lookupAlertRule(r *http.Request) (store.AlertRule, error) {
	ref := mux.Vars(r)["id"]
	rl, err := a.store.GetAlertRule(r.Context(), ref)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.AlertRule{}, errorf(http.StatusNotFound, "not_found", "no alert rule %q", ref)
	case err != nil:
		return store.AlertRule{}, err
	}
	setTarget(r, "alert_rule", rl.ID)
	return rl, nil
}

func (a *API) listAlertRules(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	rows, err := a.store.ListAlertRules(r.Context(), cursor, limit+1)
	if err != nil {
		return err
	}
	writePage(w, rows, limit, func(rl store.AlertRule) string { return rl.Name }, toAlertRuleJSON)
	return nil
}

func (a *API) showAlertRule(w http.ResponseWriter, r *http.Request) error {
	rl, err := a.lookupAlertRule(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAlertRuleJSON(rl))
	return nil
}

type createAlertRuleRequest struct {
	Name           string   `json:"name"`
	On             string   `json:"on"`
	Channels       []string `json:"channels"`
	MinSeverity    string   `json:"min_severity"`
	RepeatInterval string   `json:"repeat_interval"`
	Enabled        *bool    `json:"enabled"`
	Kinds          []string `json:"kinds"`
	Hosts          []string `json:"hosts"`
	Tags           []string `json:"tags"`
	Repositories   []string `json:"repositories"`
	MaxAge         string   `json:"max_age"`
	After          string   `json:"after"`
	Intervals      int      `json:"intervals"`
}

func (a *API) createAlertRule(w http.ResponseWriter, r *http.Request) error {
	var req createAlertRuleRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st := state(r)
	st.detail = map[string]any{"name": req.Name}
	spec, err := rule.Parse(rule.Input{
		Name: req.Name, On: req.On, Channels: req.Channels, MinSeverity: req.MinSeverity, RepeatInterval: req.RepeatInterval,
		Enabled: req.Enabled, Kinds: req.Kinds, Hosts: req.Hosts, Tags: req.Tags, Repositories: req.Repositories,
		MaxAge: req.MaxAge, After: req.After, Intervals: req.Intervals,
	})
	if err != nil {
		return ruleError(err)
	}
	if err := a.checkChannels(spec.Channels); err != nil {
		return err
	}
	row := alert.ToStore(spec, auth.NewID(), a.now())
	switch err := a.store.CreateAlertRule(r.Context(), row); {
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "an alert rule named %q exists already", spec.Name)
	case err != nil:
		return err
	}
	setTarget(r, "alert_rule", row.ID)
	st.detail["on"], st.detail["channels"] = string(spec.On), spec.Channels
	a.logger.Info("alert rule created", "rule_id", row.ID, "name", row.Name, "on", row.Event)
	writeJSON(w, http.StatusCreated, toAlertRuleJSON(row))
	return nil
}

// updateAlertRuleRequest changes what it names; a list replaces the whole
// list ([] clears it).
type updateAlertRuleRequest struct {
	Name           *string   `json:"name"`
	On             *string   `json:"on"`
	Channels       *[]string `json:"channels"`
	MinSeverity    *string   `json:"min_severity"`
	RepeatInterval *string   `json:"repeat_interval"`
	Enabled        *bool     `json:"enabled"`
	Kinds          *[]string `json:"kinds"`
	Hosts          *[]string `json:"hosts"`
	Tags           *[]string `json:"tags"`
	Repositories   *[]string `json:"repositories"`
	MaxAge         *string   `json:"max_age"`
	After          *string   `json:"after"`
	Intervals      *int      `json:"intervals"`
}

func (req updateAlertRuleRequest) apply(in *rule.Input) []string {
	var changed []string
	set := func(name string, dst *string, v *string) {
		if v != nil {
			*dst = *v
			changed = append(changed, name)
		}
	}
	setList := func(name string, dst *[]string, v *[]string) {
		if v != nil {
			*dst = *v
			changed = append(changed, name)
		}
	}
	set(rule.FieldName, &in.Name, req.Name)
	set(rule.FieldOn, &in.On, req.On)
	setList(rule.FieldChannels, &in.Channels, req.Channels)
	set(rule.FieldMinSeverity, &in.MinSeverity, req.MinSeverity)
	set(rule.FieldRepeatInterval, &in.RepeatInterval, req.RepeatInterval)
	setList(rule.FieldKinds, &in.Kinds, req.Kinds)
	setList(rule.FieldHosts, &in.Hosts, req.Hosts)
	setList(rule.FieldTags, &in.Tags, req.Tags)
	setList(rule.FieldRepositories, &in.Repositories, req.Repositories)
	set(rule.FieldMaxAge, &in.MaxAge, req.MaxAge)
	set(rule.FieldAfter, &in.After, req.After)
	if req.Intervals != nil {
		in.Intervals = *req.Intervals
		changed = append(changed, rule.FieldIntervals)
	}
	if req.Enabled != nil {
		in.Enabled = req.Enabled
		changed = append(changed, "enabled")
	}
	return changed
}

func (a *API) updateAlertRule(w http.ResponseWriter, r *http.Request) error {
	cur, err := a.lookupAlertRule(r)
	if err != nil {
		return err
	}
	var req updateAlertRuleRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st := state(r)
	st.detail = map[string]any{"name": cur.Name}
	if cur.ManagedBy == store.ManagedByConfig {
		return errorf(http.StatusConflict, "managed_by_config", "alert rule %q is declared in the configuration file; change it there", cur.Name)
	}
	spec, err := alert.FromStore(cur)
	if err != nil {
		return err
	}
	in := spec.Input()
	changed := req.apply(&in)
	spec, err = rule.Parse(in)
	if err != nil {
		return ruleError(err)
	}
	if req.Channels != nil {
		if err := a.checkChannels(spec.Channels); err != nil {
			return err
		}
	}
	row := alert.ToStore(spec, cur.ID, a.now())
	row.CreatedAt, row.ManagedBy = cur.CreatedAt, cur.ManagedBy
	switch err := a.store.UpdateAlertRule(r.Context(), row); {
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "an alert rule named %q exists already", spec.Name)
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "no alert rule %q", cur.Name)
	case err != nil:
		return err
	}
	st.detail["changed"] = changed
	if spec.Name != cur.Name {
		st.detail["new_name"] = spec.Name
	}
	a.logger.Info("alert rule updated", "rule_id", row.ID, "name", row.Name)
	writeJSON(w, http.StatusOK, toAlertRuleJSON(row))
	return nil
}

func (a *API) deleteAlertRule(w http.ResponseWriter, r *http.Request) error {
	cur, err := a.lookupAlertRule(r)
	if err != nil {
		return err
	}
	state(r).detail = map[string]any{"name": cur.Name}
	if cur.ManagedBy == store.ManagedByConfig {
		return errorf(http.StatusConflict, "managed_by_config", "alert rule %q is declared in the configuration file; remove it there", cur.Name)
	}
	switch err := a.store.DeleteAlertRule(r.Context(), cur.ID, a.now()); {
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "no alert rule %q", cur.Name)
	case err != nil:
		return err
	}
	a.logger.Info("alert rule deleted", "rule_id", cur.ID, "name", cur.Name)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

type alertJSON = apijson.Alert

func toAlertJSON(al store.Alert) alertJSON {
	return alertJSON{
		ID: al.ID, RuleID: al.RuleID, Rule: al.RuleName, Kind: al.Kind, Severity: al.Severity, Status: al.Status,
		Fingerprint: al.Fingerprint, HostID: al.HostID, Host: al.HostName, JobID: al.JobID, RepositoryID: al.RepositoryID,
		Repository: al.RepositoryName, Title: al.Title, Body: al.Body, Occurrences: al.Occurrences, CreatedAt: al.CreatedAt,
		UpdatedAt: al.UpdatedAt, AcknowledgedBy: al.AcknowledgedBy, AcknowledgedAt: al.AcknowledgedAt,
		ResolvedBy: al.ResolvedBy, ResolvedAt: al.ResolvedAt, LastNotifiedAt: al.LastNotifiedAt,
	}
}

// alertFilter reads ?status, ?rule (an id or a name) and the page.
func (a *API) alertFilter(r *http.Request) (store.AlertFilter, int, error) {
	limit, cursor, err := page(r)
	if err != nil {
		return store.AlertFilter{}, 0, err
	}
	q := r.URL.Query()
	f := store.AlertFilter{Status: q.Get("status"), Before: cursor, Limit: limit + 1}
	switch f.Status {
	case "", store.AlertOpen, store.AlertAcknowledged, store.AlertResolved, store.AlertActive:
	default:
		return f, 0, errorf(http.StatusBadRequest, "bad_status", "status: %q is not open, acknowledged, resolved or active", f.Status)
	}
	if ref := q.Get("rule"); ref != "" {
		rl, err := a.store.GetAlertRule(r.Context(), ref)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return f, 0, errorf(http.StatusBadRequest, "bad_rule", "rule: no alert rule %q", ref)
		case err != nil:
			return f, 0, err
		}
		f.RuleID = rl.ID
	}
	return f, limit, nil
}

// listAlerts lists alerts newest first, filtered by status, rule and host
// (an id or a unique name).
func (a *API) listAlerts(w http.ResponseWriter, r *http.Request) error {
	f, limit, err := a.alertFilter(r)
	if err != nil {
		return err
	}
	if ref := r.URL.Query().Get("host"); ref != "" {
		h, err := a.hostByRef(r.Context(), ref)
		if err != nil {
			return err
		}
		f.HostID = h.ID
	}
	return a.writeAlerts(w, r, f, limit)
}

// hostAlerts is a host's alert history.
func (a *API) hostAlerts(w http.ResponseWriter, r *http.Request) error {
	h, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	f, limit, err := a.alertFilter(r)
	if err != nil {
		return err
	}
	f.HostID = h.ID
	return a.writeAlerts(w, r, f, limit)
}

func (a *API) writeAlerts(w http.ResponseWriter, r *http.Request, f store.AlertFilter, limit int) error {
	rows, err := a.store.ListAlerts(r.Context(), f)
	if err != nil {
		return err
	}
	writePage(w, rows, limit, func(al store.Alert) string { return al.ID }, toAlertJSON)
	return nil
}

// hostByRef finds the host of a ?host filter: an id, or a name only one
// host that is not revoked has.
func (a *API) hostByRef(ctx context.Context, ref string) (store.Host, error) {
	h, err := a.store.GetHost(ctx, ref)
	if err == nil {
		return h, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return store.Host{}, err
	}
	named, err := a.store.GetHostsByName(ctx, ref)
	if err != nil {
		return store.Host{}, err
	}
	var live []store.Host
	for _, h := range named {
		if h.Status != store.HostRevoked {
			live = append(live, h)
		}
	}
	switch {
	case len(named) == 1:
		return named[0], nil
	case len(live) == 1:
		return live[0], nil
	case len(named) == 0:
		return store.Host{}, errorf(http.StatusBadRequest, "bad_host", "host: no host %q", ref)
	}
	return store.Host{}, errorf(http.StatusBadRequest, "bad_host", "host: %d hosts are named %q; use the host's id", len(named), ref)
}

func (a *API) lookupAlert(r *http.Request) (store.Alert, error) {
	id := mux.Vars(r)["id"]
	al, err := a.store.GetAlert(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Alert{}, errorf(http.StatusNotFound, "not_found", "no alert %q", id)
	case err != nil:
		return store.Alert{}, err
	}
	setTarget(r, "alert", al.ID)
	return al, nil
}

func (a *API) showAlert(w http.ResponseWriter, r *http.Request) error {
	al, err := a.lookupAlert(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAlertJSON(al))
	return nil
}

// ackAlert acknowledges an open alert: its repeats are no longer notified.
func (a *API) ackAlert(w http.ResponseWriter, r *http.Request) error {
	return a.changeAlert(w, r, "acknowledge", func(ctx context.Context, id, user string) error {
		return a.store.AcknowledgeAlert(ctx, id, user, a.now())
	})
}

// resolveAlert resolves an alert by hand; no notice is sent. A condition
// that still holds opens a new alert, quiet for the rule's repeat interval
// (docs/alerts.md, "Throttling and repeats").
func (a *API) resolveAlert(w http.ResponseWriter, r *http.Request) error {
	return a.changeAlert(w, r, "resolve", func(ctx context.Context, id, user string) error {
		return a.store.ResolveAlert(ctx, id, user, a.now())
	})
}

func (a *API) changeAlert(w http.ResponseWriter, r *http.Request, verb string, change func(ctx context.Context, id, user string) error) error {
	al, err := a.lookupAlert(r)
	if err != nil {
		return err
	}
	state(r).detail = map[string]any{"rule": al.RuleName, "title": al.Title, "status_was": al.Status}
	user := state(r).who.user.Username
	switch err := change(r.Context(), al.ID, user); {
	case errors.Is(err, store.ErrAlertState):
		return errorf(http.StatusConflict, "conflict", "cannot %s alert %s: %v", verb, al.ID, err)
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusNotFound, "not_found", "no alert %q", al.ID)
	case err != nil:
		return err
	}
	al, err = a.store.GetAlert(r.Context(), al.ID)
	if err != nil {
		return err
	}
	a.logger.Info("alert "+verb+"d", "alert_id", al.ID, "user", user)
	writeJSON(w, http.StatusOK, toAlertJSON(al))
	return nil
}
