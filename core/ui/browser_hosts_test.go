package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The dashboard and the host page in Chromium with real agents, restic and
// a real repository: a host that enrolls while the dashboard is open shows
// up without a reload; a backup run from the host page's run-now form ends
// on its job page and then in the snapshots and jobs tabs and on the
// dashboard's row; a viewer sees no run-now controls and the API refuses
// the viewer's forged form.

// hostsEval evaluates expr in the page.
func hostsEval[T any](ctx context.Context, t *testing.T, expr string) T {
	t.Helper()
	return get(ctx, t, expr, chromedp.Evaluate[T](expr))
}

// hostsWait polls the page until expr is true.
func hostsWait(ctx context.Context, t *testing.T, timeout time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("main")))
			t.Fatalf("timed out after %s waiting for %s (%s; last error %v); the page says:\n%s", timeout, what, expr, err, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// fitsWidth fails the test when the page scrolls sideways at phone width.
func fitsWidth(ctx context.Context, t *testing.T, page string) {
	t.Helper()
	if w := hostsEval[[]int](ctx, t, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); w[0] > w[1] {
		t.Errorf("%s is %d px wide in a %d px window", page, w[0], w[1])
	}
}

func TestBrowserHostsDashboardAndHostPage(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	alpha := r.startAgent("alpha")
	r.addRepo("main", alpha)
	tree := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(tree, fmt.Sprintf("file-%d.txt", i)), []byte(strings.Repeat("restic-manager ", 1000*(i+1))), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(ctx context.Context, sel string) string {
		return get(ctx, t, "text of "+sel, chromedp.Text(css(sel)))
	}
	r.login(ctx, "admin", r.adminPassword)

	// The dashboard is open when a second agent enrolls and connects.
	do(ctx, t, "dashboard lists alpha",
		chromedp.Navigate(r.base+"/"),
		chromedp.WaitVisible(css(`#hosts tr[data-host-name="alpha"]`)))
	hostsEval[bool](ctx, t, `(window.rmSamePage = true)`)
	beta := r.startAgent("beta")
	hostsWait(ctx, t, 20*time.Second, "beta's row", `!!document.querySelector('#hosts tr[data-host-name="beta"]')`)
	if !hostsEval[bool](ctx, t, `window.rmSamePage === true`) {
		t.Error("the dashboard reloaded to show the new host")
	}
	if row := text(ctx, `#hosts tr[data-host-name="beta"]`); !strings.Contains(row, "online") || !strings.Contains(row, "never") {
		t.Errorf("beta's row: %q", row)
	}
	if got := text(ctx, "#host-count"); got != "Hosts 1–2 of 2" {
		t.Errorf("count %q", got)
	}
	fitsWidth(ctx, t, "the dashboard")

	// The host page.
	do(ctx, t, "open alpha",
		chromedp.Click(css(`#hosts tr[data-host-name="alpha"] a[href^="/hosts/"]`)),
		chromedp.WaitVisible(css("#host-overview")))
	if loc := get(ctx, t, "location", chromedp.Location()); loc != r.base+"/hosts/"+alpha.ID {
		t.Errorf("alpha's link leads to %s", loc)
	}
	overview := strings.ToLower(text(ctx, "#host-overview")) // the labels are upper case by CSS
	for _, want := range []string{"alpha", "online", "restic version", "0.18", "enrolled", "last backup", "never"} {
		if !strings.Contains(overview, want) {
			t.Errorf("overview lacks %q:\n%s", want, overview)
		}
	}
	fitsWidth(ctx, t, "the host page")
	screenshot(ctx, t, "host-overview")

	// Run a backup of the tree from the run-now form.
	do(ctx, t, "run tab",
		chromedp.Click(css(`#host-tabs a[data-tab="run"]`)),
		chromedp.WaitVisible(css("#run-form")),
		chromedp.SetValue(css("#run-repository"), "main"),
		chromedp.SendKeys(css("#run-paths"), tree),
		chromedp.SendKeys(css("#run-tags"), "ui-test"))
	fitsWidth(ctx, t, "the run tab")
	screenshot(ctx, t, "host-run")
	do(ctx, t, "back up now", chromedp.Click(css("#run-backup")))
	hostsWait(ctx, t, 40*time.Second, "the job page", `location.pathname.startsWith("/jobs/")`)
	jobID := strings.TrimPrefix(hostsEval[string](ctx, t, `location.pathname`), "/jobs/")
	if st := r.waitJob(jobID); st != "succeeded" {
		t.Fatalf("the backup ended %s", st)
	}

	// The backup records its snapshot; the snapshot refresh the server
	// queues after it adds restic's summary (the size added).
	eventually(t, time.Minute, "the new snapshot with restic's summary in the projection", func() bool {
		var snaps struct {
			Items []struct{ Summary json.RawMessage }
		}
		r.api(http.MethodGet, "/api/v1/hosts/"+alpha.ID+"/snapshots", nil, http.StatusOK, &snaps)
		return len(snaps.Items) == 1 && len(snaps.Items[0].Summary) > 0 && string(snaps.Items[0].Summary) != "null"
	})
	do(ctx, t, "snapshots tab",
		chromedp.Navigate(r.base+"/hosts/"+alpha.ID),
		chromedp.WaitVisible(css("#host-tabs")),
		chromedp.Click(css(`#host-tabs a[data-tab="snapshots"]`)),
		chromedp.WaitVisible(css("#snapshots tr[data-snapshot-id]")))
	snapRow := text(ctx, "#snapshots tbody")
	for _, want := range []string{tree, "ui-test", "main", "KiB"} {
		if !strings.Contains(snapRow, want) {
			t.Errorf("the snapshot's row lacks %q: %q", want, snapRow)
		}
	}
	screenshot(ctx, t, "host-snapshots")
	do(ctx, t, "jobs tab",
		chromedp.Click(css(`#host-tabs a[data-tab="jobs"]`)),
		chromedp.WaitVisible(css(`#jobs tr[data-job-id="`+jobID+`"]`)))
	if row := text(ctx, `#jobs tr[data-job-id="`+jobID+`"]`); !strings.Contains(row, "Backup") || !strings.Contains(row, "succeeded") || !strings.Contains(row, "main") {
		t.Errorf("the backup's row in the jobs tab: %q", row)
	}
	if n := hostsEval[int](ctx, t, `document.querySelectorAll('#jobs a[href="/jobs/`+jobID+`"]').length`); n != 1 {
		t.Errorf("%d links to the backup's job page", n)
	}
	screenshot(ctx, t, "host-jobs")

	// The dashboard's row shows the backup and the snapshot.
	do(ctx, t, "dashboard again",
		chromedp.Navigate(r.base+"/"),
		chromedp.WaitVisible(css(`#hosts tr[data-host-name="alpha"]`)))
	hostsWait(ctx, t, 20*time.Second, "alpha's summary",
		`document.querySelector('#hosts tr[data-host-name="alpha"] [data-testid="snapshot-count"]').textContent.trim() === "1"`)
	if got := text(ctx, `#hosts tr[data-host-name="alpha"] [data-testid="last-backup"]`); !strings.Contains(got, "succeeded") || !strings.Contains(got, "in ") {
		t.Errorf("alpha's last backup reads %q", got)
	}
	screenshot(ctx, t, "dashboard-hosts")

	// A viewer, in a browser context of their own.
	pw := r.createUser("vera", "viewer")
	vctx, vcancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(vcancel)
	r.login(vctx, "vera", pw)
	do(vctx, t, "viewer on beta's page",
		chromedp.Navigate(r.base+"/hosts/"+beta.ID),
		chromedp.WaitVisible(css("#host-overview")))
	if n := hostsEval[int](vctx, t, `document.querySelectorAll('a[data-tab="run"], #run-form, button[name="kind"], #host-revoke').length`); n != 0 {
		t.Errorf("the viewer sees %d run-now or revoke controls", n)
	}
	var before struct{ Items []struct{ ID string } }
	r.api(http.MethodGet, "/api/v1/jobs?host="+beta.ID, nil, http.StatusOK, &before)
	hostsEval[bool](vctx, t, `(() => {
		const f = document.createElement("form");
		f.method = "post";
		f.action = "/hosts/`+beta.ID+`/run";
		const add = (k, v) => { const i = document.createElement("input"); i.type = "hidden"; i.name = k; i.value = v; f.append(i); };
		add("csrf_token", document.querySelector('meta[name="csrf-token"]').content);
		add("kind", "backup");
		add("repository", "main");
		add("paths", "/etc");
		document.body.append(f);
		f.submit();
		return true;
	})()`)
	hostsWait(vctx, t, 10*time.Second, "the refusal", `document.querySelector('#flash') && document.querySelector('#flash').textContent.includes("this needs the operator role; you are viewer")`)
	var after struct{ Items []struct{ ID string } }
	r.api(http.MethodGet, "/api/v1/jobs?host="+beta.ID, nil, http.StatusOK, &after)
	if len(after.Items) != len(before.Items) {
		t.Errorf("the viewer's forged form made a job: %d jobs before, %d after", len(before.Items), len(after.Items))
	}

	// The admin's session ends while the dashboard polls: the next poll
	// opens the login page, which leads back to the dashboard.
	do(ctx, t, "dashboard, sorted", chromedp.Navigate(r.base+"/?sort=status"), chromedp.WaitVisible(css("#hosts")))
	hostsEval[bool](ctx, t, `(fetch("/api/v1/logout", {method: "POST", headers: {"X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content}}), true)`)
	hostsWait(ctx, t, 20*time.Second, "the login page", `location.pathname === "/login" && !!document.querySelector("#username")`)
	if loc := get(ctx, t, "location", chromedp.Location()); loc != r.base+"/login?next=%2F%3Fsort%3Dstatus" {
		t.Errorf("after the session ended the dashboard went to %s", loc)
	}
}
