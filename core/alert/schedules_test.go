package alert

import (
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/alert/rule"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

func (h *harness) addSchedule(name, hostID, repoID, cron string, every time.Duration) {
	h.t.Helper()
	now := h.clock.Now()
	err := h.db.CreateSchedule(h.ctx, store.Schedule{
		ID: auth.NewID(), Name: name, HostID: hostID, RepositoryID: repoID, Kind: "backup", Paths: []string{"/srv"},
		Cron: cron, EverySeconds: int64(every / time.Second), Enabled: true, ManagedBy: "user", CreatedAt: now, UpdatedAt: now,
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// backup_stale with intervals measures each host and repository by its
// backup schedule: an interval or the gap between cron firings; a pair
// without a schedule falls back to max_age.
func TestBackupStaleRelativeToTheSchedule(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	web := h.addHost("web-1")
	db := h.addHost("db-1")
	main := h.addRepo("main")
	h.addSchedule("web-often", web, main, "", 10*time.Minute)
	h.addSchedule("db-daily", db, main, "30 2 * * *", 0)
	h.addRule(rule.Input{Name: "missed", On: "backup_stale", Channels: []string{"ops"}, Intervals: 3, MaxAge: "7d"})

	h.endJob(web, main, "backup", store.JobSucceeded, "")
	h.endJob(db, main, "backup", store.JobSucceeded, "")
	h.clock.Advance(29 * time.Minute)
	h.e.evaluateState(h.ctx)
	h.quiet()
	h.clock.Advance(time.Minute)
	h.e.evaluateState(h.ctx)
	h.await(1)
	n := h.sentTo("ops")[0]
	if n.Title != "last backup of web-1 to main is 30m0s old" {
		t.Fatalf("notification = %+v", n)
	}
	requireContains(t, "body", n.Body, "the rule allows 30m", "3 × the interval of schedule web-often (10m0s)")

	// db-1's daily cron allows three days; after them it fires too.
	h.clock.Advance(72*time.Hour - 31*time.Minute)
	h.e.evaluateState(h.ctx)
	if as := h.alerts(store.AlertFilter{HostID: db}); len(as) != 0 {
		t.Fatalf("db-1 fired before three days: %+v", as)
	}
	h.clock.Advance(time.Minute)
	h.e.evaluateState(h.ctx)
	h.await(2) // db-1's alert, and a reminder of web-1's (its repeat interval passed)
	if a := h.onlyAlert(store.AlertFilter{HostID: db}); a.Title != "last backup of db-1 to main is 3d old" {
		t.Fatalf("db-1 alert = %+v", a)
	}

	// A successful backup resolves it.
	h.endJob(web, main, "backup", store.JobSucceeded, "")
	ds := h.await(1)
	if ds[0].Event != "alert_resolved" {
		t.Fatalf("deliveries = %+v", ds)
	}
	if a := h.onlyAlert(store.AlertFilter{HostID: web}); a.Status != store.AlertResolved {
		t.Fatalf("web-1 alert = %+v", a)
	}
}

func TestBackupStaleIntervalsValidation(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   rule.Input
		want string
	}{
		"neither":       {rule.Input{Name: "s", On: "backup_stale", Channels: []string{"ops"}}, "max_age: is required for backup_stale rules without intervals"},
		"out of range":  {rule.Input{Name: "s", On: "backup_stale", Channels: []string{"ops"}, Intervals: 1001}, "intervals: 1001 is out of range"},
		"other rule":    {rule.Input{Name: "s", On: "job_failed", Channels: []string{"ops"}, Intervals: 2}, "intervals: does not apply to job_failed rules"},
		"negative zero": {rule.Input{Name: "s", On: "backup_stale", Channels: []string{"ops"}, Intervals: -1}, "intervals: -1 is out of range"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := rule.Parse(tc.in)
			if err == nil || !contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want %q", err, tc.want)
			}
		})
	}
	s, err := rule.Parse(rule.Input{Name: "s", On: "backup_stale", Channels: []string{"ops"}, Intervals: 2})
	if err != nil || s.Intervals != 2 {
		t.Fatalf("Parse = %+v, %v", s, err)
	}
	back, err := FromStore(ToStore(s, "id", t0))
	if err != nil || back.Intervals != 2 || back.MaxAge != 0 {
		t.Fatalf("round trip = %+v, %v", back, err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
