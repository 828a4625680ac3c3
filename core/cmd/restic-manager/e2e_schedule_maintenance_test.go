package main

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scheduled repository maintenance with the real server, agent and
// restic: stats and check schedules fire on the agent like backups; the
// stats run's figures and the check's outcome reach the repository's API
// JSON (the stats panel reads them); a run-now stats job updates them too;
// a prune schedule needs an admin.

// repoCare is the recorded state in a repository's JSON.
type repoCare struct {
	TotalSize       *int64     `json:"total_size"`
	RawSize         *int64     `json:"raw_size"`
	SnapshotCount   *int64     `json:"snapshot_count"`
	StatsUpdatedAt  *time.Time `json:"stats_updated_at"`
	LastCheckAt     *time.Time `json:"last_check_at"`
	LastCheckStatus *string    `json:"last_check_status"`
}

func (r *rig) repoCare(name string) repoCare {
	r.t.Helper()
	var c repoCare
	r.okJSON(&c, "repo", "show", name)
	return c
}

func TestEndToEndScheduledMaintenance(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 41, 6, 1<<10, 8<<10)
	b := r.runJob("backup", "--path", src)
	if res := r.waitJob(b); res.code != 0 {
		t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}
	if c := r.repoCare("main"); c.TotalSize != nil || c.LastCheckAt != nil {
		t.Fatalf("figures before any stats or check job: %+v", c)
	}

	// A run-now stats job in the repository mode records both sizes.
	s := r.runJob("stats", "--mode", "repository")
	if res := r.waitJob(s); res.code != 0 {
		t.Fatalf("stats: %s %s", res.stdout, res.stderr)
	}
	c := r.repoCare("main")
	if c.TotalSize == nil || *c.TotalSize < 6<<10 || c.RawSize == nil || *c.RawSize <= 0 || c.SnapshotCount == nil || *c.SnapshotCount != 1 || c.StatsUpdatedAt == nil {
		t.Fatalf("after a run-now stats job: %+v", c)
	}
	firstStats := *c.StatsUpdatedAt

	// Bad maintenance schedules name their field; prune needs an admin.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--kind", "defrag", "--every", "1h"}, "kind: "},
		{[]string{"--kind", "check", "--every", "1h", "--path", src}, "paths: is for backup schedules only"},
		{[]string{"--kind", "forget", "--every", "1h"}, "retention: a forget schedule needs"},
		{[]string{"--kind", "check", "--every", "1h", "--read-data-subset", "lots"}, "read_data_subset: "},
	} {
		res := r.cli(append([]string{"schedule", "create", "--host", r.hostID, "--repo", "main"}, tc.args...)...)
		if res.code != 1 || !strings.Contains(res.stderr, "HTTP 400") || !strings.Contains(res.stderr, tc.want) {
			t.Fatalf("schedule create %v: exit %d %s; want a 400 with %q", tc.args, res.code, res.stderr, tc.want)
		}
	}
	operator := r.roleToken("olga", "operator")
	if code, body := r.apiCall(operator, http.MethodPost, "/schedules", map[string]any{
		"host": r.hostID, "repository": "main", "kind": "prune", "every": "1h",
	}); code != http.StatusForbidden {
		t.Fatalf("an operator's prune schedule: %d %s", code, body)
	}

	// Scheduled stats and check runs, fired by the agent.
	stats := r.createSchedule("--name", "stats", "--kind", "stats", "--every", "3s")
	check := r.createSchedule("--name", "check", "--kind", "check", "--every", "4s", "--read-data-subset", "50%")
	var jobs []scheduleJob
	eventuallyE2EWithin(t, 2*e2eBackupTimeout, "a scheduled stats and check run", func() bool {
		jobs = append(r.scheduleJobs(stats), r.scheduleJobs(check)...)
		return countJobs(jobs, "stats", "succeeded") >= 1 && countJobs(jobs, "check", "succeeded") >= 1
	})
	r.ok("schedule", "update", stats, "--disable")
	r.ok("schedule", "update", check, "--disable")
	r.idle(stats)
	jobs = r.idle(check)
	for _, j := range jobs {
		if j.Kind != "check" || j.Status != "succeeded" {
			continue
		}
		var p struct {
			ReadDataSubset string `json:"read_data_subset"`
		}
		if json.Unmarshal(j.Params, &p) != nil || p.ReadDataSubset != "50%" || j.CreatedBy != "schedule" {
			t.Fatalf("a scheduled check's job: %+v, params %s", j, j.Params)
		}
	}
	c = r.repoCare("main")
	if c.StatsUpdatedAt == nil || !c.StatsUpdatedAt.After(firstStats) || c.SnapshotCount == nil || *c.SnapshotCount != 1 {
		t.Fatalf("after scheduled stats runs: %+v (first stats at %s)", c, firstStats)
	}
	if c.LastCheckAt == nil || c.LastCheckStatus == nil || *c.LastCheckStatus != "succeeded" {
		t.Fatalf("after scheduled checks: %+v", c)
	}
	r.checkSecrets()
}

