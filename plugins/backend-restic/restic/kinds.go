package restic

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/restic-manager/restic-manager/internal/resticarg"
)

// Kind names a job kind.
type Kind string

// Job kinds.
const (
	KindInit      Kind = "init"
	KindBackup    Kind = "backup"
	KindSnapshots Kind = "snapshots"
	KindLs        Kind = "ls"
	KindForget    Kind = "forget"
	KindPrune     Kind = "prune"
	KindCheck     Kind = "check"
	KindUnlock    Kind = "unlock"
	KindRestore   Kind = "restore"
	KindDiff      Kind = "diff"
	KindStats     Kind = "stats"
	KindCatConfig Kind = "cat-config"
	KindVersion   Kind = "version"
	KindCopy      Kind = "copy"
)

// Job is one restic command with its options. The implementations are the
// *Job structs of this file; each validates itself against the installed
// restic version before anything runs.
type Job interface {
	Kind() Kind
	// args returns restic's argv (without the binary) for version v.
	args(v Version) ([]string, error)
}

// Limits caps restic's bandwidth in KiB/s (global flags --limit-upload
// and --limit-download); zero means unlimited.
type Limits struct {
	UploadKiBs   int
	DownloadKiBs int
}

// InitJob creates the repository (`restic init`).
type InitJob struct{}

// BackupJob backs up Paths (`restic backup`).
type BackupJob struct {
	Paths             []string // absolute, at least one
	Excludes          []string // --exclude patterns
	IExcludes         []string // --iexclude patterns (case-insensitive)
	ExcludeFiles      []string // --exclude-file, absolute paths
	ExcludeCaches     bool     // skip directories with a CACHEDIR.TAG
	ExcludeIfPresent  []string // "filename[:header]"
	ExcludeLargerThan string   // e.g. "2G"
	OneFileSystem     bool
	Tags              []string
	Host              string // overrides the hostname stored in the snapshot
	Parent            string // snapshot id to compare against
	DryRun            bool
	SkipIfUnchanged   bool // restic >= 0.17
	Limits
}

// SnapshotsJob lists snapshots (`restic snapshots`), one Snapshot event each.
type SnapshotsJob struct {
	Hosts  []string
	Tags   []string // each entry may be "a,b" (snapshots with both tags)
	Paths  []string
	Latest int // only the latest N per host and path
}

// LsJob streams the nodes of a snapshot (`restic ls`).
type LsJob struct {
	Snapshot string // id, short id or "latest"
	// Path limits the listing to this directory (absolute, as stored in
	// the snapshot, e.g. "/home" or on Windows "/C/Users").
	Path string
	// Recursive lists everything below Path instead of its direct entries.
	// Without Path restic always lists the whole snapshot.
	Recursive bool
}

// ForgetJob applies a retention policy (`restic forget`).
type ForgetJob struct {
	KeepLast    int
	KeepHourly  int
	KeepDaily   int
	KeepWeekly  int
	KeepMonthly int
	KeepYearly  int
	KeepWithin  string // e.g. "1y6m3d4h"
	KeepTags    []string
	GroupBy     string // comma list of host, paths, tags; empty = restic's default (host,paths)
	Hosts       []string
	Tags        []string
	Paths       []string
	Prune       bool // prune right after (its log follows as text)
	DryRun      bool
	Limits
}

// PruneJob removes unreferenced data (`restic prune`); its output is text.
type PruneJob struct {
	MaxUnused     string // e.g. "5%" or "1G"
	MaxRepackSize string
	DryRun        bool
	Limits
}

// CheckJob verifies the repository (`restic check`).
type CheckJob struct {
	ReadData bool
	// ReadDataSubset reads part of the data: "n/m", "x%" or a size like "500M".
	ReadDataSubset string
	Limits
}

// UnlockJob removes stale locks (`restic unlock`).
type UnlockJob struct {
	RemoveAll bool // remove all locks, even ones that are not stale
}

// OverwritePolicy is restore's --overwrite (restic >= 0.17).
type OverwritePolicy string

