package ui

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/restic-manager/restic-manager/core/api/apijson"
)

// Hooks in Chromium with the real server, agent and restic: an admin sets
// a host's default pre-hook on the host page (a bad timeout is named next
// to the field first) and a schedule's own post-hook in the schedule
// editor, both typed over several lines; a run of the schedule on the
// agent runs both, each line as its own shell command, and its log shows
// their output. An operator sees that hooks exist but neither their text
// nor a form.
func TestBrowserHostDefaultHooksAndScheduleHooks(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	agent := r.startAgent("hooky")
	r.addRepo("main", agent)
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "data.txt"), []byte("hooked\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var sched struct {
		ID string `json:"id"`
	}
	r.api(http.MethodPost, "/api/v1/schedules", map[string]any{
		"name": "hooked", "host": agent.ID, "repository": "main", "paths": []string{tree}, "every": "24h",
	}, http.StatusCreated, &sched)
	operatorPW := r.createUser("otto", "operator")

	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	r.login(ctx, "admin", r.adminPassword)

	do(ctx, t, "type a default pre-hook with a bad timeout",
		chromedp.Navigate(r.base+"/hosts/"+agent.ID),
		chromedp.WaitVisible(css("#host-hooks-form")),
		chromedp.SendKeys(css("#h-pre-hook"), "echo default pre-hook\necho second line"),
		chromedp.SendKeys(css("#h-pre-hook-timeout"), "soon"),
		chromedp.Click(css("#host-hooks-save")),
		chromedp.WaitVisible(css(`[data-error-for="pre_hook"]`)))
	if msg := text(`[data-error-for="pre_hook"]`); !strings.Contains(msg, "soon") {
		t.Errorf("the pre-hook's error: %q", msg)
	}
	if got := hostsEval[string](ctx, t, `document.querySelector("#h-pre-hook").value`); got != "echo default pre-hook\necho second line" {
		t.Errorf("the refused form lost the pre-hook: %q", got)
	}
	fitsWidth(ctx, t, "the host page's hooks form")
	do(ctx, t, "save with a good timeout",
		chromedp.SetValue(css("#h-pre-hook-timeout"), "45s"),
		chromedp.Click(css("#host-hooks-save")),
		// The refused page's error goes once the saved page is there.
		chromedp.WaitNotPresent(css(`[data-error-for="pre_hook"]`)),
		chromedp.WaitVisible(css(`#flash p`)),
		chromedp.WaitVisible(css("#host-hooks-form")))
	if msg := text("#flash"); !strings.Contains(msg, "Default hooks saved") {
		t.Errorf("the flash after saving: %q", msg)
	}
	do(ctx, t, "show the saved hooks", chromedp.ScrollIntoView(css("#host-hooks")))
	screenshot(ctx, t, "host-default-hooks")
	var hooks hostHooksAPI
	r.api(http.MethodGet, "/api/v1/hosts/"+agent.ID+"/hooks", nil, http.StatusOK, &hooks)
	if hooks.PreHook == nil || hooks.PreHook.Command != "echo default pre-hook\necho second line" || hooks.PreHook.Timeout != "45s" || hooks.PostHook != nil {
		t.Fatalf("the host's hooks after saving: %+v %+v", hooks.PreHook, hooks.PostHook)
	}

	do(ctx, t, "give the schedule a post-hook of its own",
		chromedp.Navigate(r.base+"/schedules/"+sched.ID),
		chromedp.WaitVisible(css("#schedule-hooks")),
		chromedp.SendKeys(css("#s-post-hook"), "echo schedule post-hook\necho \"status: $RM_JOB_STATUS\""),
		chromedp.Click(css("#schedule-save")),
		// The page had no flash before: the saved page has one.
		chromedp.WaitVisible(css(`#flash p`)))
	var s struct {
		PreHook  *apijson.Hook `json:"pre_hook"`
		PostHook *apijson.Hook `json:"post_hook"`
	}
	r.api(http.MethodGet, "/api/v1/schedules/"+sched.ID, nil, http.StatusOK, &s)
	if s.PreHook != nil || s.PostHook == nil || s.PostHook.Command != "echo schedule post-hook\necho \"status: $RM_JOB_STATUS\"" {
		t.Fatalf("the schedule's hooks after saving: %+v %+v", s.PreHook, s.PostHook)
	}

	// The agent runs the host's pre-hook and the schedule's post-hook
	// around a run of the schedule.
	var job struct {
		ID string `json:"id"`
	}
	r.api(http.MethodPost, "/api/v1/schedules/"+sched.ID+"/run", nil, http.StatusCreated, &job)
	if st := r.waitJob(job.ID); st != "succeeded" {
		t.Fatalf("the run with hooks: %s", st)
	}
	var logs struct {
		Items []struct {
			Line string `json:"line"`
		} `json:"items"`
	}
	r.api(http.MethodGet, "/api/v1/jobs/"+job.ID+"/logs?limit=1000", nil, http.StatusOK, &logs)
	var lines []string
	for _, l := range logs.Items {
		lines = append(lines, l.Line)
	}
	all := strings.Join(lines, "\n") + "\n"
	for _, want := range []string{"[hook] default pre-hook\n", "[hook] second line\n", "[hook] schedule post-hook\n", "[hook] status: succeeded\n"} {
		if !strings.Contains(all, want) {
			t.Errorf("the run's log lacks %q:\n%s", want, all)
		}
	}

	// An operator: a notice on the host page, no commands anywhere.
	opCtx := newBrowser(t)
	r.login(opCtx, "otto", operatorPW)
	do(opCtx, t, "the operator opens the host page",
		chromedp.Navigate(r.base+"/hosts/"+agent.ID),
		chromedp.WaitVisible(css("#host-hooks-note")))
	if n := hostsEval[int](opCtx, t, `document.querySelectorAll("#host-hooks-form, #h-pre-hook").length`); n != 0 {
		t.Errorf("the operator's host page has %d hook form elements", n)
	}
	do(opCtx, t, "the operator opens the schedule",
		chromedp.Navigate(r.base+"/schedules/"+sched.ID),
		chromedp.WaitVisible(css("#schedule-hooks-note")))
	if body := hostsEval[string](opCtx, t, `document.body.innerText`); strings.Contains(body, "pre-hook\n") || strings.Contains(body, "echo ") {
		t.Errorf("the operator sees hook commands:\n%s", body)
	}
}
