package ui

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/api/apijson"
)

// alertsPerPage is how many alerts one page of /alerts shows.
const alertsPerPage = 50

// alertRoutes are the alert list, its acknowledge and resolve buttons,
// and the alert rules' editor (alert_rules.go).
func (u *UI) alertRoutes() []uiRoute {
	routes := []uiRoute{
		{name: "ui.alerts", method: http.MethodGet, path: "/alerts", access: loggedIn, handler: u.alertsPage},
		{name: "ui.alerts.ack", method: http.MethodPost, path: "/alerts/{id}/ack", access: loggedIn, handler: u.alertAck},
		{name: "ui.alerts.resolve", method: http.MethodPost, path: "/alerts/{id}/resolve", access: loggedIn, handler: u.alertResolve},
	}
	return append(routes, u.alertRuleRoutes()...)
}

// alertItem is an alert as the API answers it.
type alertItem struct {
	apijson.Alert
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
	apijson.AlertRule
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
	Rules         []alertRuleItem
	CanManage     bool
	Older, Newest string
}

func (u *UI) alertsPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	q := r.URL.Query()
	f := alertFilter{Status: q.Get("status"), Host: strings.TrimSpace(q.Get("host")), Rule: strings.TrimSpace(q.Get("rule"))}
	u.renderAlerts(w, r, c, f, q.Get("cursor"))
}

func (u *UI) renderAlerts(w http.ResponseWriter, r *http.Request, c *api.Caller, f alertFilter, cursor string) {
	status := http.StatusOK
	var flashes []flash
	d := alertsData{
		Filter: f, Filtered: f.Host != "" || f.Rule != "" || (f.Status != "" && f.Status != "active"),
		Statuses: alertStatuses, CanManage: canRun(c),
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
