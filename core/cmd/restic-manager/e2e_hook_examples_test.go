package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The two hook examples of docs/hooks.md, word for word, as a schedule's
// pre- and post-hooks fired by the real agent's scheduler around real
// restic backups: stopping and starting a service that writes all the
// time (the pid-file variant; there is no systemd here), and dumping a
// live SQLite database that the backup picks up. The snapshots are read
// back through the API (restic dump on the host).

// docExample returns the shell block of docs/hooks.md marked
// "<!-- example: name -->", with the values of its leading NAME=value
// lines replaced by vars (each of which the block must set).
func docExample(t *testing.T, name string, vars map[string]string) string {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "..", "docs", "hooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)<!-- example: " + regexp.QuoteMeta(name) + " -->\n```sh\n(.*?)\n```").FindSubmatch(doc)
	if m == nil {
		t.Fatalf("docs/hooks.md has no example %q", name)
	}
	lines := strings.Split(string(m[1]), "\n")
	seen := map[string]bool{}
	for i, l := range lines {
		k, _, ok := strings.Cut(l, "=")
		if !ok || !regexp.MustCompile(`^[A-Z_]+$`).MatchString(k) {
			break
		}
		v, ok := vars[k]
		if !ok {
			t.Fatalf("example %q sets %s, which the test does not know", name, k)
		}
		lines[i], seen[k] = k+"='"+v+"'", true
	}
	for k := range vars {
		if !seen[k] {
			t.Fatalf("example %q no longer sets %s in its first lines", name, k)
		}
	}
	return strings.Join(lines, "\n")
}

// createHookSchedule creates, as the admin, a backup schedule of paths
// that fires every few seconds with the two hooks; it returns its id.
func (r *rig) createHookSchedule(name string, paths []string, pre, post string) string {
	r.t.Helper()
	var s struct {
		ID string `json:"id"`
	}
	code, body := r.apiCall(r.admin, http.MethodPost, "/schedules", map[string]any{
		"name": name, "host": r.hostID, "repository": "main", "paths": paths, "every": "5s",
		"pre_hook":  map[string]any{"command": pre, "timeout": "1m"},
		"post_hook": map[string]any{"command": post, "timeout": "1m"},
	})
	if code != http.StatusCreated || json.Unmarshal(body, &s) != nil {
		r.t.Fatalf("create schedule %s: %d %s", name, code, body)
	}
	return s.ID
}

// stopSchedule disables a schedule and waits until its runs have ended.
func (r *rig) stopSchedule(id string) {
	r.t.Helper()
	r.ok("schedule", "update", id, "--disable")
	r.idle(id)
}

// appService is the test's service: it appends a counter to its data
// file, one line in two writes, and on SIGTERM finishes the line it is
// writing, notes the last value in stops and exits. Started again, it
// goes on from its file's last line.
const appService = `#!/bin/sh
data=%q; stops=%q
i=$(tail -n 1 "$data" 2>/dev/null); i=${i:-0}
stop=
trap 'stop=1' TERM
while [ -z "$stop" ]; do
  i=$((i + 1))
  printf '%%s' "$i" >> "$data"
  sleep 0.01
  printf '\n' >> "$data"
  sleep 0.01
done
echo "$i" >> "$stops"
`

// servicePID reads the service's pid file.
func servicePID(t *testing.T, pidFile string) int {
	t.Helper()
	pid, err := strconv.Atoi(readFileE2E(t, pidFile))
	if err != nil {
		t.Fatalf("pid file %s: %v", pidFile, err)
	}
	return pid
}

// waitGrows waits until the service has appended to path.
func waitGrows(t *testing.T, path string) {
	t.Helper()
	fi, _ := os.Stat(path)
	var size int64
	if fi != nil {
		size = fi.Size()
	}
	eventuallyE2EWithin(t, 30*time.Second, "the service to write to "+path, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > size
	})
}

// checkCounter checks that a snapshot's copy of the service's data file
// is consistent: the lines 1 to N, each complete, N being a value at
// which the service stopped. It returns N.
func checkCounter(t *testing.T, got []byte, stops []string) string {
	t.Helper()
	if len(got) == 0 || got[len(got)-1] != '\n' {
		t.Fatalf("the snapshot's data file ends in a cut line: %q", lastBytes(got))
	}
	lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
	for i, l := range lines {
		if l != strconv.Itoa(i+1) {
			t.Fatalf("line %d of the snapshot's data file is %q, want %d: the file was caught mid-write", i+1, l, i+1)
		}
	}
	last := lines[len(lines)-1]
	if !slices.Contains(stops, last) {
		t.Fatalf("the snapshot's data file ends at %s, which is no value the service stopped at (%v): it ran during the backup", last, stops)
	}
	return last
}

// lastBytes is the end of b, for a message.
func lastBytes(b []byte) []byte {
	return b[max(0, len(b)-40):]
}

