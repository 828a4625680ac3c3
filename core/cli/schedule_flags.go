package cli

import (
	"flag"
	"slices"
	"strings"
)

// scheduleFlags are the flags of "schedule create" and "schedule update"
// that become the request.
type scheduleFlags struct {
	name, host, hostTag, repo, cron, every, timezone, jitter string
	copyTo, kind, readDataSubset                             string
	paths, excludes, excludeFiles, excludeIfPresent, tags    StringSlice
	excludeCaches, oneFileSystem, catchUp, prune             bool
	limitUpload, limitDownload                               int64
	keep                                                     map[string]*int
	keepWithin, groupBy                                      string
	keepTags                                                 StringSlice
}

var (
	keepFlags      = []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"}
	retentionFlags = append(slices.Clone(keepFlags), "keep-within", "keep-tag", "group-by")
)

func (f *scheduleFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.name, "name", "", "")
	fs.StringVar(&f.host, "host", "", "")
	fs.StringVar(&f.hostTag, "host-tag", "", "")
	fs.StringVar(&f.repo, "repo", "", "")
	fs.StringVar(&f.copyTo, "copy-to", "", "")
	fs.StringVar(&f.kind, "kind", "", "")
	fs.StringVar(&f.readDataSubset, "read-data-subset", "", "")
	fs.Var(&f.paths, "path", "")
	fs.Var(&f.excludes, "exclude", "")
	fs.Var(&f.excludeFiles, "exclude-file", "")
	fs.Var(&f.excludeIfPresent, "exclude-if-present", "")
	fs.BoolVar(&f.excludeCaches, "exclude-caches", false, "")
	fs.Var(&f.tags, "tag", "")
	fs.BoolVar(&f.oneFileSystem, "one-file-system", false, "")
	fs.StringVar(&f.cron, "cron", "", "")
	fs.StringVar(&f.every, "every", "", "")
	fs.StringVar(&f.timezone, "timezone", "", "")
	fs.StringVar(&f.jitter, "jitter", "", "")
	fs.BoolVar(&f.catchUp, "catch-up", true, "")
	fs.Int64Var(&f.limitUpload, "limit-upload", 0, "")
	fs.Int64Var(&f.limitDownload, "limit-download", 0, "")
	f.keep = map[string]*int{}
	for _, k := range keepFlags {
		f.keep[k] = fs.Int(k, 0, "")
	}
	fs.StringVar(&f.keepWithin, "keep-within", "", "")
	fs.Var(&f.keepTags, "keep-tag", "")
	fs.StringVar(&f.groupBy, "group-by", "", "")
	fs.BoolVar(&f.prune, "prune", false, "")
}

// body builds the request from the flags that were given (set), over the
// retention policy the schedule has (current; nil on create).
func (f *scheduleFlags) body(set map[string]bool, current map[string]any) (map[string]any, error) {
	b := map[string]any{}
	str := map[string]string{
		"name": f.name, "host": f.host, "host_tag": f.hostTag, "repository": f.repo, "cron": f.cron,
		"every": f.every, "timezone": f.timezone, "jitter": f.jitter, "copy_to": f.copyTo,
		"kind": f.kind, "read_data_subset": f.readDataSubset,
	}
	flagOf := map[string]string{"host_tag": "host-tag", "repository": "repo", "copy_to": "copy-to", "read_data_subset": "read-data-subset"}
	for field, v := range str {
		name := flagOf[field]
		if name == "" {
			name = field
		}
		if set[name] {
			b[field] = v
		}
	}
	lists := map[string]StringSlice{
		"paths": f.paths, "excludes": f.excludes, "exclude_files": f.excludeFiles,
		"exclude_if_present": f.excludeIfPresent, "tags": f.tags,
	}
	listFlag := map[string]string{"paths": "path", "excludes": "exclude", "exclude_files": "exclude-file", "exclude_if_present": "exclude-if-present", "tags": "tag"}
	for field, v := range lists {
		if set[listFlag[field]] {
			b[field] = []string(v)
		}
	}
	for field, v := range map[string]bool{"exclude_caches": f.excludeCaches, "one_file_system": f.oneFileSystem, "catch_up": f.catchUp, "prune": f.prune} {
		if set[strings.ReplaceAll(field, "_", "-")] {
			b[field] = v
		}
	}
	if f.limitUpload < 0 || f.limitDownload < 0 {
		return nil, Usagef("--limit-upload and --limit-download take KiB/s, 0 or more")
	}
	if set["limit-upload"] {
		b["limit_upload_kib"] = f.limitUpload
	}
	if set["limit-download"] {
		b["limit_download_kib"] = f.limitDownload
	}
	retention := map[string]any{}
	for k, v := range current {
		retention[k] = v
	}
	changed := false
	for _, k := range keepFlags {
		if !set[k] {
			continue
		}
		changed = true
		v := *f.keep[k]
		if v < 0 {
			return nil, Usagef("--%s must not be negative", k)
		}
		field := strings.ReplaceAll(k, "-", "_")
		if v == 0 {
			delete(retention, field)
		} else {
			retention[field] = v
		}
	}
	for field, v := range map[string]string{"keep_within": f.keepWithin, "group_by": f.groupBy} {
		if set[strings.ReplaceAll(field, "_", "-")] {
			changed = true
			if v == "" {
				delete(retention, field)
			} else {
				retention[field] = v
			}
		}
	}
	if set["keep-tag"] {
		changed = true
		retention["keep_tags"] = []string(f.keepTags)
	}
	if changed {
		b["retention"] = retention
	}
	return b, nil
}

