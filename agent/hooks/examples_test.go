//go:build !windows

package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/restic"
)

// The two examples of docs/hooks.md, run as the agent's scheduler runs
// them around a real restic backup of a real repository: the pre-hook,
// the backup (skipped if the pre-hook failed), the post-hook with the
// job's status.

// The hook commands exactly as docs/hooks.md shows them.
const (
	serviceStopHook = `pid=$(cat "$SERVICE_PIDFILE") || exit 1
kill "$pid" || exit 1
# wait up to 30 s for it to finish writing and exit
for i in $(seq 300); do kill -0 "$pid" 2>/dev/null || exit 0; sleep 0.1; done
echo "service $pid did not stop" >&2; exit 1`
	serviceStartHook = `echo "backup $RM_JOB_ID ended: $RM_JOB_STATUS"
nohup "$SERVICE_BIN" >/dev/null 2>&1 &
echo $! > "$SERVICE_PIDFILE"`
	dumpHook      = `mkdir -p "$DUMP_DIR" && sqlite3 "$DB" ".backup '$DUMP_DIR/app.db'" && echo "dumped $DB"`
	dumpCleanHook = `rm -f "$DUMP_DIR/app.db"`
)

// resticRunner finds the real restic: $RESTIC_BINARY, else PATH, else
// $(go env GOPATH)/bin/restic. Without one the test fails.
func resticRunner(t *testing.T) *restic.Runner {
	t.Helper()
	cands := []string{os.Getenv("RESTIC_BINARY"), "restic"}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		cands = append(cands, filepath.Join(gp, "bin", "restic"))
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if r, err := restic.New(restic.Config{Binary: c}); err == nil {
			return r
		}
	}
	t.Fatalf("no restic binary (tried %q): run scripts/install-restic.sh and set RESTIC_BINARY", cands)
	return nil
}

func newRepo(t *testing.T, r *restic.Runner) restic.Repository {
	t.Helper()
	repo := restic.Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: "hooks-example-pw"}
	if _, err := r.Run(context.Background(), repo, restic.InitJob{}, nil); err != nil {
		t.Fatalf("init: %v", err)
	}
	return repo
}

// backupAndRestore backs dir up and restores the snapshot into a new
// directory, returning where dir's content is now.
func backupAndRestore(t *testing.T, r *restic.Runner, repo restic.Repository, dir string) string {
	t.Helper()
	res, err := r.Run(context.Background(), repo, restic.BackupJob{Paths: []string{dir}}, nil)
	if err != nil || res.SnapshotID == "" {
		t.Fatalf("backup: %+v, %v", res, err)
	}
	target := t.TempDir()
	if _, err := r.Run(context.Background(), repo, restic.RestoreJob{Snapshot: res.SnapshotID, Target: target}, nil); err != nil {
		t.Fatalf("restore: %v", err)
	}
	return filepath.Join(target, dir)
}

