package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestRepositoryStatsPanelAndRefresh(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	insertHost(t, e.db, store.Host{ID: "h2", Name: "web2", Status: store.HostOnline})
	// web1 uses main through a schedule, so it is the host offered first.
	e.follow(admin, e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(nil)))

	p := e.get(admin, "/repositories")
	for _, want := range []string{
		`data-stats="main"`, `data-field="total-size" title="What restoring every snapshot would write">—<`,
		`data-field="ratio">—<`, `data-field="stats-updated">not measured yet<`, `data-field="stats-hint"`, `data-action="refresh-stats"`,
	} {
		if !p.has(want) {
			t.Errorf("repository page lacks %q", want)
		}
	}
	m := regexp.MustCompile(`<select id="stats-host-[^"]+" name="host"[^>]*>(.*?)</select>`).FindStringSubmatch(p.body)
	if m == nil || !strings.Contains(m[1], `value="h1"`) || strings.Contains(m[1], `value="h2"`) {
		t.Fatalf("hosts offered for the refresh: %v", m)
	}
	action := regexp.MustCompile(`action="(/repositories/[^/"]+/stats)"`).FindStringSubmatch(p.body)
	p = e.form(admin, "/repositories", action[1], url.Values{"host": {"h1"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/jobs/") {
		t.Fatalf("refresh: %d %q\n%s", p.status, p.location, p.body)
	}
	j, err := e.db.GetJob(context.Background(), strings.TrimPrefix(p.location, "/jobs/"))
	var params struct {
		Extra struct {
			Mode string `json:"mode"`
		} `json:"extra"`
	}
	if err != nil || j.Kind != "stats" || j.HostID != "h1" || json.Unmarshal(j.Params, &params) != nil || params.Extra.Mode != "repository" {
		t.Fatalf("stats job %+v %v", j, err)
	}
	// No host chosen: the form says which field.
	p = e.follow(admin, e.form(admin, "/repositories", action[1], url.Values{}))
	if !p.has("Host: choose the host") {
		t.Errorf("refresh without a host:\n%s", p.body)
	}
	// A viewer sees the panel but no refresh.
	viewer := e.userClient(admin, "vic", "viewer")
	if p := e.get(viewer, "/repositories"); !p.has(`data-stats="main"`) || p.has(`data-action="refresh-stats"`) {
		t.Errorf("viewer's repository page:\n%s", p.body)
	}
}

func TestRepositoryStatsFigures(t *testing.T) {
	t.Parallel()
	i := func(n int64) *int64 { return &n }
	yes, no := true, false
	at := time.Now()
	for name, tc := range map[string]struct {
		s                       repositoryStats
		total, raw, ratio, lock string
		measured                bool
	}{
		"not measured": {repositoryStats{}, "—", "—", "", "", false},
		"measured": {
			repositoryStats{TotalSize: i(12594304), RawSize: i(2099549), Locked: &no, StatsUpdatedAt: &at},
			"12.0 MiB", "2.0 MiB", "6.0×", "not locked", true,
		},
		"locked, empty": {repositoryStats{TotalSize: i(0), RawSize: i(0), Locked: &yes}, "0 B", "0 B", "", "locked", true},
	} {
		if got := [...]string{tc.s.TotalText(), tc.s.RawText(), tc.s.Ratio(), tc.s.LockWord()}; got != [...]string{tc.total, tc.raw, tc.ratio, tc.lock} || tc.s.Measured() != tc.measured {
			t.Errorf("%s: %q measured %v", name, got, tc.s.Measured())
		}
	}
}

// The dashboard's and the host page's repository size is the total size a
// stats job recorded for the last backup's repository.
func TestRepositorySizeColumnFromStats(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	ctx := context.Background()
	repo, err := e.db.GetRepository(ctx, "main")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := e.db.CreateJob(ctx, store.Job{ID: "b1", HostID: "h1", Kind: "backup", Status: store.JobQueued, RepositoryID: repo.ID, CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	code := 0
	if err := e.db.FinishJob(ctx, "b1", store.JobEnd{Status: store.JobSucceeded, ExitCode: &code, At: now}); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`data-label="Repository size"[^>]*>([^<]*)<`)
	if m := row.FindStringSubmatch(e.get(admin, "/").body); m == nil || m[1] != "—" {
		t.Fatalf("size before any stats: %v", m)
	}
	total := int64(12594304)
	if err := e.db.RecordRepositoryStats(ctx, repo.ID, store.RepositoryStats{TotalSize: &total}, now); err != nil {
		t.Fatal(err)
	}
	if m := row.FindStringSubmatch(e.get(admin, "/").body); m == nil || m[1] != "12.0 MiB" {
		t.Fatalf("dashboard size after stats: %v", m)
	}
	if p := e.get(admin, "/hosts/h1"); !p.has("<dd>12.0 MiB</dd>") {
		t.Errorf("host page size after stats:\n%s", p.body)
	}
}
