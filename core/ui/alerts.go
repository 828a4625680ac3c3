package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// alertsPerPage is how many alerts one page of /alerts shows.
const alertsPerPage = 50

// alertRoutes are the alert list, its acknowledge and resolve buttons,
// and the alert rules (list for everyone, create and delete for those the
// API lets).
func (u *UI) alertRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.alerts", method: http.MethodGet, path: "/alerts", access: loggedIn, handler: u.alertsPage},
		{name: "ui.alerts.ack", method: http.MethodPost, path: "/alerts/{id}/ack", access: loggedIn, handler: u.alertAck},
		{name: "ui.alerts.resolve", method: http.MethodPost, path: "/alerts/{id}/resolve", access: loggedIn, handler: u.alertResolve},
		{name: "ui.alert_rules.create", method: http.MethodPost, path: "/alert-rules", access: loggedIn, handler: u.alertRuleCreate},
		{name: "ui.alert_rules.delete.confirm", method: http.MethodGet, path: "/alert-rules/{id}/delete", access: loggedIn, handler: u.alertRuleDeleteConfirm},
		{name: "ui.alert_rules.delete", method: http.MethodPost, path: "/alert-rules/{id}/delete", access: loggedIn, handler: u.alertRuleDelete},
	}
}

// alertItem is an alert as the API answers it.
type alertItem struct {
	ID             string     `json:"id"`
	Rule           string     `json:"rule"`
	Kind           string     `json:"kind"`
	Severity       string     `json:"severity"`
	Status         string     `json:"status"`
	HostID         string     `json:"host_id"`
	Host           string     `json:"host"`
	JobID          string     `json:"job_id"`
	Repository     string     `json:"repository"`
	Title          string     `json:"title"`
	Body           string     `json:"body"`
	Occurrences    int        `json:"occurrences"`
	CreatedAt      time.Time  `json:"created_at"`
	UpdatedAt      time.Time  `json:"updated_at"`
	AcknowledgedBy string     `json:"acknowledged_by"`
	AcknowledgedAt *time.Time `json:"acknowledged_at"`
	ResolvedBy     string     `json:"resolved_by"`
	ResolvedAt     *time.Time `json:"resolved_at"`
}

// Open reports whether the alert still waits for someone.
func (a alertItem) Open() bool { return a.Status == "open" }

// Resolved reports whether the alert is over.
func (a alertItem) Resolved() bool { return a.Status == "resolved" }

// ResolvedByText says who resolved it: a user, or the condition clearing.
func (a alertItem) ResolvedByText() string {
	if a.ResolvedBy == "system" {
		return "its condition cleared"
	}
	return a.ResolvedBy
}

// alertRuleItem is an alert rule as the API answers it.
type alertRuleItem struct {
	ID             string   `json:"id"`
	Name           string   `json:"name"`
	On             string   `json:"on"`
	Channels       []string `json:"channels"`
	MinSeverity    string   `json:"min_severity"`
	RepeatInterval string   `json:"repeat_interval"`
	Enabled        bool     `json:"enabled"`
	Kinds          []string `json:"kinds"`
	Hosts          []string `json:"hosts"`
	Tags           []string `json:"tags"`
	Repositories   []string `json:"repositories"`
	MaxAge         string   `json:"max_age"`
	After          string   `json:"after"`
	Intervals      int      `json:"intervals"`
	ManagedBy      string   `json:"managed_by"`
}

// Filters describes what narrows the rule, for the list; "" when nothing.
func (r alertRuleItem) Filters() string {
	var parts []string
	add := func(label string, list []string) {
		if len(list) > 0 {
			parts = append(parts, label+" "+strings.Join(list, ", "))
		}
	}
	add("kinds", r.Kinds)
	add("hosts", r.Hosts)
	add("tags", r.Tags)
	add("repositories", r.Repositories)
	if r.MaxAge != "" {
		parts = append(parts, "older than "+r.MaxAge)
	}
	if r.Intervals > 0 {
		parts = append(parts, fmt.Sprintf("%d × the schedule's interval", r.Intervals))
	}
	if r.After != "" {
		parts = append(parts, "after "+r.After)
	}
	return strings.Join(parts, " · ")
}

