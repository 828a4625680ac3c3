package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/store"
)

// Page sizes of the host page's tabs.
const (
	hostSnapshotsPerPage = 50
	hostJobsPerPage      = 25
)

// hostTabs are the host page's tabs, in order; "run" is for operators and
// admins.
var hostTabs = []struct{ Name, Label string }{
	{"overview", "Overview"},
	{"snapshots", "Snapshots"},
	{"jobs", "Jobs"},
	{"alerts", "Alerts"},
	{"run", "Run now"},
}

// hostTab is one tab link.
type hostTab struct {
	Name, Label, URL string
	Active           bool
}

// hostSnapshot is a snapshot as GET /api/v1/hosts/{id}/snapshots answers.
type hostSnapshot struct {
	ID         string          `json:"id"`
	ShortID    string          `json:"short_id"`
	Time       *time.Time      `json:"time"`
	Paths      []string        `json:"paths"`
	Tags       []string        `json:"tags"`
	Repository string          `json:"repository"`
	Summary    json.RawMessage `json:"summary"`
}

// SizeAdded is the data the snapshot added to the repository, from
// restic's snapshot summary (restic 0.17 and later); "—" without one.
func (s hostSnapshot) SizeAdded() string {
	var sum struct {
		DataAdded *uint64 `json:"data_added"`
	}
	if len(s.Summary) == 0 || json.Unmarshal(s.Summary, &sum) != nil || sum.DataAdded == nil {
		return "—"
	}
	return sizeIEC(*sum.DataAdded)
}

// hostJob is a job as GET /api/v1/jobs answers.
type hostJob struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Status     string     `json:"status"`
	Repository string     `json:"repository"`
	CreatedAt  *time.Time `json:"created_at"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error"`
}

// Duration is how long the job ran: "—" before it started, the time so far
// while it runs.
func (j hostJob) Duration() string {
	switch {
	case j.StartedAt == nil:
		return "—"
	case j.FinishedAt == nil:
		return spanText(time.Since(*j.StartedAt)) + " so far"
	}
	return spanText(j.FinishedAt.Sub(*j.StartedAt))
}

// Title is the job's kind for people.
func (j hostJob) Title() string { return kindTitle(j.Kind) }

// hostRepo is a repository as GET /api/v1/repositories answers.
type hostRepo struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	URL  string `json:"url"`
}

// runForm is the run-now form: what the user typed, kept when the API
// refuses it.
type runForm struct {
	Repository  string
	Paths       string
	Tags        string
	LimitUpload string
	KeepLast    string
	KeepDaily   string
	KeepWeekly  string
	KeepMonthly string
	Prune       bool
	Snapshot    string
}

type hostPageData struct {
	Host      hostItem
	Tab       string
	Tabs      []hostTab
	CanRun    bool
	IsAdmin   bool
	Snapshots []hostSnapshot
	Jobs      []hostJob
	// Older is the next page of the snapshots or jobs tab; Newest goes
	// back to the first; Newer (jobs) to the page before this one.
	Older, Newest, Newer string
	// Schedules are the schedules the host's agent fires (overview).
	Schedules []scheduleItem
	// Alerts is the alerts tab: the host's alert history.
	Alerts alertList
	// Hooks is the host's default hooks (overview, admins only).
	Hooks     *hostHooksView
	Repos     []hostRepo
	Form      runForm
	StatusURL string
}

// ScheduleTable is the overview's table of the host's schedules.
func (d hostPageData) ScheduleTable() scheduleTable { return scheduleTable{Items: d.Schedules} }

// hostURL is the host page, or one of its tabs.
func hostURL(id, tab string) string {
	p := "/hosts/" + url.PathEscape(id)
	if tab != "" && tab != "overview" {
		p += "?tab=" + tab
	}
	return p
}

func (u *UI) readHost(r *http.Request, c *api.Caller, ref string) (hostItem, error) {
	var h hostItem
	err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(ref), nil, &h)
	return h, err
}

