package ui

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
)

// The retention preview: a dry-run forget of a schedule's policy (POST
// /api/v1/schedules/{id}/preview-retention) and a page that shows the
// job's forget_result — what the policy would keep and remove — once the
// agent has run it.

// forgetSnapshot is one snapshot of a forget plan.
type forgetSnapshot struct {
	ID      string     `json:"id"`
	Time    *time.Time `json:"time"`
	Reasons []string   `json:"reasons"`
}

// Short is the snapshot's short id.
func (s forgetSnapshot) Short() string { return hostClip(s.ID, 8) }

// forgetGroup is one group of restic's forget plan.
type forgetGroup struct {
	Host   string           `json:"host"`
	Tags   []string         `json:"tags"`
	Paths  []string         `json:"paths"`
	Keep   []forgetSnapshot `json:"keep"`
	Remove []forgetSnapshot `json:"remove"`
}

// Label names the group as restic groups it.
func (g forgetGroup) Label() string {
	var parts []string
	if g.Host != "" {
		parts = append(parts, "host "+g.Host)
	}
	if len(g.Paths) > 0 {
		parts = append(parts, "paths "+strings.Join(g.Paths, ", "))
	}
	if len(g.Tags) > 0 {
		parts = append(parts, "tags "+strings.Join(g.Tags, ", "))
	}
	if len(parts) == 0 {
		return "all snapshots"
	}
	return strings.Join(parts, " · ")
}

// forgetResult is a forget job's summary (docs/jobs.md).
type forgetResult struct {
	MessageType string        `json:"message_type"`
	DryRun      bool          `json:"dry_run"`
	Kept        []string      `json:"kept"`
	Removed     []string      `json:"removed"`
	Groups      []forgetGroup `json:"groups"`
}

// previewJob is the preview's job as the job API answers it.
type previewJob struct {
	ID      string          `json:"id"`
	Host    string          `json:"host"`
	Kind    string          `json:"kind"`
	Status  string          `json:"status"`
	Error   string          `json:"error"`
	Summary json.RawMessage `json:"summary"`
}

type schedulePreviewData struct {
	Schedule scheduleItem
	Job      previewJob
	Result   *forgetResult
	Running  bool
	PollURL  string
}

// schedulePreview starts the dry run and opens its page.
func (u *UI) schedulePreview(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	id := s.ID
	body := map[string]any{}
	if h := strings.TrimSpace(r.PostFormValue("host")); h != "" {
		body["host"] = h
	}
	var job struct {
		ID string `json:"id"`
	}
	if err := u.call(r, c, http.MethodPost, "/api/v1/schedules/"+url.PathEscape(id)+"/preview-retention", body, &job); err != nil {
		u.back(w, r, "/schedules/"+url.PathEscape(id), err, "")
		return
	}
	http.Redirect(w, r, "/schedules/"+url.PathEscape(id)+"/preview/"+url.PathEscape(job.ID), http.StatusSeeOther)
}

// schedulePreviewShow shows the dry run's plan; while the job runs the
// page polls itself (htmx) and swaps the plan in when it is there.
func (u *UI) schedulePreviewShow(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	s, err := u.readSchedule(r, c)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	var j previewJob
	if err := u.call(r, c, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(mux.Vars(r)["job"]), nil, &j); err != nil {
		u.fail(w, r, c, err)
		return
	}
	if j.Kind != "forget" {
		u.renderError(w, r, c, http.StatusNotFound, "That job is not a retention preview.")
		return
	}
	d := schedulePreviewData{Schedule: s, Job: j, Running: j.Status == "queued" || j.Status == "running", PollURL: r.URL.Path}
	var res forgetResult
	if len(j.Summary) > 0 && json.Unmarshal(j.Summary, &res) == nil && res.MessageType == "forget_result" {
		d.Result = &res
	}
	u.render(w, r, c, http.StatusOK, "schedule_preview", view{Title: "Retention preview · " + s.Name, Nav: "schedules", Data: d})
}
