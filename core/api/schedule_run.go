package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// scheduleRunRoutes run a schedule now: the web UI's "Run now" and
// scripts that want a schedule's backup outside its timing.
func (a *API) scheduleRunRoutes() []route {
	return []route{
		{name: "schedule.run", method: http.MethodPost, path: "/api/v1/schedules/{id}/run", access: operator, handle: a.runSchedule},
		{name: "schedule.preview_retention", method: http.MethodPost, path: "/api/v1/schedules/{id}/preview-retention", access: operator, handle: a.previewRetention},
	}
}

// runScheduleRequest picks the host of a tag schedule and may override the
// schedule's bandwidth limits for this run.
type runScheduleRequest struct {
	Host             string `json:"host"`
	LimitUploadKiB   *int64 `json:"limit_upload_kib"`
	LimitDownloadKiB *int64 `json:"limit_download_kib"`
}

// scheduleBackupExtra carries the schedule's exclude options that the
// backend's Args have no field for (the backend's backup extra).
type scheduleBackupExtra struct {
	OneFileSystem    bool     `json:"one_file_system,omitempty"`
	ExcludeCaches    bool     `json:"exclude_caches,omitempty"`
	ExcludeFiles     []string `json:"exclude_files,omitempty"`
	ExcludeIfPresent []string `json:"exclude_if_present,omitempty"`
}

// runSchedule dispatches the schedule's backup now, as a job of the
// schedule (schedule_id set, so it is the schedule's last run), on its host
// or on the named host of its tag. The retention forget that follows a
// scheduled run is not part of it.
func (a *API) runSchedule(w http.ResponseWriter, r *http.Request) error {
	s, err := a.lookupSchedule(r)
	if err != nil {
		return err
	}
	var req runScheduleRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	if s.Kind != "" && s.Kind != store.ScheduleBackup {
		return errorf(http.StatusNotImplemented, "not_implemented", "running a %s schedule now is not implemented; run the job from the host's page", s.Kind)
	}
	host, err := a.scheduleRunHost(r, s, strings.TrimSpace(req.Host))
	if err != nil {
		return err
	}
	jr := runJobRequest{
		Kind: "backup", Paths: s.Paths, Excludes: s.Excludes, Tags: s.Tags,
		LimitUploadKiB: s.LimitUploadKiB, LimitDownloadKiB: s.LimitDownloadKiB,
	}
	if req.LimitUploadKiB != nil {
		jr.LimitUploadKiB = *req.LimitUploadKiB
	}
	if req.LimitDownloadKiB != nil {
		jr.LimitDownloadKiB = *req.LimitDownloadKiB
	}
	x := scheduleBackupExtra{
		OneFileSystem: s.OneFileSystem, ExcludeCaches: s.ExcludeOpts.ExcludeCaches,
		ExcludeFiles: s.ExcludeOpts.ExcludeFiles, ExcludeIfPresent: s.ExcludeOpts.ExcludeIfPresent,
	}
	if x.OneFileSystem || x.ExcludeCaches || len(x.ExcludeFiles) > 0 || len(x.ExcludeIfPresent) > 0 {
		extra, err := json.Marshal(x)
		if err != nil {
			return err
		}
		if jr.Params, err = json.Marshal(map[string]json.RawMessage{"extra": extra}); err != nil {
			return err
		}
	}
	params, err := buildParams(jr)
	if err != nil {
		return err
	}
	return a.createScheduleJob(w, r, s, host, "backup", s.ID, params)
}