func canRun(c *api.Caller) bool {
	return c.User.Role == store.RoleOperator || c.User.Role == store.RoleAdmin
}

func (u *UI) hostPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	tab := r.URL.Query().Get("tab")
	if tab == "" {
		tab = "overview"
	}
	if !slices.ContainsFunc(hostTabs, func(t struct{ Name, Label string }) bool { return t.Name == tab }) {
		u.renderError(w, r, c, http.StatusNotFound, "The host page has no tab "+strconv.Quote(hostClip(tab, 40))+".")
		return
	}
	d, err := u.hostPageData(r, c, tab)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderHost(w, r, c, http.StatusOK, d, nil)
}

func (u *UI) renderHost(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, d hostPageData, flashes []flash) {
	u.render(w, r, c, status, "host", view{Title: d.Host.Name, Nav: "dashboard", Data: d, Flashes: flashes})
}

// hostPageData reads what the tab shows, all through the API.
func (u *UI) hostPageData(r *http.Request, c *api.Caller, tab string) (hostPageData, error) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		return hostPageData{}, err
	}
	d := hostPageData{
		Host: h, Tab: tab, CanRun: canRun(c), IsAdmin: c.User.Role == store.RoleAdmin,
		StatusURL: "/hosts/" + url.PathEscape(h.ID) + "/status",
	}
	for _, t := range hostTabs {
		if t.Name == "run" && !d.CanRun {
			continue
		}
		d.Tabs = append(d.Tabs, hostTab{Name: t.Name, Label: t.Label, URL: hostURL(h.ID, t.Name), Active: t.Name == tab})
	}
	cursor := r.URL.Query().Get("cursor")
	switch tab {
	case "overview":
		scheds, err := allItems[scheduleItem](u, r, c, "/api/v1/hosts/"+url.PathEscape(h.ID)+"/schedules")
		if err != nil {
			return d, err
		}
		d.Schedules = scheds
		if d.IsAdmin {
			if d.Hooks, err = u.readHostHooks(r, c, h.ID); err != nil {
				return d, err
			}
		}
	case "snapshots":
		var page itemsPage[hostSnapshot]
		p := "/api/v1/hosts/" + url.PathEscape(h.ID) + "/snapshots?limit=" + strconv.Itoa(hostSnapshotsPerPage)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := u.call(r, c, http.MethodGet, p, nil, &page); err != nil {
			return d, err
		}
		d.Snapshots = page.Items
		d.setPager(h.ID, tab, cursor, page.NextCursor)
	case "jobs":
		var page itemsPage[hostJob]
		p := "/api/v1/jobs?host=" + url.QueryEscape(h.ID) + "&limit=" + strconv.Itoa(hostJobsPerPage)
		if cursor != "" {
			p += "&cursor=" + url.QueryEscape(cursor)
		}
		if err := u.call(r, c, http.MethodGet, p, nil, &page); err != nil {
			return d, err
		}
		d.Jobs = page.Items
		d.setJobsPager(h.ID, cursor, r.URL.Query().Get("prev"), page.NextCursor)
	case "alerts":
		alerts, err := u.hostAlerts(r, c, h.ID, cursor)
		if err != nil {
			return d, err
		}
		d.Alerts = alerts.list
		d.setPager(h.ID, tab, cursor, alerts.next)
	case "run":
		if !d.CanRun {
			return d, nil
		}
		repos, err := allItems[hostRepo](u, r, c, "/api/v1/repositories")
		if err != nil {
			return d, err
		}
		d.Repos = repos
	}
	return d, nil
}

func (d *hostPageData) setPager(id, tab, cursor, next string) {
	if next != "" {
		d.Older = hostURL(id, tab) + "&cursor=" + url.QueryEscape(next)
	}
	if cursor != "" {
		d.Newest = hostURL(id, tab)
	}
}

// maxJobsBack bounds how many pages back the jobs tab's "Newer" link
// remembers; further back, "Newest" still leads to the first page.
const maxJobsBack = 40

