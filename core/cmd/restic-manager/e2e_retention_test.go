package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// waitHostIdle waits until the host has no queued or running job: the
// snapshot refresh the server queues after a backup or forget holds the
// repository, and the agent runs one job per repository at a time.
func (r *rig) waitHostIdle() {
	r.t.Helper()
	eventuallyE2EWithin(r.t, e2eBackupTimeout, "no job queued or running", func() bool {
		var jobs []map[string]any
		r.okJSON(&jobs, "job", "list", "--host", r.hostID)
		return !slices.ContainsFunc(jobs, func(j map[string]any) bool { return j["status"] == "queued" || j["status"] == "running" })
	})
}

// retentionSnapshotIDs lists the repository's snapshot ids with restic itself.
func (r *rig) retentionSnapshotIDs() []string {
	r.t.Helper()
	cmd := exec.Command(r.restic, "snapshots", "--json", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+r.repoDir, "RESTIC_PASSWORD="+r.password, "RESTIC_CACHE_DIR="+filepath.Join(r.home, "cache"))
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("restic snapshots: %v", err)
	}
	var snaps []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(out, &snaps); err != nil {
		r.t.Fatal(err)
	}
	var ids []string
	for _, s := range snaps {
		ids = append(ids, s.ID)
	}
	sort.Strings(ids)
	return ids
}

// TestEndToEndRetentionPreviewThenForget: through the CLI, the server, the
// real agent and restic, `job run forget --dry-run` prints the plan and
// removes nothing; the real forget then removes exactly the snapshots the
// plan named. The repository's stats and a check of a subset run as
// run-now jobs with the figures in their summaries.
func TestEndToEndRetentionPreviewThenForget(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	src := filepath.Join(t.TempDir(), "src")
	var backups []string
	for i := range 3 {
		writeTree(t, src, uint64(i+1), 5, 1<<10, 8<<10)
		id := r.runJob("backup", "--path", src)
		if res := r.waitJob(id); res.code != 0 {
			t.Fatalf("backup %d: %s%s", i, res.stdout, res.stderr)
		}
		backups = append(backups, r.job(id)["summary"].(map[string]any)["snapshot_id"].(string))
		r.waitHostIdle()
	}
	all := r.retentionSnapshotIDs()
	if len(all) != 3 {
		t.Fatalf("%d snapshots after 3 backups", len(all))
	}

	// The dry run waits and prints the plan.
	out := r.ok("job", "run", "forget", "--host", r.hostID, "--repo", "main", "--keep-last", "1", "--dry-run", "--timeout", e2eBackupTimeout.String())
	for _, want := range []string{
		"succeeded (exit code 0)",
		"Dry run: would remove 2 of 3 snapshots and keep 1 (1 groups); nothing was removed.",
		"paths " + src,
		"keep    " + backups[2][:8],
		"last snapshot",
		"remove  " + backups[0][:8],
		"remove  " + backups[1][:8],
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("forget --dry-run printed no %q:\n%s", want, out)
		}
	}
	planID := strings.SplitN(out, "\n", 2)[0]
	var plan struct {
		Summary struct {
			DryRun  bool     `json:"dry_run"`
			Kept    []string `json:"kept"`
			Removed []string `json:"removed"`
		} `json:"summary"`
	}
	r.okJSON(&plan, "job", "show", planID)
	if !plan.Summary.DryRun || len(plan.Summary.Removed) != 2 {
		t.Fatalf("the dry run's summary: %+v", plan.Summary)
	}
	if got := r.retentionSnapshotIDs(); !slices.Equal(got, all) {
		t.Fatalf("the dry run removed snapshots: %v", got)
	}
	r.waitHostIdle()

	// The real forget, waited for with --json: the job object, its
	// summary the same lists.
	var done struct {
		Status  string `json:"status"`
		Summary struct {
			DryRun  bool     `json:"dry_run"`
			Kept    []string `json:"kept"`
			Removed []string `json:"removed"`
		} `json:"summary"`
	}
	r.okJSON(&done, "job", "run", "forget", "--host", r.hostID, "--repo", "main", "--keep-last", "1", "--wait", "--timeout", e2eBackupTimeout.String())
	sort.Strings(done.Summary.Removed)
	sort.Strings(plan.Summary.Removed)
	if done.Status != "succeeded" || done.Summary.DryRun || !slices.Equal(done.Summary.Removed, plan.Summary.Removed) {
		t.Fatalf("forget: %+v; the plan removed %v", done, plan.Summary.Removed)
	}
	if got := r.retentionSnapshotIDs(); !slices.Equal(got, plan.Summary.Kept) {
		t.Fatalf("after forget the repository has %v; the plan kept %v", got, plan.Summary.Kept)
	}
	r.waitHostIdle()

	out = r.ok("job", "run", "stats", "--host", r.hostID, "--repo", "main", "--mode", "repository", "--wait", "--timeout", e2eBackupTimeout.String())
	for _, want := range []string{"Snapshots:", "Total size:", "Raw data size:", "Deduplication:"} {
		if !strings.Contains(out, want) {
			t.Fatalf("stats --mode repository printed no %q:\n%s", want, out)
		}
	}
	r.waitHostIdle()
	if res := r.cli("job", "run", "check", "--host", r.hostID, "--repo", "main", "--read-data-subset", "1/3", "--wait", "--timeout", e2eBackupTimeout.String()); res.code != 0 {
		t.Fatalf("check --read-data-subset 1/3: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	// Refused before a job exists, naming the field.
	if res := r.cli("job", "run", "check", "--host", r.hostID, "--repo", "main", "--read-data-subset", "0/3"); res.code == 0 ||
		!strings.Contains(res.stderr, "params.read_data_subset") {
		t.Fatalf("a bad subset: exit %d\n%s", res.code, res.stderr)
	}
	r.checkSecrets()
}
