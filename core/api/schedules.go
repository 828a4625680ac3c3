package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/api/apijson"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// Schedule limits.
const (
	maxScheduleList  = 1000
	maxScheduleValue = 4096
)

var scheduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ScheduleStore is what the schedule endpoints need of the store.
type ScheduleStore interface {
	CreateSchedule(ctx context.Context, s store.Schedule) error
	GetSchedule(ctx context.Context, ref string) (store.Schedule, error)
	ListSchedules(ctx context.Context, f store.ScheduleFilter) ([]store.Schedule, error)
	UpdateSchedule(ctx context.Context, s store.Schedule) error
	DeleteSchedule(ctx context.Context, id string) error
	ScheduleHosts(ctx context.Context, s store.Schedule) ([]string, error)
	ScheduleRunsOf(ctx context.Context, s store.Schedule, hostID string) (store.ScheduleRuns, error)
	HookStore
	RepoCareStore
	RepoAdminStore
}

// SchedulePusher is the part of the agent hub that sends hosts their
// schedule lists; the API calls it after every change so that each agent
// fires what the server says.
type SchedulePusher interface {
	PushSchedules(hostIDs ...string)
}

// scheduleRoutes are the backup schedules. Reading needs a viewer; an
// operator creates, changes and deletes them, except that pruning after
// the forget changes repository data and needs an admin.
func (a *API) scheduleRoutes() []route {
	return []route{
		{name: "schedule.list", method: http.MethodGet, path: "/api/v1/schedules", access: viewer, handle: a.listSchedules},
		{name: "schedule.create", method: http.MethodPost, path: "/api/v1/schedules", access: operator, handle: a.createSchedule},
		{name: "schedule.show", method: http.MethodGet, path: "/api/v1/schedules/{id}", access: viewer, handle: a.showSchedule},
		{name: "schedule.update", method: http.MethodPatch, path: "/api/v1/schedules/{id}", access: operator, handle: a.updateSchedule},
		{name: "schedule.delete", method: http.MethodDelete, path: "/api/v1/schedules/{id}", access: operator, handle: a.deleteSchedule},
		{name: "host.schedules", method: http.MethodGet, path: "/api/v1/hosts/{id}/schedules", access: viewer, handle: a.hostSchedules},
	}
}

// The schedule objects the API shows (package apijson, shared with the UI
// and the CLI).
type (
	retentionJSON   = apijson.Retention
	scheduleRunJSON = apijson.ScheduleRun
	scheduleJSON    = apijson.Schedule
)

func emptyIfNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// schedule renders s; hostID narrows its last run to one host ("" for any).
func (n *names) schedule(s store.Schedule, hostID string) scheduleJSON {
	out := scheduleJSON{
		ID: s.ID, Name: s.Name, Host: "", Repository: n.repo(s.RepositoryID), RepositoryID: s.RepositoryID, Kind: s.Kind,
		Paths: emptyIfNil(s.Paths), Excludes: emptyIfNil(s.Excludes),
		ExcludeFiles: emptyIfNil(s.ExcludeOpts.ExcludeFiles), ExcludeIfPresent: emptyIfNil(s.ExcludeOpts.ExcludeIfPresent),
		ExcludeCaches: s.ExcludeOpts.ExcludeCaches, Tags: emptyIfNil(s.Tags), OneFileSystem: s.OneFileSystem,
		Timezone: s.Timezone, Jitter: timing.FormatDuration(time.Duration(s.JitterSeconds) * time.Second),
		JitterSeconds: s.JitterSeconds, CatchUp: s.CatchUp, LimitUploadKiB: s.LimitUploadKiB,
		LimitDownloadKiB: s.LimitDownloadKiB, Prune: s.Prune, Enabled: s.Enabled, ManagedBy: s.ManagedBy,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ReadDataSubset: s.ReadDataSubset,
	}
	out.PruneKey = n.pruneKey(s)
	if s.HostID != "" {
		out.HostID, out.Host = &s.HostID, n.host(s.HostID)
	} else {
		out.HostTag = &s.HostTag
	}
	if id := s.SecondaryRepositoryID; id != "" {
		name := n.repo(id)
		out.CopyTo, out.CopyToID = &name, &id
	}
	if s.Cron != "" {
		out.Cron = &s.Cron
	} else {
		every := timing.FormatDuration(time.Duration(s.EverySeconds) * time.Second)
		out.Every, out.EverySeconds = &every, &s.EverySeconds
	}
	if r := s.Retention; !r.Empty() {
		out.Retention = &retentionJSON{
			KeepLast: r.KeepLast, KeepHourly: r.KeepHourly, KeepDaily: r.KeepDaily, KeepWeekly: r.KeepWeekly,
			KeepMonthly: r.KeepMonthly, KeepYearly: r.KeepYearly, KeepWithin: r.KeepWithin, KeepTags: r.KeepTags, GroupBy: r.GroupBy,
		}
	}
	if s.Enabled {
		if spec, err := timing.Parse(s.Cron, time.Duration(s.EverySeconds)*time.Second, s.Timezone); err == nil {
			if next := spec.Next(n.a.now()); !next.IsZero() {
				out.NextRun = &next
			}
		}
	}
	if runs, err := n.a.store.ScheduleRunsOf(n.ctx, s, hostID); err == nil {
		if j := runs.Last; j != nil {
			out.LastRun = &scheduleRunJSON{JobID: j.ID, HostID: j.HostID, Status: j.Status, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt, Error: j.Error}
		}
		out.LastSuccessAt = runs.LastSuccessAt
		out.Stale = scheduleStale(s, runs.LastSuccessAt, n.a.now())
	} else {
		n.a.logger.Warn("reading a schedule's runs failed", "schedule_id", s.ID, "error", err)
	}
	return out
}