// setJobsPager sets the jobs tab's links. The API's job list pages one
// way (older); the pages before this one ride along in the URL (prev, the
// cursors of the pages between the first and this one, in order), so
// "Newer" goes back a page.
func (d *hostPageData) setJobsPager(id, cursor, prev, next string) {
	var stack []string
	if prev != "" {
		stack = strings.Split(prev, " ")
	}
	base := hostURL(id, "jobs")
	link := func(cur string, st []string) string {
		u := base
		if cur != "" {
			u += "&cursor=" + url.QueryEscape(cur)
		}
		if len(st) > 0 {
			u += "&prev=" + url.QueryEscape(strings.Join(st, " "))
		}
		return u
	}
	if next != "" {
		back := slices.Clone(stack)
		if cursor != "" {
			back = append(back, cursor)
		}
		if len(back) > maxJobsBack {
			back = back[len(back)-maxJobsBack:]
		}
		d.Older = link(next, back)
	}
	if cursor != "" {
		d.Newest = base
		if len(stack) > 0 {
			// Two pages or more from the first: "Newer" is not "Newest".
			d.Newer = link(stack[len(stack)-1], stack[:len(stack)-1])
		}
	}
}

// hostStatus is the host page's live status line; the page polls it.
func (u *UI) hostStatus(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		status, msg := u.userMessage(err)
		u.renderFragment(w, status, "host", "host-status-error", msg)
		return
	}
	u.renderFragment(w, http.StatusOK, "host", "host-status", hostPageData{Host: h, StatusURL: r.URL.Path})
}

// confirmKinds are the run-now kinds that remove data or break locks: they
// ask again on a page of their own before they run.
var confirmKinds = map[string]string{
	"unlock": "Unlocking removes the repository's stale locks. If another restic still works on this repository, " +
		"its lock is removed too and both may damage the repository.",
	"forget": "Forget removes the snapshots the retention rules do not keep; with prune, their data is deleted for good.",
	"prune":  "Prune deletes all data no snapshot refers to. It cannot be undone, and the repository is locked while it runs.",
}

// readRunForm reads the posted run-now form.
func readRunForm(r *http.Request) runForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	return runForm{
		Repository: v("repository"), Paths: r.PostFormValue("paths"), Tags: v("tags"), LimitUpload: v("limit_upload_kib"),
		KeepLast: v("keep_last"), KeepDaily: v("keep_daily"), KeepWeekly: v("keep_weekly"), KeepMonthly: v("keep_monthly"),
		Prune: r.PostFormValue("prune") == "on", Snapshot: v("snapshot"),
	}
}

// formError is a field the form cannot turn into a request.
func formError(msg string) error {
	return &api.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: msg}
}

// runRequest turns the form into the body of POST /api/v1/hosts/{id}/jobs:
// only the fields of kind, numbers read as numbers. The API validates the
// rest.
func (f runForm) runRequest(kind string) (map[string]any, error) {
	body := map[string]any{"kind": kind, "repository": f.Repository}
	num := func(label, s string) (int64, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, formError(label + " must be a whole number (0 or more).")
		}
		return n, nil
	}
	switch kind {
	case "backup":
		var paths []string
		for _, p := range strings.Split(f.Paths, "\n") {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, p)
			}
		}
		if len(paths) == 0 {
			return nil, formError("Paths: give at least one absolute path to back up, one per line.")
		}
		body["paths"] = paths
		if tags := strings.FieldsFunc(f.Tags, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }); len(tags) > 0 {
			body["tags"] = tags
		}
		n, err := num("Upload limit (KiB/s)", f.LimitUpload)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			body["limit_upload_kib"] = n
		}
	case "forget":
		keep := map[string]any{}
		for _, k := range []struct{ label, key, val string }{
			{"Keep last", "keep_last", f.KeepLast},
			{"Keep daily", "keep_daily", f.KeepDaily},
			{"Keep weekly", "keep_weekly", f.KeepWeekly},
			{"Keep monthly", "keep_monthly", f.KeepMonthly},
		} {
			n, err := num(k.label, k.val)
			if err != nil {
				return nil, err
			}
			if n > 0 {
				keep[k.key] = n
			}
		}
		params := map[string]any{"retention": keep}
		if f.Prune {
			params["prune"] = true
		}
		body["params"] = params
	case "ls":
		snap := f.Snapshot
		if snap == "" {
			snap = "latest"
		}
		body["params"] = map[string]any{"snapshots": []string{snap}}
	}
	return body, nil
}

