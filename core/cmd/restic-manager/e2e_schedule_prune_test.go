package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Scheduled steps that remove data, with the real server, agent and
// restic. A repository whose day-to-day password is one restic key and
// whose admin password another: the agent is pushed the day-to-day key
// only, asks the server for the admin key right before a scheduled prune
// or a backup schedule's retention forget --prune, and runs exactly those
// with it (a test-only restic wrapper records which key each restic
// invocation got). And every scheduled maintenance kind does its work:
// forget removes the snapshots its keep rules drop, prune reclaims their
// data, unlock removes a stale lock.

// resticKeyRecorder is a test-only restic wrapper: it appends the SHA-256
// of the password each invocation got (never the password) and restic's
// subcommand to a record file, then runs the real restic.
const resticKeyRecorder = `#!/bin/sh
# test-only: records which key each restic invocation got, by subcommand
h=$(printf '%%s' "$RESTIC_PASSWORD" | sha256sum | cut -d' ' -f1)
printf '%%s %%s\n' "$h" "$1" >> %q
exec %q "$@"
`

// useKeyRecorder restarts the rig's agent with the recording wrapper as
// the "restic" on its PATH and returns the record file.
func (r *rig) useKeyRecorder() string {
	r.t.Helper()
	dir := r.t.TempDir()
	record := filepath.Join(dir, "invocations.txt")
	script := fmt.Sprintf(resticKeyRecorder, record, r.restic)
	if err := os.WriteFile(filepath.Join(dir, "restic"), []byte(script), 0o700); err != nil { //nolint:gosec // G306: an executable test script
		r.t.Fatal(err)
	}
	r.stopAgent()
	r.waitHostStatus("offline")
	r.pathDir = dir
	r.startAgent()
	r.waitHostStatus("online")
	return record
}

// keyUse is what the wrapper recorded: for each restic subcommand, the
// hashes of the passwords it ran with.
func keyUse(t *testing.T, record string) map[string]map[string]int {
	t.Helper()
	f, err := os.Open(record) //nolint:gosec // G304: the test's own temp file
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		hash, cmd, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if out[cmd] == nil {
			out[cmd] = map[string]int{}
		}
		out[cmd][hash]++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// scheduleJSON reads a schedule's API JSON.
func (r *rig) scheduleObject(id string) map[string]any {
	r.t.Helper()
	var s map[string]any
	r.okJSON(&s, "schedule", "show", id)
	return s
}

func TestEndToEndScheduledPruneUsesTheAdminKey(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	record := r.useKeyRecorder()

	// Key A (the one the repository was made with) becomes the admin
	// password; a second restic key, B, the day-to-day one.
	adminPW, dailyPW := r.splitKeys()

	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 61, 8, 1<<10, 4<<10)
	backup := r.createSchedule("--name", "pruning-backup", "--path", src, "--every", "3s", "--keep-last", "1", "--prune")
	prune := r.createSchedule("--name", "prune", "--kind", "prune", "--every", "5s")
	plain := r.createSchedule("--name", "plain-backup", "--path", src, "--every", "1h", "--keep-last", "3")
	for id, want := range map[string]any{backup: "admin", prune: "admin", plain: nil} {
		if got := r.scheduleObject(id)["prune_key"]; got != want {
			t.Fatalf("schedule %s: prune_key %v, want %v", id, got, want)
		}
	}
	if out := r.ok("schedule", "show", backup); !strings.Contains(out, "Prune key:") || !strings.Contains(out, "admin") {
		t.Fatalf("schedule show prints no prune key:\n%s", out)
	}

	eventuallyE2EWithin(t, 3*e2eBackupTimeout, "two scheduled backups with their pruning forgets, and a scheduled prune", func() bool {
		jobs := append(r.scheduleJobs(backup), r.scheduleJobs(prune)...)
		return countJobs(jobs, "backup", "succeeded") >= 2 && countJobs(jobs, "forget", "succeeded") >= 2 &&
			countJobs(jobs, "prune", "succeeded") >= 1
	})
	r.ok("schedule", "update", backup, "--disable")
	r.ok("schedule", "update", prune, "--disable")
	jobs := append(r.idle(backup), r.idle(prune)...)
	for _, j := range jobs {
		if j.Status == "failed" {
			t.Fatalf("a scheduled %s failed: %s\n%s", j.Kind, j.Error, r.ok("job", "logs", j.ID))
		}
	}
	r.waitHostIdle()

	// Backups (and the snapshot listings after them) ran with B; every
	// forget and prune with A, and nothing else did.
	use := keyUse(t, record)
	a, b := sha256Hex(adminPW), sha256Hex(dailyPW)
	if use["backup"][b] < 2 || use["backup"][a] != 0 {
		t.Errorf("backups ran with the wrong key: %v (admin %.8s, daily %.8s)", use["backup"], a, b)
	}
	for _, cmd := range []string{"forget", "prune"} {
		if use[cmd][a] == 0 || len(use[cmd]) != 1 {
			t.Errorf("%s ran with %v; want the admin key %.8s only", cmd, use[cmd], a)
		}
	}
	for cmd, hashes := range use {
		if cmd != "forget" && cmd != "prune" && hashes[a] > 0 {
			t.Errorf("restic %s ran with the admin key", cmd)
		}
	}
	// forget --keep-last 1 leaves one snapshot; a backup that fired just
	// before the schedule was disabled has its forget refused (the server
	// gives no admin key for a disabled schedule), so its snapshot stays.
	bjobs := r.scheduleJobs(backup)
	after := 0
	for _, j := range bjobs {
		switch {
		case j.Kind == "forget" && j.Status == "succeeded":
			after = 0
		case j.Kind == "backup" && j.Status == "succeeded":
			after++
		}
	}
	if n := len(r.repoSnapshots()); n != 1+after {
		t.Errorf("%d snapshots after forget --keep-last 1 --prune and %d backups since, want %d", n, after, 1+after)
	}

	// Each key issued is audited, naming the job; the key is nowhere.
	var audit []map[string]any
	r.okJSON(&audit, "audit", "list", "--action", "repository.admin_key.issue")
	issued := map[string]bool{}
	for _, e := range audit {
		if d, ok := e["detail"].(map[string]any); ok {
			issued[fmt.Sprint(d["job_id"])] = true
		}
	}
	for _, j := range jobs {
		if (j.Kind == "forget" || j.Kind == "prune") && j.Status == "succeeded" && !issued[j.ID] {
			t.Errorf("no audit entry for the admin key of %s job %s (entries: %v)", j.Kind, j.ID, audit)
		}
		r.logs(j.ID) // into r.outputs, which the secrets check reads
	}
	r.checkSecrets()
	for what, text := range map[string]string{
		"the server log": r.srv.log.String(), "the agent log": r.agentLog.String(), "the CLI's output": r.outputs.String(),
	} {
		if strings.Contains(text, dailyPW) {
			t.Errorf("%s holds the day-to-day password", what)
		}
	}
}

