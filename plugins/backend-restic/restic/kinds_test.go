package restic

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestJobArgs(t *testing.T) {
	t.Parallel()
	v := V(0, 18, 1)
	tests := map[string]struct {
		job  Job
		want string
	}{
		"init": {InitJob{}, "init --json"},
		"backup": {BackupJob{
			Paths: []string{"/home", "/etc"}, Excludes: []string{"*.tmp", "-odd"}, IExcludes: []string{"*.ISO"},
			ExcludeFiles: []string{"/etc/restic/excludes"}, ExcludeCaches: true, ExcludeIfPresent: []string{".nobackup"},
			OneFileSystem: true, Tags: []string{"daily", "--dry-run"}, Host: "web1", Parent: "abc123", DryRun: true,
			Limits: Limits{UploadKiBs: 512, DownloadKiBs: 1024},
		}, "backup --json --limit-upload=512 --limit-download=1024 --exclude=*.tmp --exclude=-odd --iexclude=*.ISO " +
			"--exclude-file=/etc/restic/excludes --exclude-caches --exclude-if-present=.nobackup --one-file-system " +
			"--tag=daily --tag=--dry-run --host=web1 --parent=abc123 --dry-run -- /home /etc"},
		"snapshots": {
			SnapshotsJob{Hosts: []string{"a"}, Tags: []string{"x,y"}, Paths: []string{"/p"}, Latest: 2},
			"snapshots --json --host=a --tag=x,y --path=/p --latest=2",
		},
		"ls":           {LsJob{Snapshot: "latest"}, "ls --json -- latest"},
		"ls recursive": {LsJob{Snapshot: "abc", Path: "/home", Recursive: true}, "ls --json --recursive -- abc /home"},
		"forget": {
			ForgetJob{KeepLast: 3, KeepDaily: 7, KeepWithin: "1y2m", GroupBy: "host,tags", Hosts: []string{"h"}, Prune: true, DryRun: true},
			"forget --json --keep-last=3 --keep-daily=7 --keep-within=1y2m --group-by=host,tags --host=h --prune --dry-run",
		},
		"prune":  {PruneJob{MaxUnused: "5%", DryRun: true}, "prune --json --max-unused=5% --dry-run"},
		"check":  {CheckJob{ReadDataSubset: "1/5"}, "check --json --read-data-subset=1/5"},
		"unlock": {UnlockJob{RemoveAll: true}, "unlock --json --remove-all"},
		"restore": {
			RestoreJob{Snapshot: "latest", Target: "/srv/restore", Includes: []string{"/home/a"}, Overwrite: OverwriteNever, Verify: true},
			"restore --json --target=/srv/restore --include=/home/a --overwrite=never --verify -- latest",
		},
		"restore subfolder": {
			RestoreJob{Snapshot: "abc", Subfolder: "/home/alice", Target: "/srv/restore", Includes: []string{"/docs"}, Overwrite: OverwriteIfChanged},
			"restore --json --target=/srv/restore --include=/docs --overwrite=if-changed -- abc:/home/alice",
		},
		"diff":       {DiffJob{From: "a1", To: "b2", Metadata: true}, "diff --json --metadata -- a1 b2"},
		"stats":      {StatsJob{Mode: StatsRawData}, "stats --json --mode=raw-data"},
		"stats some": {StatsJob{Snapshots: []string{"a1", "latest"}}, "stats --json -- a1 latest"},
		"cat config": {CatConfigJob{}, "cat --json -- config"},
		"version":    {VersionJob{}, "version"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			args, err := tc.job.args(v)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(args, " "); got != tc.want {
				t.Errorf("args\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestJobArgsRefused(t *testing.T) {
	t.Parallel()
	tests := map[string]Job{
		"backup without paths":       BackupJob{},
		"backup relative path":       BackupJob{Paths: []string{"home"}},
		"backup relative excl file":  BackupJob{Paths: []string{"/h"}, ExcludeFiles: []string{"ex.txt"}},
		"backup empty tag":           BackupJob{Paths: []string{"/h"}, Tags: []string{""}},
		"backup newline in host":     BackupJob{Paths: []string{"/h"}, Host: "a\nb"},
		"backup flag as parent":      BackupJob{Paths: []string{"/h"}, Parent: "--help"},
		"ls without snapshot":        LsJob{},
		"ls flag as snapshot":        LsJob{Snapshot: "--password=x"},
		"ls relative path":           LsJob{Snapshot: "latest", Path: "home"},
		"forget without rules":       ForgetJob{DryRun: true},
		"forget negative":            ForgetJob{KeepLast: -1, KeepDaily: 1},
		"forget bad within":          ForgetJob{KeepWithin: "3 days"},
		"forget bad group-by":        ForgetJob{KeepLast: 1, GroupBy: "host,owner"},
		"check both read modes":      CheckJob{ReadData: true, ReadDataSubset: "10%"},
		"check bad subset":           CheckJob{ReadDataSubset: "half"},
		"restore relative target":    RestoreJob{Snapshot: "latest", Target: "restore"},
		"restore relative subfolder": RestoreJob{Snapshot: "latest", Target: "/r", Subfolder: "home"},
		"restore no snapshot":        RestoreJob{Target: "/r"},
		"restore bad overwrite":      RestoreJob{Snapshot: "latest", Target: "/r", Overwrite: "sometimes"},
		"diff one side":              DiffJob{From: "a"},
		"stats bad mode":             StatsJob{Mode: "everything"},
		"snapshots negative latest":  SnapshotsJob{Latest: -2},
		"restore nul in include":     RestoreJob{Snapshot: "latest", Target: "/r", Includes: []string{"a\x00b"}},
		"stats flag-like snapshot":   StatsJob{Snapshots: []string{"-x"}},
		"backup control char in tag": BackupJob{Paths: []string{"/h"}, Tags: []string{"a\tb"}},
	}
	for name, job := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := job.args(V(0, 18, 1)); !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("args = %v, want ErrInvalidJob", err)
			}
		})
	}
}

