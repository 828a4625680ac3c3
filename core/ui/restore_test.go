package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// restoreWizardEnv is a UI with one host, one repository and one snapshot
// in the store; the restore itself runs in the browser test
// (browser_restore_test.go) with a real agent.
func restoreWizardEnv(t *testing.T) (*env, *http.Client, string) {
	t.Helper()
	e := newEnv(t)
	admin := e.setup()
	insertHost(t, e.db, store.Host{ID: "h1", Name: "web1", Hostname: "web1"})
	ctx := context.Background()
	repo := store.Repository{ID: "r1", Name: "main", URL: "/srv/restic", CreatedAt: time.Now(), UpdatedAt: time.Now()}
	if err := e.db.CreateRepository(ctx, repo); err != nil {
		t.Fatal(err)
	}
	snap := strings.Repeat("c0", 32)
	if err := e.db.UpsertSnapshots(ctx, "", []store.Snapshot{{
		RepositoryID: "r1", ID: snap, ShortID: snap[:8], HostID: "h1", Time: time.Now(), Paths: []string{"/srv"},
	}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	return e, admin, snap
}

func TestRestoreWizardSteps(t *testing.T) {
	t.Parallel()
	e, admin, snap := restoreWizardEnv(t)

	p := e.get(admin, "/hosts/h1/restore")
	if p.status != http.StatusOK || !p.has(`id="restore-pick-`+snap[:8]+`"`) {
		t.Fatalf("snapshot step: %d, want the snapshot to pick\n%s", p.status, p.body)
	}
	// The snapshot browser links with include=…; the form is pre-filled.
	p = e.get(admin, "/hosts/h1/restore?snapshot="+snap+"&include=/srv/a.txt&include=/srv/b")
	if !p.has("/srv/a.txt\n/srv/b</textarea>") {
		t.Fatalf("details step does not pre-fill the includes:\n%s", p.body)
	}
	// Another directory without one: the page names the field and stays.
	p = e.get(admin, "/hosts/h1/restore?"+url.Values{"snapshot": {snap}, "step": {"confirm"}, "target_mode": {"other"}}.Encode())
	if !p.has(`id="restore-problem"`) || !p.has("target:") || p.has(`id="restore-start"`) {
		t.Fatalf("confirm without a target directory:\n%s", p.body)
	}
	q := url.Values{"snapshot": {snap}, "step": {"confirm"}, "includes": {"/srv/a.txt"}, "target_mode": {"other"}, "target": {"/tmp/r"}, "strip_components": {"1"}, "overwrite": {"never"}}
	p = e.get(admin, "/hosts/h1/restore?"+q.Encode())
	if !p.has(`id="restore-start"`) || !p.has("Skip existing files") || !p.has("/tmp/r (dropping the first 1 path components)") {
		t.Fatalf("confirm step:\n%s", p.body)
	}

	// A refused restore goes back to the filled-in form with the API's
	// reason; an accepted one opens the job page.
	form := url.Values{"csrf_token": {p.csrf(t)}, "snapshot": {snap}, "include": {"/etc/passwd"}, "target_mode": {"original"}}
	res := e.post(admin, "/hosts/h1/restore", form)
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.location, "/hosts/h1/restore?") || !strings.Contains(res.location, "include=%2Fetc%2Fpasswd") {
		t.Fatalf("refused restore: %d %q", res.status, res.location)
	}
	if back := e.get(admin, res.location); !back.has("includes: ") || !back.has("is not inside the snapshot") {
		t.Fatalf("the form does not say why:\n%s", back.body)
	}
	form.Set("include", "/srv/a.txt")
	res = e.post(admin, "/hosts/h1/restore", form)
	if res.status != http.StatusSeeOther || !strings.HasPrefix(res.location, "/jobs/") {
		t.Fatalf("restore: %d %q, want the job page", res.status, res.location)
	}
	jobs, err := e.db.ListJobs(context.Background(), store.JobFilter{Limit: 5})
	if err != nil || len(jobs) != 1 || jobs[0].Kind != "restore" || !strings.Contains(string(jobs[0].Params), `"includes":["/srv/a.txt"]`) {
		t.Fatalf("jobs %+v (%v): want one restore of /srv/a.txt", jobs, err)
	}
}

func TestRestoreWizardViewerSeesNoForm(t *testing.T) {
	t.Parallel()
	e, admin, snap := restoreWizardEnv(t)
	viewer := e.addUser(admin, "victor", "viewer", "victor's long password")
	p := e.get(viewer, "/hosts/h1/restore?snapshot="+snap)
	if p.status != http.StatusOK || !p.has(`id="restore-forbidden"`) || p.has(`id="restore-form"`) {
		t.Fatalf("viewer: %d\n%s", p.status, p.body)
	}
	res := e.post(viewer, "/hosts/h1/restore", url.Values{"csrf_token": {p.csrf(t)}, "snapshot": {snap}})
	if back := e.get(viewer, res.location); !back.has("operator") {
		t.Fatalf("viewer post: %d %q\n%s", res.status, res.location, back.body)
	}
	if jobs, _ := e.db.ListJobs(context.Background(), store.JobFilter{Limit: 5}); len(jobs) != 0 {
		t.Fatalf("a viewer's post made %d jobs", len(jobs))
	}
}
