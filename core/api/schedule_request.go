package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/resticarg"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// A schedule request's checks and how its fields become a store.Schedule:
// every problem is collected and named by its field, so one 400 lists them
// all.

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
	// CopyTo names the secondary repository (id or name) each successful
	// backup's snapshot is copied to; "" removes it.
	CopyTo *string `json:"copy_to"`
	// Kind is backup (the default) or a maintenance kind: check, prune,
	// forget, unlock, stats (schedule_kinds.go).
	Kind           *string `json:"kind"`
	ReadDataSubset *string `json:"read_data_subset"`
	// PreHook and PostHook are admin-only (hooks.go): null removes one.
	PreHook  json.RawMessage `json:"pre_hook"`
	PostHook json.RawMessage `json:"post_hook"`
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
	if err := a.applyCopyTo(r, s, req, &bad); err != nil {
		return err
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
	applyKind(s, req, &bad) // schedule_kinds.go
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
	checkKindFields(s, &bad) // schedule_kinds.go
	return bad.err()
}

// applyCopyTo applies copy_to, the secondary repository: another
// repository than the schedule's own.
func (a *API) applyCopyTo(r *http.Request, s *store.Schedule, req scheduleRequest, bad *problems) error {
	if req.CopyTo != nil {
		ref := strings.TrimSpace(*req.CopyTo)
		if ref == "" {
			s.SecondaryRepositoryID = ""
			return nil
		}
		repo, err := a.store.GetRepository(r.Context(), ref)
		switch {
		case errors.Is(err, store.ErrNotFound):
			bad.add("copy_to", "no repository %q", truncateText(ref, 100))
			return nil
		case err != nil:
			return err
		}
		s.SecondaryRepositoryID = repo.ID
	}
	if s.SecondaryRepositoryID != "" && s.SecondaryRepositoryID == s.RepositoryID {
		bad.add("copy_to", "is the schedule's own repository; name a second repository to copy its snapshots to")
	}
	return nil
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
	if len(s.Paths) == 0 && (s.Kind == "" || s.Kind == store.ScheduleBackup) {
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
		if v < 0 || v > maxKeepCount {
			bad.add("retention."+field, "must be from 0 to %d", maxKeepCount)
		}
	}
	if r.KeepWithin != "" {
		if err := resticarg.KeepWithin(r.KeepWithin); err != nil {
			bad.add("retention.keep_within", "%q %v", truncateText(r.KeepWithin, 40), err)
		}
	}
	for _, t := range r.KeepTags {
		if t == "" || len(t) > maxParamText || strings.ContainsFunc(t, unicode.IsControl) {
			bad.add("retention.keep_tags", "each tag must be 1 to %d characters without control characters", maxParamText)
			break
		}
	}
	if r.GroupBy != "" {
		if err := resticarg.GroupBy(r.GroupBy); err != nil {
			bad.add("retention.group_by", "%q %v", truncateText(r.GroupBy, 40), err)
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
	prunes := func(s *store.Schedule) bool { return s.Prune || s.Kind == store.SchedulePrune }
	if !prunes(&s) || (before != nil && prunes(before) && before.Kind == s.Kind) {
		return nil
	}
	who := state(r).who
	if roleLevel(who.user.Role) < admin {
		return errorf(http.StatusForbidden, "forbidden", "prune removes data from the repository and needs the admin role; you are %s", who.user.Role)
	}
	return nil
}
