package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/gorilla/mux"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// Schedule limits.
const (
	maxScheduleList  = 1000
	maxScheduleValue = 4096
	maxKeep          = 1_000_000
)

var (
	scheduleNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	keepWithinRE   = regexp.MustCompile(`^(\d{1,7}[ymdh])+$`)
)

// ScheduleStore is what the schedule endpoints need of the store.
type ScheduleStore interface {
	CreateSchedule(ctx context.Context, s store.Schedule) error
	GetSchedule(ctx context.Context, ref string) (store.Schedule, error)
	ListSchedules(ctx context.Context, f store.ScheduleFilter) ([]store.Schedule, error)
	UpdateSchedule(ctx context.Context, s store.Schedule) error
	DeleteSchedule(ctx context.Context, id string) error
	ScheduleHosts(ctx context.Context, s store.Schedule) ([]string, error)
	ScheduleRunsOf(ctx context.Context, s store.Schedule, hostID string) (store.ScheduleRuns, error)
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

// retentionJSON is a forget policy as the API takes and shows it.
type retentionJSON struct {
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

// scheduleRunJSON is the newest run of a schedule.
type scheduleRunJSON struct {
	JobID      string     `json:"job_id"`
	HostID     string     `json:"host_id"`
	Status     string     `json:"status"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
	Error      string     `json:"error"`
}

// scheduleJSON is a schedule as the API shows it. next_run is when the
// schedule is next due by its cron expression or interval, before the
// agent adds its jitter; null while disabled.
type scheduleJSON struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	HostID           *string          `json:"host_id"`
	Host             string           `json:"host"`
	HostTag          *string          `json:"host_tag"`
	Repository       string           `json:"repository"`
	RepositoryID     string           `json:"repository_id"`
	Kind             string           `json:"kind"`
	Paths            []string         `json:"paths"`
	Excludes         []string         `json:"excludes"`
	ExcludeFiles     []string         `json:"exclude_files"`
	ExcludeIfPresent []string         `json:"exclude_if_present"`
	ExcludeCaches    bool             `json:"exclude_caches"`
	Tags             []string         `json:"tags"`
	OneFileSystem    bool             `json:"one_file_system"`
	Cron             *string          `json:"cron"`
	Every            *string          `json:"every"`
	EverySeconds     *int64           `json:"every_seconds"`
	Timezone         string           `json:"timezone"`
	Jitter           string           `json:"jitter"`
	JitterSeconds    int64            `json:"jitter_seconds"`
	CatchUp          bool             `json:"catch_up"`
	LimitUploadKiB   int64            `json:"limit_upload_kib"`
	LimitDownloadKiB int64            `json:"limit_download_kib"`
	Retention        *retentionJSON   `json:"retention"`
	Prune            bool             `json:"prune"`
	Enabled          bool             `json:"enabled"`
	ManagedBy        string           `json:"managed_by"`
	CreatedAt        time.Time        `json:"created_at"`
	UpdatedAt        time.Time        `json:"updated_at"`
	NextRun          *time.Time       `json:"next_run"`
	LastRun          *scheduleRunJSON `json:"last_run"`
	LastSuccessAt    *time.Time       `json:"last_success_at"`
}

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
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt,
	}
	if s.HostID != "" {
		out.HostID, out.Host = &s.HostID, n.host(s.HostID)
	} else {
		out.HostTag = &s.HostTag
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
	} else {
		n.a.logger.Warn("reading a schedule's runs failed", "schedule_id", s.ID, "error", err)
	}
	return out
}

// scheduleRequest creates a schedule (POST) or changes one (PATCH): absent
// fields keep their value (or the default, on create). host and host_tag
// replace each other, as do cron and every. "retention": null removes the
// policy; a list replaces the whole list.
type scheduleRequest struct {
	Name             *string         `json:"name"`
	Host             *string         `json:"host"`
	HostTag          *string         `json:"host_tag"`
	Repository       *string         `json:"repository"`
	Paths            *[]string       `json:"paths"`
	Excludes         *[]string       `json:"excludes"`
	ExcludeFiles     *[]string       `json:"exclude_files"`
	ExcludeIfPresent *[]string       `json:"exclude_if_present"`
	ExcludeCaches    *bool           `json:"exclude_caches"`
	Tags             *[]string       `json:"tags"`
	OneFileSystem    *bool           `json:"one_file_system"`
	Cron             *string         `json:"cron"`
	Every            *string         `json:"every"`
	Timezone         *string         `json:"timezone"`
	Jitter           *string         `json:"jitter"`
	CatchUp          *bool           `json:"catch_up"`
	LimitUploadKiB   *int64          `json:"limit_upload_kib"`
	LimitDownloadKiB *int64          `json:"limit_download_kib"`
	Retention        json.RawMessage `json:"retention"`
	Prune            *bool           `json:"prune"`
	Enabled          *bool           `json:"enabled"`
}

// problems collects what is wrong with a request, field by field.
type problems []string

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, field+": "+fmt.Sprintf(format, args...))
}

// err is the 400 for the collected problems: its code names the first
// field (bad_cron), its message every problem.
func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	field, _, _ := strings.Cut(p[0], ":")
	field, _, _ = strings.Cut(field, ".")
	field, _, _ = strings.Cut(field, "[")
	return errorf(http.StatusBadRequest, "bad_"+field, "%s", strings.Join(p, "; "))
}

// applyScheduleRequest applies req onto s and checks the result. It
// resolves the host and repository the request names.
func (a *API) applyScheduleRequest(r *http.Request, s *store.Schedule, req scheduleRequest, creating bool) error {
	var bad problems
	if req.Name != nil {
		s.Name = strings.TrimSpace(*req.Name)
		if !scheduleNameRE.MatchString(s.Name) || strings.Contains(s.Name, "..") {
			bad.add("name", "must be 1 to 64 letters, digits, '.', '_' or '-', start with a letter or digit, and not contain \"..\"")
		}
	}
	if err := a.applyTarget(r, s, req, &bad); err != nil {
		return err
	}
	if req.Repository != nil {
		ref := strings.TrimSpace(*req.Repository)
		repo, err := a.store.GetRepository(r.Context(), ref)
		switch {
		case ref == "":
			bad.add("repository", "is required: a repository's id or name")
		case errors.Is(err, store.ErrNotFound):
			bad.add("repository", "no repository %q", truncateText(ref, 100))
		case err != nil:
			return err
		default:
			s.RepositoryID = repo.ID
		}
	} else if creating {
		bad.add("repository", "is required: a repository's id or name")
	}
	setList := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = slices.Clone(*src)
		}
	}
	setList(&s.Paths, req.Paths)
	setList(&s.Excludes, req.Excludes)
	setList(&s.ExcludeOpts.ExcludeFiles, req.ExcludeFiles)
	setList(&s.ExcludeOpts.ExcludeIfPresent, req.ExcludeIfPresent)
	setList(&s.Tags, req.Tags)
	setBool := func(dst *bool, src *bool) {
		if src != nil {
			*dst = *src
		}
	}
	setBool(&s.ExcludeOpts.ExcludeCaches, req.ExcludeCaches)
	setBool(&s.OneFileSystem, req.OneFileSystem)
	setBool(&s.CatchUp, req.CatchUp)
	setBool(&s.Prune, req.Prune)
	setBool(&s.Enabled, req.Enabled)
	if req.LimitUploadKiB != nil {
		s.LimitUploadKiB = *req.LimitUploadKiB
	}
	if req.LimitDownloadKiB != nil {
		s.LimitDownloadKiB = *req.LimitDownloadKiB
	}
	checkScheduleLists(s, &bad)
	for field, v := range map[string]int64{"limit_upload_kib": s.LimitUploadKiB, "limit_download_kib": s.LimitDownloadKiB} {
		if v < 0 || v > math.MaxInt32 {
			bad.add(field, "must be from 0 (no limit) to %d KiB/s", math.MaxInt32)
		}
	}
	applyTiming(s, req, &bad)
	applyRetention(s, req.Retention, &bad)
	if s.Prune && s.Retention.Empty() {
		bad.add("prune", "prunes after the forget of a retention policy; set retention too")
	}
	return bad.err()
}

// applyTarget applies host and host_tag: exactly one names the hosts.
func (a *API) applyTarget(r *http.Request, s *store.Schedule, req scheduleRequest, bad *problems) error {
	switch {
	case req.Host != nil && req.HostTag != nil:
		bad.add("host", "give either a host or a host_tag, not both")
		return nil
	case req.Host != nil:
		ref := strings.TrimSpace(*req.Host)
		if ref == "" {
			bad.add("host", "is required: a host's id or name (or give host_tag)")
			return nil
		}
		h, err := a.lookupHostRef(r, ref)
		var apiErr *Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound {
			bad.add("host", "no host %q", truncateText(ref, 100))
			return nil
		}
		if err != nil {
			return err
		}
		if h.Status == store.HostRevoked {
			return errorf(http.StatusConflict, "host_revoked", "host %q was removed; enroll it again to schedule backups on it", h.Name)
		}
		s.HostID, s.HostTag = h.ID, ""
	case req.HostTag != nil:
		tag := strings.TrimSpace(*req.HostTag)
		if _, err := checkTags([]string{tag}); err != nil {
			bad.add("host_tag", "must be 1 to 64 letters, digits and . _ - : =")
			return nil
		}
		s.HostID, s.HostTag = "", tag
	case s.HostID == "" && s.HostTag == "":
		bad.add("host", "is required: a host's id or name, or a host_tag for every host with that tag")
	}
	return nil
}

// checkScheduleLists checks paths, excludes, exclude options and tags.
func checkScheduleLists(s *store.Schedule, bad *problems) {
	lists := []struct {
		field string
		list  []string
		check func(string) string
	}{
		{"paths", s.Paths, func(v string) string {
			if !absolutePath(v) {
				return "is not absolute; give absolute paths such as /etc or C:\\Users"
			}
			return ""
		}},
		{"excludes", s.Excludes, nil},
		{"exclude_files", s.ExcludeOpts.ExcludeFiles, func(v string) string {
			if !absolutePath(v) {
				return "is not absolute; give the absolute path of a file of exclude patterns"
			}
			return ""
		}},
		{"exclude_if_present", s.ExcludeOpts.ExcludeIfPresent, func(v string) string {
			if name, _, _ := strings.Cut(v, ":"); name == "" || strings.ContainsAny(name, `/\`) {
				return "must be a file name, optionally with :header (such as .nobackup or CACHEDIR.TAG:Signature: 8a477f597d28d172789f06886806bc55)"
			}
			return ""
		}},
		{"tags", s.Tags, func(v string) string {
			if strings.ContainsAny(v, ", ") {
				return "cannot contain commas or spaces"
			}
			return ""
		}},
	}
	for _, l := range lists {
		if len(l.list) > maxScheduleList {
			bad.add(l.field, "at most %d entries", maxScheduleList)
			continue
		}
		for i, v := range l.list {
			switch {
			case v == "":
				bad.add(fmt.Sprintf("%s[%d]", l.field, i), "is empty")
			case len(v) > maxScheduleValue:
				bad.add(fmt.Sprintf("%s[%d]", l.field, i), "is longer than %d bytes", maxScheduleValue)
			case strings.ContainsFunc(v, unicode.IsControl):
				bad.add(fmt.Sprintf("%s[%d]", l.field, i), "%q contains control characters", truncateText(v, 60))
			case l.check != nil && l.check(v) != "":
				bad.add(fmt.Sprintf("%s[%d]", l.field, i), "%q %s", truncateText(v, 200), l.check(v))
			}
		}
	}
	if len(s.Paths) == 0 {
		bad.add("paths", "a backup needs at least one path")
	}
}

// applyTiming applies cron, every, timezone and jitter and checks them
// with the parser the agents use.
func applyTiming(s *store.Schedule, req scheduleRequest, bad *problems) {
	every := time.Duration(s.EverySeconds) * time.Second
	cronSet := req.Cron != nil && strings.TrimSpace(*req.Cron) != ""
	everySet := req.Every != nil && strings.TrimSpace(*req.Every) != ""
	switch {
	case cronSet && everySet:
		bad.add("cron", "give either a cron expression or an interval (every), not both")
		return
	case cronSet:
		s.Cron, every = strings.TrimSpace(*req.Cron), 0
	case everySet:
		d, err := timing.ParseDuration(*req.Every)
		if err != nil {
			bad.add("every", "%v", err)
			return
		}
		s.Cron, every = "", d
	}
	if req.Timezone != nil {
		s.Timezone = strings.TrimSpace(*req.Timezone)
	}
	if s.Timezone == "" {
		s.Timezone = "UTC"
	}
	jitter := time.Duration(s.JitterSeconds) * time.Second
	if req.Jitter != nil {
		d, err := timing.ParseDuration(*req.Jitter)
		if err != nil {
			bad.add("jitter", "%v", err)
			return
		}
		jitter = d
	}
	spec, err := timing.Parse(s.Cron, every, s.Timezone)
	if err != nil {
		*bad = append(*bad, timingProblems(err)...)
		return
	}
	if err := spec.CheckJitter(jitter, time.Now()); err != nil {
		*bad = append(*bad, err.Error())
		return
	}
	s.EverySeconds, s.JitterSeconds = int64(every/time.Second), int64(jitter/time.Second)
}

// timingProblems lists the *timing.FieldError messages in err.
func timingProblems(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if multi, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range multi.Unwrap() {
				walk(inner)
			}
			return
		}
		out = append(out, e.Error())
	}
	walk(err)
	return out
}

// applyRetention applies "retention": absent keeps it, null or {} removes
// it, an object replaces it.
func applyRetention(s *store.Schedule, raw json.RawMessage, bad *problems) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return
	}
	if bytes.Equal(raw, []byte("null")) {
		s.Retention = nil
		return
	}
	var rj retentionJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rj); err != nil {
		bad.add("retention", "want an object of keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within, keep_tags, group_by: %v", err)
		return
	}
	r := store.Retention{
		KeepLast: rj.KeepLast, KeepHourly: rj.KeepHourly, KeepDaily: rj.KeepDaily, KeepWeekly: rj.KeepWeekly,
		KeepMonthly: rj.KeepMonthly, KeepYearly: rj.KeepYearly, KeepWithin: strings.TrimSpace(rj.KeepWithin),
		KeepTags: rj.KeepTags, GroupBy: strings.TrimSpace(rj.GroupBy),
	}
	for field, v := range map[string]int{
		"keep_last": r.KeepLast, "keep_hourly": r.KeepHourly, "keep_daily": r.KeepDaily,
		"keep_weekly": r.KeepWeekly, "keep_monthly": r.KeepMonthly, "keep_yearly": r.KeepYearly,
	} {
		if v < 0 || v > maxKeep {
			bad.add("retention."+field, "must be from 0 to %d", maxKeep)
		}
	}
	if r.KeepWithin != "" && !keepWithinRE.MatchString(r.KeepWithin) {
		bad.add("retention.keep_within", "%q is not a restic duration such as 14d, 6m or 1y6m3d4h", truncateText(r.KeepWithin, 40))
	}
	for _, t := range r.KeepTags {
		if t == "" || len(t) > maxParamText || strings.ContainsFunc(t, unicode.IsControl) {
			bad.add("retention.keep_tags", "each tag must be 1 to %d characters without control characters", maxParamText)
			break
		}
	}
	if r.GroupBy != "" {
		for g := range strings.SplitSeq(r.GroupBy, ",") {
			if g != "host" && g != "paths" && g != "tags" {
				bad.add("retention.group_by", "%q: want a comma list of host, paths and tags", truncateText(r.GroupBy, 40))
				break
			}
		}
	}
	if r.Empty() {
		if r.GroupBy != "" {
			bad.add("retention", "needs at least one keep rule (keep_last, keep_daily, keep_within, …)")
		}
		s.Retention = nil
		return
	}
	s.Retention = &r
}

// requirePruneRole refuses an operator who asks for a prune: it removes
// data from the repository, as a run-now prune does.
func requirePruneRole(r *http.Request, s store.Schedule, before *store.Schedule) error {
	if !s.Prune || (before != nil && before.Prune) {
		return nil
	}
	who := state(r).who
	if roleLevel(who.user.Role) < admin {
		return errorf(http.StatusForbidden, "forbidden", "prune removes data from the repository and needs the admin role; you are %s", who.user.Role)
	}
	return nil
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
	setTarget(r, "schedule", s.ID)
	state(r).detail = scheduleDetail(s)
	if err := a.store.CreateSchedule(r.Context(), s); err != nil {
		return scheduleStoreError(err, s.Name)
	}
	a.logger.Info("schedule created", "schedule_id", s.ID, "name", s.Name)
	a.pushSchedules(r.Context(), s)
	writeJSON(w, http.StatusCreated, a.newNames(r.Context()).schedule(s, ""))
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
	d := map[string]any{"name": s.Name, "repository_id": s.RepositoryID, "paths": s.Paths, "enabled": s.Enabled}
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
	writeJSON(w, http.StatusOK, a.newNames(r.Context()).schedule(s, ""))
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
		func(s store.Schedule) scheduleJSON { return n.schedule(s, f.HostID) })
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
		func(s store.Schedule) scheduleJSON { return n.schedule(s, h.ID) })
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
	a.logger.Info("schedule updated", "schedule_id", s.ID, "name", s.Name)
	a.pushSchedules(r.Context(), before, s)
	writeJSON(w, http.StatusOK, a.newNames(r.Context()).schedule(s, ""))
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
