package ui

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// restoreSnapshotsShown bounds the wizard's snapshot list.
const restoreSnapshotsShown = 50

// restoreRoutes are the restore wizard: one page whose steps are query
// states (snapshot list → files, target and overwrite policy → confirm)
// and the post that starts the restore through POST
// /api/v1/hosts/{id}/restore.
func (u *UI) restoreRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.restore", method: http.MethodGet, path: "/hosts/{id}/restore", access: loggedIn, handler: u.restorePage},
		{name: "ui.restore.submit", method: http.MethodPost, path: "/hosts/{id}/restore", access: loggedIn, handler: u.restoreSubmit},
	}
}

// restoreForm is the wizard's state, carried in the query (and the
// confirm step's hidden fields).
type restoreForm struct {
	Snapshot  string
	Includes  []string
	Mode      string // "original" or "other"
	Target    string
	Strip     string
	Overwrite string
	ToHost    string // the target host's id; "" is the snapshot's own host (restore_xhost.go)
}

// restoreOverwrites are the overwrite choices, in the words the page shows.
var restoreOverwrites = []struct{ Value, Label string }{
	{"", "restic's default"},
	{"always", "Always overwrite"},
	{"if-changed", "Overwrite if changed"},
	{"if-newer", "Overwrite if newer"},
	{"never", "Skip existing files"},
}

// readRestoreForm reads the wizard's fields from a query or form: include
// is repeatable (the snapshot browser links with it), includes is the
// textarea, one path a line.
func readRestoreForm(v url.Values) restoreForm {
	f := restoreForm{
		Snapshot: strings.TrimSpace(v.Get("snapshot")), Mode: v.Get("target_mode"),
		Target: strings.TrimSpace(v.Get("target")), Strip: strings.TrimSpace(v.Get("strip_components")),
		Overwrite: v.Get("overwrite"), ToHost: strings.TrimSpace(v.Get("to_host")),
	}
	seen := map[string]bool{}
	add := func(p string) {
		p = strings.TrimSpace(p)
		if p != "" && !seen[p] {
			seen[p] = true
			f.Includes = append(f.Includes, p)
		}
	}
	for _, p := range v["include"] {
		add(p)
	}
	for _, line := range strings.Split(v.Get("includes"), "\n") {
		add(line)
	}
	if f.Mode != "other" {
		f.Mode = "original"
	}
	return f
}

// values is the form as a query, for the links between steps.
func (f restoreForm) values() url.Values {
	v := url.Values{"snapshot": {f.Snapshot}, "target_mode": {f.Mode}}
	for _, p := range f.Includes {
		v.Add("include", p)
	}
	for k, s := range map[string]string{"target": f.Target, "strip_components": f.Strip, "overwrite": f.Overwrite, "to_host": f.ToHost} {
		if s != "" {
			v.Set(k, s)
		}
	}
	return v
}

// IncludesText is the textarea's content.
func (f restoreForm) IncludesText() string { return strings.Join(f.Includes, "\n") }

// TargetText says where the files go, in words.
func (f restoreForm) TargetText() string {
	if f.Mode != "other" {
		return "their original location"
	}
	if n, _ := strconv.Atoi(f.Strip); n > 0 {
		return f.Target + " (dropping the first " + f.Strip + " path components)"
	}
	return f.Target + " (under their full original paths)"
}

// OverwriteText names the overwrite policy in words.
func (f restoreForm) OverwriteText() string {
	for _, o := range restoreOverwrites {
		if o.Value == f.Overwrite {
			return o.Label
		}
	}
	return f.Overwrite
}

// body is the API request the form makes for a snapshot of host hostID.
// Onto another host, the original location is asked for explicitly
// (target "/"), as the API wants.
func (f restoreForm) body(hostID string) (map[string]any, error) {
	b := map[string]any{"snapshot": f.Snapshot, "includes": f.Includes}
	if f.Overwrite != "" {
		b["overwrite"] = f.Overwrite
	}
	if f.ToHost != "" && f.ToHost != hostID {
		b["to_host"] = f.ToHost
		if f.Mode != "other" {
			b["target"] = "/"
		}
	}
	if f.Mode == "other" {
		if f.Target == "" {
			return nil, &api.Error{Status: http.StatusBadRequest, Code: "bad_params", Message: "target: give the directory to restore into, or choose the original location"}
		}
		b["target"] = f.Target
		if f.Strip != "" {
			n, err := strconv.Atoi(f.Strip)
			if err != nil {
				return nil, &api.Error{Status: http.StatusBadRequest, Code: "bad_params", Message: "strip_components: " + strconv.Quote(f.Strip) + " is not a whole number"}
			}
			b["strip_components"] = n
		}
	}
	return b, nil
}

