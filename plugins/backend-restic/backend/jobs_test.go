package backend

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func TestResticJob(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		job  sdk.Job
		want restic.Job
	}{
		"init":    {sdk.Job{Kind: sdk.JobInit}, restic.InitJob{}},
		"version": {sdk.Job{Kind: sdk.JobVersion}, restic.VersionJob{}},
		"backup": {
			sdk.Job{Kind: sdk.JobBackup, Args: sdk.Args{
				Paths: []string{"/etc", "/home"}, Excludes: []string{"*.tmp"}, Tags: []string{"daily"},
				Host: "web-1", LimitUploadKiB: 512, DryRun: true,
				Extra: json.RawMessage(`{"one_file_system":true,"exclude_caches":true,"iexcludes":["*.ISO"],
					"exclude_files":["/etc/rm-excludes"],"exclude_if_present":[".nobackup"],
					"exclude_larger_than":"2G","parent":"abc123","skip_if_unchanged":true}`),
			}},
			restic.BackupJob{
				Paths: []string{"/etc", "/home"}, Excludes: []string{"*.tmp"}, IExcludes: []string{"*.ISO"},
				ExcludeFiles: []string{"/etc/rm-excludes"}, ExcludeCaches: true, ExcludeIfPresent: []string{".nobackup"},
				ExcludeLargerThan: "2G", OneFileSystem: true, Tags: []string{"daily"}, Host: "web-1",
				Parent: "abc123", DryRun: true, SkipIfUnchanged: true, Limits: restic.Limits{UploadKiBs: 512},
			},
		},
		"forget": {
			sdk.Job{Kind: sdk.JobForget, Args: sdk.Args{
				Retention: &sdk.Retention{
					KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 5, KeepYearly: 6,
					KeepWithin: "1y", KeepTags: []string{"keep"}, GroupBy: "host",
				},
				Host: "web-1", Tags: []string{"daily"}, Paths: []string{"/etc"}, Prune: true, DryRun: true,
				LimitDownloadKiB: 100,
			}},
			restic.ForgetJob{
				KeepLast: 1, KeepHourly: 2, KeepDaily: 3, KeepWeekly: 4, KeepMonthly: 5, KeepYearly: 6,
				KeepWithin: "1y", KeepTags: []string{"keep"}, GroupBy: "host", Hosts: []string{"web-1"},
				Tags: []string{"daily"}, Paths: []string{"/etc"}, Prune: true, DryRun: true,
				Limits: restic.Limits{DownloadKiBs: 100},
			},
		},
		"prune": {
			sdk.Job{Kind: sdk.JobPrune, Args: sdk.Args{DryRun: true, Extra: json.RawMessage(`{"max_unused":"5%","max_repack_size":"1G"}`)}},
			restic.PruneJob{MaxUnused: "5%", MaxRepackSize: "1G", DryRun: true},
		},
		"check subset": {
			sdk.Job{Kind: sdk.JobCheck, Args: sdk.Args{ReadDataSubset: "10%"}},
			restic.CheckJob{ReadDataSubset: "10%"},
		},
		"check read data": {
			sdk.Job{Kind: sdk.JobCheck, Args: sdk.Args{Extra: json.RawMessage(`{"read_data":true}`)}},
			restic.CheckJob{ReadData: true},
		},
		"unlock": {
			sdk.Job{Kind: sdk.JobUnlock, Args: sdk.Args{Extra: json.RawMessage(`{"remove_all":true}`)}},
			restic.UnlockJob{RemoveAll: true},
		},
		"snapshots": {
			sdk.Job{Kind: sdk.JobSnapshots, Args: sdk.Args{Host: "h", Tags: []string{"a,b"}, Paths: []string{"/srv"}, Extra: json.RawMessage(`{"latest":2}`)}},
			restic.SnapshotsJob{Hosts: []string{"h"}, Tags: []string{"a,b"}, Paths: []string{"/srv"}, Latest: 2},
		},
		"ls path from paths": {
			sdk.Job{Kind: sdk.JobLs, Args: sdk.Args{Snapshots: []string{"latest"}, Paths: []string{"/home"}, Extra: json.RawMessage(`{"recursive":true}`)}},
			restic.LsJob{Snapshot: "latest", Path: "/home", Recursive: true},
		},
		"ls path from extra": {
			sdk.Job{Kind: sdk.JobLs, Args: sdk.Args{Snapshots: []string{"abc"}, Extra: json.RawMessage(`{"path":"/etc"}`)}},
			restic.LsJob{Snapshot: "abc", Path: "/etc"},
		},
		"restore": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{
				Snapshots: []string{"abc"}, Target: "/restore", Includes: []string{"/etc/hosts"}, Excludes: []string{"*.log"},
				LimitDownloadKiB: 64, DryRun: true,
				Extra: json.RawMessage(`{"iincludes":["/ETC"],"iexcludes":["*.TMP"],"overwrite":"if-newer","delete":true,"verify":true,"sparse":true}`),
			}},
			restic.RestoreJob{
				Snapshot: "abc", Target: "/restore", Includes: []string{"/etc/hosts"}, Excludes: []string{"*.log"},
				IIncludes: []string{"/ETC"}, IExcludes: []string{"*.TMP"}, Overwrite: restic.OverwriteIfNewer,
				Delete: true, Verify: true, DryRun: true, Sparse: true, Limits: restic.Limits{DownloadKiBs: 64},
			},
		},
		"restore stripping two components": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{
				Snapshots: []string{"abc"}, Target: "/srv/r", Includes: []string{"/home/alice/docs/a.txt", "/home/alice/music"},
				Extra: json.RawMessage(`{"strip_components":2,"overwrite":"never"}`),
			}},
			restic.RestoreJob{
				Snapshot: "abc", Subfolder: "/home/alice", Target: "/srv/r", Includes: []string{"/docs/a.txt", "/music"},
				Overwrite: restic.OverwriteNever,
			},
		},
		"restore stripping the whole include": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{
				Snapshots: []string{"abc"}, Target: "/srv/r", Includes: []string{"/home/alice", "/home/alice/docs"},
				Extra: json.RawMessage(`{"strip_components":2}`),
			}},
			restic.RestoreJob{Snapshot: "abc", Subfolder: "/home/alice", Target: "/srv/r"},
		},
		"diff from snapshots": {
			sdk.Job{Kind: sdk.JobDiff, Args: sdk.Args{Snapshots: []string{"a", "b"}}},
			restic.DiffJob{From: "a", To: "b"},
		},
		"diff from extra": {
			sdk.Job{Kind: sdk.JobDiff, Args: sdk.Args{Extra: json.RawMessage(`{"from":"a","to":"latest","metadata":true}`)}},
			restic.DiffJob{From: "a", To: "latest", Metadata: true},
		},
		"stats": {
			sdk.Job{Kind: sdk.JobStats, Args: sdk.Args{Snapshots: []string{"a"}, Host: "h", Extra: json.RawMessage(`{"mode":"raw-data"}`)}},
			restic.StatsJob{Mode: restic.StatsRawData, Snapshots: []string{"a"}, Hosts: []string{"h"}},
		},
		"null extra": {
			sdk.Job{Kind: sdk.JobUnlock, Args: sdk.Args{Extra: json.RawMessage(` null `)}},
			restic.UnlockJob{},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := resticJob(tc.job)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %#v\nwant %#v", got, tc.want)
			}
		})
	}
}

