package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
)

// hostRoutes are the host pages: the host list's live parts, one host's overview, snapshots and jobs, run-now.
func (u *UI) hostRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.dashboard", method: http.MethodGet, path: "/", access: loggedIn, handler: u.dashboard},
		{name: "ui.hosts", method: http.MethodGet, path: "/hosts", access: loggedIn, handler: u.dashboard},
		{name: "ui.dashboard.rows", method: http.MethodGet, path: "/dashboard/rows", access: loggedIn, handler: u.dashboardRows},
		{name: "ui.host", method: http.MethodGet, path: "/hosts/{id}", access: loggedIn, handler: u.hostPage},
		{name: "ui.host.status", method: http.MethodGet, path: "/hosts/{id}/status", access: loggedIn, handler: u.hostStatus},
		{name: "ui.host.run", method: http.MethodPost, path: "/hosts/{id}/run", access: loggedIn, handler: u.hostRun},
		{name: "ui.host.revoke.confirm", method: http.MethodGet, path: "/hosts/{id}/revoke", access: loggedIn, handler: u.hostRevokeConfirm},
		{name: "ui.host.revoke", method: http.MethodPost, path: "/hosts/{id}/revoke", access: loggedIn, handler: u.hostRevoke},
	}
}

// hostsPerPage is the dashboard's page size.
const hostsPerPage = 50

// hostItem is a host as GET /api/v1/hosts and /api/v1/hosts/{id} answer.
type hostItem struct {
	ID             string      `json:"id"`
	Name           string      `json:"name"`
	Hostname       string      `json:"hostname"`
	Status         string      `json:"status"`
	LastSeen       *time.Time  `json:"last_seen"`
	OS             string      `json:"os"`
	Arch           string      `json:"arch"`
	AgentVersion   string      `json:"agent_version"`
	ResticVersion  string      `json:"restic_version"`
	Backends       []string    `json:"backends"`
	Tags           []string    `json:"tags"`
	ManagedBy      string      `json:"managed_by"`
	EnrolledAt     *time.Time  `json:"enrolled_at"`
	LastBackup     *lastBackup `json:"last_backup"`
	SnapshotCount  int         `json:"snapshot_count"`
	RepositorySize *int64      `json:"repository_size"`
}

// Platform is "os/arch", or "" when the agent has not said.
func (h hostItem) Platform() string {
	if h.OS == "" && h.Arch == "" {
		return ""
	}
	return h.OS + "/" + h.Arch
}

type lastBackup struct {
	JobID           string     `json:"job_id"`
	Status          string     `json:"status"`
	Repository      string     `json:"repository"`
	RepositoryID    string     `json:"repository_id"`
	StartedAt       *time.Time `json:"started_at"`
	FinishedAt      *time.Time `json:"finished_at"`
	DurationSeconds *float64   `json:"duration_seconds"`
}

// Duration is how long the backup ran, for people; "" when it never
// started.
func (b lastBackup) Duration() string {
	if b.DurationSeconds == nil {
		return ""
	}
	return spanText(time.Duration(*b.DurationSeconds * float64(time.Second)))
}

// RepoSize is the size of the last backup's repository, "—" until a stats
// run records it.
func (h hostItem) RepoSize() string {
	if h.RepositorySize == nil || *h.RepositorySize < 0 {
		return "—"
	}
	return sizeIEC(uint64(*h.RepositorySize))
}

type hostList struct {
	Items      []hostItem `json:"items"`
	NextCursor string     `json:"next_cursor"`
	Total      int        `json:"total"`
}

// dashQuery is the dashboard's state in its URL: the filter, the order
// and the page.
type dashQuery struct {
	Name, Status, Sort, Order string
	Page                      int
}

// Dashboard orders: the API's sort names, and the order a column starts
// in when its header is first clicked (the newest first for times).
var dashSorts = []struct{ Name, Label, FirstOrder string }{
	{"name", "Name", "asc"},
	{"status", "Status", "asc"},
	{"last_seen", "Last seen", "desc"},
	{"last_backup", "Last backup", "desc"},
}

func parseDashQuery(q url.Values) (dashQuery, error) {
	d := dashQuery{
		Name: strings.TrimSpace(q.Get("name")), Status: q.Get("status"),
		Sort: q.Get("sort"), Order: q.Get("order"), Page: 1,
	}
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100_000 {
			return d, &api.Error{Status: http.StatusBadRequest, Code: "bad_request", Message: "page must be a number from 1 to 100000"}
		}
		d.Page = n
	}
	return d, nil
}

// url is the dashboard (or, with base, its rows fragment) for this query;
// defaults are left out.
func (d dashQuery) url(base string) string {
	v := url.Values{}
	for k, s := range map[string]string{"name": d.Name, "status": d.Status, "sort": d.Sort, "order": d.Order} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if d.Page > 1 {
		v.Set("page", strconv.Itoa(d.Page))
	}
	if len(v) == 0 {
		return base
	}
	return base + "?" + v.Encode()
}

