package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// Job limits.
const (
	defaultJobDeadline = time.Hour
	maxJobDeadline     = 7 * 24 * time.Hour
	maxJobListItems    = 1000
	maxParamText       = 4096
	// dispatchWait bounds how long "run" waits for the agent's accept or
	// reject before answering with the job still queued.
	dispatchWait = 35 * time.Second
)

// jobKinds are the kinds a user may run now, with whether they need the
// admin role: prune rewrites the repository's data.
var jobKinds = map[string]bool{
	"init": false, "backup": false, "snapshots": false, "forget": false, "prune": true,
	"check": false, "unlock": false, "stats": false, "ls": false, "copy": false,
}

// JobStore is what the job and snapshot endpoints need of the store.
type JobStore interface {
	CreateJob(ctx context.Context, j store.Job) error
	GetJob(ctx context.Context, id string) (store.Job, error)
	ListJobs(ctx context.Context, f store.JobFilter) ([]store.Job, error)
	FinishJob(ctx context.Context, id string, end store.JobEnd) error
	JobLogs(ctx context.Context, jobID string, afterSeq int64, limit int) ([]store.JobLog, error)
	GetRepository(ctx context.Context, ref string) (store.Repository, error)
	ListSnapshots(ctx context.Context, f store.SnapshotFilter) ([]store.Snapshot, error)
}

// jobRoutes are dispatching, reading, following and cancelling jobs.
func (a *API) jobRoutes() []route {
	return []route{
		{name: "job.run", method: http.MethodPost, path: "/api/v1/hosts/{id}/jobs", access: operator, handle: a.runJob},
		{name: "job.list", method: http.MethodGet, path: "/api/v1/jobs", access: viewer, handle: a.listJobs},
		{name: "job.show", method: http.MethodGet, path: "/api/v1/jobs/{id}", access: viewer, handle: a.showJob},
		{name: "job.logs", method: http.MethodGet, path: "/api/v1/jobs/{id}/logs", access: viewer, handle: a.jobLogs},
		{name: "job.stream", method: http.MethodGet, path: "/api/v1/jobs/{id}/stream", access: viewer, handle: a.streamJob},
		{name: "job.cancel", method: http.MethodPost, path: "/api/v1/jobs/{id}/cancel", access: operator, handle: a.cancelJob},
	}
}

// jobJSON is a job as the API shows it. repository is the repository's
// name (repository_id its id); both are "" once the repository is removed.
type jobJSON struct {
	ID           string          `json:"id"`
	HostID       string          `json:"host_id"`
	Host         string          `json:"host"`
	Kind         string          `json:"kind"`
	Status       string          `json:"status"`
	Repository   string          `json:"repository"`
	RepositoryID string          `json:"repository_id"`
	ScheduleID   *string         `json:"schedule_id"`
	Params       json.RawMessage `json:"params"`
	CreatedBy    string          `json:"created_by"`
	CreatedAt    time.Time       `json:"created_at"`
	StartedAt    *time.Time      `json:"started_at"`
	FinishedAt   *time.Time      `json:"finished_at"`
	Deadline     *time.Time      `json:"deadline"`
	ExitCode     *int            `json:"exit_code"`
	Error        string          `json:"error"`
	Summary      json.RawMessage `json:"summary"`
	LastSeq      int64           `json:"last_seq"`
}

// names resolves host and repository ids to names for one response.
type names struct {
	a     *API
	ctx   context.Context
	hosts map[string]string
	repos map[string]string
}

func (a *API) newNames(ctx context.Context) *names {
	return &names{a: a, ctx: ctx, hosts: map[string]string{}, repos: map[string]string{}}
}

func (n *names) host(id string) string {
	if v, ok := n.hosts[id]; ok {
		return v
	}
	if h, err := n.a.store.GetHost(n.ctx, id); err == nil {
		n.hosts[id] = h.Name
	} else {
		n.hosts[id] = ""
	}
	return n.hosts[id]
}