// Overwrite policies.
const (
	OverwriteAlways    OverwritePolicy = "always"
	OverwriteIfChanged OverwritePolicy = "if-changed"
	OverwriteIfNewer   OverwritePolicy = "if-newer"
	OverwriteNever     OverwritePolicy = "never"
)

// RestoreJob restores a snapshot into Target (`restic restore`).
type RestoreJob struct {
	Snapshot string // id, short id or "latest"
	// Subfolder restores only this directory of the snapshot, its contents
	// straight into Target (restic's "id:subfolder", restic >= 0.16);
	// Includes and Excludes are then relative to it ("/docs/a.txt").
	Subfolder string
	Target    string // absolute
	Includes  []string
	Excludes  []string
	IIncludes []string
	IExcludes []string
	Overwrite OverwritePolicy // empty = restic's default (always); others than always need restic >= 0.17
	Delete    bool            // restic >= 0.17
	Verify    bool
	DryRun    bool // restic >= 0.17
	Sparse    bool // restic >= 0.15
	Limits
}

// DiffJob compares two snapshots (`restic diff`).
type DiffJob struct {
	From, To string
	Metadata bool // also report metadata-only changes
}

// StatsMode is stats' --mode.
type StatsMode string

// Stats modes.
const (
	StatsRestoreSize     StatsMode = "restore-size"
	StatsRawData         StatsMode = "raw-data"
	StatsFilesByContents StatsMode = "files-by-contents"
	StatsBlobsPerFile    StatsMode = "blobs-per-file"
)

// StatsJob reports repository or snapshot sizes (`restic stats`).
type StatsJob struct {
	Mode      StatsMode // empty = restore-size
	Snapshots []string  // empty = all
	Hosts     []string
	Tags      []string
	Paths     []string
}

// CopyJob copies snapshots into the repository the job runs against from
// the repository From (`restic copy`). restic opens the destination as its
// repository and the source through RESTIC_FROM_REPOSITORY and
// RESTIC_FROM_PASSWORD (restic >= 0.14; --from-repo's environment), so no
// credential of either reaches argv. Snapshots already copied are skipped
// by restic.
type CopyJob struct {
	// From is the source repository. Its backend variables are merged into
	// restic's environment; one set by both repositories with different
	// values is refused, as restic has one environment for both.
	From      Repository
	Snapshots []string // ids, short ids or "latest"; none: every snapshot matching the filters
	Hosts     []string
	Tags      []string
	Paths     []string
	Limits
}

// CatConfigJob prints the repository config (`restic cat config`), the
// cheapest way to learn that a repository exists and the password opens it.
type CatConfigJob struct{}

// VersionJob reports the restic version (`restic version`); it needs no
// repository.
type VersionJob struct{}

// Kind implementations.
func (InitJob) Kind() Kind      { return KindInit }
func (BackupJob) Kind() Kind    { return KindBackup }
func (SnapshotsJob) Kind() Kind { return KindSnapshots }
func (LsJob) Kind() Kind        { return KindLs }
func (ForgetJob) Kind() Kind    { return KindForget }
func (PruneJob) Kind() Kind     { return KindPrune }
func (CheckJob) Kind() Kind     { return KindCheck }
func (UnlockJob) Kind() Kind    { return KindUnlock }
func (RestoreJob) Kind() Kind   { return KindRestore }
func (DiffJob) Kind() Kind      { return KindDiff }
func (StatsJob) Kind() Kind     { return KindStats }
func (CatConfigJob) Kind() Kind { return KindCatConfig }
func (VersionJob) Kind() Kind   { return KindVersion }
func (CopyJob) Kind() Kind      { return KindCopy }

func (InitJob) args(Version) ([]string, error) { return newArgv("init").list(), nil }

