package store

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func testRule(id, name string) AlertRule {
	return AlertRule{
		ID: id, Name: name, Event: "job_failed", Params: json.RawMessage(`{"kinds":["backup"]}`), MinSeverity: "warning",
		Channels: []string{"ops"}, Repeat: time.Hour, Enabled: true, CreatedAt: t0, UpdatedAt: t0,
	}
}

func TestAlertRules(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateAlertRule(ctx, testRule("r1", "backup-failed")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAlertRule(ctx, testRule("r2", "backup-failed")); !errors.Is(err, ErrConflict) {
		t.Fatalf("second rule of the same name: %v, want ErrConflict", err)
	}
	for _, ref := range []string{"r1", "backup-failed"} {
		r, err := db.GetAlertRule(ctx, ref)
		if err != nil || r.ID != "r1" || r.Repeat != time.Hour || !slices.Equal(r.Channels, []string{"ops"}) ||
			string(r.Params) != `{"kinds":["backup"]}` || r.ManagedBy != "user" || !r.Enabled {
			t.Fatalf("GetAlertRule(%q) = %+v, %v", ref, r, err)
		}
	}
	if _, err := db.GetAlertRule(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown rule: %v", err)
	}
	r := testRule("r1", "renamed")
	r.Enabled, r.Repeat = false, 5*time.Minute
	if err := db.UpdateAlertRule(ctx, r); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAlertRule(ctx, testRule("r3", "another")); err != nil {
		t.Fatal(err)
	}
	if err := db.UpdateAlertRule(ctx, testRule("r3", "renamed")); !errors.Is(err, ErrConflict) {
		t.Fatalf("renaming onto a taken name: %v", err)
	}
	enabled, err := db.EnabledAlertRules(ctx)
	if err != nil || len(enabled) != 1 || enabled[0].Name != "another" {
		t.Fatalf("EnabledAlertRules = %+v, %v", enabled, err)
	}
	page, err := db.ListAlertRules(ctx, "another", 10)
	if err != nil || len(page) != 1 || page[0].Name != "renamed" || page[0].Repeat != 5*time.Minute {
		t.Fatalf("ListAlertRules after \"another\" = %+v, %v", page, err)
	}
}

func TestDeleteAlertRuleResolvesItsAlerts(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateAlertRule(ctx, testRule("r1", "r")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAlert(ctx, testAlert("a1", "r1", "fp", t0)); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteAlertRule(ctx, "r1", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	a, err := db.GetAlert(ctx, "a1")
	if err != nil || a.Status != AlertResolved || a.ResolvedBy != "rule deleted" || a.RuleID != "" {
		t.Fatalf("alert after its rule was deleted = %+v, %v", a, err)
	}
	if err := db.DeleteAlertRule(ctx, "r1", t0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}

func TestSyncConfigAlertRules(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	if err := db.CreateAlertRule(ctx, testRule("u1", "by-hand")); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAlertRule(ctx, testRule("u2", "mine")); err != nil {
		t.Fatal(err)
	}
	declared := []AlertRule{testRule("c1", "from-file"), testRule("c2", "by-hand")}
	res, err := db.SyncConfigAlertRules(ctx, declared, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Created, []string{"from-file"}) || !slices.Equal(res.TakenOver, []string{"by-hand"}) || len(res.Deleted) != 0 {
		t.Fatalf("first sync = %+v", res)
	}
	if r, _ := db.GetAlertRule(ctx, "by-hand"); r.ID != "u1" || r.ManagedBy != ManagedByConfig {
		t.Fatalf("taken-over rule = %+v", r)
	}
	// The file drops "by-hand" and changes "from-file".
	changed := testRule("c9", "from-file")
	changed.Event = "host_offline"
	res, err = db.SyncConfigAlertRules(ctx, []AlertRule{changed}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Updated, []string{"from-file"}) || !slices.Equal(res.Deleted, []string{"by-hand"}) || len(res.Created) != 0 {
		t.Fatalf("second sync = %+v", res)
	}
	r, err := db.GetAlertRule(ctx, "from-file")
	if err != nil || r.ID != "c1" || r.Event != "host_offline" || !r.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("updated rule = %+v, %v", r, err)
	}
	if r, err := db.GetAlertRule(ctx, "mine"); err != nil || r.ManagedBy != "user" {
		t.Fatalf("a rule made by hand was touched: %+v, %v", r, err)
	}
}

func testAlert(id, ruleID, fp string, at time.Time) Alert {
	return Alert{
		ID: id, RuleID: ruleID, Kind: "job_failed", Severity: "critical", Status: AlertOpen, Fingerprint: fp,
		Title: "backup of h1 failed", CreatedAt: at, UpdatedAt: at,
	}
}

func TestAlertLifecycle(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	if err := db.CreateAlertRule(ctx, testRule("r1", "r")); err != nil {
		t.Fatal(err)
	}
	a := testAlert("a1", "r1", "fp1", t0)
	a.HostID = "h1"
	a.LastNotifiedAt = &t0
	if err := db.CreateAlert(ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := db.UnresolvedAlert(ctx, "r1", "fp1")
	if err != nil || got.ID != "a1" || got.RuleName != "r" || got.HostName != "h1" || got.Occurrences != 1 || !got.LastNotifiedAt.Equal(t0) {
		t.Fatalf("UnresolvedAlert = %+v, %v", got, err)
	}
	later := t0.Add(time.Minute)
	if err := db.RecordAlertOccurrence(ctx, "a1", AlertOccurrence{Severity: "critical", Title: "t2", Count: true, JobID: "", Now: later}); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.GetAlert(ctx, "a1"); got.Occurrences != 2 || got.Title != "t2" || !got.LastNotifiedAt.Equal(t0) {
		t.Fatalf("after an occurrence: %+v", got)
	}
	if err := db.AcknowledgeAlert(ctx, "a1", "alice", later); err != nil {
		t.Fatal(err)
	}
	if err := db.AcknowledgeAlert(ctx, "a1", "bob", later); !errors.Is(err, ErrAlertState) {
		t.Fatalf("acknowledging twice: %v", err)
	}
	if err := db.ResolveAlert(ctx, "a1", "alice", later); err != nil {
		t.Fatal(err)
	}
	if err := db.ResolveAlert(ctx, "a1", ResolvedBySystem, later); !errors.Is(err, ErrAlertState) {
		t.Fatalf("resolving twice: %v", err)
	}
	if err := db.RecordAlertOccurrence(ctx, "a1", AlertOccurrence{Severity: "critical", Now: later}); !errors.Is(err, ErrAlertState) {
		t.Fatalf("an occurrence of a resolved alert: %v", err)
	}
	if err := db.ResolveAlert(ctx, "nope", "alice", later); !errors.Is(err, ErrNotFound) {
		t.Fatalf("resolving an unknown alert: %v", err)
	}
	got, _ = db.GetAlert(ctx, "a1")
	if got.Status != AlertResolved || got.AcknowledgedBy != "alice" || got.ResolvedBy != "alice" || !got.ResolvedAt.Equal(later) {
		t.Fatalf("resolved alert = %+v", got)
	}
	if _, err := db.UnresolvedAlert(ctx, "r1", "fp1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("UnresolvedAlert after resolution: %v", err)
	}
	if l, err := db.LatestAlert(ctx, "r1", "fp1"); err != nil || l.ID != "a1" {
		t.Fatalf("LatestAlert = %+v, %v", l, err)
	}
}

func TestListAlertsFiltersAndPages(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	addHost(t, db, "h2")
	if err := db.CreateAlertRule(ctx, testRule("r1", "r")); err != nil {
		t.Fatal(err)
	}
	for i, host := range []string{"h1", "h2", "h1", "h1"} {
		a := testAlert(string(rune('a'+i)), "r1", "fp"+string(rune('a'+i)), t0.Add(time.Duration(i)*time.Minute))
		a.HostID = host
		if err := db.CreateAlert(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.ResolveAlert(ctx, "a", ResolvedBySystem, t0); err != nil {
		t.Fatal(err)
	}
	if err := db.AcknowledgeAlert(ctx, "c", "alice", t0); err != nil {
		t.Fatal(err)
	}
	ids := func(f AlertFilter) []string {
		t.Helper()
		f.Limit = max(f.Limit, 10)
		as, err := db.ListAlerts(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	for name, tt := range map[string]struct {
		f    AlertFilter
		want []string
	}{
		"all newest first": {AlertFilter{}, []string{"d", "c", "b", "a"}},
		"active":           {AlertFilter{Status: AlertActive}, []string{"d", "c", "b"}},
		"open":             {AlertFilter{Status: AlertOpen}, []string{"d", "b"}},
		"acknowledged":     {AlertFilter{Status: AlertAcknowledged}, []string{"c"}},
		"resolved":         {AlertFilter{Status: AlertResolved}, []string{"a"}},
		"host":             {AlertFilter{HostID: "h1"}, []string{"d", "c", "a"}},
		"host and status":  {AlertFilter{HostID: "h1", Status: AlertActive}, []string{"d", "c"}},
		"rule":             {AlertFilter{RuleID: "r1", Before: "c"}, []string{"b", "a"}},
		"other rule":       {AlertFilter{RuleID: "r9"}, nil},
	} {
		if got := ids(tt.f); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %v, want %v", name, got, tt.want)
		}
	}
}

func TestBackupFreshnesses(t *testing.T) {
	t.Parallel()
	db := openTest(t)
	ctx := context.Background()
	addHost(t, db, "h1")
	if _, err := db.w.Exec(`INSERT INTO repositories (id, name, url, created_at, updated_at) VALUES ('p1','main','/r',0,0), ('p2','off','/o',0,0)`); err != nil {
		t.Fatal(err)
	}
	for i, j := range []struct {
		repo, status string
		end          time.Duration
	}{{"p1", JobSucceeded, time.Hour}, {"p1", JobSucceeded, 2 * time.Hour}, {"p1", JobFailed, 3 * time.Hour}, {"p2", JobFailed, time.Hour}} {
		id := string(rune('a' + i))
		if err := db.CreateJob(ctx, Job{ID: id, HostID: "h1", Kind: "backup", Status: JobQueued, RepositoryID: j.repo, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
		if err := db.FinishJob(ctx, id, JobEnd{Status: j.status, At: t0.Add(j.end)}); err != nil {
			t.Fatal(err)
		}
	}
	fs, err := db.BackupFreshnesses(ctx)
	if err != nil || len(fs) != 2 {
		t.Fatalf("BackupFreshnesses = %+v, %v", fs, err)
	}
	byRepo := map[string]BackupFreshness{}
	for _, f := range fs {
		byRepo[f.RepositoryID] = f
	}
	if l := byRepo["p1"].LastSuccess; l == nil || !l.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("p1's last success = %v, want the second backup's end", l)
	}
	if l := byRepo["p2"].LastSuccess; l != nil {
		t.Errorf("p2 never succeeded, LastSuccess = %v", l)
	}
	names, err := db.RepositoryNames(ctx)
	if err != nil || names["p1"] != "main" || names["p2"] != "off" {
		t.Fatalf("RepositoryNames = %v, %v", names, err)
	}
}
