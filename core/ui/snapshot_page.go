package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// snapshotEntriesPerPage is the snapshot browser's page size.
const snapshotEntriesPerPage = 200

// snapshotRoutes are the snapshot browser: one snapshot's folders, its
// search, and the listing's progress the page polls while the server lists
// the snapshot for the first time.
func (u *UI) snapshotRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.snapshot", method: http.MethodGet, path: "/hosts/{id}/snapshots/{snap}", access: loggedIn, handler: u.snapshotPage},
		{name: "ui.snapshot.progress", method: http.MethodGet, path: "/hosts/{id}/snapshots/{snap}/progress", access: loggedIn, handler: u.snapshotProgress},
	}
}

// snapshotRefItem is the snapshot a tree or search answer is of.
type snapshotRefItem struct {
	ID       string     `json:"id"`
	ShortID  string     `json:"short_id"`
	Time     *time.Time `json:"time"`
	Paths    []string   `json:"paths"`
	Hostname string     `json:"hostname"`
}

// snapshotEntryItem is one entry as the tree and search APIs answer.
type snapshotEntryItem struct {
	Name  string     `json:"name"`
	Path  string     `json:"path"`
	Type  string     `json:"type"`
	Size  uint64     `json:"size"`
	MTime *time.Time `json:"mtime"`
}

// treeAnswer is GET …/tree or …/search: a page (status "complete") or the
// listing's progress (status "listing", HTTP 202).
type treeAnswer struct {
	Status       string              `json:"status"`
	JobID        string              `json:"job_id"`
	EntriesSoFar int64               `json:"entries_so_far"`
	Snapshot     snapshotRefItem     `json:"snapshot"`
	Path         string              `json:"path"`
	Items        []snapshotEntryItem `json:"items"`
	NextCursor   string              `json:"next_cursor"`
	Total        int64               `json:"total"`
	Entries      int64               `json:"entries"`
	Truncated    bool                `json:"truncated"`
}

// snapshotRow is an entry with the page's links for it.
type snapshotRow struct {
	snapshotEntryItem
	OpenURL     string // folders: the folder's page
	DownloadURL string // the dump API: a zip of a folder, a file's bytes
}

// IsDir reports whether the entry is a folder.
func (e snapshotRow) IsDir() bool { return e.Type == "dir" }

// SizeText is the entry's size for people; folders have none.
func (e snapshotRow) SizeText() string {
	if e.Type != "file" {
		return "—"
	}
	return sizeIEC(e.Size)
}

// TypeText names the entry's type in words.
func (e snapshotRow) TypeText() string {
	switch e.Type {
	case "dir":
		return "folder"
	case "symlink":
		return "link"
	case "":
		return "—"
	}
	return e.Type
}

type crumb struct{ Name, URL string }

type snapshotPageData struct {
	Host         hostItem
	Snap         snapshotRefItem
	PageURL      string // this snapshot's page
	ProgressURL  string
	Listing      bool
	JobID        string
	EntriesSoFar int64
	Path         string
	Crumbs       []crumb
	Rows         []snapshotRow
	Total        int64
	Entries      int64
	Shown        int
	MoreURL      string
	Query        string
	Truncated    bool
	// CanRestore shows the restore selection and the download links:
	// restores and downloads are operator and admin actions in the API.
	CanRestore bool
	RestoreURL string
	DiffURL    string
	Others     []hostSnapshot
}

func snapshotPageURL(hostID, snap string) string {
	return "/hosts/" + url.PathEscape(hostID) + "/snapshots/" + url.PathEscape(snap)
}

// folderURL is the snapshot page of folder dir.
func (d *snapshotPageData) folderURL(dir string) string {
	if dir == "/" {
		return d.PageURL
	}
	return d.PageURL + "?path=" + url.QueryEscape(dir)
}

// breadcrumbs are the links to dir's parents, "/" first.
func breadcrumbs(dir string, link func(string) string) []crumb {
	out := []crumb{{Name: "/", URL: link("/")}}
	p := ""
	for seg := range strings.SplitSeq(strings.Trim(dir, "/"), "/") {
		if seg == "" {
			continue
		}
		p += "/" + seg
		out = append(out, crumb{Name: seg, URL: link(p)})
	}
	return out
}