func (n *names) repo(id string) string {
	if id == "" {
		return ""
	}
	if v, ok := n.repos[id]; ok {
		return v
	}
	if r, err := n.a.store.GetRepository(n.ctx, id); err == nil {
		n.repos[id] = r.Name
	} else {
		n.repos[id] = ""
	}
	return n.repos[id]
}

func (n *names) job(j store.Job) jobJSON {
	out := jobJSON{
		ID: j.ID, HostID: j.HostID, Host: n.host(j.HostID), Kind: j.Kind, Status: j.Status,
		Repository: n.repo(j.RepositoryID), RepositoryID: j.RepositoryID, Params: j.Params, CreatedBy: j.CreatedBy,
		CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, Deadline: j.DeadlineAt,
		ExitCode: j.ExitCode, Error: j.Error, Summary: j.Summary, LastSeq: j.LastSeq,
	}
	if j.ScheduleID != "" {
		out.ScheduleID = &j.ScheduleID
	}
	if len(out.Params) == 0 {
		out.Params = json.RawMessage("{}")
	}
	return out
}

// retentionParams is a forget policy, as the backend takes it.
type retentionParams struct {
	KeepLast    int      `json:"keep_last,omitempty"`
	KeepHourly  int      `json:"keep_hourly,omitempty"`
	KeepDaily   int      `json:"keep_daily,omitempty"`
	KeepWeekly  int      `json:"keep_weekly,omitempty"`
	KeepMonthly int      `json:"keep_monthly,omitempty"`
	KeepYearly  int      `json:"keep_yearly,omitempty"`
	KeepWithin  string   `json:"keep_within,omitempty"`
	KeepTags    []string `json:"keep_tags,omitempty"`
	GroupBy     string   `json:"group_by,omitempty"`
}

// jobParams are a job's parameters as job_dispatch carries them to the
// agent: the backend's Args (sdk/backend) as JSON. docs/jobs.md lists them.
type jobParams struct {
	Paths            []string         `json:"paths,omitempty"`
	Excludes         []string         `json:"excludes,omitempty"`
	Tags             []string         `json:"tags,omitempty"`
	Host             string           `json:"host,omitempty"`
	Snapshots        []string         `json:"snapshots,omitempty"`
	Retention        *retentionParams `json:"retention,omitempty"`
	LimitUploadKiB   int64            `json:"limit_upload_kib,omitempty"`
	LimitDownloadKiB int64            `json:"limit_download_kib,omitempty"`
	DryRun           bool             `json:"dry_run,omitempty"`
	Prune            bool             `json:"prune,omitempty"`
	ReadDataSubset   string           `json:"read_data_subset,omitempty"`
	// ToRepository is a copy's destination: the id or name in the
	// request, stored as the id.
	ToRepository string          `json:"to_repository,omitempty"`
	Extra        json.RawMessage `json:"extra,omitempty"`
}

type runJobRequest struct {
	Kind             string          `json:"kind"`
	Repository       string          `json:"repository"`
	Paths            []string        `json:"paths"`
	Excludes         []string        `json:"excludes"`
	Tags             []string        `json:"tags"`
	LimitUploadKiB   int64           `json:"limit_upload_kib"`
	LimitDownloadKiB int64           `json:"limit_download_kib"`
	Deadline         string          `json:"deadline"`
	Params           json.RawMessage `json:"params"`
}