// Without the server, the agent has no admin key: the scheduled backup
// still runs and counts, and its retention forget --prune is recorded as
// skipped, with the reason, once the server is back. It never runs with
// the day-to-day key.
func TestEndToEndScheduledPruneIsSkippedWithoutTheServer(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	record := r.useKeyRecorder()
	adminPW, dailyPW := r.splitKeys()
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 62, 4, 1<<10, 2<<10)
	id := r.createSchedule("--name", "offline", "--path", src, "--every", "4s", "--keep-last", "1", "--prune")
	eventuallyE2EWithin(t, 2*e2eBackupTimeout, "a first scheduled run", func() bool {
		return countJobs(r.scheduleJobs(id), "backup", "succeeded") >= 1
	})

	r.stopServer()
	before := keyUse(t, record)["backup"][sha256Hex(dailyPW)]
	eventuallyE2EWithin(t, 3*e2eBackupTimeout, "a backup while the server is down, and its forget skipped", func() bool {
		return keyUse(t, record)["backup"][sha256Hex(dailyPW)] > before &&
			strings.Contains(r.agentLog.String(), "the step that removes data is skipped")
	})
	r.restartServer()
	r.waitHostStatus("online")
	var jobs []scheduleJob
	eventuallyE2EWithin(t, e2eBackupTimeout, "the skipped forget to reach the server", func() bool {
		jobs = r.scheduleJobs(id)
		return countJobs(jobs, "forget", "skipped") >= 1
	})
	r.ok("schedule", "update", id, "--disable")
	jobs = r.idle(id)
	const reason = "pruning needs the repository's admin key, which only the server can give; the server was unreachable"
	skipped := 0
	for i, j := range jobs {
		if j.Kind != "forget" || j.Status != "skipped" {
			continue
		}
		skipped++
		if !strings.HasPrefix(j.Error, reason) {
			t.Errorf("the skipped forget's reason: %q", j.Error)
		}
		// The backup before it counts: it succeeded and made a snapshot.
		var prev scheduleJob
		for k := i - 1; k >= 0; k-- {
			if jobs[k].Kind == "backup" && jobs[k].Status != "skipped" {
				prev = jobs[k]
				break
			}
		}
		if prev.Status != "succeeded" || prev.snapshot() == "" {
			t.Errorf("the run before the skipped forget: %+v", prev)
		}
	}
	if skipped == 0 {
		t.Fatalf("no skipped forget among %+v", jobs)
	}
	use := keyUse(t, record)
	if len(use["forget"]) > 1 || use["forget"][sha256Hex(dailyPW)] > 0 || use["prune"][sha256Hex(dailyPW)] > 0 {
		t.Fatalf("restic forget/prune ran with the day-to-day key: %v", use)
	}
	if strings.Contains(r.agentLog.String(), adminPW) || strings.Contains(r.agentLog.String(), dailyPW) {
		t.Fatal("the agent log holds a key")
	}
	r.checkSecrets()
}

// splitKeys gives the rig's repository two restic keys: the one it was
// made with becomes its admin password, a new one its day-to-day
// password.
func (r *rig) splitKeys() (adminPW, dailyPW string) {
	r.t.Helper()
	adminPW, dailyPW = r.password, fmt.Sprintf("e2e-daily-%016x", rand.Uint64())
	pwFile := filepath.Join(r.t.TempDir(), "daily.pw")
	if err := os.WriteFile(pwFile, []byte(dailyPW+"\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.resticAs(adminPW, "key", "add", "--new-password-file", pwFile)
	code, body := r.apiCall(r.admin, http.MethodPatch, "/repositories/main", map[string]any{"password": dailyPW, "admin_password": adminPW})
	if code != http.StatusOK || !strings.Contains(string(body), `"has_admin_password":true`) {
		r.t.Fatalf("PATCH the repository's keys: %d %s", code, body)
	}
	return adminPW, dailyPW
}