// hostConfirmData is the confirm page of a destructive action.
type hostConfirmData struct {
	Host    hostItem
	Action  string // form action
	Title   string
	Warning string
	Button  string
	Back    string
	Kind    string
	Form    runForm
}

// hostRun runs a job now through POST /api/v1/hosts/{id}/jobs and opens its
// page; unlock, forget and prune first ask on a confirm page.
func (u *UI) hostRun(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	kind := r.PostFormValue("kind")
	form := readRunForm(r)
	id := mux.Vars(r)["id"]
	if warning, ok := confirmKinds[kind]; ok && r.PostFormValue("confirm") != "yes" {
		h, err := u.readHost(r, c, id)
		if err != nil {
			u.fail(w, r, c, err)
			return
		}
		u.render(w, r, c, http.StatusOK, "host_confirm", view{Title: "Confirm " + kindTitle(kind), Nav: "dashboard", Data: hostConfirmData{
			Host: h, Action: "/hosts/" + url.PathEscape(h.ID) + "/run", Title: kindTitle(kind) + " on " + h.Name + "?",
			Warning: warning, Button: "Yes, " + strings.ToLower(kindTitle(kind)), Back: hostURL(h.ID, "run"), Kind: kind, Form: form,
		}})
		return
	}
	var job struct {
		ID string `json:"id"`
	}
	body, err := form.runRequest(kind)
	if err == nil {
		err = u.call(r, c, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(id)+"/jobs", body, &job)
	}
	if err != nil {
		status, msg := u.userMessage(err)
		d, rerr := u.hostPageData(r, c, "run")
		if rerr != nil {
			u.fail(w, r, c, rerr)
			return
		}
		d.Form = form
		u.renderHost(w, r, c, status, d, []flash{{Kind: "error", Message: msg}})
		return
	}
	u.back(w, r, "/jobs/"+url.PathEscape(job.ID), nil, kindTitle(kind)+" started.")
}

func (u *UI) hostRevokeConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderRevokeConfirm(w, r, c, http.StatusOK, h, nil)
}

func (u *UI) renderRevokeConfirm(w http.ResponseWriter, r *http.Request, c *api.Caller, status int, h hostItem, flashes []flash) {
	u.render(w, r, c, status, "host_confirm", view{Title: "Revoke " + h.Name, Nav: "dashboard", Flashes: flashes, Data: hostConfirmData{
		Host: h, Action: "/hosts/" + url.PathEscape(h.ID) + "/revoke", Title: "Revoke " + h.Name + "?",
		Warning: "The agent's credential stops working at once and its connection is closed. The host stays listed, " +
			"with its jobs and snapshots, as revoked. To manage the machine again, enroll it anew.",
		Button: "Yes, revoke " + h.Name, Back: hostURL(h.ID, ""),
	}})
}

// hostRevoke revokes the host through DELETE /api/v1/hosts/{id}, once the
// confirm page said yes.
func (u *UI) hostRevoke(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		u.renderRevokeConfirm(w, r, c, http.StatusOK, h, nil)
		return
	}
	if err := u.call(r, c, http.MethodDelete, "/api/v1/hosts/"+url.PathEscape(h.ID), nil, nil); err != nil {
		status, msg := u.userMessage(err)
		u.renderRevokeConfirm(w, r, c, status, h, []flash{{Kind: "error", Message: msg}})
		return
	}
	u.back(w, r, hostURL(h.ID, ""), nil, h.Name+" is revoked: its agent can no longer connect.")
}

// hostClip shortens s to n bytes for a message.
func hostClip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
