package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/resticarg"
)

// A run-now job's parameters: how the request's fields become the params
// job_dispatch carries, and their checks — paths, texts, the queue
// deadline, and the repository-care ones: a retention policy, check's
// read_data_subset, stats' mode and copy's destination. Each error names
// the field, as the request spells it.

// maxKeepCount bounds a keep rule's count; restic takes an int, and no
// policy keeps more than a million snapshots of a group.
const maxKeepCount = 1_000_000

// statsModes are the modes a stats job takes: restic's four and the
// backend's "repository" (raw-data and restore-size in one document).
var statsModes = []string{"restore-size", "raw-data", "files-by-contents", "blobs-per-file", "repository"}

// checkRetention validates a forget policy. field is where it sits in the
// request ("params.retention").
func checkRetention(field string, r *retentionParams) error {
	bad := func(name, format string, args ...any) error {
		return errorf(http.StatusBadRequest, "bad_params", "%s.%s: %s", field, name, fmt.Sprintf(format, args...))
	}
	if r == nil {
		return errorf(http.StatusBadRequest, "bad_params",
			"%s is required: a retention policy with at least one keep rule (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags)", field)
	}
	counts := []struct {
		name string
		n    int
	}{
		{"keep_last", r.KeepLast},
		{"keep_hourly", r.KeepHourly},
		{"keep_daily", r.KeepDaily},
		{"keep_weekly", r.KeepWeekly},
		{"keep_monthly", r.KeepMonthly},
		{"keep_yearly", r.KeepYearly},
	}
	rule := false
	for _, c := range counts {
		switch {
		case c.n < 0:
			return bad(c.name, "%d is negative; give a count of 1 or more, or leave it out", c.n)
		case c.n > maxKeepCount:
			return bad(c.name, "%d is more than %d", c.n, maxKeepCount)
		}
		rule = rule || c.n > 0
	}
	if r.KeepWithin != "" {
		if err := resticarg.KeepWithin(r.KeepWithin); err != nil {
			return bad("keep_within", "%q %v", truncateText(r.KeepWithin, 40), err)
		}
		rule = true
	}
	for _, tag := range r.KeepTags {
		if err := checkParamText(field+".keep_tags", tag); err != nil {
			return err
		}
		rule = true
	}
	if r.GroupBy != "" {
		if err := resticarg.GroupBy(r.GroupBy); err != nil {
			return bad("group_by", "%q %v", truncateText(r.GroupBy, 40), err)
		}
	}
	if !rule {
		return errorf(http.StatusBadRequest, "bad_params",
			"%s: a policy needs at least one keep rule (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags); without one restic would remove nothing", field)
	}
	return nil
}

// checkReadDataSubset validates check's read_data_subset as restic takes
// it (resticarg.ReadDataSubset).
func checkReadDataSubset(field, s string) error {
	if err := resticarg.ReadDataSubset(s); err != nil {
		return errorf(http.StatusBadRequest, "bad_params", "%s: %q %v", field, truncateText(s, 40), err)
	}
	return nil
}

// checkStatsMode validates params.extra.mode of a stats job, if given.
func checkStatsMode(extra json.RawMessage) error {
	raw := bytes.TrimSpace(extra)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	var x struct {
		Mode *string `json:"mode"`
	}
	if err := json.Unmarshal(raw, &x); err != nil || x.Mode == nil {
		return nil //nolint:nilerr // not an object is refused elsewhere; no mode is restic's default
	}
	for _, m := range statsModes {
		if *x.Mode == m {
			return nil
		}
	}
	return errorf(http.StatusBadRequest, "bad_params", "params.extra.mode: %q: want one of %s",
		truncateText(*x.Mode, 40), strings.Join(statsModes, ", "))
}

// checkRepoCareParams checks the parameters of the repository-care kinds
// (forget, check, stats, copy); checkParams calls it after the common
// checks.
func checkRepoCareParams(kind string, p jobParams) error {
	bad := func(format string, args ...any) error {
		return errorf(http.StatusBadRequest, "bad_params", format, args...)
	}
	if p.ToRepository != "" && kind != "copy" {
		return bad("params.to_repository is for copy jobs only")
	}
	if p.ReadDataSubset != "" {
		if err := checkReadDataSubset("params.read_data_subset", p.ReadDataSubset); err != nil {
			return err
		}
	}
	switch kind {
	case "forget":
		if len(p.Snapshots) > 0 {
			return bad("params.snapshots: a forget applies its retention policy; forgetting snapshots by id is not supported")
		}
		return checkRetention("params.retention", p.Retention)
	case "stats":
		return checkStatsMode(p.Extra)
	case "copy":
		if strings.TrimSpace(p.ToRepository) == "" {
			return bad("params.to_repository is required: the repository (id or name) to copy the snapshots to")
		}
		if err := checkParamText("params.to_repository", p.ToRepository); err != nil {
			return err
		}
		for _, s := range p.Snapshots {
			if strings.HasPrefix(s, "-") {
				return bad("params.snapshots: %q is not a snapshot id", truncateText(s, 40))
			}
		}
		if p.DryRun {
			return bad("params.dry_run: restic copy has no dry run")
		}
	}
	return nil
}

// copyDestination resolves a copy's params.to_repository (an id or name)
// to a repository other than the job's own, src.
func (a *API) copyDestination(ctx context.Context, src store.Repository, ref string) (store.Repository, error) {
	dst, err := a.store.GetRepository(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return store.Repository{}, errorf(http.StatusBadRequest, "bad_params", "params.to_repository: no repository %q", truncateText(ref, 100))
	}
	if err != nil {
		return store.Repository{}, err
	}
	if dst.ID == src.ID {
		return store.Repository{}, errorf(http.StatusBadRequest, "bad_params",
			"params.to_repository: %q is the repository the job copies from; name a second repository", truncateText(ref, 100))
	}
	return dst, nil
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
	Paths     []string `json:"paths,omitempty"`
	Excludes  []string `json:"excludes,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Host      string   `json:"host,omitempty"`
	Snapshots []string `json:"snapshots,omitempty"`
	// Target and Includes are a restore's (restore.go): the directory it
	// writes into ("/" is the original location) and the snapshot paths
	// it restores.
	Target           string           `json:"target,omitempty"`
	Includes         []string         `json:"includes,omitempty"`
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
	for name, list := range map[string][]string{"paths": p.Paths, "excludes": p.Excludes, "tags": p.Tags, "snapshots": p.Snapshots, "includes": p.Includes} {
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
	if (p.Target != "" || len(p.Includes) > 0) && kind != "restore" {
		return bad("target and includes are for restore jobs only (POST /api/v1/hosts/{id}/restore)")
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
	case "restore":
		if len(p.Snapshots) != 1 {
			return bad("snapshot: a restore restores exactly one snapshot")
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
