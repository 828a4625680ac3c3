package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

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
	// ScopedKey is a cross-host restore's one-job key (restore_scoped.go).
	ScopedKey *scopedKeyJSON `json:"scoped_key,omitempty"`
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
	if j.Kind == "restore" {
		out.ScopedKey = n.scopedKey(j.ID)
	}
	return out
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