// channelItem is a notification channel as the API answers it.
type channelItem struct {
	Name   string `json:"name"`
	Plugin string `json:"plugin"`
}

// alertFilter is the list's filter form, as typed.
type alertFilter struct {
	Status, Host, Rule string
}

func (f alertFilter) query() url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "host": f.Host, "rule": f.Rule} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q
}

// alertStatuses are the filter's choices: "active" is open or
// acknowledged, the default.
var alertStatuses = []struct{ Value, Label string }{
	{"active", "open or acknowledged"},
	{"open", "open"},
	{"acknowledged", "acknowledged"},
	{"resolved", "resolved"},
	{"all", "all"},
}

// alertConditions are the rule conditions, as the create form offers
// them, with what each watches.
var alertConditions = []struct{ Value, Label string }{
	{"job_failed", "a job failed"},
	{"check_failed", "a repository check failed"},
	{"backup_stale", "no successful backup within an age"},
	{"host_offline", "a host is offline longer than a time"},
	{"repo_locked", "a repository is locked longer than a time"},
	{"plugin_failing", "a notification channel is failing"},
}

// alertRuleForm is the rule form as typed, kept when the API refuses it.
type alertRuleForm struct {
	Name, On, MinSeverity, RepeatInterval, Kinds, Hosts, Tags, Repositories, MaxAge, After, Intervals string
	Channels                                                                                          []string
}

// alertList is what the shared "alert-list" template shows: on /alerts
// and on a host's alerts tab.
type alertList struct {
	Items     []alertItem
	CanManage bool
	CSRF      string
	// Back is the page the buttons return to.
	Back     string
	ShowHost bool
	// Empty is what an empty list says.
	Empty string
}

type alertsData struct {
	List          alertList
	Filter        alertFilter
	Filtered      bool
	Statuses      []struct{ Value, Label string }
	Conditions    []struct{ Value, Label string }
	Severities    []string
	Rules         []alertRuleItem
	Channels      []channelItem
	CanManage     bool
	Form          alertRuleForm
	Older, Newest string
}

func (u *UI) alertsPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	q := r.URL.Query()
	f := alertFilter{Status: q.Get("status"), Host: strings.TrimSpace(q.Get("host")), Rule: strings.TrimSpace(q.Get("rule"))}
	u.renderAlerts(w, r, c, http.StatusOK, f, q.Get("cursor"), alertRuleForm{MinSeverity: "warning", RepeatInterval: "1h"}, nil)
}

func (u *UI) renderAlerts(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, f alertFilter, cursor string, form alertRuleForm, flashes []flash) {
	d := alertsData{
		Filter: f, Filtered: f.Host != "" || f.Rule != "" || (f.Status != "" && f.Status != "active"),
		Statuses: alertStatuses, Conditions: alertConditions, Severities: []string{"info", "warning", "critical"}, CanManage: canRun(c), Form: form,
	}
	if d.Filter.Status == "" {
		d.Filter.Status = "active"
	}
	apiQ := d.Filter.query()
	if d.Filter.Status == "all" {
		apiQ.Del("status")
	}
	apiQ.Set("limit", strconv.Itoa(alertsPerPage))
	if cursor != "" {
		apiQ.Set("cursor", cursor)
	}
	var page itemsPage[alertItem]
	if err := u.call(r, c, http.MethodGet, "/api/v1/alerts?"+apiQ.Encode(), nil, &page); err != nil {
		// A filter the API refuses (an unknown host or rule) is shown on
		// the page with the form to fix it; anything else is the error page.
		s, msg := u.userMessage(err)
		if s != http.StatusBadRequest {
			u.fail(w, r, c, err)
			return
		}
		status = s
		flashes = append(flashes, flash{Kind: "error", Message: msg})
	}
	back := "/alerts"
	if fq := f.query().Encode(); fq != "" {
		back += "?" + fq
	}
	d.List = alertList{Items: sortOpenFirst(page.Items), CanManage: d.CanManage, CSRF: c.CSRF, Back: back, ShowHost: true, Empty: "No alerts."}
	if d.Filtered {
		d.List.Empty = "No alerts match this filter."
	} else if d.Filter.Status == "active" {
		d.List.Empty = "No open alerts: all is well."
	}
	if page.NextCursor != "" {
		older := f.query()
		older.Set("cursor", page.NextCursor)
		d.Older = "/alerts?" + older.Encode()
	}
	if cursor != "" {
		d.Newest = back
	}
	rules, err := allItems[alertRuleItem](u, r, c, "/api/v1/alert-rules")
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	d.Rules = rules
	if d.CanManage {
		var list itemsPage[channelItem]
		if err := u.call(r, c, http.MethodGet, "/api/v1/channels", nil, &list); err != nil {
			u.fail(w, r, c, err)
			return
		}
		d.Channels = list.Items
	}
	u.render(w, r, c, status, "alerts", view{Title: "Alerts", Nav: "alerts", Data: d, Flashes: flashes})
}