// runJob creates a job and dispatches it: to an online host at once (the
// answer says whether the agent took it), to an offline one when it
// connects, until the job's deadline.
func (a *API) runJob(w http.ResponseWriter, r *http.Request) error {
	host, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	var req runJobRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	who := state(r).who
	adminOnly, known := jobKinds[req.Kind]
	if !known {
		return errorf(http.StatusBadRequest, "bad_kind", "kind %q: want one of init, backup, snapshots, forget, prune, check, unlock, stats, ls, copy", truncateText(req.Kind, 40))
	}
	params, err := buildParams(req)
	if err != nil {
		return err
	}
	if (adminOnly || (req.Kind == "forget" && params.Prune)) && roleLevel(who.user.Role) < admin {
		return errorf(http.StatusForbidden, "forbidden", "%s removes data from the repository and needs the admin role; you are %s", req.Kind, who.user.Role)
	}
	if host.Status == store.HostRevoked {
		return errorf(http.StatusConflict, "host_revoked", "host %q was removed; enroll it again to run jobs on it", host.Name)
	}
	if strings.TrimSpace(req.Repository) == "" {
		return errorf(http.StatusBadRequest, "bad_repository", "repository is required: a repository's id or name")
	}
	repo, err := a.store.GetRepository(r.Context(), req.Repository)
	if errors.Is(err, store.ErrNotFound) {
		return errorf(http.StatusNotFound, "not_found", "no repository %q", truncateText(req.Repository, 100))
	}
	if err != nil {
		return err
	}
	var toRepo store.Repository
	if req.Kind == "copy" {
		if toRepo, err = a.copyDestination(r.Context(), repo, params.ToRepository); err != nil {
			return err
		}
		params.ToRepository = toRepo.ID
	}
	now := a.now()
	deadline, err := parseDeadline(req.Deadline, now)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	j := store.Job{
		ID: auth.NewID(), HostID: host.ID, Kind: req.Kind, Status: store.JobQueued, RepositoryID: repo.ID,
		Params: raw, CreatedBy: who.user.ID, CreatedAt: now, DeadlineAt: &deadline,
	}
	if err := a.store.CreateJob(r.Context(), j); err != nil {
		return fmt.Errorf("create job: %w", err)
	}
	setTarget(r, "job", j.ID)
	state(r).detail = map[string]any{"host_id": host.ID, "kind": j.Kind, "repository": repo.Name}
	if toRepo.ID != "" {
		state(r).detail["to_repository"] = toRepo.Name
	}
	if a.opts.Agents != nil {
		// The job exists now; a client that hangs up must not leave its
		// dispatch half done.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), dispatchWait)
		defer cancel()
		if err := a.opts.Agents.Dispatch(ctx, j.ID); err != nil {
			a.logger.Debug("job stays queued", "job_id", j.ID, "error", err)
		}
	}
	if j, err = a.store.GetJob(r.Context(), j.ID); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, a.newNames(r.Context()).job(j))
	return nil
}

// buildParams merges the request's top-level fields into its params and
// checks them for the kind.
func buildParams(req runJobRequest) (jobParams, error) {
	var p jobParams
	if raw := bytes.TrimSpace(req.Params); len(raw) > 0 && !bytes.Equal(raw, []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&p); err != nil {
			return p, errorf(http.StatusBadRequest, "bad_params", "params: %v", err)
		}
	}
	both := func(name string, top, inner bool) error {
		if top && inner {
			return errorf(http.StatusBadRequest, "bad_params", "%s is given both at the top level and in params; give it once", name)
		}
		return nil
	}
	if err := errors.Join(
		both("paths", len(req.Paths) > 0, len(p.Paths) > 0),
		both("excludes", len(req.Excludes) > 0, len(p.Excludes) > 0),
		both("tags", len(req.Tags) > 0, len(p.Tags) > 0),
		both("limit_upload_kib", req.LimitUploadKiB != 0, p.LimitUploadKiB != 0),
		both("limit_download_kib", req.LimitDownloadKiB != 0, p.LimitDownloadKiB != 0),
	); err != nil {
		return p, firstAPIError(err)
	}
	if len(req.Paths) > 0 {
		p.Paths = req.Paths
	}
	if len(req.Excludes) > 0 {
		p.Excludes = req.Excludes
	}
	if len(req.Tags) > 0 {
		p.Tags = req.Tags
	}
	if req.LimitUploadKiB != 0 {
		p.LimitUploadKiB = req.LimitUploadKiB
	}
	if req.LimitDownloadKiB != 0 {
		p.LimitDownloadKiB = req.LimitDownloadKiB
	}
	return p, checkParams(req.Kind, p)
}