// TestUnsupportedFeatures checks that options an older restic lacks are
// refused plainly instead of failing inside restic.
func TestUnsupportedFeatures(t *testing.T) {
	t.Parallel()
	debian := V(0, 14, 0)
	tests := map[string]struct {
		job     Job
		feature string
		need    Version
	}{
		"restore overwrite":  {RestoreJob{Snapshot: "latest", Target: "/r", Overwrite: OverwriteIfNewer}, "restore --overwrite", V(0, 17, 0)},
		"restore delete":     {RestoreJob{Snapshot: "latest", Target: "/r", Delete: true}, "restore --delete", V(0, 17, 0)},
		"restore dry-run":    {RestoreJob{Snapshot: "latest", Target: "/r", DryRun: true}, "restore --dry-run", V(0, 17, 0)},
		"skip if unchanged":  {BackupJob{Paths: []string{"/h"}, SkipIfUnchanged: true}, "backup --skip-if-unchanged", V(0, 17, 0)},
		"restore sparse old": {RestoreJob{Snapshot: "latest", Target: "/r", Sparse: true}, "restore --sparse", V(0, 15, 0)},
		"restore never":      {RestoreJob{Snapshot: "latest", Target: "/r", Overwrite: OverwriteNever}, "restore --overwrite", V(0, 17, 0)},
		"restore subfolder":  {RestoreJob{Snapshot: "latest", Subfolder: "/home", Target: "/r"}, "restore of a snapshot's subfolder", V(0, 16, 0)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.job.args(debian)
			var u *ErrUnsupported
			if !errors.As(err, &u) || u.Feature != tc.feature || u.Need != tc.need || u.Have != debian {
				t.Fatalf("args on 0.14.0 = %v", err)
			}
			if _, err := tc.job.args(V(0, 18, 1)); err != nil {
				t.Errorf("args on 0.18.1 = %v", err)
			}
		})
	}
	// "always" was restic's only behaviour before 0.17: no flag then.
	args, err := RestoreJob{Snapshot: "latest", Target: "/r", Overwrite: OverwriteAlways}.args(debian)
	if err != nil || slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--overwrite") }) {
		t.Errorf("overwrite always on 0.14.0 = %q, %v; want no --overwrite", args, err)
	}
	if args, _ := (RestoreJob{Snapshot: "latest", Target: "/r", Overwrite: OverwriteAlways}).args(V(0, 17, 0)); !slices.Contains(args, "--overwrite=always") {
		t.Errorf("overwrite always on 0.17.0 = %q", args)
	}
	// Plain options work on the oldest supported restic.
	for _, job := range []Job{RestoreJob{Snapshot: "latest", Target: "/r", Verify: true}, BackupJob{Paths: []string{"/h"}, ExcludeCaches: true}} {
		if _, err := job.args(debian); err != nil {
			t.Errorf("%T on 0.14.0: %v", job, err)
		}
	}
}

// TestArgsNeverCarrySecrets builds every job kind's argv the way Run does
// and checks that repository secrets reach restic only by environment.
func TestArgsNeverCarrySecrets(t *testing.T) {
	t.Parallel()
	repo := Repository{
		URL: "rest:https://u:url-secret@h/", Password: "pw-secret",
		Env: map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret"},
	}
	jobs := []Job{
		InitJob{},
		BackupJob{Paths: []string{"/h"}},
		SnapshotsJob{},
		LsJob{Snapshot: "latest"},
		ForgetJob{KeepLast: 1},
		PruneJob{},
		CheckJob{},
		UnlockJob{},
		RestoreJob{Snapshot: "latest", Target: "/r"},
		DiffJob{From: "a", To: "b"},
		StatsJob{},
		CatConfigJob{},
		VersionJob{},
		KeyAddJob{NewPassword: "new-key-secret", Host: "h", User: "u"},
		KeyRemoveJob{ID: "0123abcd"},
	}
	for _, job := range jobs {
		args, err := job.args(V(0, 18, 1))
		if err != nil {
			t.Fatalf("%s: %v", job.Kind(), err)
		}
		for _, s := range append(secretsOf(repo), "new-key-secret") {
			if slices.ContainsFunc(args, func(a string) bool { return strings.Contains(a, s) }) {
				t.Errorf("%s argv has a secret: %q", job.Kind(), args)
			}
		}
	}
	env := childEnv(nil, nil, repo, true, nil)
	if !slices.Contains(env, "RESTIC_PASSWORD=pw-secret") || !slices.Contains(env, "RESTIC_REPOSITORY="+repo.URL) {
		t.Errorf("secrets not in env: %q", env)
	}
}

// TestRunRefusesBeforeStarting checks that invalid jobs and repositories
// fail without running restic (and without needing a repository).
func TestRunRefusesBeforeStarting(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	ctx := context.Background()
	if _, err := r.Run(ctx, Repository{URL: "/r", Password: "p"}, BackupJob{}, nil); !errors.Is(err, ErrInvalidJob) {
		t.Errorf("invalid job: %v", err)
	}
	if _, err := r.Run(ctx, Repository{URL: "/r"}, SnapshotsJob{}, nil); !errors.Is(err, ErrInvalidRepository) {
		t.Errorf("no password: %v", err)
	}
	if _, err := r.Run(ctx, Repository{URL: "/r", Password: "p"}, nil, nil); !errors.Is(err, ErrInvalidJob) {
		t.Errorf("nil job: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Run(cctx, Repository{URL: "/r", Password: "p"}, SnapshotsJob{}, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}
