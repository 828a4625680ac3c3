package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// at is t0 plus n minutes.
func at(n int) *time.Time {
	v := t0.Add(time.Duration(n) * time.Minute)
	return &v
}

// listFixture is six hosts with backups and snapshots:
//
//	h1 web-1 online  seen +3m  backups failed +5m, succeeded +10m (r1, 12345 B), then a check and a running backup; 3 snapshots
//	h2 web-2 offline seen +1m  backup failed +1m (r2, size unknown); 1 snapshot
//	h3 db-1  revoked seen +2m  nothing
//	h4 web-3 offline never     nothing
//	h5 app   online  seen +3m  backup cancelled at +2m before it started
//	h6 web-1 offline never     (h1's machine enrolled again) nothing
func listFixture(t *testing.T) *DB {
	t.Helper()
	db := openTest(t)
	ctx := context.Background()
	for _, h := range []struct {
		id, name, status string
		seen             *time.Time
	}{
		{"h1", "web-1", HostOnline, at(3)},
		{"h2", "web-2", HostOffline, at(1)},
		{"h3", "db-1", HostRevoked, at(2)},
		{"h4", "web-3", HostOffline, nil},
		{"h5", "app", HostOnline, at(3)},
		{"h6", "web-1", HostOffline, nil},
	} {
		if _, err := db.w.Exec(`INSERT INTO hosts (id, name, status, last_seen_at, enrolled_at, created_at, updated_at)
			VALUES (?,?,?,?,?,?,?)`, h.id, h.name, h.status, nullMS(h.seen), ms(t0), ms(t0), ms(t0)); err != nil {
			t.Fatal(err)
		}
	}
	addRepository(t, db, "r1")
	addRepository(t, db, "r2")
	if _, err := db.w.Exec(`UPDATE repositories SET total_size = 12345 WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	job := func(id, host, kind, repo, status string, started, finished *time.Time) {
		t.Helper()
		if err := db.CreateJob(ctx, Job{ID: id, HostID: host, Kind: kind, Status: JobQueued, RepositoryID: repo, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if started != nil {
			if err := db.StartJob(ctx, id, *started); err != nil {
				t.Fatal(err)
			}
		}
		if finished != nil {
			if err := db.FinishJob(ctx, id, JobEnd{Status: status, At: *finished}); err != nil {
				t.Fatal(err)
			}
		}
	}
	job("b0", "h1", "backup", "r1", JobFailed, at(4), at(5))
	job("b1", "h1", "backup", "r1", JobSucceeded, at(9), at(10))
	job("c1", "h1", "check", "r1", JobSucceeded, at(19), at(20))
	job("b2", "h1", "backup", "r1", "", at(30), nil)
	job("b3", "h2", "backup", "r2", JobFailed, at(0), at(1))
	job("b4", "h5", "backup", "r1", JobCancelled, nil, at(2))
	var snaps []Snapshot
	for i, s := range []struct{ repo, host string }{{"r1", "h1"}, {"r1", "h1"}, {"r2", "h1"}, {"r2", "h2"}} {
		snaps = append(snaps, Snapshot{RepositoryID: s.repo, ID: snapID(byte('a' + i)), HostID: s.host, Time: *at(i)})
	}
	if err := db.UpsertSnapshots(ctx, "", snaps, t0); err != nil {
		t.Fatal(err)
	}
	return db
}

func hostIDs(hosts []Host) string {
	ids := make([]string, len(hosts))
	for i, h := range hosts {
		ids[i] = h.ID
	}
	return strings.Join(ids, " ")
}

func TestListHostsOrders(t *testing.T) {
	t.Parallel()
	db := listFixture(t)
	ctx := context.Background()
	tests := map[string]struct {
		sort string
		desc bool
		want string
	}{
		"default":          {"", false, "h5 h3 h1 h6 h2 h4"},
		"name asc":         {HostSortName, false, "h5 h3 h1 h6 h2 h4"},
		"name desc":        {HostSortName, true, "h4 h2 h6 h1 h3 h5"},
		"status asc":       {HostSortStatus, false, "h5 h1 h6 h2 h4 h3"},
		"status desc":      {HostSortStatus, true, "h3 h6 h2 h4 h5 h1"},
		"last seen asc":    {HostSortLastSeen, false, "h6 h4 h2 h3 h5 h1"},
		"last seen desc":   {HostSortLastSeen, true, "h5 h1 h3 h2 h6 h4"},
		"last backup asc":  {HostSortLastBackup, false, "h3 h6 h4 h2 h5 h1"},
		"last backup desc": {HostSortLastBackup, true, "h1 h5 h2 h3 h6 h4"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			all, err := db.ListHosts(ctx, HostFilter{Sort: tc.sort, Desc: tc.desc, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			if got := hostIDs(all); got != tc.want {
				t.Fatalf("order %q, want %q", got, tc.want)
			}
			// Every page size walks the same order, by cursor and by offset.
			for _, size := range []int{1, 2, 4} {
				var byCursor, byOffset []Host
				for after := ""; ; {
					page, err := db.ListHosts(ctx, HostFilter{Sort: tc.sort, Desc: tc.desc, After: after, Limit: size})
					if err != nil {
						t.Fatal(err)
					}
					byCursor = append(byCursor, page...)
					if len(page) < size {
						break
					}
					after = page[len(page)-1].ID
				}
				for off := 0; ; off += size {
					page, err := db.ListHosts(ctx, HostFilter{Sort: tc.sort, Desc: tc.desc, Offset: off, Limit: size})
					if err != nil {
						t.Fatal(err)
					}
					byOffset = append(byOffset, page...)
					if len(page) < size {
						break
					}
				}
				if got := hostIDs(byCursor); got != tc.want {
					t.Errorf("pages of %d by cursor: %q", size, got)
				}
				if got := hostIDs(byOffset); got != tc.want {
					t.Errorf("pages of %d by offset: %q", size, got)
				}
			}
		})
	}
}

func TestListHostsFiltersAndCounts(t *testing.T) {
	t.Parallel()
	db := listFixture(t)
	ctx := context.Background()
	tests := map[string]struct {
		f    HostFilter
		want string
	}{
		"everything":           {HostFilter{}, "h5 h3 h1 h6 h2 h4"},
		"search any case":      {HostFilter{Search: "WEB"}, "h1 h6 h2 h4"},
		"search middle":        {HostFilter{Search: "b-"}, "h3 h1 h6 h2 h4"},
		"search with percent":  {HostFilter{Search: "%"}, ""},
		"search and status":    {HostFilter{Search: "web", Status: HostOffline}, "h6 h2 h4"},
		"exact name":           {HostFilter{Name: "web-1"}, "h1 h6"},
		"exact name, one case": {HostFilter{Name: "WEB-1"}, ""},
		"status":               {HostFilter{Status: HostOnline}, "h5 h1"},
		"status sorted desc":   {HostFilter{Status: HostOffline, Sort: HostSortLastSeen, Desc: true}, "h2 h6 h4"},
		"offset past the end":  {HostFilter{Offset: 6}, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := tc.f
			f.Limit = 100
			hosts, err := db.ListHosts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			if got := hostIDs(hosts); got != tc.want {
				t.Errorf("hosts %q, want %q", got, tc.want)
			}
			n, err := db.CountHosts(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			want := len(strings.Fields(tc.want))
			if f.Offset > 0 {
				want = 6
			}
			if n != want {
				t.Errorf("count %d, want %d", n, want)
			}
		})
	}
	if _, err := db.ListHosts(ctx, HostFilter{Sort: "size", Limit: 1}); err == nil {
		t.Error("an unknown order is not refused")
	}
	if hosts, err := db.ListHosts(ctx, HostFilter{After: "no-such-host", Limit: 10}); err != nil || len(hosts) != 0 {
		t.Errorf("after an unknown cursor: %d hosts, %v", len(hosts), err)
	}
}

func TestHostSummaries(t *testing.T) {
	t.Parallel()
	db := listFixture(t)
	ctx := context.Background()
	hosts, err := db.ListHosts(ctx, HostFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range hosts {
		if h.Summary == nil {
			t.Fatalf("host %s has no summary", h.ID)
		}
		got[h.ID] = summaryText(*h.Summary)
	}
	want := map[string]string{
		"h1": "b1 succeeded r1 +10m 1m0s size 12345, 3 snapshots",
		"h2": "b3 failed r2 +1m 1m0s, 1 snapshots",
		"h3": "no backup, 0 snapshots",
		"h4": "no backup, 0 snapshots",
		"h5": "b4 cancelled r1 +2m 0s size 12345, 0 snapshots",
		"h6": "no backup, 0 snapshots",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %q, want %q", id, got[id], w)
		}
	}
	one, err := db.GetHostWithSummary(ctx, "h1")
	if err != nil || one.Name != "web-1" || one.Summary == nil || summaryText(*one.Summary) != want["h1"] {
		t.Errorf("GetHostWithSummary(h1) = %+v, %v", one, err)
	}
	if _, err := db.GetHostWithSummary(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetHostWithSummary(nope): %v, want ErrNotFound", err)
	}
	// A removed repository leaves the backup without a repository or size.
	if _, err := db.w.Exec(`DELETE FROM snapshots WHERE repository_id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec(`DELETE FROM repositories WHERE id = 'r1'`); err != nil {
		t.Fatal(err)
	}
	one, err = db.GetHostWithSummary(ctx, "h1")
	if err != nil || summaryText(*one.Summary) != "b1 succeeded  +10m 1m0s, 1 snapshots" {
		t.Errorf("after the repository is removed: %q, %v", summaryText(*one.Summary), err)
	}
}

func summaryText(s HostSummary) string {
	out := "no backup"
	if b := s.LastBackup; b != nil {
		out = fmt.Sprintf("%s %s %s +%s %s", b.JobID, b.Status, b.RepositoryID, strings.TrimSuffix(b.FinishedAt.Sub(t0).String(), "0s"), b.Duration())
	}
	if s.RepositorySize != nil {
		out += fmt.Sprintf(" size %d", *s.RepositorySize)
	}
	return fmt.Sprintf("%s, %d snapshots", out, s.SnapshotCount)
}

// TestHostListUsesIndexes checks the plan: the default order walks
// hosts_name_id without sorting, and each page row's summary is an index seek into jobs
// and an index count of snapshots, so a page costs the same at 2,000 hosts
// as at 20.
func TestHostListUsesIndexes(t *testing.T) {
	t.Parallel()
	db := listFixture(t)
	q, args, err := hostListQuery(HostFilter{Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.r.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	text := strings.Join(plan, "\n")
	for _, want := range []string{"hosts_name_id", "jobs_host_kind_finished", "snapshots_host_time"} {
		if !strings.Contains(text, want) {
			t.Errorf("the plan does not use %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "SCAN j") || strings.Contains(text, "SCAN s") || strings.Contains(text, "USE TEMP B-TREE FOR ORDER BY") {
		t.Errorf("the plan scans jobs or snapshots, or sorts the hosts:\n%s", text)
	}
}