// apiPath is the API request for the query's page.
func (d dashQuery) apiPath() string {
	v := url.Values{"limit": {strconv.Itoa(hostsPerPage)}}
	for k, s := range map[string]string{"search": d.Name, "status": d.Status, "sort": d.Sort, "order": d.Order} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if d.Page > 1 {
		v.Set("offset", strconv.Itoa((d.Page-1)*hostsPerPage))
	}
	return "/api/v1/hosts?" + v.Encode()
}

// sortColumn is a column header: its link and its aria-sort.
type sortColumn struct {
	Label, URL, AriaSort string
	Active               bool
}

// pageLink is one link of the pager; Gap is an ellipsis.
type pageLink struct {
	Number  int
	URL     string
	Current bool
	Gap     bool
}

type dashboardData struct {
	Query    dashQuery
	Hosts    []hostItem
	Total    int
	From, To int
	Statuses []string
	Sorts    []struct{ Name, Label, FirstOrder string }
	Columns  map[string]sortColumn
	Pages    []pageLink
	Prev     string
	Next     string
	RowsURL  string
	Filtered bool
}

func (u *UI) dashboard(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	d, err := u.dashboardData(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.render(w, r, c, http.StatusOK, "dashboard", view{Title: "Hosts", Nav: "dashboard", Data: d})
}

// dashboardRows is the live part of the dashboard (count, rows, pager)
// for the same query; the page polls it.
func (u *UI) dashboardRows(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	d, err := u.dashboardData(r, c)
	if err != nil {
		status, msg := u.userMessage(err)
		u.renderFragment(w, status, "dashboard", "hosts-error", msg)
		return
	}
	u.renderFragment(w, http.StatusOK, "dashboard", "hosts-results", d)
}

func (u *UI) dashboardData(r *http.Request, c *api.Caller) (dashboardData, error) {
	q, err := parseDashQuery(r.URL.Query())
	if err != nil {
		return dashboardData{}, err
	}
	var list hostList
	if err := u.call(r, c, http.MethodGet, q.apiPath(), nil, &list); err != nil {
		return dashboardData{}, err
	}
	d := dashboardData{
		Query: q, Hosts: list.Items, Total: list.Total,
		Statuses: []string{"online", "offline", "revoked"}, Sorts: dashSorts,
		Filtered: q.Name != "" || q.Status != "",
		RowsURL:  q.url("/dashboard/rows"),
	}
	if len(list.Items) > 0 {
		d.From = (q.Page-1)*hostsPerPage + 1
		d.To = d.From + len(list.Items) - 1
	}
	d.Columns = sortColumns(q)
	last := max((list.Total+hostsPerPage-1)/hostsPerPage, 1)
	for _, n := range pagerNumbers(q.Page, last) {
		if n == 0 {
			d.Pages = append(d.Pages, pageLink{Gap: true})
			continue
		}
		p := q
		p.Page = n
		d.Pages = append(d.Pages, pageLink{Number: n, URL: p.url("/"), Current: n == q.Page})
	}
	if q.Page > 1 {
		p := q
		p.Page = min(q.Page-1, last)
		d.Prev = p.url("/")
	}
	if q.Page < last {
		p := q
		p.Page = q.Page + 1
		d.Next = p.url("/")
	}
	return d, nil
}

// sortColumns are the headers' links: a click on the current column flips
// its order; another column starts in its first order. Paging restarts.
func sortColumns(q dashQuery) map[string]sortColumn {
	cur := q.Sort
	if cur == "" {
		cur = "name"
	}
	out := map[string]sortColumn{}
	for _, s := range dashSorts {
		p := q
		p.Page = 1
		col := sortColumn{Label: s.Label, AriaSort: "none"}
		if s.Name == cur {
			order := q.Order
			if order == "" {
				order = "asc"
			}
			col.Active = true
			col.AriaSort = map[string]string{"asc": "ascending", "desc": "descending"}[order]
			p.Sort, p.Order = s.Name, map[string]string{"asc": "desc", "desc": "asc"}[order]
		} else {
			p.Sort, p.Order = s.Name, s.FirstOrder
		}
		if p.Sort == "name" {
			p.Sort = ""
		}
		if p.Order == "asc" {
			p.Order = ""
		}
		col.URL = p.url("/")
		out[s.Name] = col
	}
	return out
}

// pagerNumbers are the page numbers the pager links: the first, the last
// and two either side of the current one; 0 stands for a gap.
func pagerNumbers(current, last int) []int {
	if last <= 1 {
		return nil
	}
	var out []int
	prev := 0
	for n := 1; n <= last; n++ {
		if n != 1 && n != last && (n < current-2 || n > current+2) {
			continue
		}
		if prev != 0 && n > prev+1 {
			out = append(out, 0)
		}
		out = append(out, n)
		prev = n
	}
	return out
}
