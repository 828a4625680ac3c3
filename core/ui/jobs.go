package ui

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/store"
)

// jobLogLines is how many lines the job page keeps on screen. The live log
// starts this many events before the end of a long job, and the download
// link has everything.
const jobLogLines = 5000

// jobRoutes are the job page: live log viewer, progress, summary, cancel, log download.
func (u *UI) jobRoutes() []uiRoute {
	return []uiRoute{
		{name: "ui.job", method: http.MethodGet, path: "/jobs/{id}", access: loggedIn, handler: u.jobPage},
		{name: "ui.job.panel", method: http.MethodGet, path: "/jobs/{id}/panel", access: loggedIn, handler: u.jobPanelFragment},
		{name: "ui.job.cancel", method: http.MethodPost, path: "/jobs/{id}/cancel", access: loggedIn, handler: u.jobCancel},
	}
}

// apiJob is a job as GET /api/v1/jobs/{id} answers.
type apiJob struct {
	ID         string          `json:"id"`
	HostID     string          `json:"host_id"`
	Host       string          `json:"host"`
	Kind       string          `json:"kind"`
	Status     string          `json:"status"`
	Repository string          `json:"repository"`
	Params     json.RawMessage `json:"params"`
	CreatedAt  time.Time       `json:"created_at"`
	StartedAt  *time.Time      `json:"started_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	ExitCode   *int            `json:"exit_code"`
	Error      string          `json:"error"`
	Summary    json.RawMessage `json:"summary"`
	LastSeq    int64           `json:"last_seq"`
	// ScopedKey is a cross-host restore's one-job key (restore_xhost.go).
	ScopedKey *jobScopedKey `json:"scoped_key"`
}

// jobPageData is the job page: the panel (the part htmx refreshes when the
// job's status changes) and what the live log needs.
type jobPageData struct {
	Panel jobPanel
	// AfterSeq is where the live log starts: a long job's last
	// jobLogLines events are shown, the rest is in the download.
	AfterSeq int64
	MaxLines int
	LogURL   string
	Progress bool // a backup still running: show the progress bar
}

// jobPanel is the job's header, cancel control and summary.
type jobPanel struct {
	Job       apiJob
	Title     string
	Ended     bool
	CanCancel bool
	CSRF      string
	Paths     []string
	Created   jobStamp
	Started   *jobStamp
	Finished  *jobStamp
	Duration  string
	ExitCode  string
	Backup    *backupSummary
	Facts     []fact
	Notice    *flash
}

// jobStamp is a time as the page shows it.
type jobStamp struct {
	ISO, Text, Ago string
}

func jobStampOf(now time.Time, t *time.Time) *jobStamp {
	if t == nil {
		return nil
	}
	return &jobStamp{ISO: t.UTC().Format(time.RFC3339), Text: t.UTC().Format("2006-01-02 15:04:05 UTC"), Ago: ago(now, t)}
}

// backupSummary is restic's backup summary as the page shows it.
type backupSummary struct {
	SnapshotID                              string
	DryRun                                  bool
	FilesNew, FilesChanged, FilesUnmodified uint64
	DirsNew, DirsChanged, DirsUnmodified    uint64
	TotalFiles                              uint64
	DataAdded, DataStored, TotalBytes       string
	Duration                                string
}

// fact is one line of another kind's summary.
type fact struct{ Label, Value string }

func (u *UI) jobPage(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	j, err := u.readJob(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	p := newJobPanel(time.Now(), c, j, nil)
	d := jobPageData{
		Panel: p, AfterSeq: max(0, j.LastSeq-jobLogLines), MaxLines: jobLogLines,
		LogURL:   "/api/v1/jobs/" + url.PathEscape(j.ID) + "/logs?format=text",
		Progress: j.Kind == "backup" && !p.Ended,
	}
	title := p.Title
	if j.Host != "" {
		title += " on " + j.Host
	}
	u.render(w, r, c, http.StatusOK, "job", view{Title: title, Data: d})
}

// jobPanelFragment is the panel alone, for the page to refresh when the
// job's status changes.
func (u *UI) jobPanelFragment(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	j, err := u.readJob(r, c, mux.Vars(r)["id"])
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderFragment(w, http.StatusOK, "job", "job-panel", newJobPanel(time.Now(), c, j, nil))
}

// jobCancel cancels through the API. A plain form post goes back to the
// job page with the outcome; an htmx post gets the refreshed panel with it.
func (u *UI) jobCancel(w http.ResponseWriter, r *http.Request, c *api.Caller) {
	id := mux.Vars(r)["id"]
	var j apiJob
	err := u.call(r, c, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j)
	okMsg := "The job is cancelled."
	if err == nil && !store.Terminal(j.Status) {
		okMsg = "Cancel requested: the agent is stopping restic. The job ends as cancelled once it has."
	}
	if r.Header.Get("HX-Request") != "true" {
		u.back(w, r, "/jobs/"+url.PathEscape(id), err, okMsg)
		return
	}
	notice := &flash{Kind: "ok", Message: okMsg}
	if err != nil {
		_, msg := u.userMessage(err)
		notice = &flash{Kind: "error", Message: msg}
	}
	cur, err := u.readJob(r, c, id)
	if err != nil {
		u.fail(w, r, c, err)
		return
	}
	u.renderFragment(w, http.StatusOK, "job", "job-panel", newJobPanel(time.Now(), c, cur, notice))
}

func (u *UI) readJob(r *http.Request, c *api.Caller, id string) (apiJob, error) {
	var j apiJob
	err := u.call(r, c, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
	return j, err
}

// newJobPanel prepares a job for the panel template.
func newJobPanel(now time.Time, c *api.Caller, j apiJob, notice *flash) jobPanel {
	p := jobPanel{
		Job: j, Title: kindTitle(j.Kind), Ended: store.Terminal(j.Status), Notice: notice,
		Created: *jobStampOf(now, &j.CreatedAt), Started: jobStampOf(now, j.StartedAt), Finished: jobStampOf(now, j.FinishedAt),
	}
	if c != nil {
		p.CSRF = c.CSRF
		p.CanCancel = !p.Ended && (c.User.Role == store.RoleAdmin || c.User.Role == store.RoleOperator)
	}
	if j.ExitCode != nil {
		p.ExitCode = fmt.Sprint(*j.ExitCode)
	}
	if j.StartedAt != nil && j.FinishedAt != nil {
		p.Duration = spanText(j.FinishedAt.Sub(*j.StartedAt))
	}
	var params struct {
		Paths []string `json:"paths"`
	}
	if json.Unmarshal(j.Params, &params) == nil {
		p.Paths = params.Paths
	}
	if p.Backup = parseBackupSummary(j.Summary); p.Backup == nil {
		p.Facts = summaryFacts(j.Summary)
	}
	return p
}

// kindTitle names a job kind for a heading.
func kindTitle(kind string) string {
	switch kind {
	case "init":
		return "Initialise repository"
	case "backup":
		return "Backup"
	case "snapshots":
		return "List snapshots"
	case "forget":
		return "Forget snapshots"
	case "prune":
		return "Prune"
	case "check":
		return "Check repository"
	case "unlock":
		return "Unlock repository"
	case "stats":
		return "Repository statistics"
	case "ls":
		return "List files"
	case "":
		return "Job"
	}
	return strings.ToUpper(kind[:1]) + kind[1:]
}

// parseBackupSummary reads restic's backup summary line; nil when raw is
// not one.
func parseBackupSummary(raw json.RawMessage) *backupSummary {
	var s struct {
		DryRun          bool    `json:"dry_run"`
		FilesNew        *uint64 `json:"files_new"`
		FilesChanged    uint64  `json:"files_changed"`
		FilesUnmodified uint64  `json:"files_unmodified"`
		DirsNew         uint64  `json:"dirs_new"`
		DirsChanged     uint64  `json:"dirs_changed"`
		DirsUnmodified  uint64  `json:"dirs_unmodified"`
		DataAdded       uint64  `json:"data_added"`
		DataAddedPacked uint64  `json:"data_added_packed"`
		TotalFiles      uint64  `json:"total_files_processed"`
		TotalBytes      uint64  `json:"total_bytes_processed"`
		TotalDuration   float64 `json:"total_duration"`
		SnapshotID      string  `json:"snapshot_id"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &s) != nil || s.FilesNew == nil {
		return nil
	}
	out := &backupSummary{
		SnapshotID: s.SnapshotID, DryRun: s.DryRun,
		FilesNew: *s.FilesNew, FilesChanged: s.FilesChanged, FilesUnmodified: s.FilesUnmodified,
		DirsNew: s.DirsNew, DirsChanged: s.DirsChanged, DirsUnmodified: s.DirsUnmodified,
		TotalFiles: s.TotalFiles, DataAdded: sizeIEC(s.DataAdded), TotalBytes: sizeIEC(s.TotalBytes),
		Duration: spanText(time.Duration(s.TotalDuration * float64(time.Second))),
	}
	if s.DataAddedPacked > 0 {
		out.DataStored = sizeIEC(s.DataAddedPacked)
	}
	return out
}

