package ui

import (
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// The schedule editor's form: reading what the user typed, turning it into
// the schedule API's request, and the API's 400 back into field errors.

// scheduleForm is the editor's fields as the user typed them.
type scheduleForm struct {
	Name, Target, Host, HostTag, Repository                  string
	Paths, Excludes, ExcludeFiles, ExcludeIfPresent, Tags    string
	ExcludeCaches, OneFileSystem, CatchUp, Prune, Enabled    bool
	Timing, Cron, Timezone, Every, Jitter                    string
	LimitUpload, LimitDownload                               string
	KeepLast, KeepHourly, KeepDaily, KeepWeekly, KeepMonthly string
	KeepYearly, KeepWithin, KeepTags, GroupBy                string
	CopyTo, Kind, ReadDataSubset                             string
	PreHook, PreTimeout, PostHook, PostTimeout               string
}

// formOf fills the editor from a schedule.
func formOf(s scheduleItem) scheduleForm {
	f := scheduleForm{
		Name: s.Name, Target: "host", Repository: s.Repository,
		Paths: lines(s.Paths), Excludes: lines(s.Excludes), ExcludeFiles: lines(s.ExcludeFiles),
		ExcludeIfPresent: lines(s.ExcludeIfPresent), Tags: strings.Join(s.Tags, " "),
		ExcludeCaches: s.ExcludeCaches, OneFileSystem: s.OneFileSystem, CatchUp: s.CatchUp, Prune: s.Prune, Enabled: s.Enabled,
		Timing: "every", Timezone: s.Timezone, Kind: s.Kind, ReadDataSubset: s.ReadDataSubset,
	}
	if s.HostTag != nil {
		f.Target, f.HostTag = "tag", *s.HostTag
	} else {
		f.Host = s.Host
	}
	if s.Cron != nil {
		f.Timing, f.Cron = "cron", *s.Cron
	} else if s.Every != nil {
		f.Every = *s.Every
	}
	if s.JitterSeconds > 0 {
		f.Jitter = s.Jitter
	}
	if s.CopyTo != nil {
		f.CopyTo = *s.CopyTo
	}
	if h := s.PreHook; h != nil {
		f.PreHook, f.PreTimeout = h.Command, h.Timeout
	}
	if h := s.PostHook; h != nil {
		f.PostHook, f.PostTimeout = h.Command, h.Timeout
	}
	count := func(n int64) string {
		if n == 0 {
			return ""
		}
		return strconv.FormatInt(n, 10)
	}
	f.LimitUpload, f.LimitDownload = count(s.LimitUploadKiB), count(s.LimitDownloadKiB)
	if r := s.Retention; r != nil {
		f.KeepLast, f.KeepHourly, f.KeepDaily = count(int64(r.KeepLast)), count(int64(r.KeepHourly)), count(int64(r.KeepDaily))
		f.KeepWeekly, f.KeepMonthly, f.KeepYearly = count(int64(r.KeepWeekly)), count(int64(r.KeepMonthly)), count(int64(r.KeepYearly))
		f.KeepWithin, f.KeepTags, f.GroupBy = r.KeepWithin, strings.Join(r.KeepTags, " "), r.GroupBy
	}
	return f
}

func lines(v []string) string { return strings.Join(v, "\n") }

// readScheduleForm reads the posted editor.
func readScheduleForm(r *http.Request) scheduleForm {
	v := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	on := func(k string) bool { return r.PostFormValue(k) == "on" }
	return scheduleForm{
		Name: v("name"), Target: v("target"), Host: v("host"), HostTag: v("host_tag"), Repository: v("repository"),
		Paths: r.PostFormValue("paths"), Excludes: r.PostFormValue("excludes"), ExcludeFiles: r.PostFormValue("exclude_files"),
		ExcludeIfPresent: r.PostFormValue("exclude_if_present"), Tags: v("tags"),
		ExcludeCaches: on("exclude_caches"), OneFileSystem: on("one_file_system"), CatchUp: on("catch_up"),
		Prune: on("prune"), Enabled: on("enabled"),
		Timing: v("timing"), Cron: v("cron"), Timezone: v("timezone"), Every: v("every"), Jitter: v("jitter"),
		LimitUpload: v("limit_upload_kib"), LimitDownload: v("limit_download_kib"),
		KeepLast: v("keep_last"), KeepHourly: v("keep_hourly"), KeepDaily: v("keep_daily"), KeepWeekly: v("keep_weekly"),
		KeepMonthly: v("keep_monthly"), KeepYearly: v("keep_yearly"), KeepWithin: v("keep_within"), KeepTags: v("keep_tags"),
		GroupBy: v("group_by"), CopyTo: v("copy_to"), Kind: v("kind"), ReadDataSubset: v("read_data_subset"),
		PreHook: hookText(r.PostFormValue("pre_hook")), PreTimeout: v("pre_hook_timeout"),
		PostHook: hookText(r.PostFormValue("post_hook")), PostTimeout: v("post_hook_timeout"),
	}
}

// splitLines is a textarea's non-empty lines, trimmed.
func splitLines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// splitWords is a list typed with spaces or commas.
func splitWords(s string) []string {
	out := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if out == nil {
		return []string{}
	}
	return out
}

// fieldErrors are problems by form field (the API's field names).
type fieldErrors map[string][]string

// request is the body of POST or PATCH /api/v1/schedules: every field the
// editor holds, numbers read as numbers (a field the form cannot read is
// named in errs). For operators (admin false) prune and the hooks are left
// out, so that saving their edit never touches them; an admin's hooks are
// sent when they differ from prior's (nil on create).
func (f scheduleForm) request(admin bool, prior *scheduleItem) (map[string]any, fieldErrors) {
	errs := fieldErrors{}
	body := map[string]any{
		"name": f.Name, "repository": f.Repository,
		"paths": splitLines(f.Paths), "excludes": splitLines(f.Excludes), "exclude_files": splitLines(f.ExcludeFiles),
		"exclude_if_present": splitLines(f.ExcludeIfPresent), "tags": splitWords(f.Tags),
		"exclude_caches": f.ExcludeCaches, "one_file_system": f.OneFileSystem, "catch_up": f.CatchUp, "enabled": f.Enabled,
		"timezone": f.Timezone, "jitter": f.Jitter,
	}
	if f.Jitter == "" {
		body["jitter"] = "0s"
	}
	if f.Target == "tag" {
		body["host_tag"] = f.HostTag
	} else {
		body["host"] = f.Host
	}
	if f.Timing == "cron" {
		body["cron"] = f.Cron
		if f.Cron == "" {
			errs["cron"] = append(errs["cron"], "give a cron expression such as 30 2 * * * (or choose an interval)")
		}
	} else {
		body["every"] = f.Every
		if f.Every == "" {
			errs["every"] = append(errs["every"], "give an interval such as 6h or 1d (or choose a cron expression)")
		}
	}
	num := func(field, s string) int64 {
		if s == "" {
			return 0
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			errs[field] = append(errs[field], "must be a whole number (0 or more)")
			return 0
		}
		return n
	}
	body["limit_upload_kib"] = num("limit_upload_kib", f.LimitUpload)
	body["limit_download_kib"] = num("limit_download_kib", f.LimitDownload)
	keep := map[string]any{}
	for _, k := range []struct{ field, val string }{
		{"keep_last", f.KeepLast},
		{"keep_hourly", f.KeepHourly},
		{"keep_daily", f.KeepDaily},
		{"keep_weekly", f.KeepWeekly},
		{"keep_monthly", f.KeepMonthly},
		{"keep_yearly", f.KeepYearly},
	} {
		if n := num("retention."+k.field, k.val); n > 0 {
			keep[k.field] = n
		}
	}
	if f.KeepWithin != "" {
		keep["keep_within"] = f.KeepWithin
	}
	if tags := splitWords(f.KeepTags); len(tags) > 0 {
		keep["keep_tags"] = tags
	}
	if f.GroupBy != "" {
		keep["group_by"] = f.GroupBy
	}
	if len(keep) > 0 {
		body["retention"] = keep
	} else {
		body["retention"] = nil
	}
	body["copy_to"] = f.CopyTo
	body["kind"], body["read_data_subset"] = f.Kind, f.ReadDataSubset
	if f.Kind == "" {
		body["kind"] = "backup"
	}
	if admin {
		body["prune"] = f.Prune
		var before scheduleForm
		if prior != nil {
			before = formOf(*prior)
		}
		hook := func(cmd, timeout string) any {
			if cmd == "" {
				return nil
			}
			h := map[string]any{"command": cmd}
			if timeout != "" {
				h["timeout"] = timeout
			}
			return h
		}
		if f.PreHook != before.PreHook || f.PreHook != "" && f.PreTimeout != before.PreTimeout {
			body["pre_hook"] = hook(f.PreHook, f.PreTimeout)
		}
		if f.PostHook != before.PostHook || f.PostHook != "" && f.PostTimeout != before.PostTimeout {
			body["post_hook"] = hook(f.PostHook, f.PostTimeout)
		}
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return body, nil
}

// problemStart finds where one of the API's problems starts: its field,
// as in "paths[1]: …", "retention.keep_within: …" or "cron: …".
var problemStart = regexp.MustCompile(`^([a-z_]+)(?:\[\d+\])?(\.[a-z_]+)?: `)

// apiFieldErrors splits the API's 400 message ("field: problem; field:
// problem") into problems by field. Problems naming no field come back in
// rest.
func apiFieldErrors(msg string) (byField fieldErrors, rest []string) {
	byField = fieldErrors{}
	var parts []string
	for _, p := range strings.Split(msg, "; ") {
		if len(parts) > 0 && !problemStart.MatchString(p) {
			parts[len(parts)-1] += "; " + p
			continue
		}
		parts = append(parts, p)
	}
	for _, p := range parts {
		m := problemStart.FindStringSubmatch(p)
		if m == nil {
			rest = append(rest, p)
			continue
		}
		byField[m[1]+m[2]] = append(byField[m[1]+m[2]], sentence(strings.TrimPrefix(p, m[0])))
	}
	return byField, rest
}