type restorePageData struct {
	Host       hostItem
	Step       string // "snapshot", "details" or "confirm"
	CanRestore bool
	Snapshots  []hostSnapshot
	Snap       hostSnapshot
	Form       restoreForm
	Overwrites []struct{ Value, Label string }
	PageURL    string
	EditURL    string // back from confirm to the details, filled in
	Problem    string
	Hosts      []restoreHost // target host choices (restore_xhost.go)
	Onto       restoreHost   // the target host
	Cross      bool          // Onto is not the snapshot's host
	Moves      []pathMove    // confirm: where each path lands
	Check      *targetCheck  // confirm: can the target's agent write to the directory
}

func restoreURL(hostID string) string { return "/hosts/" + url.PathEscape(hostID) + "/restore" }

func (u *UI) restorePage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	h, err := u.readHost(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	q := r.URL.Query()
	d := restorePageData{
		Host: h, CanRestore: canRun(c), Form: readRestoreForm(q), Overwrites: restoreOverwrites,
		PageURL: restoreURL(h.ID), Step: "snapshot",
	}
	var page itemsPage[hostSnapshot]
	if err := u.call(r, c, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(h.ID)+"/snapshots?limit="+strconv.Itoa(restoreSnapshotsShown), nil, &page); err != nil {
		u.fail(w, r, c, err)
		return
	}
	d.Snapshots = page.Items
	if d.Form.Snapshot != "" {
		found := false
		for _, s := range d.Snapshots {
			if s.ID == d.Form.Snapshot || s.ShortID == d.Form.Snapshot {
				d.Snap, found = s, true
			}
		}
		if !found {
			d.Snap = hostSnapshot{ID: d.Form.Snapshot, ShortID: d.Form.Snapshot[:min(8, len(d.Form.Snapshot))]}
		}
		d.Step = "details"
		if d.Hosts, err = u.restoreHosts(r, c); err != nil {
			u.fail(w, r, c, err)
			return
		}
		d.Onto = restoreHost{ID: h.ID, Name: h.Name, Status: h.Status}
		if d.Form.ToHost != "" && d.Form.ToHost != h.ID {
			d.Cross = true
			d.Onto = restoreHost{ID: d.Form.ToHost, Name: d.Form.ToHost, Status: "unknown"}
			for _, x := range d.Hosts {
				if x.ID == d.Form.ToHost {
					d.Onto = x
				}
			}
		}
		if q.Get("step") == "confirm" {
			d.Step = "confirm"
			if _, err := d.Form.body(h.ID); err != nil {
				_, d.Problem = u.userMessage(err)
				d.Step = "details"
			} else {
				d.Moves = d.Form.Moves(d.Snap.Paths)
				if d.Form.Mode == "other" {
					check := u.checkTarget(r, c, d.Onto, d.Form.Target)
					d.Check = &check
				}
			}
		}
	}
	d.EditURL = d.PageURL + "?" + d.Form.values().Encode()
	u.render(w, r, c, http.StatusOK, "restore", view{Title: "Restore from " + h.Name, Nav: "dashboard", Data: d})
}

// restoreSubmit starts the restore and opens its job page; a refused
// restore goes back to the filled-in form with the API's reason.
func (u *UI) restoreSubmit(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	hostID := mux.Vars(r)["id"]
	if err := r.ParseForm(); err != nil {
		u.back(w, r, restoreURL(hostID), err, "")
		return
	}
	f := readRestoreForm(r.PostForm)
	back := restoreURL(hostID) + "?" + f.values().Encode()
	body, err := f.body(hostID)
	if err != nil {
		u.back(w, r, back, err, "")
		return
	}
	var j struct {
		ID string `json:"id"`
	}
	if err := u.call(r, c, http.MethodPost, "/api/v1/hosts/"+url.PathEscape(hostID)+"/restore", body, &j); err != nil {
		u.back(w, r, back, err, "")
		return
	}
	u.back(w, r, "/jobs/"+url.PathEscape(j.ID), nil, "Restore started.")
}