// setFlags returns the names of the flags given on the command line.
func setFlags(fs *flag.FlagSet) map[string]bool {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

const scheduleFlagsHelp = `What it runs:
  --kind K                 backup (default), or repository maintenance the
                           agent fires the same way: check, prune (admin),
                           forget (needs --keep-* rules), unlock, stats.
                           Maintenance kinds take no paths.
  --read-data-subset S     check: read this part of the data (5%, 1/5, 500M).

What to back up:
  --path P                 A path to back up (absolute); repeat for several.
  --exclude X              An exclude pattern, as restic's --exclude; repeatable.
  --exclude-file F         A file of exclude patterns on the host (absolute),
                           as restic's --exclude-file; repeatable.
  --exclude-if-present N   Skip directories holding a file N (N:header checks
                           its first bytes too), as restic's; repeatable.
  --exclude-caches         Skip directories with a CACHEDIR.TAG.
  --one-file-system        Do not cross file system boundaries.
  --tag T                  A tag for each snapshot; repeatable.
  --copy-to R              A second repository (id or name): after every
                           successful backup its snapshot is copied there
                           (restic copy), for 3-2-1. --copy-to "" removes it.

When (one of --cron and --every):
  --cron EXPR              A cron expression: five fields (minute hour
                           day-of-month month day-of-week), six with seconds
                           first, or @daily, @hourly, @weekly, @monthly.
  --timezone TZ            The IANA time zone --cron is read in, such as
                           Europe/Berlin (default UTC).
  --every D                An interval: 90s, 6h, 1d. Runs fall on whole
                           multiples of D since the Unix epoch (UTC), so
                           --every 6h runs at 00:00, 06:00, 12:00, 18:00 UTC.
  --jitter D               Start each run up to D late (random), so that many
                           hosts do not start at once; shorter than the time
                           between two runs.
  --catch-up=false         Do not run a run missed while the agent was down
                           (default: run it once as soon as the agent is
                           back; a missed run without catch-up is recorded
                           as a skipped job).

Bandwidth:
  --limit-upload KiB       Upload limit in KiB/s (0: none).
  --limit-download KiB     Download limit in KiB/s (0: none).

Retention, applied by a forget after every successful run (restic's flags):
  --keep-last N, --keep-hourly N, --keep-daily N, --keep-weekly N,
  --keep-monthly N, --keep-yearly N
                           Keep that many snapshots (0: no such rule).
  --keep-within D          Keep every snapshot within D of the newest
                           (restic's durations: 14d, 6m, 1y6m3d).
  --keep-tag T             Keep snapshots with tag T; repeatable.
  --group-by G             Group by host, paths and/or tags (comma list;
                           restic's default host,paths). The forget only
                           looks at this schedule's snapshots on the host:
                           its hostname, its paths and its tags.
  --prune                  Prune after the forget (needs an admin token).
`
