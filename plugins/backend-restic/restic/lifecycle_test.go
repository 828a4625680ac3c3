package restic

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBackupBrowseRestore drives a real restic through backup, a
// no-change backup, snapshots, ls, diff, restore, stats and cat config
// against one repository, in the order an operator would.
func TestBackupBrowseRestore(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	repo := newRepo(t, r)
	ctx := context.Background()

	data := filepath.Join(t.TempDir(), "data")
	files := map[string][]byte{
		"a.txt":         []byte("alpha\n"),
		"big.bin":       randomBytes(t, 24<<20), // long enough for status messages
		"sub/b.txt":     []byte("bravo\n"),
		"sub/deep/c.md": []byte("# charlie\n"),
	}
	for name, b := range files {
		writeFile(t, filepath.Join(data, name), b)
	}

	// backup: progress, then a summary with the snapshot id.
	evs, res := run(t, r, repo, BackupJob{Paths: []string{data}, Tags: []string{"lifecycle"}, Host: "testhost"})
	first := res.SnapshotID
	if len(first) != 64 {
		t.Fatalf("backup: snapshot id %q; events: %s", first, evs.dump())
	}
	if res.Incomplete || res.ExitCode != 0 {
		t.Errorf("backup: result %+v", res)
	}
	if len(eventsOf[*Progress](evs)) == 0 {
		t.Errorf("backup: no progress events; events: %s", evs.dump())
	}
	for _, p := range eventsOf[*Progress](evs) {
		if p.PercentDone < 0 || p.PercentDone > 1 {
			t.Errorf("backup: percent_done %v out of range", p.PercentDone)
		}
	}
	sums := eventsOf[*Summary](evs)
	if len(sums) != 1 || sums[0].Backup == nil {
		t.Fatalf("backup: want one backup summary, events: %s", evs.dump())
	}
	if b := sums[0].Backup; b.FilesNew != 4 || b.TotalFilesProcessed != 4 || b.SnapshotID != first || len(sums[0].Raw) == 0 {
		t.Errorf("backup summary: %+v", b)
	}

	// A backup with nothing changed still makes a snapshot, of unmodified files.
	_, res = run(t, r, repo, BackupJob{Paths: []string{data}, Tags: []string{"lifecycle"}, Host: "testhost"})
	if b := res.Summary.Backup; b.FilesNew != 0 || b.FilesChanged != 0 || b.FilesUnmodified != 4 {
		t.Errorf("no-change backup summary: %+v", b)
	}

	// Change one file, add one, then back up again.
	writeFile(t, filepath.Join(data, "a.txt"), []byte("alpha, changed\n"))
	writeFile(t, filepath.Join(data, "sub/new.txt"), []byte("new\n"))
	_, res = run(t, r, repo, BackupJob{Paths: []string{data}, Tags: []string{"lifecycle"}, Host: "testhost"})
	third := res.SnapshotID

	// snapshots, filtered.
	evs, _ = run(t, r, repo, SnapshotsJob{Hosts: []string{"testhost"}, Tags: []string{"lifecycle"}})
	snaps := eventsOf[*Snapshot](evs)
	if len(snaps) != 3 {
		t.Fatalf("snapshots: got %d, want 3; events: %s", len(snaps), evs.dump())
	}
	if s := snaps[0]; s.ID != first || s.Hostname != "testhost" || !slices.Equal(s.Tags, []string{"lifecycle"}) || !slices.Equal(s.Paths, []string{data}) {
		t.Errorf("snapshot[0] = %+v", s.SnapshotInfo)
	}
	evs, _ = run(t, r, repo, SnapshotsJob{Hosts: []string{"no-such-host"}})
	if n := len(eventsOf[*Snapshot](evs)); n != 0 {
		t.Errorf("snapshots for another host: %d", n)
	}

	// ls of a sub directory, direct entries only, then recursively.
	evs, _ = run(t, r, repo, LsJob{Snapshot: third, Path: filepath.Join(data, "sub")})
	if got := nodePaths(evs); !slices.Equal(got, []string{
		filepath.Join(data, "sub"), filepath.Join(data, "sub/b.txt"), filepath.Join(data, "sub/deep"), filepath.Join(data, "sub/new.txt"),
	}) {
		t.Errorf("ls sub: %v", got)
	}
	if sn := eventsOf[*Snapshot](evs); len(sn) != 1 || sn[0].ID != third {
		t.Errorf("ls: want the snapshot line first, got %v", sn)
	}
	evs, _ = run(t, r, repo, LsJob{Snapshot: third, Path: filepath.Join(data, "sub"), Recursive: true})
	if got := nodePaths(evs); !slices.Contains(got, filepath.Join(data, "sub/deep/c.md")) {
		t.Errorf("ls sub --recursive misses deep/c.md: %v", got)
	}
	for _, n := range eventsOf[*Node](evs) {
		if n.Path == filepath.Join(data, "sub/b.txt") && (n.Type != "file" || n.Size != 6 || n.Name != "b.txt") {
			t.Errorf("node b.txt: %+v", n)
		}
	}

	// diff first → third: one file modified, one added.
	evs, _ = run(t, r, repo, DiffJob{From: first, To: third})
	changes := map[string]string{}
	for _, c := range eventsOf[*Change](evs) {
		changes[c.Path] = c.Modifier
	}
	if changes[filepath.Join(data, "a.txt")] != "M" {
		t.Errorf("diff: a.txt not modified: %v", changes)
	}
	if changes[filepath.Join(data, "sub/new.txt")] != "+" {
		t.Errorf("diff: sub/new.txt not added: %v", changes)
	}
	sums = eventsOf[*Summary](evs)
	if len(sums) != 1 || sums[0].Diff == nil || sums[0].Diff.ChangedFiles < 1 || sums[0].Diff.Added.Files < 1 {
		t.Errorf("diff statistics: %s", evs.dump())
	}

	// restore the third snapshot; every file comes back byte-identical.
	target := filepath.Join(t.TempDir(), "restore")
	evs, _ = run(t, r, repo, RestoreJob{Snapshot: third, Target: target, Verify: true})
	files["a.txt"] = []byte("alpha, changed\n")
	files["sub/new.txt"] = []byte("new\n")
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(target, data, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("restored %s differs (err %v)", name, err)
		}
	}
	if sums := eventsOf[*Summary](evs); len(sums) != 1 || sums[0].Restore == nil || sums[0].Restore.FilesRestored < 5 {
		t.Errorf("restore summary: %s", evs.dump())
	}
	// Restore with an include filter only brings that file.
	target2 := filepath.Join(t.TempDir(), "restore2")
	run(t, r, repo, RestoreJob{Snapshot: "latest", Target: target2, Includes: []string{filepath.Join(data, "sub/b.txt")}})
	var restored []string
	_ = filepath.WalkDir(target2, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			restored = append(restored, p)
		}
		return nil
	})
	if !slices.Equal(restored, []string{filepath.Join(target2, data, "sub/b.txt")}) {
		t.Errorf("restore --include: %v", restored)
	}

	// stats in both modes.
	evs, _ = run(t, r, repo, StatsJob{})
	st := eventsOf[*Stats](evs)
	if len(st) != 1 || st[0].TotalSize < 24<<20 || st[0].SnapshotsCount != 3 || st[0].TotalFileCount == 0 {
		t.Errorf("stats restore-size: %s", evs.dump())
	}
	evs, _ = run(t, r, repo, StatsJob{Mode: StatsRawData})
	st = eventsOf[*Stats](evs)
	if len(st) != 1 || st[0].TotalSize == 0 || st[0].TotalBlobCount == 0 {
		t.Errorf("stats raw-data: %s", evs.dump())
	}

	// cat config proves the repository is there.
	evs, _ = run(t, r, repo, CatConfigJob{})
	if rc := eventsOf[*RepoConfig](evs); len(rc) != 1 || rc[0].ID == "" || rc[0].Version < 1 {
		t.Errorf("cat config: %s", evs.dump())
	}
	if ok, err := r.RepositoryExists(ctx, repo); !ok || err != nil {
		t.Errorf("RepositoryExists = %v, %v", ok, err)
	}

	// version as a job.
	evs, _ = run(t, r, Repository{}, VersionJob{})
	if vi := eventsOf[*VersionInfo](evs); len(vi) != 1 || !vi[0].Version.AtLeast(MinVersion) {
		t.Errorf("version: %s", evs.dump())
	}
}