func (j BackupJob) args(v Version) ([]string, error) {
	var errs []error
	if len(j.Paths) == 0 {
		errs = append(errs, invalid("backup needs at least one path"))
	}
	for _, p := range j.Paths {
		errs = append(errs, absolute("backup path", p))
	}
	for _, p := range j.ExcludeFiles {
		errs = append(errs, absolute("exclude file", p))
	}
	errs = append(errs, values("exclude", j.Excludes), values("iexclude", j.IExcludes),
		values("exclude-if-present", j.ExcludeIfPresent), values("tag", j.Tags),
		value("host", j.Host), value("exclude-larger-than", j.ExcludeLargerThan),
		snapshotRefOpt("parent", j.Parent))
	if j.SkipIfUnchanged {
		errs = append(errs, require("backup --skip-if-unchanged", VersionSkipIfUnchanged, v))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := newArgv("backup").limits(j.Limits)
	a.strs("exclude", j.Excludes)
	a.strs("iexclude", j.IExcludes)
	a.strs("exclude-file", j.ExcludeFiles)
	a.flag("exclude-caches", j.ExcludeCaches)
	a.strs("exclude-if-present", j.ExcludeIfPresent)
	a.str("exclude-larger-than", j.ExcludeLargerThan)
	a.flag("one-file-system", j.OneFileSystem)
	a.strs("tag", j.Tags)
	a.str("host", j.Host)
	a.str("parent", j.Parent)
	a.flag("dry-run", j.DryRun)
	a.flag("skip-if-unchanged", j.SkipIfUnchanged)
	return a.pos(j.Paths...).list(), nil
}

func (j SnapshotsJob) args(Version) ([]string, error) {
	if err := errors.Join(values("host", j.Hosts), values("tag", j.Tags), values("path", j.Paths),
		nonNegative("latest", j.Latest)); err != nil {
		return nil, err
	}
	a := newArgv("snapshots").filters(j.Hosts, j.Tags, j.Paths)
	a.num("latest", j.Latest)
	return a.list(), nil
}

func (j LsJob) args(Version) ([]string, error) {
	errs := []error{snapshotRef("snapshot", j.Snapshot)}
	if j.Path != "" && !strings.HasPrefix(j.Path, "/") && !filepath.IsAbs(j.Path) {
		errs = append(errs, invalid(fmt.Sprintf("ls path %q is not absolute", j.Path)))
	}
	errs = append(errs, value("path", j.Path))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := newArgv("ls")
	a.flag("recursive", j.Recursive && j.Path != "")
	pos := []string{j.Snapshot}
	if j.Path != "" {
		pos = append(pos, j.Path)
	}
	return a.pos(pos...).list(), nil
}

func (j ForgetJob) args(Version) ([]string, error) {
	keeps := map[string]int{
		"keep-last": j.KeepLast, "keep-hourly": j.KeepHourly, "keep-daily": j.KeepDaily,
		"keep-weekly": j.KeepWeekly, "keep-monthly": j.KeepMonthly, "keep-yearly": j.KeepYearly,
	}
	var errs []error
	hasRule := j.KeepWithin != "" || len(j.KeepTags) > 0
	for _, name := range slices.Sorted(maps.Keys(keeps)) {
		errs = append(errs, nonNegative(name, keeps[name]))
		hasRule = hasRule || keeps[name] > 0
	}
	if !hasRule {
		errs = append(errs, invalid("forget needs at least one keep rule"))
	}
	if j.KeepWithin != "" && resticarg.KeepWithin(j.KeepWithin) != nil {
		errs = append(errs, invalid(fmt.Sprintf("keep-within %q is not a duration like 7d or 1y6m3d4h", j.KeepWithin)))
	}
	if j.GroupBy != "" {
		for _, g := range strings.Split(j.GroupBy, ",") {
			if g != "host" && g != "paths" && g != "tags" {
				errs = append(errs, invalid(fmt.Sprintf("group-by %q: want a comma list of host, paths, tags", j.GroupBy)))
				break
			}
		}
	}
	errs = append(errs, values("keep-tag", j.KeepTags), values("host", j.Hosts), values("tag", j.Tags), values("path", j.Paths))
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := newArgv("forget").limits(j.Limits)
	for _, name := range []string{"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly", "keep-yearly"} {
		a.num(name, keeps[name])
	}
	a.str("keep-within", j.KeepWithin)
	a.strs("keep-tag", j.KeepTags)
	a.str("group-by", j.GroupBy)
	a.filters(j.Hosts, j.Tags, j.Paths)
	a.flag("prune", j.Prune)
	a.flag("dry-run", j.DryRun)
	return a.list(), nil
}

func (j PruneJob) args(Version) ([]string, error) {
	if err := errors.Join(value("max-unused", j.MaxUnused), value("max-repack-size", j.MaxRepackSize)); err != nil {
		return nil, err
	}
	a := newArgv("prune").limits(j.Limits)
	a.str("max-unused", j.MaxUnused)
	a.str("max-repack-size", j.MaxRepackSize)
	a.flag("dry-run", j.DryRun)
	return a.list(), nil
}

func (j CheckJob) args(Version) ([]string, error) {
	if j.ReadData && j.ReadDataSubset != "" {
		return nil, invalid("check: read-data and read-data-subset exclude each other")
	}
	if j.ReadDataSubset != "" {
		if err := resticarg.ReadDataSubset(j.ReadDataSubset); err != nil {
			return nil, invalid(fmt.Sprintf("check: read-data-subset %q %v", j.ReadDataSubset, err))
		}
	}
	a := newArgv("check").limits(j.Limits)
	a.flag("read-data", j.ReadData)
	a.str("read-data-subset", j.ReadDataSubset)
	return a.list(), nil
}

func (j UnlockJob) args(Version) ([]string, error) {
	a := newArgv("unlock")
	a.flag("remove-all", j.RemoveAll)
	return a.list(), nil
}

func (j RestoreJob) args(v Version) ([]string, error) {
	errs := []error{
		snapshotRef("snapshot", j.Snapshot), absolute("restore target", j.Target),
		values("include", j.Includes), values("exclude", j.Excludes),
		values("iinclude", j.IIncludes), values("iexclude", j.IExcludes),
	}
	snapshot := j.Snapshot
	if j.Subfolder != "" {
		if !strings.HasPrefix(j.Subfolder, "/") {
			errs = append(errs, invalid(fmt.Sprintf("restore subfolder %q is not an absolute path in the snapshot", j.Subfolder)))
		}
		errs = append(errs, value("restore subfolder", j.Subfolder), require("restore of a snapshot's subfolder", VersionRestoreSubfolder, v))
		snapshot += ":" + j.Subfolder
	}
	overwrite := j.Overwrite
	switch overwrite {
	case "":
	case OverwriteAlways:
		// Before 0.17 restic always overwrote, and had no flag for it.
		if !v.AtLeast(VersionRestoreOverwrite) {
			overwrite = ""
		}
	case OverwriteIfChanged, OverwriteIfNewer, OverwriteNever:
		errs = append(errs, require("restore --overwrite", VersionRestoreOverwrite, v))
	default:
		errs = append(errs, invalid(fmt.Sprintf("restore: overwrite %q: want always, if-changed, if-newer or never", j.Overwrite)))
	}
	if j.Delete {
		errs = append(errs, require("restore --delete", VersionRestoreOverwrite, v))
	}
	if j.DryRun {
		errs = append(errs, require("restore --dry-run", VersionRestoreOverwrite, v))
	}
	if j.Sparse {
		errs = append(errs, require("restore --sparse", V(0, 15, 0), v))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := newArgv("restore").limits(j.Limits)
	a.str("target", j.Target)
	a.strs("include", j.Includes)
	a.strs("exclude", j.Excludes)
	a.strs("iinclude", j.IIncludes)
	a.strs("iexclude", j.IExcludes)
	a.str("overwrite", string(overwrite))
	a.flag("delete", j.Delete)
	a.flag("verify", j.Verify)
	a.flag("dry-run", j.DryRun)
	a.flag("sparse", j.Sparse)
	return a.pos(snapshot).list(), nil
}

func (j DiffJob) args(Version) ([]string, error) {
	if err := errors.Join(snapshotRef("diff from", j.From), snapshotRef("diff to", j.To)); err != nil {
		return nil, err
	}
	a := newArgv("diff")
	a.flag("metadata", j.Metadata)
	return a.pos(j.From, j.To).list(), nil
}

func (j StatsJob) args(Version) ([]string, error) {
	errs := []error{values("host", j.Hosts), values("tag", j.Tags), values("path", j.Paths)}
	switch j.Mode {
	case "", StatsRestoreSize, StatsRawData, StatsFilesByContents, StatsBlobsPerFile:
	default:
		errs = append(errs, invalid(fmt.Sprintf("stats: mode %q: want restore-size, raw-data, files-by-contents or blobs-per-file", j.Mode)))
	}
	for _, s := range j.Snapshots {
		errs = append(errs, snapshotRef("stats snapshot", s))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	a := newArgv("stats")
	a.str("mode", string(j.Mode))
	a.filters(j.Hosts, j.Tags, j.Paths)
	if len(j.Snapshots) > 0 {
		a.pos(j.Snapshots...)
	}
	return a.list(), nil
}

func (j CopyJob) args(Version) ([]string, error) {
	errs := []error{values("host", j.Hosts), values("tag", j.Tags), values("path", j.Paths)}
	for _, s := range j.Snapshots {
		errs = append(errs, snapshotRef("copy snapshot", s))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// --verbose makes restic name the snapshots it skips as copied before
	// (0.18 prints them at verbosity 2 only).
	a := newArgv("copy").limits(j.Limits)
	a.flag("verbose", true)
	a.filters(j.Hosts, j.Tags, j.Paths)
	if len(j.Snapshots) > 0 {
		a.pos(j.Snapshots...)
	}
	return a.list(), nil
}

func (CatConfigJob) args(Version) ([]string, error) { return newArgv("cat").pos("config").list(), nil }

func (VersionJob) args(Version) ([]string, error) { return []string{"version"}, nil }

// argv builds restic's arguments: the command, --json, then options in
// --name=value form (so no value can be read as a flag), then "--" and the
// positional arguments.
type argv struct{ a []string }

func newArgv(cmd string) *argv { return &argv{a: []string{cmd, "--json"}} }

func (b *argv) flag(name string, on bool) {
	if on {
		b.a = append(b.a, "--"+name)
	}
}

func (b *argv) str(name, v string) {
	if v != "" {
		b.a = append(b.a, "--"+name+"="+v)
	}
}

func (b *argv) strs(name string, vs []string) {
	for _, v := range vs {
		b.str(name, v)
	}
}

func (b *argv) num(name string, n int) {
	if n > 0 {
		b.a = append(b.a, "--"+name+"="+strconv.Itoa(n))
	}
}

func (b *argv) limits(l Limits) *argv {
	b.num("limit-upload", l.UploadKiBs)
	b.num("limit-download", l.DownloadKiBs)
	return b
}

func (b *argv) filters(hosts, tags, paths []string) *argv {
	b.strs("host", hosts)
	b.strs("tag", tags)
	b.strs("path", paths)
	return b
}

func (b *argv) pos(vs ...string) *argv {
	b.a = append(append(b.a, "--"), vs...)
	return b
}

func (b *argv) list() []string { return b.a }

func invalid(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidJob, msg) }

func absolute(what, p string) error {
	if p == "" {
		return invalid(what + " is empty")
	}
	if !filepath.IsAbs(p) {
		return invalid(fmt.Sprintf("%s %q is not an absolute path", what, p))
	}
	return value(what, p)
}

// value refuses NUL and other control characters, which no restic option
// needs and which would garble logs.
func value(what, v string) error {
	for _, r := range v {
		if unicode.IsControl(r) {
			return invalid(fmt.Sprintf("%s %q contains a control character", what, v))
		}
	}
	return nil
}

func values(what string, vs []string) error {
	var errs []error
	for _, v := range vs {
		if v == "" {
			errs = append(errs, invalid(what+" is empty"))
			continue
		}
		errs = append(errs, value(what, v))
	}
	return errors.Join(errs...)
}

func snapshotRef(what, s string) error {
	if s == "" {
		return invalid(what + " is empty")
	}
	return snapshotRefOpt(what, s)
}

func snapshotRefOpt(what, s string) error {
	if strings.HasPrefix(s, "-") {
		return invalid(fmt.Sprintf("%s %q may not start with '-'", what, s))
	}
	return value(what, s)
}

func nonNegative(what string, n int) error {
	if n < 0 {
		return invalid(fmt.Sprintf("%s is negative (%d)", what, n))
	}
	return nil
}
