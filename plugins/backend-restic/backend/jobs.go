package backend

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"path"
	"strings"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// The Extra objects each kind accepts: options of the restic command that
// the SDK's Args have no field for. Unknown keys are refused, so a typo
// never silently drops an option. README.md documents them.
type (
	backupExtra struct {
		OneFileSystem     bool     `json:"one_file_system"`
		ExcludeCaches     bool     `json:"exclude_caches"`
		IExcludes         []string `json:"iexcludes"`
		ExcludeFiles      []string `json:"exclude_files"`
		ExcludeIfPresent  []string `json:"exclude_if_present"`
		ExcludeLargerThan string   `json:"exclude_larger_than"`
		Parent            string   `json:"parent"`
		SkipIfUnchanged   bool     `json:"skip_if_unchanged"`
	}
	pruneExtra struct {
		MaxUnused     string `json:"max_unused"`
		MaxRepackSize string `json:"max_repack_size"`
	}
	checkExtra struct {
		ReadData bool `json:"read_data"`
	}
	unlockExtra struct {
		RemoveAll bool `json:"remove_all"`
	}
	snapshotsExtra struct {
		Latest int `json:"latest"`
	}
	lsExtra struct {
		Path      string `json:"path"`
		Recursive bool   `json:"recursive"`
	}
	restoreExtra struct {
		IIncludes       []string `json:"iincludes"`
		IExcludes       []string `json:"iexcludes"`
		Overwrite       string   `json:"overwrite"`
		StripComponents int      `json:"strip_components"`
		Delete          bool     `json:"delete"`
		Verify          bool     `json:"verify"`
		Sparse          bool     `json:"sparse"`
	}
	diffExtra struct {
		From     string `json:"from"`
		To       string `json:"to"`
		Metadata bool   `json:"metadata"`
	}
	statsExtra struct {
		Mode string `json:"mode"`
	}
	copyExtra   struct{}
	keyAddExtra struct {
		Host string `json:"host"`
		User string `json:"user"`
	}
	keyRemoveExtra struct {
		KeyID string `json:"key_id"`
	}
	noExtra struct{}
)

// invalidJob reports a job refused before restic ran.
func invalidJob(format string, a ...any) error {
	return fmt.Errorf("%w: %s", restic.ErrInvalidJob, fmt.Sprintf(format, a...))
}

// decodeExtra decodes a job's Extra into v, refusing unknown keys. An
// absent or null Extra leaves v as it is.
func decodeExtra(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidJob("extra: %v", err)
	}
	if dec.More() {
		return invalidJob("extra: trailing data after the JSON object")
	}
	return nil
}

// resticJob translates an SDK job into the restic job that runs it. Only
// the mapping is checked here; the restic package validates the options
// themselves (absolute paths, no control characters, version support)
// before anything runs.
func resticJob(job sdk.Job) (restic.Job, error) {
	a := job.Args
	limits, err := limitsOf(a)
	if err != nil {
		return nil, err
	}
	switch job.Kind {
	case sdk.JobInit:
		return restic.InitJob{}, decodeExtra(a.Extra, &noExtra{})
	case sdk.JobVersion:
		return restic.VersionJob{}, decodeExtra(a.Extra, &noExtra{})
	case sdk.JobBackup:
		return backupJob(a, limits)
	case sdk.JobForget:
		return forgetJob(a, limits)
	case sdk.JobPrune:
		var x pruneExtra
		err := decodeExtra(a.Extra, &x)
		return restic.PruneJob{MaxUnused: x.MaxUnused, MaxRepackSize: x.MaxRepackSize, DryRun: a.DryRun, Limits: limits}, err
	case sdk.JobCheck:
		var x checkExtra
		err := decodeExtra(a.Extra, &x)
		return restic.CheckJob{ReadData: x.ReadData, ReadDataSubset: a.ReadDataSubset, Limits: limits}, err
	case sdk.JobUnlock:
		var x unlockExtra
		err := decodeExtra(a.Extra, &x)
		return restic.UnlockJob{RemoveAll: x.RemoveAll}, err
	case sdk.JobSnapshots:
		var x snapshotsExtra
		err := decodeExtra(a.Extra, &x)
		return restic.SnapshotsJob{Hosts: hostsOf(a), Tags: a.Tags, Paths: a.Paths, Latest: x.Latest}, err
	case sdk.JobLs:
		return lsJob(a)
	case sdk.JobRestore:
		return restoreJob(a, limits)
	case sdk.JobDiff:
		return diffJob(a)
	case sdk.JobStats:
		var x statsExtra
		err := decodeExtra(a.Extra, &x)
		return restic.StatsJob{
			Mode: restic.StatsMode(x.Mode), Snapshots: a.Snapshots,
			Hosts: hostsOf(a), Tags: a.Tags, Paths: a.Paths,
		}, err
	case sdk.JobCopy:
		return copyJob(job, limits)
	case sdk.JobDump:
		return dumpJob(a)
	case sdk.JobKeyAdd:
		var x keyAddExtra
		if err := decodeExtra(a.Extra, &x); err != nil {
			return nil, err
		}
		if job.NewPassword == "" {
			return nil, invalidJob("key_add needs the new key's password (the job's new_password)")
		}
		return restic.KeyAddJob{NewPassword: job.NewPassword, Host: x.Host, User: x.User}, nil
	case sdk.JobKeyRemove:
		var x keyRemoveExtra
		if err := decodeExtra(a.Extra, &x); err != nil {
			return nil, err
		}
		if x.KeyID == "" {
			return nil, invalidJob("key_remove needs extra.key_id, the key to remove")
		}
		return restic.KeyRemoveJob{ID: x.KeyID}, nil
	}
	return nil, fmt.Errorf("job kind %q: %w", job.Kind, plugin.ErrUnsupported)
}