func firstAPIError(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return err
}

// checkParams validates parameters for a kind. Paths are checked to be
// absolute here (restic is given absolute paths only); the agent's backend
// checks the rest against the installed restic before anything runs.
func checkParams(kind string, p jobParams) error {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "bad_params", format, args...)
	}
	for name, list := range map[string][]string{"paths": p.Paths, "excludes": p.Excludes, "tags": p.Tags, "snapshots": p.Snapshots} {
		if len(list) > maxJobListItems {
			return bad("%s: at most %d entries", name, maxJobListItems)
		}
		for _, v := range list {
			if err := checkParamText(name, v); err != nil {
				return err
			}
		}
	}
	for name, v := range map[string]string{"host": p.Host, "read_data_subset": p.ReadDataSubset} {
		if v != "" {
			if err := checkParamText(name, v); err != nil {
				return err
			}
		}
	}
	for _, t := range p.Tags {
		if strings.ContainsAny(t, ", ") {
			return bad("tag %q: tags cannot contain commas or spaces", truncateText(t, 60))
		}
	}
	if p.LimitUploadKiB < 0 || p.LimitUploadKiB > math.MaxInt32 || p.LimitDownloadKiB < 0 || p.LimitDownloadKiB > math.MaxInt32 {
		return bad("limit_upload_kib and limit_download_kib must be from 0 (no limit) to %d KiB/s", math.MaxInt32)
	}
	if extra := bytes.TrimSpace(p.Extra); len(extra) > 0 && extra[0] != '{' && !bytes.Equal(extra, []byte("null")) {
		return bad("params.extra must be a JSON object")
	}
	if p.Retention != nil && kind != "forget" {
		return bad("retention is for forget jobs only")
	}
	if p.Prune && kind != "forget" {
		return bad("prune (in params) is for forget jobs only; run a prune job to prune on its own")
	}
	if p.ReadDataSubset != "" && kind != "check" {
		return bad("read_data_subset is for check jobs only")
	}
	switch kind {
	case "backup":
		if len(p.Paths) == 0 {
			return bad("a backup needs at least one path")
		}
		for _, path := range p.Paths {
			if !absolutePath(path) {
				return bad("backup path %q is not absolute; give absolute paths such as /etc or C:\\Users", truncateText(path, 200))
			}
		}
	case "ls":
		if len(p.Snapshots) != 1 {
			return bad("ls needs exactly one snapshot in params.snapshots (an id or \"latest\")")
		}
	}
	return checkRepoCareParams(kind, p)
}

func checkParamText(name, v string) error {
	switch {
	case v == "":
		return errorf(http.StatusBadRequest, "bad_params", "%s: empty value", name)
	case len(v) > maxParamText:
		return errorf(http.StatusBadRequest, "bad_params", "%s: a value is longer than %d bytes", name, maxParamText)
	case strings.ContainsFunc(v, unicode.IsControl):
		return errorf(http.StatusBadRequest, "bad_params", "%s: %q contains control characters", name, truncateText(v, 60))
	}
	return nil
}

// absolutePath accepts absolute paths of either platform: /srv, C:\Users,
// C:/Users, \\server\share. The host's agent decides what they mean.
func absolutePath(p string) bool {
	switch {
	case strings.HasPrefix(p, "/"), strings.HasPrefix(p, `\\`):
		return true
	case len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/'):
		c := p[0] | 0x20
		return c >= 'a' && c <= 'z'
	}
	return false
}