// sortOpenFirst puts open alerts before acknowledged ones and those before
// resolved ones, newest first within each (the API's order).
func sortOpenFirst(items []alertItem) []alertItem {
	rank := func(s string) int {
		switch s {
		case "open":
			return 0
		case "acknowledged":
			return 1
		}
		return 2
	}
	out := make([]alertItem, 0, len(items))
	for want := range 3 {
		for _, a := range items {
			if rank(a.Status) == want {
				out = append(out, a)
			}
		}
	}
	return out
}

// alertBack is where a button returns: the page it was pressed on, if it
// is this site's alerts or host page.
func alertBack(r *http.Request) string {
	back := r.PostFormValue("back")
	if strings.HasPrefix(back, "/alerts") || strings.HasPrefix(back, "/hosts/") {
		return safeNext(back)
	}
	return "/alerts"
}

// alertDone redirects an acknowledge or resolve button back to its page
// with the outcome as a flash message.
func (u *UI) alertDone(w http.ResponseWriter, r *http.Request, err error, okMsg string) {
	if err != nil {
		_, msg := u.userMessage(err)
		u.setFlash(w, "error", msg)
	} else {
		u.setFlash(w, "ok", okMsg)
	}
	http.Redirect(w, r, alertBack(r), http.StatusSeeOther) //nolint:gosec // G710: alertBack keeps it a path of this site's alert or host pages
}

func (u *UI) alertAck(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	var a alertItem
	err := u.call(r, c, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(mux.Vars(r)["id"])+"/ack", nil, &a)
	u.alertDone(w, r, err, fmt.Sprintf("Alert %q acknowledged: its repeats are no longer notified.", a.Title))
}

func (u *UI) alertResolve(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	var a alertItem
	err := u.call(r, c, http.MethodPost, "/api/v1/alerts/"+url.PathEscape(mux.Vars(r)["id"])+"/resolve", nil, &a)
	u.alertDone(w, r, err, fmt.Sprintf("Alert %q resolved.", a.Title))
}

// splitList reads a comma- or space-separated list field.
func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
}

func readAlertRuleForm(r *http.Request) alertRuleForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	_ = r.ParseForm()
	return alertRuleForm{
		Name: v("name"), On: v("on"), MinSeverity: v("min_severity"), RepeatInterval: v("repeat_interval"),
		Kinds: v("kinds"), Hosts: v("hosts"), Tags: v("tags"), Repositories: v("repositories"),
		MaxAge: v("max_age"), After: v("after"), Intervals: v("intervals"), Channels: r.PostForm["channels"],
	}
}