func TestResticJobRefuses(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		job  sdk.Job
		is   error
		want string
	}{
		"unknown extra key": {
			sdk.Job{Kind: sdk.JobBackup, Args: sdk.Args{Paths: []string{"/a"}, Extra: json.RawMessage(`{"one_filesystem":true}`)}},
			restic.ErrInvalidJob, `unknown field "one_filesystem"`,
		},
		"extra for a kind without options": {
			sdk.Job{Kind: sdk.JobInit, Args: sdk.Args{Extra: json.RawMessage(`{"x":1}`)}},
			restic.ErrInvalidJob, `unknown field "x"`,
		},
		"extra not an object": {
			sdk.Job{Kind: sdk.JobCheck, Args: sdk.Args{Extra: json.RawMessage(`[1]`)}},
			restic.ErrInvalidJob, "extra",
		},
		"forget without policy": {
			sdk.Job{Kind: sdk.JobForget}, restic.ErrInvalidJob, "retention policy",
		},
		"forget of explicit ids": {
			sdk.Job{Kind: sdk.JobForget, Args: sdk.Args{Snapshots: []string{"abc"}}}, plugin.ErrUnsupported, "explicit snapshot ids",
		},
		"ls without snapshot": {
			sdk.Job{Kind: sdk.JobLs}, restic.ErrInvalidJob, "exactly one snapshot",
		},
		"ls of two directories": {
			sdk.Job{Kind: sdk.JobLs, Args: sdk.Args{Snapshots: []string{"a"}, Paths: []string{"/a", "/b"}}}, restic.ErrInvalidJob, "one directory",
		},
		"ls paths disagree": {
			sdk.Job{Kind: sdk.JobLs, Args: sdk.Args{Snapshots: []string{"a"}, Paths: []string{"/a"}, Extra: json.RawMessage(`{"path":"/b"}`)}},
			restic.ErrInvalidJob, "disagree",
		},
		"restore of two snapshots": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{Snapshots: []string{"a", "b"}, Target: "/r"}}, restic.ErrInvalidJob, "exactly one snapshot",
		},
		"strip without includes": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{Snapshots: []string{"a"}, Target: "/r", Extra: json.RawMessage(`{"strip_components":1}`)}},
			restic.ErrInvalidJob, "strip_components needs include paths",
		},
		"strip of includes in different folders": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{
				Snapshots: []string{"a"}, Target: "/r", Includes: []string{"/home/a/x", "/srv/b"},
				Extra: json.RawMessage(`{"strip_components":1}`),
			}},
			restic.ErrInvalidJob, "do not share their first 1 components",
		},
		"strip of more components than an include has": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{
				Snapshots: []string{"a"}, Target: "/r", Includes: []string{"/home/a/x", "/home"},
				Extra: json.RawMessage(`{"strip_components":2}`),
			}},
			restic.ErrInvalidJob, `include "/home" has fewer components`,
		},
		"strip of an unclean include": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{
				Snapshots: []string{"a"}, Target: "/r", Includes: []string{"/home/../etc/x"},
				Extra: json.RawMessage(`{"strip_components":1}`),
			}},
			restic.ErrInvalidJob, "not an absolute, clean path",
		},
		"negative strip": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{Snapshots: []string{"a"}, Target: "/r", Extra: json.RawMessage(`{"strip_components":-1}`)}},
			restic.ErrInvalidJob, "negative",
		},
		"diff of one snapshot": {
			sdk.Job{Kind: sdk.JobDiff, Args: sdk.Args{Snapshots: []string{"a"}}}, restic.ErrInvalidJob, "diff",
		},
		"diff twice": {
			sdk.Job{Kind: sdk.JobDiff, Args: sdk.Args{Snapshots: []string{"a", "b"}, Extra: json.RawMessage(`{"from":"a","to":"b"}`)}},
			restic.ErrInvalidJob, "not both",
		},
		"negative limit": {
			sdk.Job{Kind: sdk.JobBackup, Args: sdk.Args{Paths: []string{"/a"}, LimitUploadKiB: -1}}, restic.ErrInvalidJob, "limit_upload_kib -1",
		},
		"unknown kind": {
			sdk.Job{Kind: "mount"}, plugin.ErrUnsupported, `"mount"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := resticJob(tc.job)
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want %v mentioning %q", err, tc.is, tc.want)
			}
		})
	}
}

func TestResticRepository(t *testing.T) {
	t.Parallel()
	env := map[string]string{"AWS_ACCESS_KEY_ID": "id"}
	r := resticRepository(sdk.Repository{URL: "/srv/r", Password: "pw", Env: env}, "/cache")
	if r.URL != "/srv/r" || r.Password != "pw" || r.Env["RESTIC_CACHE_DIR"] != "/cache" || r.Env["AWS_ACCESS_KEY_ID"] != "id" {
		t.Errorf("repository %+v", r)
	}
	if _, changed := env["RESTIC_CACHE_DIR"]; changed {
		t.Error("the job's env map was modified")
	}
	own := resticRepository(sdk.Repository{Env: map[string]string{"RESTIC_CACHE_DIR": "/mine"}}, "/cache")
	if own.Env["RESTIC_CACHE_DIR"] != "/mine" {
		t.Errorf("the repository's own cache dir was overridden: %v", own.Env)
	}
	if none := resticRepository(sdk.Repository{URL: "x"}, ""); none.Env != nil {
		t.Errorf("env %v, want none", none.Env)
	}
}