func TestEndToEndHookExampleServiceStopStart(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	counter, stopsFile := filepath.Join(data, "counter"), filepath.Join(dir, "stops")
	bin, pidFile := filepath.Join(dir, "app"), filepath.Join(dir, "app.pid")
	if err := os.WriteFile(bin, fmt.Appendf(nil, appService, counter, stopsFile), 0o700); err != nil { //nolint:gosec // G306: the service must be executable
		t.Fatal(err)
	}
	// The service runs before the schedule exists, as a service would.
	svc := exec.Command(bin)
	svc.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Wait() }()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(svc.Process.Pid)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Process.Kill()
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	waitGrows(t, counter)

	pre := docExample(t, "service-stop", map[string]string{"SERVICE_PIDFILE": pidFile})
	post := docExample(t, "service-start", map[string]string{"SERVICE_BIN": bin, "SERVICE_PIDFILE": pidFile})
	since := time.Now()
	id := r.createHookSchedule("app", []string{data}, pre, post)

	// A run that succeeds: the snapshot holds the data file as the
	// stopped service left it; the post-hook starts the service again.
	ok := r.nextRun(id, since)
	if ok.Status != "succeeded" || ok.snapshot() == "" {
		t.Fatalf("the first run: %+v", ok)
	}
	logs := r.ok("job", "logs", ok.ID)
	for _, want := range []string{"[hook] pre-hook succeeded", "[hook] backup " + ok.ID + " ended: succeeded", "[hook] post-hook succeeded"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the run's log lacks %q:\n%s", want, logs)
		}
	}

	// A run whose backup fails (its path is gone): the post-hook still
	// runs, is told so, and starts the service again.
	since = time.Now()
	if code, body := r.apiCall(r.admin, http.MethodPatch, "/schedules/"+id, map[string]any{"paths": []string{filepath.Join(dir, "missing")}}); code != http.StatusOK {
		t.Fatalf("PATCH paths: %d %s", code, body)
	}
	bad := r.nextRun(id, since)
	for bad.Status == "succeeded" { // fired before the change reached the agent
		bad = r.nextRun(id, bad.CreatedAt)
	}
	r.stopSchedule(id)
	if bad.Status != "failed" || strings.Contains(bad.Error, "hook") {
		t.Fatalf("the run of a missing path: %+v", bad)
	}
	logs = r.ok("job", "logs", bad.ID)
	for _, want := range []string{"[hook] pre-hook succeeded", "[hook] backup " + bad.ID + " ended: failed", "[hook] post-hook succeeded"} {
		if !strings.Contains(logs, want) {
			t.Fatalf("the failed run's log lacks %q:\n%s", want, logs)
		}
	}

	// The service runs again after the last job (a new process, writing).
	pid := servicePID(t, pidFile)
	if pid == svc.Process.Pid || syscall.Kill(pid, 0) != nil {
		t.Fatalf("the service is not running again: pid file %d, first pid %d", pid, svc.Process.Pid)
	}
	waitGrows(t, counter)

	// The snapshot of the good run, through the API.
	stopsText, err := os.ReadFile(stopsFile)
	if err != nil {
		t.Fatalf("the service never stopped: %v", err)
	}
	stops := strings.Fields(string(stopsText))
	r.waitListing(ok.snapshot()[:8], data, e2eBackupTimeout)
	_, got := r.dumpAll(ok.snapshot(), counter, "")
	last := checkCounter(t, got, stops)
	if now, _ := os.ReadFile(counter); !bytes.HasPrefix(now, got) || len(now) <= len(got) {
		t.Fatalf("the service did not go on from %s after the backup", last)
	}
	r.checkSecrets()
}

func TestEndToEndHookExampleDatabaseDump(t *testing.T) {
	t.Parallel()
	sqlite, err := exec.LookPath("sqlite3")
	if err != nil {
		t.Fatal("the database-dump example needs the sqlite3 command: run scripts/install-test-tools.sh (make test does)")
	}
	r := newRig(t, rigOptions{})
	dir := t.TempDir()
	db := filepath.Join(dir, "live", "app.db")
	if err := os.MkdirAll(filepath.Dir(db), 0o700); err != nil {
		t.Fatal(err)
	}
	const rows = 3000
	query := func(path, sql string) string {
		t.Helper()
		out, err := exec.Command(sqlite, path, sql).CombinedOutput() //nolint:gosec // G204: the test's own sqlite3 and database
		if err != nil {
			t.Fatalf("sqlite3 %s %q: %v\n%s", path, sql, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	query(db, fmt.Sprintf(`PRAGMA journal_mode=WAL;
CREATE TABLE orders(id INTEGER PRIMARY KEY, item TEXT NOT NULL);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n WHERE i < %d)
INSERT INTO orders(item) SELECT printf('item-%%05d', i) FROM n;`, rows))

	dumpDir := filepath.Join(dir, "dump")
	pre := docExample(t, "dump", map[string]string{"DB": db, "DUMP_DIR": dumpDir})
	post := docExample(t, "dump-clean", map[string]string{"DUMP_DIR": dumpDir})
	since := time.Now()
	id := r.createHookSchedule("db", []string{dumpDir}, pre, post)
	j := r.nextRun(id, since)
	r.stopSchedule(id)
	if j.Status != "succeeded" || j.snapshot() == "" {
		t.Fatalf("the run with the dump pre-hook: %+v", j)
	}
	if logs := r.ok("job", "logs", j.ID); !strings.Contains(logs, "[hook] dumped "+db) {
		t.Fatalf("the run's log lacks the pre-hook's output:\n%s", logs)
	}
	if _, err := os.Stat(filepath.Join(dumpDir, "app.db")); !os.IsNotExist(err) {
		t.Fatalf("the post-hook left the dump behind: %v", err)
	}

	// The snapshot's dump, through the API, is a sound database with
	// every row.
	r.waitListing(j.snapshot()[:8], dumpDir, e2eBackupTimeout)
	_, got := r.dumpAll(j.snapshot(), filepath.Join(dumpDir, "app.db"), "")
	restored := filepath.Join(t.TempDir(), "restored.db")
	if err := os.WriteFile(restored, got, 0o600); err != nil {
		t.Fatal(err)
	}
	if ic := query(restored, "PRAGMA integrity_check;"); ic != "ok" {
		t.Fatalf("integrity check of the snapshot's dump: %s", ic)
	}
	if n := query(restored, "SELECT count(*) || ' ' || max(item) FROM orders;"); n != fmt.Sprintf("%d item-%05d", rows, rows) {
		t.Fatalf("the snapshot's dump holds %q", n)
	}
	r.checkSecrets()
}
