package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// diffChangesPerPage is the diff page's page size.
const diffChangesPerPage = 200

// diffSnapshotChoices is how many of the host's snapshots the page's
// selects offer, newest first.
const diffSnapshotChoices = 200

// diffRoutes are the comparison of two snapshots of a host, and the diff
// job's progress the page polls while the host compares them the first
// time.
func (u *UI) diffRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.diff", method: http.MethodGet, path: "/hosts/{id}/diff", access: loggedIn, handler: u.diffPage},
		{name: "ui.diff.progress", method: http.MethodGet, path: "/hosts/{id}/diff/progress", access: loggedIn, handler: u.diffProgress},
	}
}

// diffSnapItem is a snapshot as the diff API names its two sides.
type diffSnapItem struct {
	ID         string     `json:"id"`
	ShortID    string     `json:"short_id"`
	Time       *time.Time `json:"time"`
	Paths      []string   `json:"paths"`
	Repository string     `json:"repository"`
}

// diffCountsItem counts the changes by kind.
type diffCountsItem struct {
	Added           int64 `json:"added"`
	Removed         int64 `json:"removed"`
	Modified        int64 `json:"modified"`
	TypeChanged     int64 `json:"type_changed"`
	MetadataChanged int64 `json:"metadata_changed"`
	Bitrot          int64 `json:"bitrot"`
	Other           int64 `json:"other"`
	Total           int64 `json:"total"`
}

// OtherChanges counts the changes that are not additions, removals or
// content modifications.
func (n diffCountsItem) OtherChanges() int64 {
	return n.TypeChanged + n.MetadataChanged + n.Bitrot + n.Other
}

// diffChangeItem is one changed path.
type diffChangeItem struct {
	Path     string `json:"path"`
	Modifier string `json:"modifier"`
	Change   string `json:"change"`
}

// Words names the kind of change for people.
func (c diffChangeItem) Words() string { return changeWords(c.Change) }

// Badge is the Tailwind classes of the change's badge: its colour stands
// next to the words, never alone.
func (c diffChangeItem) Badge() string { return changeBadge(c.Change) }

// changeWords names a kind of change as the API spells it.
func changeWords(kind string) string {
	switch kind {
	case "added":
		return "Added"
	case "removed":
		return "Removed"
	case "modified":
		return "Modified"
	case "type_changed":
		return "Type changed"
	case "metadata_changed":
		return "Metadata changed"
	case "bitrot":
		return "Bitrot?"
	}
	return "Changed"
}

// changeBadge colours a kind of change, in light and dark mode.
func changeBadge(kind string) string {
	switch kind {
	case "added":
		return "bg-emerald-100 text-emerald-900 dark:bg-emerald-950 dark:text-emerald-200"
	case "removed":
		return "bg-red-100 text-red-900 dark:bg-red-950 dark:text-red-200"
	case "modified":
		return "bg-amber-100 text-amber-900 dark:bg-amber-950 dark:text-amber-200"
	case "type_changed":
		return "bg-violet-100 text-violet-900 dark:bg-violet-950 dark:text-violet-200"
	case "bitrot":
		return "bg-orange-100 text-orange-900 dark:bg-orange-950 dark:text-orange-200"
	}
	return "bg-slate-100 text-slate-800 dark:bg-slate-800 dark:text-slate-200"
}

// diffAnswer is GET /api/v1/hosts/{id}/diff: the result (status
// "complete") or the diff job's progress (status "running", HTTP 202).
type diffAnswer struct {
	Status    string           `json:"status"`
	JobID     string           `json:"job_id"`
	JobStatus string           `json:"job_status"`
	From      diffSnapItem     `json:"from"`
	To        diffSnapItem     `json:"to"`
	Counts    diffCountsItem   `json:"counts"`
	Changes   []diffChangeItem `json:"changes"`
	Next      string           `json:"next"`
}

// diffFilter is one of the page's filter links.
type diffFilter struct {
	Kind, Label string
	Count       int64
	URL         string
	Current     bool
}

type diffPageData struct {
	Host        hostItem
	Snapshots   []hostSnapshot // the selects' choices
	From, To    string         // the ids asked for
	PageURL     string
	ProgressURL string
	Error       string // the API's refusal, shown above the form
	Running     bool
	JobID       string
	JobStatus   string
	Done        bool // a result is shown
	Answer      diffAnswer
	Filter      string
	Filters     []diffFilter
	Changes     []diffChangeItem
	Shown       int
	Matching    int64 // changes of the filter's kind (all without one)
	MoreURL     string
}

func diffPageURL(hostID string) string { return "/hosts/" + url.PathEscape(hostID) + "/diff" }

// diffQuery is the API's query for the page's from, to, filter and cursor.
func diffQuery(from, to, filter, after string) url.Values {
	q := url.Values{"from": {from}, "to": {to}, "limit": {strconv.Itoa(diffChangesPerPage)}}
	if filter != "" {
		q.Set("filter", filter)
	}
	if after != "" {
		q.Set("after", after)
	}
	return q
}