// resticAs runs restic on the rig's repository with a password.
func (r *rig) resticAs(password string, args ...string) []byte {
	r.t.Helper()
	cmd := exec.Command(r.restic, args...)
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.repoDir, "RESTIC_PASSWORD="+password,
		"RESTIC_CACHE_DIR="+filepath.Join(r.home, "cache"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("restic %v: %v\n%s", args, err, out)
	}
	return out
}

// A repository's admin password reaches prune jobs only: with the
// day-to-day key removed from the restic repository, a backup (sent the
// day-to-day password) fails with restic's wrong-password exit code and a
// prune (sent the admin one) succeeds. An operator cannot prune.
func TestEndToEndPruneUsesTheAdminPassword(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 51, 3, 0, 2<<10)
	if res := r.waitJob(r.runJob("backup", "--path", src)); res.code != 0 {
		t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}

	adminPW := "e2e-admin-key-" + strconv.FormatUint(rand.Uint64(), 16)
	pwFile := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pwFile, []byte(adminPW+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r.resticAs(r.password, "key", "add", "--new-password-file", pwFile)
	code, body := r.apiCall(r.admin, http.MethodPatch, "/repositories/main", map[string]any{"admin_password": adminPW})
	if code != http.StatusOK || !strings.Contains(string(body), `"has_admin_password":true`) || strings.Contains(string(body), adminPW) {
		t.Fatalf("PATCH admin_password: %d %s", code, body)
	}
	if code, body := r.apiCall(r.admin, http.MethodPatch, "/repositories/main", map[string]any{"admin_password": strings.Repeat("x", 5000)}); code != http.StatusBadRequest || !strings.Contains(string(body), "admin_password") {
		t.Fatalf("a too long admin_password: %d %s", code, body)
	}

	// Drop the day-to-day key from the restic repository.
	var keys []struct {
		ID      string `json:"id"`
		Current bool   `json:"current"`
	}
	if err := json.Unmarshal(r.resticAs(adminPW, "key", "list", "--json"), &keys); err != nil || len(keys) != 2 {
		t.Fatalf("restic key list: %v %+v", err, keys)
	}
	for _, k := range keys {
		if !k.Current {
			r.resticAs(adminPW, "key", "remove", k.ID)
		}
	}

	b := r.runJob("backup", "--path", src)
	r.waitJob(b)
	if j := r.job(b); j["status"] != "failed" || j["exit_code"] != 12.0 {
		t.Fatalf("a backup after the day-to-day key was removed: %v (want failed, restic's wrong-password exit 12)", j)
	}
	operator := r.roleToken("olga", "operator")
	if code, body := r.apiCall(operator, http.MethodPost, "/hosts/"+r.hostID+"/jobs", map[string]any{"kind": "prune", "repository": "main"}); code != http.StatusForbidden {
		t.Fatalf("an operator's prune: %d %s", code, body)
	}
	p := r.runJob("prune")
	if res := r.waitJob(p); res.code != 0 {
		t.Fatalf("prune with the admin password: %s %s\n%s", res.stdout, res.stderr, r.ok("job", "logs", p))
	}
	r.checkSecrets()
	for what, text := range map[string]string{
		"the server log": r.srv.log.String(), "the agent log": r.agentLog.String(), "the CLI's output": r.outputs.String(),
	} {
		if strings.Contains(text, adminPW) {
			t.Errorf("%s holds the admin password", what)
		}
	}
}