// body is the form as the body of POST /api/v1/alert-rules: only what was
// filled in, so the API's defaults and field checks apply.
func (f alertRuleForm) body() (map[string]any, error) {
	b := map[string]any{"name": f.Name, "on": f.On, "channels": f.Channels}
	for k, v := range map[string]string{"min_severity": f.MinSeverity, "repeat_interval": f.RepeatInterval, "max_age": f.MaxAge, "after": f.After} {
		if v != "" {
			b[k] = v
		}
	}
	for k, v := range map[string]string{"kinds": f.Kinds, "hosts": f.Hosts, "tags": f.Tags, "repositories": f.Repositories} {
		if list := splitList(v); len(list) > 0 {
			b[k] = list
		}
	}
	if len(f.Channels) == 0 {
		b["channels"] = []string{}
	}
	if f.Intervals != "" {
		n, err := strconv.Atoi(f.Intervals)
		if err != nil || n < 1 {
			return nil, formError("Intervals: give a whole number of schedule intervals, such as 2.")
		}
		b["intervals"] = n
	}
	return b, nil
}

// HasChannel reports whether the form picked the channel.
func (f alertRuleForm) HasChannel(name string) bool {
	for _, c := range f.Channels {
		if c == name {
			return true
		}
	}
	return false
}

func (u *UI) alertRuleCreate(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	form := readAlertRuleForm(r)
	var out alertRuleItem
	body, err := form.body()
	if err == nil {
		err = u.call(r, c, http.MethodPost, "/api/v1/alert-rules", body, &out)
	}
	if err == nil {
		u.back(w, r, "/alerts#alert-rules", nil, fmt.Sprintf("Alert rule %q created.", out.Name))
		return
	}
	if refusedByAPI(err) {
		u.fail(w, r, c, err)
		return
	}
	status, msg := u.userMessage(err)
	u.renderAlerts(w, r, c, status, alertFilter{}, "", form, []flash{{Kind: "error", Message: msg}})
}

type alertRuleDeleteData struct{ Rule alertRuleItem }

func (u *UI) alertRuleDeleteConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	var rl alertRuleItem
	if err := u.call(r, c, http.MethodGet, "/api/v1/alert-rules/"+url.PathEscape(mux.Vars(r)["id"]), nil, &rl); err != nil {
		u.fail(w, r, c, err)
		return
	}
	if !canRun(c) {
		u.renderError(w, r, c, http.StatusForbidden, "Only operators and admins may delete alert rules.")
		return
	}
	u.render(w, r, c, http.StatusOK, "alert-rule-delete", view{Title: "Delete rule " + rl.Name, Nav: "alerts", Data: alertRuleDeleteData{Rule: rl}})
}

func (u *UI) alertRuleDelete(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	name := r.PostFormValue("name")
	err := u.call(r, c, http.MethodDelete, "/api/v1/alert-rules/"+url.PathEscape(mux.Vars(r)["id"]), nil, nil)
	u.back(w, r, "/alerts#alert-rules", err, fmt.Sprintf("Alert rule %q deleted; its alerts stay in the history.", name))
}

// hostAlertsPage is one page of a host's alert history.
type hostAlertsPage struct {
	list alertList
	next string
}

// hostAlerts reads one page of the host's alert history, newest first,
// for the host page's alerts tab.
func (u *UI) hostAlerts(r *http.Request, c *api.Caller, hostID, cursor string) (hostAlertsPage, error) {
	p := "/api/v1/hosts/" + url.PathEscape(hostID) + "/alerts?limit=" + strconv.Itoa(alertsPerPage)
	if cursor != "" {
		p += "&cursor=" + url.QueryEscape(cursor)
	}
	var page itemsPage[alertItem]
	if err := u.call(r, c, http.MethodGet, p, nil, &page); err != nil {
		return hostAlertsPage{}, err
	}
	return hostAlertsPage{
		list: alertList{
			Items: page.Items, CanManage: canRun(c), CSRF: c.CSRF, Back: hostURL(hostID, "alerts"),
			Empty: "No alerts for this host so far.",
		},
		next: page.NextCursor,
	}, nil
}