// parseDeadline reads a job's queue deadline: a duration from now ("2h")
// or an RFC 3339 time; empty is one hour.
func parseDeadline(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.Add(defaultJobDeadline), nil
	}
	var at time.Time
	if d, err := time.ParseDuration(s); err == nil {
		at = now.Add(d)
	} else if t, err := time.Parse(time.RFC3339, s); err == nil {
		at = t
	} else {
		return time.Time{}, errorf(http.StatusBadRequest, "bad_deadline", "deadline %q: want a duration such as 2h or an RFC 3339 time", truncateText(s, 60))
	}
	if !at.After(now) || at.Sub(now) > maxJobDeadline {
		return time.Time{}, errorf(http.StatusBadRequest, "bad_deadline", "deadline must be in the future and at most %s away", maxJobDeadline)
	}
	return at, nil
}

func truncateText(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '?'
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// getJob resolves {id} to a job and names it as the request's target.
func (a *API) getJob(r *http.Request) (store.Job, error) {
	id := mux.Vars(r)["id"]
	j, err := a.store.GetJob(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Job{}, errorf(http.StatusNotFound, "not_found", "no job %q", truncateText(id, 64))
	}
	if err != nil {
		return store.Job{}, err
	}
	setTarget(r, "job", j.ID)
	return j, nil
}

func (a *API) showJob(w http.ResponseWriter, r *http.Request) error {
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, a.newNames(r.Context()).job(j))
	return nil
}

// listJobs lists jobs newest first, by host (id or name) and status.
func (a *API) listJobs(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.JobFilter{Status: q.Get("status"), Before: cursor, Limit: limit + 1}
	switch f.Status {
	case "", store.JobQueued, store.JobRunning, store.JobSucceeded, store.JobFailed, store.JobCancelled, store.JobSkipped:
	default:
		return errorf(http.StatusBadRequest, "bad_request", "status must be queued, running, succeeded, failed, cancelled or skipped")
	}
	if ref := q.Get("host"); ref != "" {
		h, err := a.lookupHostRef(r, ref)
		if err != nil {
			return err
		}
		f.HostID = h.ID
	}
	jobs, err := a.store.ListJobs(r.Context(), f)
	if err != nil {
		return err
	}
	writePage(w, jobs, limit, func(j store.Job) string { return j.ID }, a.newNames(r.Context()).job)
	return nil
}

// lookupHostRef resolves a host reference given outside the path, as
// lookupHost does for {id}.
func (a *API) lookupHostRef(r *http.Request, ref string) (store.Host, error) {
	return a.lookupHost(mux.SetURLVars(r, map[string]string{"id": ref}))
}

// logItemJSON is one stored event of a job.
type logItemJSON struct {
	Seq    int64     `json:"seq"`
	Time   time.Time `json:"time"`
	Stream string    `json:"stream"`
	Type   string    `json:"type"`
	Line   string    `json:"line"`
}

func toLogItem(l store.JobLog) logItemJSON {
	return logItemJSON{Seq: l.Seq, Time: l.Time, Stream: l.Stream, Type: l.Type, Line: l.Line}
}

// jobLogs pages through a job's events in seq order, after ?after_seq or
// the cursor; ?format=text answers with the whole log as a file instead.
func (a *API) jobLogs(w http.ResponseWriter, r *http.Request) error {
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
	case "text":
		return a.jobLogsText(w, r)
	default:
		return errorf(http.StatusBadRequest, "bad_request", "format %q: want json (pages of events) or text (the whole log as a file)", truncateText(f, 20))
	}
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	after, err := afterSeq(r, cursor)
	if err != nil {
		return err
	}
	rows, err := a.store.JobLogs(r.Context(), j.ID, after, limit+1)
	if err != nil {
		return err
	}
	writePage(w, rows, limit, func(l store.JobLog) string { return strconv.FormatInt(l.Seq, 10) }, toLogItem)
	return nil
}

// textLogPage is how many events the text download reads from the store
// at a time: the file is streamed, never held whole.
const textLogPage = 1000

