package store

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func addRepository(t testing.TB, db *DB, id string) {
	t.Helper()
	if _, err := db.w.Exec(`INSERT INTO repositories (id, name, url, created_at, updated_at) VALUES (?,?,?,?,?)`,
		id, id, "/srv/"+id, ms(t0), ms(t0)); err != nil {
		t.Fatal(err)
	}
}

func setHostname(t testing.TB, db *DB, id, hostname string) {
	t.Helper()
	if _, err := db.w.Exec(`UPDATE hosts SET hostname = ? WHERE id = ?`, hostname, id); err != nil {
		t.Fatal(err)
	}
}

func snapID(c byte) string { return strings.Repeat(string(c), 64) }

func TestSnapshotProjection(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addHost(t, db, "h2")
	setHostname(t, db, "h1", "web1")
	setHostname(t, db, "h2", "db1")
	addRepository(t, db, "r1")
	addRepository(t, db, "r2")

	snaps := []Snapshot{
		{ID: snapID('a'), Time: t0, Hostname: "web1", Paths: []string{"/srv"}, Tags: []string{"x"}},
		{ID: snapID('b'), Time: t0.Add(time.Hour), Hostname: "web1", Paths: []string{"/srv"}},
		{ID: snapID('c'), Time: t0.Add(2 * time.Hour), Hostname: "db1"},
		{ID: snapID('d'), Time: t0.Add(3 * time.Hour), Hostname: "unknown-machine"},
	}
	if err := db.ReplaceSnapshots(ctx, "r1", "h1", snaps, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.ReplaceSnapshots(ctx, "r2", "h1", snaps[:1], t0); err != nil {
		t.Fatal(err)
	}
	got, err := db.ListSnapshots(ctx, SnapshotFilter{HostID: "h1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != snapID('b') || got[0].ShortID != "bbbbbbbb" {
		t.Fatalf("h1's snapshots = %+v", got)
	}
	if got, _ := db.ListSnapshots(ctx, SnapshotFilter{HostID: "h2", Limit: 10}); len(got) != 1 || got[0].ID != snapID('c') {
		t.Fatalf("h2's snapshots (matched by hostname) = %+v", got)
	}
	// Paging: newest first, after the cursor of the last row.
	page1, _ := db.ListSnapshots(ctx, SnapshotFilter{RepositoryID: "r1", Limit: 2})
	page2, _ := db.ListSnapshots(ctx, SnapshotFilter{RepositoryID: "r1", Limit: 2, After: "r1/" + page1[1].ID})
	if len(page1) != 2 || len(page2) != 2 || page1[0].ID != snapID('d') || page2[1].ID != snapID('a') {
		t.Fatalf("pages = %+v / %+v", page1, page2)
	}

	// A backup's snapshot: upserted with its job; a later listing keeps
	// the job and drops what the repository no longer has.
	addHost(t, db, "h3")
	if err := db.CreateJob(ctx, Job{ID: "j1", HostID: "h1", Kind: "backup", Status: JobRunning, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := db.UpsertSnapshots(ctx, "h1", []Snapshot{{RepositoryID: "r1", ID: snapID('e'), HostID: "h1", JobID: "j1", Time: t0}}, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.ReplaceSnapshots(ctx, "r1", "h1", []Snapshot{snaps[0], {ID: snapID('e'), Time: t0, Hostname: "web1", Username: "root"}}, t0); err != nil {
		t.Fatal(err)
	}
	got, _ = db.ListSnapshots(ctx, SnapshotFilter{RepositoryID: "r1", Limit: 10})
	if len(got) != 2 {
		t.Fatalf("after replace = %+v", got)
	}
	for _, s := range got {
		if s.ID == snapID('e') && (s.JobID != "j1" || s.Username != "root" || s.HostID != "h1") {
			t.Fatalf("upserted snapshot = %+v", s)
		}
	}
	if got, _ := db.ListSnapshots(ctx, SnapshotFilter{RepositoryID: "r2", Limit: 10}); len(got) != 1 {
		t.Fatalf("another repository's projection changed: %+v", got)
	}
}

func TestJobLogPrefix(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	if err := db.CreateJob(ctx, Job{ID: "j1", HostID: "h1", Kind: "backup", Status: JobRunning, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	add := func(seqs ...int64) {
		t.Helper()
		var logs []JobLog
		for _, s := range seqs {
			logs = append(logs, JobLog{JobID: "j1", Seq: s, Time: t0, Line: "x"})
		}
		if _, err := db.AppendJobLogs(ctx, logs); err != nil {
			t.Fatal(err)
		}
	}
	want := func(n int64) {
		t.Helper()
		got, err := db.JobLogPrefix(ctx, "j1")
		if err != nil || got != n {
			t.Fatalf("prefix = %d (%v), want %d", got, err, n)
		}
	}
	want(0)
	add(2, 3)
	want(0)
	add(1)
	want(3)
	add(5, 6)
	want(3)
	add(4)
	want(6)
}

func TestAgentJobsAndQueues(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addRepository(t, db, "r1")
	j := Job{ID: "a1", HostID: "h1", Kind: "backup", Status: JobRunning, RepositoryID: "r1", ScheduleID: "gone", CreatedBy: "schedule", CreatedAt: t0, StartedAt: &t0}
	if err := db.CreateAgentJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAgentJob(ctx, j); !errors.Is(err, ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	got, err := db.GetJob(ctx, "a1")
	if err != nil || got.RepositoryID != "r1" || got.ScheduleID != "" || got.Status != JobRunning {
		t.Fatalf("agent job = %+v (%v)", got, err)
	}
	if running, _ := db.RunningJobs(ctx, "h1"); len(running) != 1 {
		t.Fatalf("running = %+v", running)
	}
	early, late := t0.Add(time.Minute), t0.Add(time.Hour)
	for id, dl := range map[string]*time.Time{"q1": &early, "q2": &late, "q3": nil} {
		if err := db.CreateJob(ctx, Job{ID: id, HostID: "h1", Kind: "check", Status: JobQueued, CreatedAt: t0, DeadlineAt: dl}); err != nil {
			t.Fatal(err)
		}
	}
	past, err := db.QueuedJobsPastDeadline(ctx, t0.Add(2*time.Minute), 10)
	if err != nil || len(past) != 1 || past[0].ID != "q1" {
		t.Fatalf("past deadline = %+v (%v)", past, err)
	}
	if q, _ := db.QueuedJobs(ctx, "h1", 10); len(q) != 3 {
		t.Fatalf("queued = %+v", q)
	}
	if q, _ := db.QueuedJobs(ctx, "", 10); len(q) != 3 {
		t.Fatalf("queued everywhere = %+v", q)
	}
	if _, err := db.AppendJobLogs(ctx, []JobLog{
		{JobID: "a1", Seq: 1, Time: t0, Type: "summary", Line: `{"a":1}`},
		{JobID: "a1", Seq: 2, Time: t0, Type: "log", Line: "x"},
		{JobID: "a1", Seq: 3, Time: t0, Type: "summary", Line: `{"a":2}`},
	}); err != nil {
		t.Fatal(err)
	}
	if l, err := db.LastJobLog(ctx, "a1", "summary"); err != nil || l.Seq != 3 {
		t.Fatalf("last summary = %+v (%v)", l, err)
	}
	if _, err := db.LastJobLog(ctx, "a1", "error"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing type: %v", err)
	}
}
