package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/restic-manager/restic-manager/core/store"
)

// The checks of the repository-care parameters: a retention policy (for
// forget jobs here, for schedules too), check's read_data_subset, stats'
// mode and copy's destination. Each error names the field, as the request
// spells it.

// maxKeepCount bounds a keep rule's count; restic takes an int, and no
// policy keeps more than a million snapshots of a group.
const maxKeepCount = 1_000_000

// keepWithinFormat is restic's duration format for --keep-within: numbers
// followed by y, m, d or h, such as 7d or 1y6m3d4h.
var keepWithinFormat = regexp.MustCompile(`^(\d{1,7}[ymdh])+$`)

// groupByFields are what restic's --group-by takes, comma-separated.
var groupByFields = map[string]bool{"host": true, "paths": true, "tags": true}

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
		if !validKeepWithin(r.KeepWithin) {
			return bad("keep_within", "%q is not a duration restic takes: numbers followed by y, m, d or h, each unit once and not all zero, such as 7d or 1y2m3d",
				truncateText(r.KeepWithin, 40))
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
		seen := map[string]bool{}
		for _, g := range strings.Split(r.GroupBy, ",") {
			if !groupByFields[g] || seen[g] {
				return bad("group_by", "%q: want a comma-separated list of host, paths and tags, such as host,paths", truncateText(r.GroupBy, 40))
			}
			seen[g] = true
		}
	}
	if !rule {
		return errorf(http.StatusBadRequest, "bad_params",
			"%s: a policy needs at least one keep rule (keep_last, keep_hourly, keep_daily, keep_weekly, keep_monthly, keep_yearly, keep_within or keep_tags); without one restic would remove nothing", field)
	}
	return nil
}

// validKeepWithin reports whether s is a --keep-within duration: each of
// y, m, d, h at most once, and not all zero (which would keep nothing by
// that rule).
func validKeepWithin(s string) bool {
	if !keepWithinFormat.MatchString(s) {
		return false
	}
	seen := map[rune]bool{}
	nonZero, num := false, 0
	for _, c := range s {
		if c >= '0' && c <= '9' {
			num = num*10 + int(c-'0')
			continue
		}
		if seen[c] {
			return false
		}
		seen[c] = true
		nonZero = nonZero || num > 0
		num = 0
	}
	return nonZero
}

// maxSubsetParts is restic's largest t in --read-data-subset=n/t.
const maxSubsetParts = 256

// checkReadDataSubset validates check's read_data_subset as restic takes
// it: n/t (1 ≤ n ≤ t ≤ 256), a percentage above 0 and at most 100, or a
// size above 0 with an optional K, M, G or T suffix.
func checkReadDataSubset(field, s string) error {
	bad := func(why string) error {
		return errorf(http.StatusBadRequest, "bad_params",
			"%s: %q %s; give n/t (such as 1/5), a percentage (such as 10%%) or a size (such as 500M)", field, truncateText(s, 40), why)
	}
	switch {
	case strings.Contains(s, "/"):
		ns, ts, _ := strings.Cut(s, "/")
		n, err1 := strconv.Atoi(ns)
		t, err2 := strconv.Atoi(ts)
		switch {
		case err1 != nil || err2 != nil || !allDigits(ns) || !allDigits(ts):
			return bad("is not n/t with whole numbers")
		case n < 1 || n > t:
			return bad("needs 1 ≤ n ≤ t")
		case t > maxSubsetParts:
			return bad(fmt.Sprintf("has t above %d", maxSubsetParts))
		}
	case strings.HasSuffix(s, "%"):
		num := strings.TrimSuffix(s, "%")
		p, err := strconv.ParseFloat(num, 64)
		if err != nil || num == "" || !strings.ContainsFunc(num[:1], isDigit) || strings.ContainsAny(num, "eE+-xXpP_") {
			return bad("is not a percentage")
		}
		if p <= 0 || p > 100 {
			return bad("is not above 0% and at most 100%")
		}
	default:
		num := s
		if num != "" && strings.ContainsRune("kKmMgGtT", rune(num[len(num)-1])) {
			num = num[:len(num)-1]
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || !allDigits(num) {
			return bad("is not a size")
		}
		if n <= 0 {
			return bad("is not above 0")
		}
	}
	return nil
}

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func allDigits(s string) bool {
	return s != "" && !strings.ContainsFunc(s, func(r rune) bool { return !isDigit(r) })
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