func backupJob(a sdk.Args, limits restic.Limits) (restic.Job, error) {
	var x backupExtra
	if err := decodeExtra(a.Extra, &x); err != nil {
		return nil, err
	}
	return restic.BackupJob{
		Paths:             a.Paths,
		Excludes:          a.Excludes,
		IExcludes:         x.IExcludes,
		ExcludeFiles:      x.ExcludeFiles,
		ExcludeCaches:     x.ExcludeCaches,
		ExcludeIfPresent:  x.ExcludeIfPresent,
		ExcludeLargerThan: x.ExcludeLargerThan,
		OneFileSystem:     x.OneFileSystem,
		Tags:              a.Tags,
		Host:              a.Host,
		Parent:            x.Parent,
		DryRun:            a.DryRun,
		SkipIfUnchanged:   x.SkipIfUnchanged,
		Limits:            limits,
	}, nil
}

func forgetJob(a sdk.Args, limits restic.Limits) (restic.Job, error) {
	if err := decodeExtra(a.Extra, &noExtra{}); err != nil {
		return nil, err
	}
	if len(a.Snapshots) > 0 {
		return nil, fmt.Errorf("forget of explicit snapshot ids: %w", plugin.ErrUnsupported)
	}
	r := a.Retention
	if r == nil {
		return nil, invalidJob("forget needs a retention policy")
	}
	return restic.ForgetJob{
		KeepLast:    r.KeepLast,
		KeepHourly:  r.KeepHourly,
		KeepDaily:   r.KeepDaily,
		KeepWeekly:  r.KeepWeekly,
		KeepMonthly: r.KeepMonthly,
		KeepYearly:  r.KeepYearly,
		KeepWithin:  r.KeepWithin,
		KeepTags:    r.KeepTags,
		GroupBy:     r.GroupBy,
		Hosts:       hostsOf(a),
		Tags:        a.Tags,
		Paths:       a.Paths,
		Prune:       a.Prune,
		DryRun:      a.DryRun,
		Limits:      limits,
	}, nil
}

// copyJob copies from the job's repository to its ToRepository. restic
// opens the destination as its repository, so the runner gets that one;
// the source goes in the CopyJob (see resticRun).
func copyJob(job sdk.Job, limits restic.Limits) (restic.Job, error) {
	a := job.Args
	if err := decodeExtra(a.Extra, &copyExtra{}); err != nil {
		return nil, err
	}
	if job.ToRepository == nil {
		dest := a.ToRepository
		if dest == "" {
			dest = "none named"
		}
		return nil, fmt.Errorf("copy needs the destination repository's credentials, which this job does not carry "+
			"(to_repository: %s); the server or agent that sent it does not pass them yet: %w", dest, plugin.ErrUnsupported)
	}
	return restic.CopyJob{
		From:      resticRepository(job.Repository, ""),
		Snapshots: a.Snapshots,
		Hosts:     hostsOf(a),
		Tags:      a.Tags,
		Paths:     a.Paths,
		Limits:    limits,
	}, nil
}