// previewRetention dispatches a dry-run forget of the schedule's retention
// policy, with the filters of the forget that follows its scheduled
// backups (this host's hostname, the schedule's paths and tags): the job's
// forget_result lists what the policy would keep and remove. It is not a
// run of the schedule (no schedule_id).
func (a *API) previewRetention(w http.ResponseWriter, r *http.Request) error {
	s, err := a.lookupSchedule(r)
	if err != nil {
		return err
	}
	var req runScheduleRequest
	if r.ContentLength != 0 {
		if err := decode(w, r, &req); err != nil {
			return err
		}
	}
	if s.Retention.Empty() {
		return errorf(http.StatusConflict, "no_retention", "schedule %q has no retention policy to preview", s.Name)
	}
	host, err := a.scheduleRunHost(r, s, strings.TrimSpace(req.Host))
	if err != nil {
		return err
	}
	rp := s.Retention
	p := jobParams{
		Retention: &retentionParams{
			KeepLast: rp.KeepLast, KeepHourly: rp.KeepHourly, KeepDaily: rp.KeepDaily, KeepWeekly: rp.KeepWeekly,
			KeepMonthly: rp.KeepMonthly, KeepYearly: rp.KeepYearly, KeepWithin: rp.KeepWithin, KeepTags: rp.KeepTags, GroupBy: rp.GroupBy,
		},
		DryRun: true, Host: host.Hostname, Paths: s.Paths,
	}
	if len(s.Tags) > 0 {
		// One --tag a,b: snapshots with all of the schedule's tags, as the
		// scheduled forget filters (the schedule's tags are checked).
		p.Tags = []string{strings.Join(s.Tags, ",")}
	}
	if err := checkRetention("params.retention", p.Retention); err != nil {
		return err
	}
	return a.createScheduleJob(w, r, s, host, "forget", "", p)
}

// createScheduleJob stores a job of kind for schedule s on host and
// dispatches it, as POST /api/v1/hosts/{id}/jobs does; scheduleID links it
// to the schedule ("" for none).
func (a *API) createScheduleJob(w http.ResponseWriter, r *http.Request, s store.Schedule, host store.Host, kind, scheduleID string, params jobParams) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	now := a.now()
	deadline := now.Add(defaultJobDeadline)
	j := store.Job{
		ID: auth.NewID(), HostID: host.ID, Kind: kind, Status: store.JobQueued, RepositoryID: s.RepositoryID,
		ScheduleID: scheduleID, Params: raw, CreatedBy: state(r).who.user.ID, CreatedAt: now, DeadlineAt: &deadline,
	}
	if err := a.store.CreateJob(r.Context(), j); err != nil {
		return scheduleStoreError(fmt.Errorf("create job: %w", err), s.Name)
	}
	state(r).detail = map[string]any{"name": s.Name, "host_id": host.ID, "job_id": j.ID, "kind": kind}
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

// scheduleRunHost is the host a run-now of s runs on: its own host, or for
// a tag schedule the named host, which must carry the tag.
func (a *API) scheduleRunHost(r *http.Request, s store.Schedule, ref string) (store.Host, error) {
	if s.HostID != "" {
		h, err := a.store.GetHost(r.Context(), s.HostID)
		if err != nil {
			return store.Host{}, scheduleStoreError(err, s.Name)
		}
		if ref != "" && ref != h.ID && ref != h.Name {
			return store.Host{}, errorf(http.StatusBadRequest, "bad_host", "host: schedule %q runs on %s only", s.Name, h.Name)
		}
		if h.Status == store.HostRevoked {
			return store.Host{}, errorf(http.StatusConflict, "host_revoked", "host %q was removed; enroll it again to run jobs on it", h.Name)
		}
		return h, nil
	}
	if ref == "" {
		return store.Host{}, errorf(http.StatusBadRequest, "bad_host",
			"host: schedule %q runs on every host tagged %q; name the one to run it on now", s.Name, s.HostTag)
	}
	h, err := a.lookupHostRef(r, ref)
	if err != nil {
		return store.Host{}, err
	}
	ids, err := a.store.ScheduleHosts(r.Context(), s)
	if err != nil {
		return store.Host{}, err
	}
	if !slices.Contains(ids, h.ID) {
		return store.Host{}, errorf(http.StatusBadRequest, "bad_host", "host: %s is not one of schedule %q's hosts (tag %q)", h.Name, s.Name, s.HostTag)
	}
	return h, nil
}
