package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// TestRepositoryErrors checks that the host learns what restic's exit code
// means, with the code in the result, and never sees the password.
func TestRepositoryErrors(t *testing.T) {
	t.Parallel()
	b := configured(t)
	repo := newRepository(t, b)

	tests := map[string]struct {
		repo sdk.Repository
		code int
		want string
	}{
		"wrong password": {
			repo: sdk.Repository{URL: repo.URL, Password: "not-" + repo.Password},
			code: 12, want: "wrong repository password",
		},
		"no repository": {
			repo: sdk.Repository{URL: filepath.Join(t.TempDir(), "nothing-here"), Password: repo.Password},
			code: 10, want: "repository does not exist",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			evs, res, err := run(t, b, sdk.Job{ID: "j", Kind: sdk.JobSnapshots, Repository: tc.repo})
			if err == nil {
				t.Fatalf("no error; result %+v", res)
			}
			if res.ExitCode != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("exit code %d, error %q; want %d and %q", res.ExitCode, err, tc.code, tc.want)
			}
			if len(res.Output) != 0 {
				t.Errorf("a failed job has output %s", res.Output)
			}
			for _, secret := range []string{repo.Password, tc.repo.Password} {
				if strings.Contains(err.Error(), secret) || strings.Contains(evs.text(), secret) {
					t.Errorf("password in the error or events: %v %s", err, evs.dump())
				}
			}
		})
	}
}

// TestIncompleteBackup: restic exits 3 when it made the snapshot but could
// not read some files. The job succeeds with exit code 3 and error events
// naming the files.
//
// As root, permissions do not stop reads, so the unreadable file is then
// /proc/<pid>/mem of this test process: open succeeds, reading fails.
func TestIncompleteBackup(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("uses /proc or chmod; Linux only")
	}
	b := configured(t)
	repo := newRepository(t, b)
	data := filepath.Join(t.TempDir(), "data")
	restictest.WriteFile(t, filepath.Join(data, "ok.txt"), []byte("fine\n"))
	unreadable := filepath.Join(data, "locked.txt")
	restictest.WriteFile(t, unreadable, []byte("locked\n"))
	paths := []string{data}
	if os.Geteuid() == 0 {
		unreadable = fmt.Sprintf("/proc/%d/mem", os.Getpid())
		paths = append(paths, unreadable)
	} else if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}

	evs, res, err := run(t, b, sdk.Job{ID: "j", Kind: sdk.JobBackup, Repository: repo, Args: sdk.Args{Paths: paths}})
	if err != nil {
		t.Fatalf("exit code 3 must not fail the job: %v; events: %s", err, evs.dump())
	}
	if res.ExitCode != 3 || !snapshotIDRE.MatchString(res.SnapshotID) {
		t.Errorf("result %+v, want exit code 3 and a snapshot", res)
	}
	found := false
	for _, e := range evs.errors() {
		found = found || (e.Item == unreadable && e.Message != "")
	}
	if !found {
		t.Errorf("no error event names %s: %s", unreadable, evs.dump())
	}
}