func (u *UI) snapshotPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	ref := mux.Vars(r)["snap"]
	q := r.URL.Query()
	dir, after, query := q.Get("path"), q.Get("after"), strings.TrimSpace(q.Get("q"))
	if dir == "" {
		dir = "/"
	}
	d := snapshotPageData{
		Host: h, PageURL: snapshotPageURL(h.ID, ref), Path: dir, Query: query,
		CanRestore: canRun(c), RestoreURL: "/hosts/" + url.PathEscape(h.ID) + "/restore",
	}
	d.ProgressURL = d.PageURL + "/progress"
	apiBase := "/api/v1/hosts/" + url.PathEscape(h.ID) + "/snapshots/" + url.PathEscape(ref)
	var ans treeAnswer
	if query != "" {
		err = u.call(r, c, http.MethodGet, apiBase+"/search?"+url.Values{"q": {query}, "limit": {"200"}}.Encode(), nil, &ans)
	} else {
		v := url.Values{"path": {dir}, "limit": {strconv.Itoa(snapshotEntriesPerPage)}}
		if after != "" {
			v.Set("after", after)
		}
		err = u.call(r, c, http.MethodGet, apiBase+"/tree?"+v.Encode(), nil, &ans)
	}
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	d.Snap = ans.Snapshot
	d.DiffURL = "/hosts/" + url.PathEscape(h.ID) + "/diff"
	if ans.Status == "listing" {
		d.Listing, d.JobID, d.EntriesSoFar = true, ans.JobID, ans.EntriesSoFar
		u.render(w, r, c, http.StatusOK, "snapshot", view{Title: "Snapshot " + d.Snap.ShortID, Nav: "dashboard", Data: d})
		return
	}
	if query == "" {
		d.Path = ans.Path
	}
	d.Crumbs = breadcrumbs(d.Path, d.folderURL)
	d.Total, d.Entries, d.Truncated = ans.Total, ans.Entries, ans.Truncated
	for _, e := range ans.Items {
		row := snapshotRow{snapshotEntryItem: e}
		dump := url.Values{"path": {e.Path}}
		if e.Type == "dir" {
			row.OpenURL = d.folderURL(e.Path)
			dump.Set("format", "zip")
		}
		row.DownloadURL = "/api/v1/hosts/" + url.PathEscape(h.ID) + "/snapshots/" + url.PathEscape(d.Snap.ID) + "/dump?" + dump.Encode()
		d.Rows = append(d.Rows, row)
	}
	shown, _ := strconv.Atoi(q.Get("shown"))
	d.Shown = max(shown, 0) + len(d.Rows)
	if ans.NextCursor != "" {
		d.MoreURL = d.PageURL + "?" + url.Values{"path": {d.Path}, "after": {ans.NextCursor}, "shown": {strconv.Itoa(d.Shown)}}.Encode()
	}
	if wantsFragment(r) && after != "" {
		u.renderFragment(w, http.StatusOK, "snapshot", "snapshot-rows", d)
		return
	}
	var others itemsPage[hostSnapshot]
	if err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(h.ID)+"/snapshots?limit=50", nil, &others); err == nil {
		for _, s := range others.Items {
			if s.ID != d.Snap.ID {
				d.Others = append(d.Others, s)
			}
		}
	}
	u.render(w, r, c, http.StatusOK, "snapshot", view{Title: "Snapshot " + d.Snap.ShortID, Nav: "dashboard", Data: d})
}

// snapshotProgress is the listing's progress line, polled by the page
// while the server lists the snapshot; once the listing is complete it
// tells htmx to reload the page, which then shows the folder.
func (u *UI) snapshotProgress(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	hostRef, ref := mux.Vars(r)["id"], mux.Vars(r)["snap"]
	var ans treeAnswer
	err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(hostRef)+"/snapshots/"+url.PathEscape(ref)+"/tree?limit=1", nil, &ans)
	if err != nil {
		status, msg := u.userMessage(err)
		u.renderFragment(w, status, "snapshot", "snapshot-progress-error", msg)
		return
	}
	d := snapshotPageData{
		PageURL: snapshotPageURL(hostRef, ref), Listing: ans.Status == "listing", JobID: ans.JobID, EntriesSoFar: ans.EntriesSoFar,
	}
	d.ProgressURL = d.PageURL + "/progress"
	if !d.Listing {
		w.Header().Set("HX-Refresh", "true")
	}
	u.renderFragment(w, http.StatusOK, "snapshot", "snapshot-progress", d)
}
