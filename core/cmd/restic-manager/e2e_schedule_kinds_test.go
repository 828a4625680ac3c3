package main

import (
	"io/fs"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// Every scheduled maintenance kind that changes the repository does its
// work when the agent fires it (stats and check: e2e_schedule_maintenance
// _test.go): a forget schedule removes the snapshots its keep rules drop,
// a prune schedule then reclaims their data, and an unlock schedule
// removes the stale lock a killed restic left behind.

// dataBytes is the size of the repository's pack files.
func (r *rig) dataBytes() int64 {
	r.t.Helper()
	var n int64
	err := filepath.WalkDir(filepath.Join(r.repoDir, "data"), func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			n += info.Size()
		}
		return err
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return n
}

// runScheduled creates a schedule, waits for a successful run of its kind,
// disables it and waits until none of its runs is left going.
func (r *rig) runScheduled(kind string, args ...string) []scheduleJob {
	r.t.Helper()
	id := r.createSchedule(append([]string{"--name", "every-" + kind, "--kind", kind, "--every", "3s"}, args...)...)
	eventuallyE2EWithin(r.t, 2*e2eBackupTimeout, "a successful scheduled "+kind, func() bool {
		return countJobs(r.scheduleJobs(id), kind, "succeeded") >= 1
	})
	r.ok("schedule", "update", id, "--disable")
	jobs := r.idle(id)
	r.waitHostIdle()
	for _, j := range jobs {
		if j.Status == "failed" || j.CreatedBy != "schedule" {
			r.t.Fatalf("a scheduled %s: %+v", kind, j)
		}
	}
	return jobs
}

func TestEndToEndScheduledForgetPruneUnlock(t *testing.T) {
	t.Parallel()
	r := newRig(t, rigOptions{})
	var snaps []string
	src := filepath.Join(t.TempDir(), "src") // one path: one group for --keep-last
	for i := range 3 {
		writeTree(t, src, uint64(70+i), 6, 16<<10, 64<<10)
		id := r.runJob("backup", "--path", src)
		if res := r.waitJob(id); res.code != 0 {
			t.Fatalf("backup %d: %s%s", i, res.stdout, res.stderr)
		}
		snaps = append(snaps, r.job(id)["summary"].(map[string]any)["snapshot_id"].(string))
		r.waitHostIdle()
	}
	before := r.dataBytes()

	// forget --keep-last 1: the two older snapshots are gone, their data
	// not yet.
	r.runScheduled("forget", "--keep-last", "1")
	if got := snapshotIDs(r.repoSnapshots()); !slices.Equal(got, []string{snaps[2]}) {
		t.Fatalf("after a scheduled forget --keep-last 1 the repository has %v; want only %s", got, snaps[2])
	}
	if after := r.dataBytes(); after != before {
		t.Fatalf("a forget without prune changed the packs: %d → %d bytes", before, after)
	}

	// prune reclaims what the forgotten snapshots alone referenced.
	r.runScheduled("prune")
	if after := r.dataBytes(); after >= before {
		t.Fatalf("a scheduled prune reclaimed nothing: %d → %d bytes", before, after)
	}

	// A restic killed while it held a lock leaves it behind, stale; the
	// scheduled unlock removes it.
	holder := r.holdLock()
	if err := holder.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	eventuallyE2EWithin(t, 30*time.Second, "the lock holder to be gone", func() bool {
		return syscall.Kill(holder.Process.Pid, 0) != nil
	})
	if len(r.lockFiles()) == 0 {
		t.Fatal("the killed restic left no lock behind")
	}
	r.runScheduled("unlock")
	if locks := r.lockFiles(); len(locks) != 0 {
		t.Fatalf("after a scheduled unlock the repository still has locks %v", locks)
	}
	r.checkSecrets()
}