// TestExampleStopServiceAroundBackup: a "service" appends to its data file
// all the time; the pre-hook stops it, the backup takes the file as the
// service left it, the post-hook (told the job succeeded) starts it again.
func TestExampleStopServiceAroundBackup(t *testing.T) {
	t.Parallel()
	r := resticRunner(t)
	repo := newRepo(t, r)
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "service.sh")
	service := "#!/bin/sh\nwhile :; do date +%s%N >> '" + filepath.Join(data, "journal") + "'; sleep 0.02; done\n"
	if err := os.WriteFile(bin, []byte(service), 0o700); err != nil { //nolint:gosec // G306: the service must be executable
		t.Fatal(err)
	}
	env := map[string]string{"SERVICE_BIN": bin, "SERVICE_PIDFILE": filepath.Join(dir, "service.pid")}
	job := Job{ID: "job-1", Kind: "backup", Schedule: "nightly"}
	hook := func(command, status string) (int, *lines, error) {
		e := job.Env(status)
		for k, v := range env {
			e[k] = v
		}
		return run(t, Hook{Command: command, Env: e, Timeout: time.Minute})
	}

	// Install: the post-hook's command starts the service the first time.
	if _, _, err := hook(serviceStartHook, "none"); err != nil {
		t.Fatal(err)
	}
	first := pidFrom(t, env["SERVICE_PIDFILE"])
	t.Cleanup(func() { _ = syscall.Kill(first, syscall.SIGKILL) })
	waitGrowing(t, filepath.Join(data, "journal"))

	if _, _, err := hook(serviceStopHook, ""); err != nil {
		t.Fatalf("pre-hook: %v", err)
	}
	if !gone(first) {
		t.Fatalf("the service %d still runs after the pre-hook", first)
	}
	stopped, err := os.ReadFile(filepath.Join(data, "journal"))
	if err != nil || len(stopped) == 0 {
		t.Fatal(err)
	}
	restored := backupAndRestore(t, r, repo, data)
	got, err := os.ReadFile(filepath.Join(restored, "journal"))
	if err != nil || !bytes.Equal(got, stopped) {
		t.Fatalf("the snapshot's journal (%d bytes, %v) is not the stopped service's (%d bytes)", len(got), err, len(stopped))
	}

	_, out, err := hook(serviceStartHook, "succeeded")
	if err != nil || !strings.Contains(out.text(), "[hook] backup job-1 ended: succeeded") {
		t.Fatalf("post-hook: %v\n%s", err, out.text())
	}
	second := pidFrom(t, env["SERVICE_PIDFILE"])
	t.Cleanup(func() { _ = syscall.Kill(second, syscall.SIGKILL) })
	if second == first || gone(second) {
		t.Fatalf("the service is not running again (pid %d, was %d)", second, first)
	}
	waitGrowing(t, filepath.Join(data, "journal"))

	// A pre-hook that cannot stop the service fails, so the backup must
	// not run: the scheduler's rule, checked here on the hook's result.
	env["SERVICE_PIDFILE"] = filepath.Join(dir, "missing.pid")
	if code, _, err := hook(serviceStopHook, ""); !errors.Is(err, ErrFailed) || code != 1 {
		t.Fatalf("pre-hook without a pid file: exit %d, %v", code, err)
	}
}

// waitGrowing waits until path grows: the service is writing.
func waitGrowing(t *testing.T, path string) {
	t.Helper()
	size := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			return -1
		}
		return fi.Size()
	}
	start := size()
	deadline := time.Now().Add(10 * time.Second)
	for size() <= start {
		if time.Now().After(deadline) {
			t.Fatalf("%s does not grow: the service is not running", path)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestExampleDatabaseDump: the pre-hook dumps a live SQLite database with
// `sqlite3 .backup`, the backup picks the dump up, the restored dump is a
// sound database with every row; the post-hook removes the dump.
func TestExampleDatabaseDump(t *testing.T) {
	t.Parallel()
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Skip("the database-dump example needs the sqlite3 command (apt-get install sqlite3); only this example is skipped")
	}
	r := resticRunner(t)
	repo := newRepo(t, r)
	dir := t.TempDir()
	db := filepath.Join(dir, "live", "app.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	const rows = 2000
	sql := fmt.Sprintf(`PRAGMA journal_mode=WAL;
CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d)
INSERT INTO orders(item) SELECT 'item-' || i FROM n;`, rows)
	if out, err := exec.Command(sqlite, db, sql).CombinedOutput(); err != nil { //nolint:gosec // G204: the test's own sqlite3
		t.Fatalf("create the database: %v\n%s", err, out)
	}
	dumpDir := filepath.Join(dir, "dump")
	env := Job{ID: "job-2", Kind: "backup"}.Env("")
	env["DB"], env["DUMP_DIR"] = db, dumpDir

	_, out, err := run(t, Hook{Command: dumpHook, Env: env, Timeout: time.Minute})
	if err != nil || !strings.Contains(out.text(), "[hook] dumped "+db) {
		t.Fatalf("pre-hook: %v\n%s", err, out.text())
	}
	restored := backupAndRestore(t, r, repo, dumpDir)
	query := func(path, q string) string {
		out, err := exec.Command(sqlite, path, q).CombinedOutput() //nolint:gosec // G204: the test's own sqlite3
		if err != nil {
			t.Fatalf("%s on %s: %v\n%s", q, path, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	copyDB := filepath.Join(restored, "app.db")
	if got := query(copyDB, "PRAGMA integrity_check;"); got != "ok" {
		t.Errorf("integrity check of the restored dump: %s", got)
	}
	if got := query(copyDB, "SELECT count(*) || ' ' || max(item) FROM orders;"); got != fmt.Sprintf("%d item-999", rows) {
		t.Errorf("restored dump has %q", got)
	}

	env["RM_JOB_STATUS"] = "succeeded"
	if _, _, err := run(t, Hook{Command: dumpCleanHook, Env: env}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dumpDir, "app.db")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the post-hook left the dump: %v", err)
	}
}