func (a *API) createSchedule(w http.ResponseWriter, r *http.Request) error {
	var req scheduleRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	now := a.now()
	s := store.Schedule{
		ID: auth.NewID(), Kind: store.ScheduleBackup, Timezone: "UTC", CatchUp: true, Enabled: true,
		ManagedBy: "user", CreatedAt: now, UpdatedAt: now,
	}
	if err := a.applyScheduleRequest(r, &s, req, true); err != nil {
		return err
	}
	if s.Name == "" {
		s.Name = a.defaultScheduleName(r.Context(), s)
	}
	if err := requirePruneRole(r, s, nil); err != nil {
		return err
	}
	pre, post, err := scheduleHookEdits(r, req)
	if err != nil {
		return err
	}
	setTarget(r, "schedule", s.ID)
	state(r).detail = scheduleDetail(s)
	if err := a.store.CreateSchedule(r.Context(), s); err != nil {
		return scheduleStoreError(err, s.Name)
	}
	if err := a.saveScheduleHooks(r, &s, pre, post); err != nil {
		return err
	}
	a.logger.Info("schedule created", "schedule_id", s.ID, "name", s.Name)
	a.pushSchedules(r.Context(), s)
	out := a.newNames(r.Context()).schedule(s, "")
	a.scheduleHooksOut(r, &out, s)
	writeJSON(w, http.StatusCreated, out)
	return nil
}

// defaultScheduleName names a schedule created without one after what it
// backs up, with part of its id to keep it unique.
func (a *API) defaultScheduleName(ctx context.Context, s store.Schedule) string {
	target := s.HostTag
	if s.HostID != "" {
		target = a.newNames(ctx).host(s.HostID)
	}
	repo := a.newNames(ctx).repo(s.RepositoryID)
	name := strings.Map(func(r rune) rune {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-') {
			return r
		}
		return '-'
	}, target+"-"+repo)
	name = strings.ReplaceAll(name, "..", "-")
	if len(name) > 50 {
		name = name[:50]
	}
	return strings.TrimLeft(name, "._-") + "-" + s.ID[:8]
}

func scheduleDetail(s store.Schedule) map[string]any {
	d := map[string]any{"name": s.Name, "kind": s.Kind, "repository_id": s.RepositoryID, "paths": s.Paths, "enabled": s.Enabled}
	if s.ReadDataSubset != "" {
		d["read_data_subset"] = s.ReadDataSubset
	}
	if s.HostID != "" {
		d["host_id"] = s.HostID
	} else {
		d["host_tag"] = s.HostTag
	}
	if s.Cron != "" {
		d["cron"], d["timezone"] = s.Cron, s.Timezone
	} else {
		d["every_seconds"] = s.EverySeconds
	}
	if !s.Retention.Empty() {
		d["retention"], d["prune"] = s.Retention, s.Prune
	}
	if s.SecondaryRepositoryID != "" {
		d["copy_to"] = s.SecondaryRepositoryID
	}
	return d
}

func scheduleStoreError(err error, name string) error {
	switch {
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusConflict, "conflict", "a schedule named %q exists already", name)
	case errors.Is(err, store.ErrNotFound):
		return errorf(http.StatusConflict, "conflict", "the schedule's host or repository was removed meanwhile")
	}
	return err
}

// lookupSchedule resolves {id}: a schedule id, or else a name.
func (a *API) lookupSchedule(r *http.Request) (store.Schedule, error) {
	ref := mux.Vars(r)["id"]
	s, err := a.store.GetSchedule(r.Context(), ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.Schedule{}, errorf(http.StatusNotFound, "not_found", "no schedule %q", truncateText(ref, 100))
	}
	if err != nil {
		return store.Schedule{}, err
	}
	setTarget(r, "schedule", s.ID)
	return s, nil
}

