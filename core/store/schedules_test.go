package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func setHostTags(t testing.TB, db *DB, id string, tags ...string) {
	t.Helper()
	if _, err := db.w.Exec(`UPDATE hosts SET tags = ? WHERE id = ?`, encodeStrings(tags), id); err != nil {
		t.Fatal(err)
	}
}

func testSchedule(id, name string) Schedule {
	return Schedule{
		ID: id, Name: name, HostID: "h1", RepositoryID: "r1", Paths: []string{"/srv", "/etc"},
		Excludes:    []string{"*.tmp"},
		ExcludeOpts: ExcludeOptions{ExcludeFiles: []string{"/etc/restic/excludes"}, ExcludeIfPresent: []string{".nobackup"}, ExcludeCaches: true},
		Tags:        []string{"nightly"}, OneFileSystem: true, Cron: "0 3 * * *", Timezone: "Europe/Berlin",
		JitterSeconds: 600, CatchUp: true, Retention: &Retention{KeepDaily: 7, KeepWithin: "30d", GroupBy: "host,paths"},
		Prune: true, LimitUploadKiB: 1024, LimitDownloadKiB: 2048, Enabled: true, CreatedAt: t0, UpdatedAt: t0,
	}
}

func revision(t *testing.T, db *DB) int64 {
	t.Helper()
	r, err := db.ScheduleRevision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestScheduleCreateGetUpdateDelete(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addRepository(t, db, "r1")
	if r := revision(t, db); r != 0 {
		t.Fatalf("revision before any schedule = %d", r)
	}
	s := testSchedule("s1", "nightly")
	if err := db.CreateSchedule(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetSchedule(ctx, "nightly")
	if err != nil {
		t.Fatal(err)
	}
	s.Kind, s.ManagedBy = ScheduleBackup, "user"
	if !schedulesEqual(got, s) {
		t.Fatalf("stored %+v\nwant   %+v", got, s)
	}
	if r := revision(t, db); r != 1 {
		t.Fatalf("revision after a create = %d", r)
	}

	dup := testSchedule("s2", "nightly")
	if err := db.CreateSchedule(ctx, dup); !errors.Is(err, ErrConflict) {
		t.Fatalf("a taken name: %v, want ErrConflict", err)
	}
	noRepo := testSchedule("s3", "other")
	noRepo.RepositoryID = "missing"
	if err := db.CreateSchedule(ctx, noRepo); !errors.Is(err, ErrNotFound) {
		t.Fatalf("an unknown repository: %v, want ErrNotFound", err)
	}
	if r := revision(t, db); r != 1 {
		t.Fatalf("failed creates raised the revision to %d", r)
	}

	s.Cron, s.EverySeconds, s.Retention, s.Prune, s.LimitUploadKiB, s.Enabled = "", 3600, nil, false, 0, false
	s.Paths, s.UpdatedAt = []string{"/home"}, t0.Add(time.Hour)
	if err := db.UpdateSchedule(ctx, s); err != nil {
		t.Fatal(err)
	}
	got, err = db.GetSchedule(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if !schedulesEqual(got, s) || got.Retention != nil || !got.CreatedAt.Equal(t0) {
		t.Fatalf("updated %+v\nwant    %+v", got, s)
	}
	if r := revision(t, db); r != 2 {
		t.Fatalf("revision after an update = %d", r)
	}
	if err := db.UpdateSchedule(ctx, testSchedule("missing", "x")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("updating a missing schedule: %v", err)
	}
	if err := db.DeleteSchedule(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSchedule(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := db.GetSchedule(ctx, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted schedule: %v", err)
	}
	if r := revision(t, db); r != 3 {
		t.Fatalf("revision after a delete = %d", r)
	}
}

func schedulesEqual(a, b Schedule) bool {
	ra, rb := a.Retention, b.Retention
	if (ra == nil) != (rb == nil) || (ra != nil && (ra.KeepDaily != rb.KeepDaily || ra.KeepWithin != rb.KeepWithin || ra.GroupBy != rb.GroupBy)) {
		return false
	}
	return a.ID == b.ID && a.Name == b.Name && a.HostID == b.HostID && a.HostTag == b.HostTag && a.RepositoryID == b.RepositoryID &&
		a.Kind == b.Kind && slices.Equal(a.Paths, b.Paths) && slices.Equal(a.Excludes, b.Excludes) &&
		slices.Equal(a.ExcludeOpts.ExcludeFiles, b.ExcludeOpts.ExcludeFiles) &&
		slices.Equal(a.ExcludeOpts.ExcludeIfPresent, b.ExcludeOpts.ExcludeIfPresent) && a.ExcludeOpts.ExcludeCaches == b.ExcludeOpts.ExcludeCaches &&
		slices.Equal(a.Tags, b.Tags) && a.OneFileSystem == b.OneFileSystem && a.Cron == b.Cron && a.EverySeconds == b.EverySeconds &&
		a.Timezone == b.Timezone && a.JitterSeconds == b.JitterSeconds && a.CatchUp == b.CatchUp && a.Prune == b.Prune &&
		a.LimitUploadKiB == b.LimitUploadKiB && a.LimitDownloadKiB == b.LimitDownloadKiB && a.Enabled == b.Enabled &&
		a.ManagedBy == b.ManagedBy && a.UpdatedAt.Equal(b.UpdatedAt)
}

func TestSchedulesOfAHost(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	for _, h := range []string{"h1", "h2", "h3"} {
		addHost(t, db, h)
	}
	setHostTags(t, db, "h1", "db", "eu")
	setHostTags(t, db, "h2", "db")
	addRepository(t, db, "r1")
	own := testSchedule("own", "a-own")
	tagged := testSchedule("tagged", "b-tagged")
	tagged.HostID, tagged.HostTag = "", "db"
	other := testSchedule("other", "c-other")
	other.HostID = "h3"
	off := testSchedule("off", "d-off")
	off.Enabled = false
	for _, s := range []Schedule{own, tagged, other, off} {
		if err := db.CreateSchedule(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	names := func(ss []Schedule) []string {
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out
	}
	for host, want := range map[string][]string{"h1": {"a-own", "b-tagged"}, "h2": {"b-tagged"}, "h3": {"c-other"}} {
		got, err := db.HostSchedules(ctx, host)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names(got), want) {
			t.Errorf("HostSchedules(%s) = %v, want %v", host, names(got), want)
		}
	}
	all, err := db.ListSchedules(ctx, ScheduleFilter{HostID: "h1", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(all), []string{"a-own", "b-tagged", "d-off"}) {
		t.Errorf("ListSchedules(h1) = %v: the disabled schedule is listed too", names(all))
	}
	page, err := db.ListSchedules(ctx, ScheduleFilter{After: "b-tagged", Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(page), []string{"c-other"}) {
		t.Errorf("page after b-tagged = %v", names(page))
	}
	for _, tc := range []struct {
		sched, host string
		ok          bool
	}{{"own", "h1", true}, {"tagged", "h2", true}, {"tagged", "h3", false}, {"other", "h1", false}, {"missing", "h1", false}} {
		_, err := db.ScheduleForHost(ctx, tc.sched, tc.host)
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, ErrNotFound)) {
			t.Errorf("ScheduleForHost(%s, %s) = %v, want ok=%v", tc.sched, tc.host, err, tc.ok)
		}
	}
	hosts, err := db.ScheduleHosts(ctx, tagged)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hosts, []string{"h1", "h2"}) {
		t.Errorf("ScheduleHosts(tagged) = %v", hosts)
	}
	if err := db.RevokeHost(ctx, "h2", t0); err != nil {
		t.Fatal(err)
	}
	if hosts, _ = db.ScheduleHosts(ctx, tagged); !slices.Equal(hosts, []string{"h1"}) {
		t.Errorf("ScheduleHosts(tagged) after revoking h2 = %v", hosts)
	}

	// A repository changed after a time names the hosts whose schedules
	// use it.
	ids, newest, err := db.ScheduleHostsOfRepositoriesUpdatedAfter(ctx, t0)
	if err != nil || len(ids) != 0 || !newest.Equal(t0) {
		t.Fatalf("nothing changed after t0: %v %v %v", ids, newest, err)
	}
	if ids, _, _ = db.ScheduleHostsOfRepositoriesUpdatedAfter(ctx, t0.Add(-time.Hour)); len(ids) != 0 {
		t.Fatalf("a repository created (not changed) after the time names hosts %v", ids)
	}
	if _, err := db.w.Exec(`UPDATE repositories SET updated_at = ? WHERE id = 'r1'`, ms(t0.Add(time.Minute))); err != nil {
		t.Fatal(err)
	}
	ids, newest, err = db.ScheduleHostsOfRepositoriesUpdatedAfter(ctx, t0)
	if err != nil || !slices.Equal(ids, []string{"h1", "h3"}) || !newest.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after r1 changed: %v %v %v; want h1 and h3 (h2 is revoked)", ids, newest, err)
	}
}

func TestScheduleRuns(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addHost(t, db, "h2")
	addRepository(t, db, "r1")
	s := testSchedule("s1", "nightly")
	s.HostID, s.HostTag = "", "db"
	if err := db.CreateSchedule(ctx, s); err != nil {
		t.Fatal(err)
	}
	runs, err := db.ScheduleRunsOf(ctx, s, "")
	if err != nil || runs.Last != nil || runs.LastSuccessAt != nil {
		t.Fatalf("runs before any = %+v %v", runs, err)
	}
	code := 0
	for i, j := range []struct {
		id, host, kind, status string
	}{
		{"j1", "h1", "backup", JobSucceeded},
		{"j2", "h1", "forget", JobSucceeded},
		{"j3", "h1", "backup", JobSkipped},
		{"j4", "h2", "backup", JobFailed},
	} {
		at := t0.Add(time.Duration(i) * time.Minute)
		if err := db.CreateAgentJob(ctx, Job{ID: j.id, HostID: j.host, Kind: j.kind, Status: JobRunning, ScheduleID: "s1", CreatedAt: at, StartedAt: &at}); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJob(ctx, j.id, JobEnd{Status: j.status, ExitCode: &code, At: at.Add(30 * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	runs, err = db.ScheduleRunsOf(ctx, s, "h1")
	if err != nil {
		t.Fatal(err)
	}
	if runs.Last == nil || runs.Last.ID != "j3" || runs.LastSuccessAt == nil || !runs.LastSuccessAt.Equal(t0.Add(30*time.Second)) {
		t.Fatalf("runs on h1 = last %+v, success %v; want j3 (a forget is not a run) and j1's end", runs.Last, runs.LastSuccessAt)
	}
	runs, err = db.ScheduleRunsOf(ctx, s, "")
	if err != nil || runs.Last == nil || runs.Last.ID != "j4" {
		t.Fatalf("runs on every host = %+v %v; want j4", runs.Last, err)
	}
}