// maxFacts bounds the summary of kinds other than backup.
const maxFacts = 12

// summaryFacts shows another kind's summary: an object's plain values (a
// size in bytes as such), or how many entries a list has.
func summaryFacts(raw json.RawMessage) []fact {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		return []fact{{Label: "Entries", Value: fmt.Sprint(len(list))}}
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		if k != "message_type" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var out []fact
	for _, k := range keys {
		var v string
		switch x := obj[k].(type) {
		case json.Number:
			v = x.String()
			if n, err := x.Int64(); err == nil && n >= 0 && (strings.Contains(k, "size") || strings.Contains(k, "bytes")) {
				v = sizeIEC(uint64(n))
			}
		case string:
			v = x
		case bool:
			v = map[bool]string{true: "yes", false: "no"}[x]
		case []any:
			v = fmt.Sprintf("%d entries", len(x))
		default:
			continue
		}
		out = append(out, fact{Label: strings.ReplaceAll(k, "_", " "), Value: v})
		if len(out) == maxFacts {
			break
		}
	}
	return out
}

// sizeIEC renders a size in binary units: "1.5 MiB".
func sizeIEC(n uint64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := uint64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// spanText renders a duration for people: "850 ms", "8.2 s", "2 min 05 s",
// "1 h 02 min".
func spanText(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1f s", math.Floor(d.Seconds()*10)/10)
	case d < time.Hour:
		s := int64(d / time.Second)
		return fmt.Sprintf("%d min %02d s", s/60, s%60)
	default:
		m := int64(d / time.Minute)
		return fmt.Sprintf("%d h %02d min", m/60, m%60)
	}
}