func lsJob(a sdk.Args) (restic.Job, error) {
	var x lsExtra
	if err := decodeExtra(a.Extra, &x); err != nil {
		return nil, err
	}
	var errs []error
	if len(a.Snapshots) != 1 {
		errs = append(errs, invalidJob("ls takes exactly one snapshot, got %d", len(a.Snapshots)))
	}
	path := x.Path
	switch {
	case len(a.Paths) > 1:
		errs = append(errs, invalidJob("ls lists one directory, got %d paths", len(a.Paths)))
	case len(a.Paths) == 1 && path != "" && path != a.Paths[0]:
		errs = append(errs, invalidJob("ls: paths and extra.path disagree"))
	case len(a.Paths) == 1:
		path = a.Paths[0]
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return restic.LsJob{Snapshot: a.Snapshots[0], Path: path, Recursive: x.Recursive}, nil
}

func restoreJob(a sdk.Args, limits restic.Limits) (restic.Job, error) {
	var x restoreExtra
	if err := decodeExtra(a.Extra, &x); err != nil {
		return nil, err
	}
	if len(a.Snapshots) != 1 {
		return nil, invalidJob("restore takes exactly one snapshot, got %d", len(a.Snapshots))
	}
	subfolder, includes, err := stripIncludes(a.Includes, x.StripComponents)
	if err != nil {
		return nil, err
	}
	return restic.RestoreJob{
		Snapshot:  a.Snapshots[0],
		Subfolder: subfolder,
		Target:    a.Target,
		Includes:  includes,
		Excludes:  a.Excludes,
		IIncludes: x.IIncludes,
		IExcludes: x.IExcludes,
		Overwrite: restic.OverwritePolicy(x.Overwrite),
		Delete:    x.Delete,
		Verify:    x.Verify,
		DryRun:    a.DryRun,
		Sparse:    x.Sparse,
		Limits:    limits,
	}, nil
}

// stripIncludes drops the first n components of the include paths: they
// must all share them, and restic then restores that folder of the
// snapshot ("id:/home/alice") with the includes made relative to it
// ("/docs/a.txt"), so /home/alice/docs/a.txt lands in TARGET/docs/a.txt.
// An include that is the shared folder itself restores all of it.
func stripIncludes(includes []string, n int) (subfolder string, rel []string, err error) {
	switch {
	case n == 0:
		return "", includes, nil
	case n < 0:
		return "", nil, invalidJob("strip_components is negative (%d)", n)
	case len(includes) == 0:
		return "", nil, invalidJob("strip_components needs include paths: the components to drop are the ones they share")
	}
	whole := false
	for _, inc := range includes {
		if !strings.HasPrefix(inc, "/") || path.Clean(inc) != inc {
			return "", nil, invalidJob("include %q is not an absolute, clean path", inc)
		}
		parts := strings.Split(strings.TrimPrefix(inc, "/"), "/")
		if inc == "/" || len(parts) < n {
			return "", nil, invalidJob("strip_components %d: include %q has fewer components", n, inc)
		}
		prefix := "/" + strings.Join(parts[:n], "/")
		switch {
		case subfolder == "":
			subfolder = prefix
		case prefix != subfolder:
			return "", nil, invalidJob("strip_components %d: includes %q and %q do not share their first %d components", n, includes[0], inc, n)
		}
		if len(parts) == n {
			whole = true
			continue
		}
		rel = append(rel, "/"+strings.Join(parts[n:], "/"))
	}
	if whole {
		rel = nil
	}
	return subfolder, rel, nil
}

// diffJob takes the two snapshots from Snapshots[0] and [1], or from
// extra.from and extra.to.
func diffJob(a sdk.Args) (restic.Job, error) {
	var x diffExtra
	if err := decodeExtra(a.Extra, &x); err != nil {
		return nil, err
	}
	from, to := x.From, x.To
	switch {
	case len(a.Snapshots) == 2 && from == "" && to == "":
		from, to = a.Snapshots[0], a.Snapshots[1]
	case len(a.Snapshots) != 0:
		return nil, invalidJob("diff takes two snapshots in snapshots or in extra.from and extra.to, not both")
	case from == "" || to == "":
		return nil, invalidJob("diff needs two snapshots")
	}
	return restic.DiffJob{From: from, To: to, Metadata: x.Metadata}, nil
}

// hostsOf turns Args.Host into restic's --host filter.
func hostsOf(a sdk.Args) []string {
	if a.Host == "" {
		return nil
	}
	return []string{a.Host}
}

func limitsOf(a sdk.Args) (restic.Limits, error) {
	check := func(name string, v int64) error {
		if v < 0 || v > math.MaxInt32 {
			return invalidJob("%s %d is out of range", name, v)
		}
		return nil
	}
	if err := errors.Join(check("limit_upload_kib", a.LimitUploadKiB), check("limit_download_kib", a.LimitDownloadKiB)); err != nil {
		return restic.Limits{}, err
	}
	return restic.Limits{UploadKiBs: int(a.LimitUploadKiB), DownloadKiBs: int(a.LimitDownloadKiB)}, nil
}

// resticRepository translates the job's repository. cacheDir, when set,
// becomes RESTIC_CACHE_DIR unless the repository sets its own. The job's
// Env map is copied, never changed.
func resticRepository(r sdk.Repository, cacheDir string) restic.Repository {
	env := maps.Clone(r.Env)
	if cacheDir != "" {
		if _, ok := env["RESTIC_CACHE_DIR"]; !ok {
			if env == nil {
				env = map[string]string{}
			}
			env["RESTIC_CACHE_DIR"] = cacheDir
		}
	}
	return restic.Repository{URL: r.URL, Password: r.Password, Env: env}
}
