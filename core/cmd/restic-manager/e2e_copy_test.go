package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Copy to a second repository with the real server, agent and restic: a
// run-now copy and the copy that follows every successful scheduled
// backup put the same snapshot (same tree, paths and time; restic records
// the source snapshot as "original") in the secondary repository, whose
// password shows up nowhere but sealed.

// copyRepo is a second repository on the rig's host.
type copyRepo struct {
	name, dir, password string
}

// addRepo adds and initialises a second repository through the server.
func (r *rig) addRepo(name string) copyRepo {
	r.t.Helper()
	c := copyRepo{name: name, dir: filepath.Join(r.t.TempDir(), name), password: fmt.Sprintf("e2e-copy-pw-%016x", rand.Uint64())}
	pwFile := filepath.Join(r.t.TempDir(), name+".pw")
	if err := os.WriteFile(pwFile, []byte(c.password+"\n"), 0o600); err != nil {
		r.t.Fatal(err)
	}
	r.ok("repo", "add", "--name", name, "--url", c.dir, "--password-file", pwFile)
	if out := r.ok("repo", "init", name, "--host", r.hostID, "--timeout", "60s"); !strings.Contains(out, "succeeded (exit code 0)") {
		r.t.Fatalf("repo init %s printed:\n%s", name, out)
	}
	return c
}

// resticSnapshot is a snapshot as restic snapshots --json prints it.
type resticSnapshot struct {
	ID       string    `json:"id"`
	Original string    `json:"original"`
	Tree     string    `json:"tree"`
	Time     time.Time `json:"time"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags"`
	Hostname string    `json:"hostname"`
}

// snapshotsIn lists a repository's snapshots with restic itself.
func (r *rig) snapshotsIn(dir, password string) []resticSnapshot {
	r.t.Helper()
	cmd := exec.Command(r.restic, "snapshots", "--json", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_REPOSITORY="+dir, "RESTIC_PASSWORD="+password,
		"RESTIC_CACHE_DIR="+filepath.Join(r.home, "cache"))
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("restic snapshots in %s: %v", dir, err)
	}
	var snaps []resticSnapshot
	if err := json.Unmarshal(out, &snaps); err != nil {
		r.t.Fatal(err)
	}
	return snaps
}

// sameSnapshotCopied checks that dst holds a copy of src's snapshot id.
func sameSnapshotCopied(t *testing.T, src, dst []resticSnapshot, id string) {
	t.Helper()
	i := slices.IndexFunc(src, func(s resticSnapshot) bool { return s.ID == id })
	if i < 0 {
		t.Fatalf("the source repository lacks snapshot %s", id)
	}
	want := src[i]
	j := slices.IndexFunc(dst, func(s resticSnapshot) bool { return s.Original == id || s.ID == id })
	if j < 0 {
		t.Fatalf("the secondary repository holds no copy of %s: %+v", id, dst)
	}
	got := dst[j]
	if got.Tree != want.Tree || !got.Time.Equal(want.Time) || !slices.Equal(got.Paths, want.Paths) ||
		!slices.Equal(got.Tags, want.Tags) || got.Hostname != want.Hostname {
		t.Fatalf("the copy differs from the snapshot:\n got  %+v\n want %+v", got, want)
	}
}

