package ui

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The schedule editor in Chromium with the real server, agent and restic:
// a bad cron expression is refused with the API's reason next to the cron
// field; the schedule saved with a seconds-level interval shows on the
// host page and fires on the agent (its last run appears there, linked to
// the job); paused and given a retention policy, its retention preview
// lists what a forget would keep and remove, and removes nothing.
func TestBrowserScheduleEditorFiresAndPreviews(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	agent := r.startAgent("sched")
	r.addRepo("main", agent)
	tree := t.TempDir()
	for i := range 3 {
		if err := os.WriteFile(filepath.Join(tree, fmt.Sprintf("f%d.txt", i)), []byte(strings.Repeat("schedule ", 500*(i+1))), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	r.login(ctx, "admin", r.adminPassword)

	do(ctx, t, "open the new schedule form from the nav",
		chromedp.Navigate(r.base+"/"),
		chromedp.Click(css(`nav a[href="/schedules"]`)),
		chromedp.WaitVisible(css("#no-schedules")),
		chromedp.Click(css("#new-schedule")),
		chromedp.WaitVisible(css("#schedule-form")),
		chromedp.SendKeys(css("#s-name"), "quick"),
		chromedp.SetValue(css("#s-host"), "sched"),
		chromedp.SetValue(css("#s-repository"), "main"),
		chromedp.SendKeys(css("#s-paths"), tree),
		chromedp.SetValue(css("#s-cron"), "61 * * * *"))
	fitsWidth(ctx, t, "the schedule form")
	do(ctx, t, "save with a bad cron expression",
		chromedp.Click(css("#schedule-save")),
		chromedp.WaitVisible(css(`[data-error-for="cron"]`)))
	if msg := text(`[data-error-for="cron"]`); !strings.Contains(msg, "61") {
		t.Errorf("the cron field's error: %q", msg)
	}
	if got := hostsEval[string](ctx, t, `document.querySelector("#s-paths").value`); strings.TrimSpace(got) != tree {
		t.Errorf("the refused form lost the paths: %q", got)
	}
	if hostsEval[string](ctx, t, `document.querySelector("#s-cron").getAttribute("aria-invalid")`) != "true" {
		t.Error("the cron field is not marked invalid")
	}
	screenshot(ctx, t, "schedule-form-error")
	var list struct{ Items []struct{ ID string } }
	r.api(http.MethodGet, "/api/v1/schedules", nil, http.StatusOK, &list)
	if len(list.Items) != 0 {
		t.Fatalf("a refused form made %d schedules", len(list.Items))
	}

	do(ctx, t, "save with an interval of 5 seconds",
		chromedp.Click(css("#s-timing-every")),
		chromedp.SetValue(css("#s-every"), "5s"),
		chromedp.Click(css("#schedule-save")),
		chromedp.WaitVisible(css("#schedule-state")))
	if when := text("#schedule-state"); !strings.Contains(when, "every 5s") || !strings.Contains(strings.ToLower(when), "enabled") {
		t.Errorf("the saved schedule's state: %q", when)
	}
	scheduleID := strings.TrimPrefix(hostsEval[string](ctx, t, `location.pathname`), "/schedules/")

	// The host page lists it; once the agent has fired it, its last run
	// links the job.
	deadline := time.Now().Add(90 * time.Second)
	var jobID string
	for jobID == "" {
		do(ctx, t, "the host page's schedules",
			chromedp.Navigate(r.base+"/hosts/"+agent.ID),
			chromedp.WaitVisible(css(`#host-schedules tr[data-schedule="quick"]`)))
		jobID = hostsEval[string](ctx, t, `(document.querySelector('#host-schedules tr[data-schedule="quick"] [data-field="last-run"] a[href^="/jobs/"]') || {pathname: ""}).pathname.replace("/jobs/", "")`)
		if time.Now().After(deadline) {
			t.Fatalf("the schedule did not fire within 90 s; the row says %q", text(`#host-schedules tr[data-schedule="quick"]`))
		}
		if jobID == "" {
			time.Sleep(time.Second)
		}
	}
	var job struct {
		ScheduleID *string `json:"schedule_id"`
		CreatedBy  string  `json:"created_by"`
		Kind       string  `json:"kind"`
	}
	r.api(http.MethodGet, "/api/v1/jobs/"+jobID, nil, http.StatusOK, &job)
	if job.ScheduleID == nil || *job.ScheduleID != scheduleID || job.CreatedBy != "schedule" || job.Kind != "backup" {
		t.Errorf("the host page's last run is job %+v", job)
	}
	// A run that would overlap the one before is skipped, not stacked.
	if st := r.waitJob(jobID); st != "succeeded" && st != "skipped" {
		t.Fatalf("the scheduled backup ended %s", st)
	}
	fitsWidth(ctx, t, "the host page with schedules")
	screenshot(ctx, t, "host-schedules")

	// Two snapshots at least, then pause it and give it a policy.
	eventually(t, time.Minute, "two scheduled backups", func() bool {
		var jobs struct {
			Items []struct {
				Status     string  `json:"status"`
				Kind       string  `json:"kind"`
				ScheduleID *string `json:"schedule_id"`
			}
		}
		r.api(http.MethodGet, "/api/v1/jobs?host="+agent.ID+"&status=succeeded", nil, http.StatusOK, &jobs)
		n := 0
		for _, j := range jobs.Items {
			if j.Kind == "backup" && j.ScheduleID != nil && *j.ScheduleID == scheduleID {
				n++
			}
		}
		return n >= 2
	})
	do(ctx, t, "pause it with keep-last 1",
		chromedp.Navigate(r.base+"/schedules/"+scheduleID),
		chromedp.WaitVisible(css("#schedule-form")),
		chromedp.Click(css("#s-enabled")),
		chromedp.SetValue(css("#s-keep_last"), "1"),
		chromedp.Click(css("#schedule-save")),
		chromedp.WaitVisible(css("#schedule-preview")))
	if state := strings.ToLower(text("#schedule-state")); !strings.Contains(state, "paused") || !strings.Contains(state, "keep last 1") {
		t.Errorf("after pausing: %q", state)
	}
	screenshot(ctx, t, "schedule-form")
	do(ctx, t, "preview the retention",
		chromedp.Click(css("#schedule-preview")),
		chromedp.WaitVisible(css("#preview")))
	hostsWait(ctx, t, 60*time.Second, "the plan", `!!document.querySelector("#preview-summary, #preview-failed")`)
	kept := hostsEval[int](ctx, t, `document.querySelectorAll('#preview tr[data-action="keep"]').length`)
	removed := hostsEval[int](ctx, t, `document.querySelectorAll('#preview tr[data-action="remove"]').length`)
	if kept != 1 || removed < 1 {
		t.Fatalf("the plan keeps %d and removes %d snapshots:\n%s", kept, removed, text("#preview"))
	}
	fitsWidth(ctx, t, "the retention preview")
	screenshot(ctx, t, "schedule-preview")
	// A dry run: restic still lists every snapshot of the plan.
	if st := r.waitJob(r.runJob(agent, map[string]any{"kind": "snapshots", "repository": "main"})); st != "succeeded" {
		t.Fatalf("listing the snapshots: %s", st)
	}
	var snaps struct{ Items []struct{ ID string } }
	r.api(http.MethodGet, "/api/v1/hosts/"+agent.ID+"/snapshots?limit=1000", nil, http.StatusOK, &snaps)
	if len(snaps.Items) < kept+removed {
		t.Errorf("the dry run removed snapshots: %d left, the plan had %d", len(snaps.Items), kept+removed)
	}

	// The list shows it paused, with its last run.
	do(ctx, t, "the schedule list",
		chromedp.Navigate(r.base+"/schedules"),
		chromedp.WaitVisible(css(`#schedules tr[data-schedule="quick"]`)))
	if row := text(`#schedules tr[data-schedule="quick"]`); !strings.Contains(row, "paused") || !strings.Contains(row, "every 5s") ||
		!hostsEval[bool](ctx, t, `!!document.querySelector('#schedules tr[data-schedule="quick"] [data-field="last-run"] a[href^="/jobs/"]')`) {
		t.Errorf("the list's row: %q", row)
	}
	fitsWidth(ctx, t, "the schedule list")
	screenshot(ctx, t, "schedules")

	// Refresh the repository's statistics through the host that uses it;
	// the dashboard's repository size then shows restic's figure.
	do(ctx, t, "refresh the statistics",
		chromedp.Navigate(r.base+"/repositories"),
		chromedp.WaitVisible(css(`[data-stats="main"]`)))
	if got := text(`[data-stats="main"] [data-field="stats-updated"]`); got != "not measured yet" {
		t.Errorf("statistics before any stats job: %q", got)
	}
	if got := hostsEval[string](ctx, t, `document.querySelector('[data-stats="main"] select[name="host"]').value`); got != agent.ID {
		t.Errorf("the refresh offers host %q first, not the schedule's", got)
	}
	fitsWidth(ctx, t, "the repositories page")
	do(ctx, t, "click Refresh statistics", chromedp.Click(css(`[data-stats="main"] [data-action="refresh-stats"]`)))
	hostsWait(ctx, t, 40*time.Second, "the stats job's page", `location.pathname.startsWith("/jobs/")`)
	statsJob := strings.TrimPrefix(hostsEval[string](ctx, t, `location.pathname`), "/jobs/")
	if st := r.waitJob(statsJob); st != "succeeded" {
		t.Fatalf("the stats job ended %s", st)
	}
	do(ctx, t, "the dashboard",
		chromedp.Navigate(r.base+"/"),
		chromedp.WaitVisible(css(`#hosts tr[data-host-name="sched"]`)))
	if size := text(`#hosts tr[data-host-name="sched"] td[data-label="Repository size"]`); size == "—" || !strings.HasSuffix(size, "B") {
		t.Errorf("the dashboard's repository size after the stats job: %q", size)
	}
	screenshot(ctx, t, "repositories-stats")
}
