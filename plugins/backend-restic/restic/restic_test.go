package restic

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestLsStreamsNodes lists a directory of a few thousand files and checks
// that nodes reach emit while restic is still writing (paused by emit's
// backpressure), i.e. nothing buffers the listing. While restic is
// paused, its argv and environment are inspected: no password in argv, the
// password in the environment, none of the agent's own variables.
func TestLsStreamsNodes(t *testing.T) {
	t.Parallel()
	requireLinux(t)
	r := newRunner(t)
	repo := newRepo(t, r)
	data := filepath.Join(t.TempDir(), "many")
	const n = 3000
	for i := range n {
		writeFile(t, filepath.Join(data, fmt.Sprintf("d%02d/file-%05d.txt", i%30, i)), []byte{byte(i)})
	}
	run(t, r, repo, BackupJob{Paths: []string{data}})

	var (
		nodes    int
		inspect  []procInfo
		inspectd bool
	)
	_, err := r.Run(context.Background(), repo, LsJob{Snapshot: "latest"}, func(ev Event) error {
		nd, ok := ev.(*Node)
		if !ok {
			return nil
		}
		if strings.HasPrefix(nd.Path, data) {
			nodes++
		}
		if !inspectd {
			inspectd = true
			// restic has >1 MB of nodes to print and a 64 KiB pipe: while we
			// hold this event it must still be running.
			time.Sleep(200 * time.Millisecond)
			inspect = resticProcs(t, repo.URL)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := n + 31; nodes != want { // files, 30 dirs, the data dir
		t.Errorf("ls: %d nodes, want %d", nodes, want)
	}
	if len(inspect) != 1 {
		t.Fatalf("while the first node was held, found %d restic processes for the repo, want 1 (was the output buffered?)", len(inspect))
	}
	p := inspect[0]
	for _, a := range p.argv {
		if strings.Contains(a, repo.Password) {
			t.Errorf("password in restic argv: %q", p.argv)
		}
	}
	if !slices.Contains(p.environ, "RESTIC_PASSWORD="+repo.Password) {
		t.Errorf("RESTIC_PASSWORD not in restic's environment")
	}
	if !slices.Contains(p.environ, "RESTIC_REPOSITORY="+repo.URL) {
		t.Errorf("RESTIC_REPOSITORY not in restic's environment")
	}
	for _, kv := range p.environ {
		if strings.Contains(kv, agentCanaryValue) {
			t.Errorf("agent variable leaked into restic's environment: %q", kv)
		}
	}

	// An emit error stops the run: restic is stopped, the error returned.
	stop := errors.New("consumer gone")
	start := time.Now()
	res, err := r.Run(context.Background(), repo, LsJob{Snapshot: "latest"}, func(ev Event) error {
		if _, ok := ev.(*Node); ok {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) {
		t.Fatalf("emit error: got %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %v after emit failed", took)
	}
	if res.Events == 0 || res.Events > 10 {
		t.Errorf("events after emit failed: %d", res.Events)
	}
	if ps := resticProcs(t, repo.URL); len(ps) != 0 {
		t.Errorf("restic still running after emit failed: %+v", ps)
	}
}

// TestExitCodes checks the typed errors for a wrong password and a
// missing repository, and that the password never shows in them.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	repo := newRepo(t, r)
	ctx := context.Background()

	t.Run("wrong password", func(t *testing.T) {
		bad := repo
		bad.Password = "definitely-not-" + repo.Password
		evs := &recorder{}
		res, err := r.Run(ctx, bad, SnapshotsJob{}, evs.emit)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitWrongPassword || res.ExitCode != ExitWrongPassword {
			t.Fatalf("err = %v, result %+v", err, res)
		}
		if !errors.Is(err, ErrWrongPassword) || !strings.Contains(ee.Message, "wrong password") {
			t.Errorf("err = %v, message %q", err, ee.Message)
		}
		if strings.Contains(err.Error(), bad.Password) || strings.Contains(evs.dump(), bad.Password) {
			t.Errorf("password leaked into the error or events")
		}
		if errs := eventsOf[*Error](evs); len(errs) != 1 || errs[0].During != "exit" || errs[0].Code != 12 {
			t.Errorf("exit_error event: %s", evs.dump())
		}
	})
	t.Run("no repository", func(t *testing.T) {
		missing := repo
		missing.URL = filepath.Join(t.TempDir(), "nothing-here")
		_, err := r.Run(ctx, missing, SnapshotsJob{}, nil)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitNoRepository || !errors.Is(err, ErrRepositoryNotFound) {
			t.Fatalf("err = %v", err)
		}
		if ok, err := r.RepositoryExists(ctx, missing); ok || err != nil {
			t.Errorf("RepositoryExists(missing) = %v, %v", ok, err)
		}
	})
	t.Run("unknown snapshot", func(t *testing.T) {
		_, err := r.Run(ctx, repo, LsJob{Snapshot: "deadbeef"}, nil)
		var ee *ExitError
		if !errors.As(err, &ee) || ee.Code != ExitFatal || !strings.Contains(ee.Message, "deadbeef") {
			t.Fatalf("err = %v", err)
		}
	})
}

// TestIncompleteBackup makes restic fail to read one source file and
// expects exit code 3 reported as an incomplete success, not a failure.
//
// As root, permissions do not stop reads (chmod 000 does not work), so
// as root the unreadable file is /proc/<pid>/mem of this test process:
// lstat and open succeed, read at offset 0 fails with EIO.
func TestIncompleteBackup(t *testing.T) {
	t.Parallel()
	requireLinux(t)
	r := newRunner(t)
	repo := newRepo(t, r)
	data := filepath.Join(t.TempDir(), "data")
	writeFile(t, filepath.Join(data, "ok.txt"), []byte("fine\n"))
	unreadable := filepath.Join(data, "locked.txt")
	writeFile(t, unreadable, []byte("secret\n"))
	paths := []string{data}
	if os.Geteuid() == 0 {
		unreadable = fmt.Sprintf("/proc/%d/mem", os.Getpid())
		paths = append(paths, unreadable)
	} else if err := os.Chmod(unreadable, 0); err != nil {
		t.Fatal(err)
	}

	evs := &recorder{}
	res, err := r.Run(context.Background(), repo, BackupJob{Paths: paths}, evs.emit)
	if err != nil {
		t.Fatalf("exit code 3 must not be an error: %v; events: %s", err, evs.dump())
	}
	if !res.Incomplete || res.ExitCode != ExitIncomplete || res.SnapshotID == "" {
		t.Fatalf("result %+v", res)
	}
	var found bool
	for _, e := range eventsOf[*Error](evs) {
		if e.Item == unreadable && e.Message != "" && e.During != "" {
			found = true
		}
	}
	if !found {
		t.Errorf("no error event for %s: %s", unreadable, evs.dump())
	}
}

// TestCancelBackup cancels a backup of a few hundred MB mid-run: Run
// returns promptly with the context's error, no restic is left, and
// restic's SIGINT handling removed its lock.
func TestCancelBackup(t *testing.T) {
	t.Parallel()
	requireLinux(t)
	r := newRunner(t)
	repo := newRepo(t, r)
	data := filepath.Join(t.TempDir(), "large")
	writeRandomFile(t, filepath.Join(data, "blob.bin"), 300<<20)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cancelledAt time.Time
	timer := time.AfterFunc(3*time.Second, func() { cancel() }) // in case no progress shows
	defer timer.Stop()
	res, err := r.Run(ctx, repo, BackupJob{Paths: []string{data}}, func(ev Event) error {
		if p, ok := ev.(*Progress); ok && p.BytesDone > 0 && cancelledAt.IsZero() {
			cancelledAt = time.Now()
			cancel()
		}
		return nil
	})
	if cancelledAt.IsZero() {
		cancelledAt = time.Now().Add(-time.Second) // the timer fired; approximate
	}
	took := time.Since(cancelledAt)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v (result %+v), want context.Canceled", err, res)
	}
	if took > 5*time.Second {
		t.Errorf("Run returned %v after cancel", took)
	}
	// restic exits 130 on SIGINT, except that 0.18.1's backup reports
	// "Fatal: unable to save snapshot: context canceled" with code 1. A
	// signal death (-1) would mean it was SIGKILLed, not interrupted.
	if res.ExitCode != ExitInterrupted && res.ExitCode != ExitFatal {
		t.Errorf("exit code %d, want 130 or 1 (restic handled SIGINT)", res.ExitCode)
	}
	if ps := resticProcs(t, repo.URL); len(ps) != 0 {
		t.Errorf("restic still running after cancel: %+v", ps)
	}
	if ps := resticProcs(t, data); len(ps) != 0 {
		t.Errorf("process with the backup path still running: %+v", ps)
	}
	locks, _ := os.ReadDir(filepath.Join(repo.URL, "locks"))
	if len(locks) != 0 {
		t.Errorf("restic left %d locks after SIGINT", len(locks))
	}
}

// TestScrubsSecretsFromOutput makes restic print the password and a
// backend token (as names of missing backup paths) and expects both
// redacted in the events.
func TestScrubsSecretsFromOutput(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	repo := newRepo(t, r)
	repo.Env = map[string]string{"EXAMPLE_API_TOKEN": "tok-1234567890abcdef"}
	data := filepath.Join(t.TempDir(), "data")
	writeFile(t, filepath.Join(data, "f"), []byte("x"))
	missing1 := filepath.Join(data, "pw-"+repo.Password)
	missing2 := filepath.Join(data, "tok-1234567890abcdef")

	evs := &recorder{}
	_, err := r.Run(context.Background(), repo, BackupJob{Paths: []string{data, missing1, missing2}}, evs.emit)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	all := evs.dump()
	if strings.Contains(all, repo.Password) || strings.Contains(all, "tok-1234567890abcdef") {
		t.Fatalf("secret in events: %s", all)
	}
	redacted := 0
	for _, l := range eventsOf[*LogLine](evs) {
		if strings.Contains(l.Text, Redacted) {
			redacted++
		}
	}
	if redacted < 2 {
		t.Errorf("want 2 redacted log lines: %s", all)
	}
}

func writeRandomFile(t *testing.T, path string, size int) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var seed [32]byte
	copy(seed[:], randomBytes(t, 32))
	src := rand.NewChaCha8(seed)
	buf := make([]byte, 1<<20)
	for written := 0; written < size; written += len(buf) {
		_, _ = src.Read(buf)
		if _, err := f.Write(buf); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