// jobLogsText writes every event of a job after ?after_seq as text/plain,
// one line per line of output: "TIME LABEL TEXT", where LABEL is the
// stream of a log line (stdout, stderr) or the event's type (progress,
// summary, error, status) and TEXT is the stored line (events' JSON as
// stored). A log event of several lines gives as many lines, each with the
// prefix. It reads the store page by page while it writes.
func (a *API) jobLogsText(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if q.Has("limit") || q.Has("cursor") {
		return errorf(http.StatusBadRequest, "bad_request", "limit and cursor page the JSON listing; format=text returns the whole log (after after_seq)")
	}
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	after, err := afterSeq(r, "")
	if err != nil {
		return err
	}
	rows, err := a.store.JobLogs(r.Context(), j.ID, after, textLogPage)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	disposition := mime.FormatMediaType("attachment", map[string]string{"filename": "job-" + j.ID + ".log"})
	if disposition == "" { // an id no header can carry as a file name
		disposition = "attachment"
	}
	h.Set("Content-Disposition", disposition)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 32<<10)
	for {
		for _, l := range rows {
			writeTextLog(bw, l)
		}
		if err := bw.Flush(); err != nil {
			return nil // the client has gone
		}
		if len(rows) < textLogPage {
			return nil
		}
		if rows, err = a.store.JobLogs(r.Context(), j.ID, rows[len(rows)-1].Seq, textLogPage); err != nil {
			// The status line is sent: abort the response, so the client
			// sees a broken transfer rather than a log cut short.
			a.logger.Error("reading a job log for download failed", "job_id", j.ID, "error", err)
			panic(http.ErrAbortHandler)
		}
	}
}

// writeTextLog writes one event as the lines of the text download.
func writeTextLog(w *bufio.Writer, l store.JobLog) {
	label := l.Type
	if l.Type == "log" {
		label = l.Stream
	}
	prefix := l.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00") + " " + fmt.Sprintf("%-8s", label) + " "
	for line := range strings.SplitSeq(l.Line, "\n") {
		_, _ = w.WriteString(prefix)
		_, _ = w.WriteString(line)
		_ = w.WriteByte('\n')
	}
}

// afterSeq reads ?after_seq, or the cursor of a previous page.
func afterSeq(r *http.Request, cursor string) (int64, error) {
	s := r.URL.Query().Get("after_seq")
	if s == "" {
		s = cursor
	}
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errorf(http.StatusBadRequest, "bad_request", "after_seq must be a sequence number (0 or more)")
	}
	return n, nil
}

// cancelJob cancels a job: a queued one at once (200), a running one by
// asking its agent to stop restic (202; the job ends as cancelled when the
// agent reports it). A job that has ended is a 409.
func (a *API) cancelJob(w http.ResponseWriter, r *http.Request) error {
	j, err := a.getJob(r)
	if err != nil {
		return err
	}
	who := state(r).who
	reason := "cancelled by " + who.user.Username
	if a.opts.Agents != nil {
		j, err = a.opts.Agents.Cancel(r.Context(), j.ID, reason)
	} else {
		j, err = a.cancelWithoutHub(r.Context(), j, reason)
	}
	if errors.Is(err, store.ErrJobFinished) {
		return errorf(http.StatusConflict, "job_finished", "job %s has already ended (%s)", j.ID, j.Status)
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if !store.Terminal(j.Status) {
		status = http.StatusAccepted
	}
	writeJSON(w, status, a.newNames(r.Context()).job(j))
	return nil
}

// cancelWithoutHub cancels a queued job on a server without an agent hub;
// a running one cannot be reached.
func (a *API) cancelWithoutHub(ctx context.Context, j store.Job, reason string) (store.Job, error) {
	if store.Terminal(j.Status) {
		return j, store.ErrJobFinished
	}
	if j.Status != store.JobQueued {
		return j, errorf(http.StatusServiceUnavailable, "no_agent_hub", "this server cannot reach agents to stop a running job")
	}
	if err := a.store.FinishJob(ctx, j.ID, store.JobEnd{Status: store.JobCancelled, Error: reason, At: a.now()}); err != nil {
		cur, _ := a.store.GetJob(ctx, j.ID)
		return cur, err
	}
	return a.store.GetJob(ctx, j.ID)
}