func TestEndToEndCopyToSecondRepository(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	offsite := r.addRepo("offsite")
	src := filepath.Join(t.TempDir(), "src")
	writeTree(t, src, 21, 8, 0, 4<<10)

	// Run now: back up, then copy that snapshot.
	b := r.runJob("backup", "--path", src, "--tag", "manual")
	if res := r.waitJob(b); res.code != 0 {
		t.Fatalf("backup: %s %s", res.stdout, res.stderr)
	}
	snapID := r.backupSnapshot(b, src, 8)
	c := r.runJob("copy", "--to-repo", "offsite", "--snapshot", snapID)
	if res := r.waitJob(c); res.code != 0 {
		t.Fatalf("copy: %s %s\n%s", res.stdout, res.stderr, r.ok("job", "logs", c))
	}
	sameSnapshotCopied(t, r.snapshotsIn(r.repoDir, r.password), r.snapshotsIn(offsite.dir, offsite.password), snapID)
	// The server lists the copy under the secondary repository too.
	eventuallyE2EWithin(t, 30*time.Second, "the copy listed under offsite", func() bool {
		var snaps []map[string]any
		r.okJSON(&snaps, "snapshot", "list", "--host", r.hostID, "--repo", "offsite")
		return len(snaps) == 1
	})

	// A schedule's copy_to is checked: another repository that exists.
	for _, tc := range []struct{ to, want string }{
		{"main", "copy_to: is the schedule's own repository"},
		{"nowhere", `copy_to: no repository "nowhere"`},
	} {
		res := r.cli("schedule", "create", "--host", r.hostID, "--repo", "main", "--path", src, "--every", "1h", "--copy-to", tc.to)
		if res.code != 1 || !strings.Contains(res.stderr, "HTTP 400") || !strings.Contains(res.stderr, tc.want) {
			t.Fatalf("schedule create --copy-to %s: exit %d %s; want a 400 with %q", tc.to, res.code, res.stderr, tc.want)
		}
	}

	// Scheduled: every successful backup is followed by a copy of its
	// snapshot, run by the agent as a job of the schedule.
	id := r.createSchedule("--name", "three-two-one", "--path", src, "--every", "5s", "--tag", "sched", "--copy-to", "offsite")
	var shown struct {
		CopyTo   *string `json:"copy_to"`
		CopyToID *string `json:"copy_to_id"`
	}
	r.okJSON(&shown, "schedule", "show", id)
	if shown.CopyTo == nil || *shown.CopyTo != "offsite" || shown.CopyToID == nil || len(*shown.CopyToID) != 36 {
		t.Fatalf("schedule show: copy_to %v, copy_to_id %v", shown.CopyTo, shown.CopyToID)
	}
	var jobs []scheduleJob
	eventuallyE2EWithin(t, 2*e2eBackupTimeout, "a scheduled backup and its copy", func() bool {
		jobs = r.scheduleJobs(id)
		return countJobs(jobs, "backup", "succeeded") >= 1 && countJobs(jobs, "copy", "succeeded") >= 1
	})
	r.ok("schedule", "update", id, "--disable")
	jobs = r.idle(id)
	if n := countJobs(jobs, "copy", "failed"); n > 0 {
		t.Fatalf("%d scheduled copies failed: %+v", n, jobs)
	}
	srcSnaps, dstSnaps := r.snapshotsIn(r.repoDir, r.password), r.snapshotsIn(offsite.dir, offsite.password)
	copied := 0
	for _, j := range jobs {
		if j.Kind != "backup" || j.Status != "succeeded" {
			continue
		}
		// A backup that ended as the schedule was disabled may have no
		// copy; every other one has.
		if !slices.ContainsFunc(jobs, func(c scheduleJob) bool { return c.Kind == "copy" && c.CreatedAt.After(j.CreatedAt) }) {
			continue
		}
		sameSnapshotCopied(t, srcSnaps, dstSnaps, j.snapshot())
		copied++
	}
	if copied == 0 {
		t.Fatalf("no scheduled backup was copied: %+v", jobs)
	}
	for _, j := range jobs {
		if j.Kind == "copy" && j.Status == "succeeded" {
			if text := r.ok("job", "logs", j.ID); !strings.Contains(text, "[succeeded, exit code 0]") {
				t.Fatalf("the copy's log:\n%s", text)
			}
		}
	}

	r.checkSecrets()
	for what, text := range map[string]string{
		"the server log": r.srv.log.String(), "the agent log": r.agentLog.String(), "the CLI's output": r.outputs.String(),
	} {
		if strings.Contains(text, offsite.password) {
			t.Errorf("%s holds the secondary repository's password", what)
		}
	}
}