// defaultDiffPair picks the two newest snapshots of one repository: the
// newest snapshot, and the newest older one of its repository.
func defaultDiffPair(snaps []hostSnapshot) (from, to string) {
	if len(snaps) < 2 {
		return "", ""
	}
	for _, s := range snaps[1:] {
		if s.Repository == snaps[0].Repository {
			return s.ID, snaps[0].ID
		}
	}
	return snaps[1].ID, snaps[0].ID
}

func (u *UI) diffPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	q := r.URL.Query()
	d := diffPageData{Host: h, From: q.Get("from"), To: q.Get("to"), Filter: q.Get("filter"), PageURL: diffPageURL(h.ID)}
	after := q.Get("after")
	fragment := wantsFragment(r) && after != ""
	if !fragment {
		var snaps itemsPage[hostSnapshot]
		if err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(h.ID)+"/snapshots?limit="+strconv.Itoa(diffSnapshotChoices), nil, &snaps); err != nil {
			u.fail(w, r, c, err)
			return
		}
		d.Snapshots = snaps.Items
		if d.From == "" && d.To == "" {
			d.From, d.To = defaultDiffPair(d.Snapshots)
		}
	}
	status := http.StatusOK
	title := "Compare snapshots · " + h.Name
	if d.From == "" && d.To == "" {
		u.render(w, r, c, status, "diff", view{Title: title, Nav: "dashboard", Data: d})
		return
	}
	d.ProgressURL = d.PageURL + "/progress?" + url.Values{"from": {d.From}, "to": {d.To}}.Encode()
	var ans diffAnswer
	err = u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(h.ID)+"/diff?"+diffQuery(d.From, d.To, d.Filter, after).Encode(), nil, &ans)
	switch {
	case err != nil:
		status, d.Error = u.userMessage(err)
	case ans.Status == "running":
		d.Running, d.JobID, d.JobStatus = true, ans.JobID, ans.JobStatus
	default:
		d.fill(ans, q.Get("shown"))
	}
	if fragment {
		if err != nil {
			u.renderFragment(w, status, "diff", "diff-more-error", d.Error)
			return
		}
		u.renderFragment(w, http.StatusOK, "diff", "diff-rows", d)
		return
	}
	u.render(w, r, c, status, "diff", view{Title: title, Nav: "dashboard", Data: d})
}

// fill sets the result's parts of the page from a complete answer.
func (d *diffPageData) fill(ans diffAnswer, shownText string) {
	d.Done, d.Answer, d.Changes = true, ans, ans.Changes
	n := ans.Counts
	d.Matching = n.Total
	all := diffFilter{Label: "All", Count: n.Total}
	d.Filters = []diffFilter{all}
	for _, f := range []diffFilter{
		{Kind: "added", Count: n.Added},
		{Kind: "removed", Count: n.Removed},
		{Kind: "modified", Count: n.Modified},
		{Kind: "type_changed", Count: n.TypeChanged},
		{Kind: "metadata_changed", Count: n.MetadataChanged},
		{Kind: "bitrot", Count: n.Bitrot},
	} {
		if f.Count == 0 && f.Kind != "added" && f.Kind != "removed" && f.Kind != "modified" && f.Kind != d.Filter {
			continue
		}
		f.Label = changeWords(f.Kind)
		d.Filters = append(d.Filters, f)
		if f.Kind == d.Filter {
			d.Matching = f.Count
		}
	}
	for i := range d.Filters {
		f := &d.Filters[i]
		v := url.Values{"from": {d.From}, "to": {d.To}}
		if f.Kind != "" {
			v.Set("filter", f.Kind)
		}
		f.URL = d.PageURL + "?" + v.Encode()
		f.Current = f.Kind == d.Filter
	}
	shown, _ := strconv.Atoi(shownText)
	d.Shown = max(shown, 0) + len(d.Changes)
	if ans.Next != "" {
		v := diffQuery(d.From, d.To, d.Filter, ans.Next)
		v.Del("limit")
		v.Set("shown", strconv.Itoa(d.Shown))
		d.MoreURL = d.PageURL + "?" + v.Encode()
	}
}

// diffProgress is the diff job's progress, polled by the page while the
// host compares the snapshots; once the result is there it tells htmx to
// reload the page, which then shows it.
func (u *UI) diffProgress(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	hostRef := mux.Vars(r)["id"]
	q := r.URL.Query()
	d := diffPageData{PageURL: diffPageURL(hostRef), From: q.Get("from"), To: q.Get("to")}
	d.ProgressURL = d.PageURL + "/progress?" + url.Values{"from": {d.From}, "to": {d.To}}.Encode()
	var ans diffAnswer
	v := diffQuery(d.From, d.To, "", "")
	v.Set("limit", "1")
	err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostRef)+"/diff?"+v.Encode(), nil, &ans)
	if err != nil {
		status, msg := u.userMessage(err)
		u.renderFragment(w, status, "diff", "diff-progress-error", msg)
		return
	}
	d.Running, d.JobID, d.JobStatus = ans.Status == "running", ans.JobID, ans.JobStatus
	if !d.Running {
		w.Header().Set("HX-Refresh", "true")
	}
	u.renderFragment(w, http.StatusOK, "diff", "diff-progress", d)
}