// TestCancelBackup cancels a backup of 200 MB of random data once restic
// has started saving it: Run returns promptly with the cancellation, and
// restic is gone.
func TestCancelBackup(t *testing.T) {
	t.Parallel()
	b := configured(t)
	repo := newRepository(t, b)
	data := filepath.Join(t.TempDir(), "large")
	restictest.WriteRandomFile(t, filepath.Join(data, "blob.bin"), 200<<20)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	fallback := time.AfterFunc(5*time.Second, cancel) // should no progress show
	defer fallback.Stop()
	job := sdk.Job{ID: "cancel-me", Kind: sdk.JobBackup, Repository: repo, Args: sdk.Args{Paths: []string{data}}}
	res, err := b.Run(ctx, job, func(ev sdk.Event) error {
		if ev.Progress != nil && ev.Progress.BytesDone > 0 && cancelledAt.IsZero() {
			cancelledAt = time.Now()
			cancel()
		}
		return nil
	})
	if cancelledAt.IsZero() {
		t.Log("no progress with bytes done before the fallback cancel")
		cancelledAt = time.Now().Add(-time.Second)
	}
	if took := time.Since(cancelledAt); took > 3*time.Second {
		t.Errorf("Run returned %v after cancel", took)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v (result %+v), want context.Canceled", err, res)
	}
	if res.SnapshotID != "" {
		t.Errorf("a cancelled backup reports snapshot %s", res.SnapshotID)
	}

	// The host's Run returns at once; restic gets SIGINT and has the kill
	// grace (5s) to remove its lock.
	if runtime.GOOS != "linux" {
		return
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		procs, err := restictest.Procs()
		if err != nil {
			t.Fatal(err)
		}
		var left []restictest.Proc
		for _, p := range procs {
			if p.Mentions(repo.URL) {
				left = append(left, p)
			}
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restic still running 10s after cancel: %+v", left[0].Argv)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConfigureErrors(t *testing.T) {
	t.Parallel()
	fakeOld := fakeOldRestic(t)
	tests := map[string]struct {
		config string
		want   []string
	}{
		"missing restic": {
			`{"restic_binary":"/nonexistent/restic"}`,
			[]string{"restic binary not found", "/nonexistent/restic", "go install github.com/restic/restic/cmd/restic"},
		},
		"restic too old": {
			`{"restic_binary":"` + fakeOld + `"}`,
			[]string{"restic 0.13.0 is too old", "restic 0.14.0 or newer", "apt-get install restic"},
		},
		"bad attributes": {
			`{"kill_grace":"soon","cache_dir":"relative"}`,
			[]string{"kill_grace", "cache_dir"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if fakeOld == "" && strings.Contains(tc.config, "0.13") {
				t.Skip("the fake restic is a shell script")
			}
			b := connect(t)
			err := b.Configure(context.Background(), []byte(tc.config))
			if !errors.Is(err, plugin.ErrInvalidConfig) {
				t.Fatalf("Configure = %v, want ErrInvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			// Not configured: jobs are refused.
			_, err = b.Run(context.Background(), sdk.Job{Kind: sdk.JobVersion}, nil)
			if !errors.Is(err, plugin.ErrNotConfigured) {
				t.Errorf("Run after a failed Configure = %v, want ErrNotConfigured", err)
			}
		})
	}
}

// fakeOldRestic writes a fake restic 0.13.0 (no such release can be
// installed here; the oldest supported is 0.14.0) that only answers
// `restic version`. Elsewhere than Unix it returns "".
func fakeOldRestic(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		return ""
	}
	path := filepath.Join(t.TempDir(), "restic")
	script := "#!/bin/sh\necho 'restic 0.13.0 compiled with go1.18 on linux/amd64'\n"
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
	return path
}

// TestInvalidJobs: jobs the plugin cannot map, or restic would refuse, fail
// before restic runs, with a message that says why.
func TestInvalidJobs(t *testing.T) {
	t.Parallel()
	b := configured(t)
	repo := sdk.Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: "pw"}
	tests := map[string]struct {
		job  sdk.Job
		is   error
		want string
	}{
		"relative backup path": {
			sdk.Job{Kind: sdk.JobBackup, Args: sdk.Args{Paths: []string{"etc"}}},
			nil, `backup path "etc" is not an absolute path`,
		},
		"relative restore target": {
			sdk.Job{Kind: sdk.JobRestore, Args: sdk.Args{Snapshots: []string{"latest"}, Target: "restore"}},
			nil, `restore target "restore" is not an absolute path`,
		},
		"snapshot looking like a flag": {
			sdk.Job{Kind: sdk.JobLs, Args: sdk.Args{Snapshots: []string{"--help"}}},
			nil, "may not start with '-'",
		},
		"unknown extra key": {
			sdk.Job{Kind: sdk.JobCheck, Args: sdk.Args{Extra: json.RawMessage(`{"read_all":true}`)}},
			nil, `unknown field "read_all"`,
		},
		"forget explicit ids": {
			sdk.Job{Kind: sdk.JobForget, Args: sdk.Args{Snapshots: []string{"abc"}}},
			plugin.ErrUnsupported, "explicit snapshot ids",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.job.Repository = repo
			res, err := b.Run(context.Background(), tc.job, func(ev sdk.Event) error {
				t.Errorf("event from a refused job: %+v", ev)
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want an error saying %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "invalid job") && tc.is == nil {
				t.Errorf("error %q does not say the job is invalid", err)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %v", err, tc.is)
			}
			if res.ExitCode != 0 || res.SnapshotID != "" || len(res.Output) != 0 {
				t.Errorf("result %+v for a job that never ran", res)
			}
		})
	}
}