func (a *API) showSchedule(w http.ResponseWriter, r *http.Request) error {
	s, err := a.lookupSchedule(r)
	if err != nil {
		return err
	}
	out := a.newNames(r.Context()).schedule(s, "")
	a.scheduleHooksOut(r, &out, s)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// listSchedules lists schedules by name, of a host (?host=, its tags'
// included) or a repository (?repository=).
func (a *API) listSchedules(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	f := store.ScheduleFilter{After: cursor, Limit: limit + 1}
	q := r.URL.Query()
	if ref := q.Get("host"); ref != "" {
		h, err := a.lookupHostRef(r, ref)
		if err != nil {
			return err
		}
		f.HostID = h.ID
	}
	if ref := q.Get("repository"); ref != "" {
		repo, err := a.store.GetRepository(r.Context(), ref)
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "not_found", "no repository %q", truncateText(ref, 100))
		}
		if err != nil {
			return err
		}
		f.RepositoryID = repo.ID
	}
	scheds, err := a.store.ListSchedules(r.Context(), f)
	if err != nil {
		return err
	}
	n := a.newNames(r.Context())
	writePage(w, scheds, limit, func(s store.Schedule) string { return s.Name },
		func(s store.Schedule) scheduleJSON {
			out := n.schedule(s, f.HostID)
			a.scheduleHooksOut(r, &out, s)
			return out
		})
	return nil
}

// hostSchedules lists the schedules a host's agent fires (its own and its
// tags'), each with its last run on that host.
func (a *API) hostSchedules(w http.ResponseWriter, r *http.Request) error {
	limit, cursor, err := page(r)
	if err != nil {
		return err
	}
	h, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	scheds, err := a.store.ListSchedules(r.Context(), store.ScheduleFilter{HostID: h.ID, After: cursor, Limit: limit + 1})
	if err != nil {
		return err
	}
	n := a.newNames(r.Context())
	writePage(w, scheds, limit, func(s store.Schedule) string { return s.Name },
		func(s store.Schedule) scheduleJSON {
			out := n.schedule(s, h.ID)
			a.scheduleHooksOut(r, &out, s)
			return out
		})
	return nil
}

func (a *API) updateSchedule(w http.ResponseWriter, r *http.Request) error {
	before, err := a.lookupSchedule(r)
	if err != nil {
		return err
	}
	if before.ManagedBy == "config" {
		return errorf(http.StatusConflict, "managed_by_config", "schedule %q is declared in the configuration file; change it there", before.Name)
	}
	var req scheduleRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	s := before
	s.Paths, s.Excludes, s.Tags = slices.Clone(before.Paths), slices.Clone(before.Excludes), slices.Clone(before.Tags)
	if err := a.applyScheduleRequest(r, &s, req, false); err != nil {
		return err
	}
	if err := requirePruneRole(r, s, &before); err != nil {
		return err
	}
	pre, post, err := scheduleHookEdits(r, req)
	if err != nil {
		return err
	}
	s.UpdatedAt = a.now()
	state(r).detail = scheduleDetail(s)
	if err := a.store.UpdateSchedule(r.Context(), s); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if _, gone := a.store.GetSchedule(r.Context(), s.ID); gone != nil {
				return errorf(http.StatusNotFound, "not_found", "schedule %q was deleted meanwhile", before.Name)
			}
		}
		return scheduleStoreError(err, s.Name)
	}
	if err := a.saveScheduleHooks(r, &s, pre, post); err != nil {
		return err
	}
	a.logger.Info("schedule updated", "schedule_id", s.ID, "name", s.Name)
	a.pushSchedules(r.Context(), before, s)
	out := a.newNames(r.Context()).schedule(s, "")
	a.scheduleHooksOut(r, &out, s)
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) deleteSchedule(w http.ResponseWriter, r *http.Request) error {
	s, err := a.lookupSchedule(r)
	if err != nil {
		return err
	}
	if s.ManagedBy == "config" {
		return errorf(http.StatusConflict, "managed_by_config", "schedule %q is declared in the configuration file; remove it there", s.Name)
	}
	state(r).detail = map[string]any{"name": s.Name}
	if err := a.store.DeleteSchedule(r.Context(), s.ID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return errorf(http.StatusNotFound, "not_found", "schedule %q was deleted meanwhile", s.Name)
		}
		return err
	}
	a.logger.Info("schedule deleted", "schedule_id", s.ID, "name", s.Name)
	a.pushSchedules(r.Context(), s)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// pushSchedules has the agent hub send every host the schedules touch (as
// they were and as they are) its new list.
func (a *API) pushSchedules(ctx context.Context, scheds ...store.Schedule) {
	p, ok := a.opts.Agents.(SchedulePusher)
	if !ok {
		return
	}
	var hosts []string
	for _, s := range scheds {
		ids, err := a.store.ScheduleHosts(ctx, s)
		if err != nil {
			a.logger.Warn("listing a schedule's hosts failed; they get the change when their agents reconnect", "schedule_id", s.ID, "error", err)
			continue
		}
		hosts = append(hosts, ids...)
	}
	slices.Sort(hosts)
	p.PushSchedules(slices.Compact(hosts)...)
}