// TestRetentionAndMaintenance runs forget (dry run, real, with prune),
// prune, check, unlock against a repository with three snapshots.
func TestRetentionAndMaintenance(t *testing.T) {
	t.Parallel()
	r := newRunner(t)
	repo := newRepo(t, r)
	data := filepath.Join(t.TempDir(), "data")
	var ids []string
	for i := range 3 {
		writeFile(t, filepath.Join(data, "f.txt"), []byte(strings.Repeat("v", i+1)))
		_, res := run(t, r, repo, BackupJob{Paths: []string{data}})
		ids = append(ids, res.SnapshotID)
	}
	first, third := ids[0], ids[2]

	// forget --dry-run keeps everything, but says what it would do.
	evs, _ := run(t, r, repo, ForgetJob{KeepLast: 1, DryRun: true})
	groups := eventsOf[*ForgetGroup](evs)
	if len(groups) != 1 || len(groups[0].Keep) != 1 || len(groups[0].Remove) != 2 || groups[0].Keep[0].ID != third {
		t.Fatalf("forget --dry-run groups: %s", evs.dump())
	}
	if len(groups[0].Reasons) != 1 || !slices.Contains(groups[0].Reasons[0].Matches, "last snapshot") {
		t.Errorf("forget reasons: %+v", groups[0].Reasons)
	}
	if fr := eventsOf[*ForgetResult](evs); len(fr) != 1 || !fr[0].DryRun || len(fr[0].Removed) != 2 {
		t.Errorf("forget --dry-run result: %s", evs.dump())
	}
	if n := countSnapshots(t, r, repo); n != 3 {
		t.Fatalf("after forget --dry-run: %d snapshots", n)
	}
	// forget for real.
	evs, _ = run(t, r, repo, ForgetJob{KeepLast: 2, GroupBy: "host,paths"})
	if fr := eventsOf[*ForgetResult](evs); len(fr) != 1 || fr[0].DryRun || !slices.Equal(fr[0].Removed, []string{first}) {
		t.Errorf("forget result: %s", evs.dump())
	}
	if n := countSnapshots(t, r, repo); n != 2 {
		t.Fatalf("after forget: %d snapshots", n)
	}
	// forget --prune: the JSON first, then prune's text log.
	evs, _ = run(t, r, repo, ForgetJob{KeepLast: 1, Prune: true})
	if fr := eventsOf[*ForgetResult](evs); len(fr) != 1 || len(fr[0].Removed) != 1 {
		t.Errorf("forget --prune result: %s", evs.dump())
	}
	if len(eventsOf[*LogLine](evs)) == 0 {
		t.Errorf("forget --prune: no prune log lines: %s", evs.dump())
	}

	// prune prints text only.
	evs, _ = run(t, r, repo, PruneJob{})
	if !hasLogLine(evs, "done") {
		t.Errorf("prune log: %s", evs.dump())
	}

	// check, and check reading a subset of the data.
	for _, job := range []CheckJob{{}, {ReadDataSubset: "50%"}} {
		evs, _ = run(t, r, repo, job)
		sums := eventsOf[*Summary](evs)
		if len(sums) != 1 || sums[0].Check == nil || sums[0].Check.NumErrors != 0 {
			t.Errorf("check %+v summary: %s", job, evs.dump())
		}
	}

	// unlock (nothing to do) and unlock --remove-all.
	run(t, r, repo, UnlockJob{})
	run(t, r, repo, UnlockJob{RemoveAll: true})
}

func nodePaths(evs *recorder) []string {
	var out []string
	for _, n := range eventsOf[*Node](evs) {
		out = append(out, n.Path)
	}
	return out
}

func countSnapshots(t *testing.T, r *Runner, repo Repository) int {
	t.Helper()
	evs, _ := run(t, r, repo, SnapshotsJob{})
	return len(eventsOf[*Snapshot](evs))
}

func hasLogLine(evs *recorder, text string) bool {
	for _, l := range eventsOf[*LogLine](evs) {
		if l.Text == text {
			return true
		}
	}
	return false
}
