package ui

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// scheduleForm is a valid editor post for host web1 and repository main.
func scheduleFormValues(extra map[string]string) url.Values {
	v := url.Values{
		"name": {"nightly"}, "target": {"host"}, "host": {"web1"}, "repository": {"main"},
		"paths": {"/srv\n/etc\n"}, "excludes": {"*.tmp"}, "tags": {"nightly web"},
		"timing": {"every"}, "every": {"6h"}, "timezone": {"UTC"}, "catch_up": {"on"}, "enabled": {"on"},
		"keep_daily": {"7"}, "keep_within": {"1y"},
	}
	for k, val := range extra {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

// scheduleEnv is a sealed env with the admin, host web1 (online) and the
// repository main.
func scheduleEnv(t *testing.T) (*env, *http.Client) {
	t.Helper()
	e, _ := newSealedEnv(t)
	admin := e.setup()
	insertHost(t, e.db, store.Host{ID: "h1", Name: "web1", Status: store.HostOnline, OS: "linux", Arch: "amd64"})
	e.follow(admin, e.form(admin, "/repositories", "/repositories", url.Values{"name": {"main"}, "url": {"/srv/restic"}, "password": {repoPW}}))
	return e, admin
}

func TestScheduleEditorCreatesEditsAndDeletes(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)

	p := e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(nil))
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/schedules/") {
		t.Fatalf("create: %d %q\n%s", p.status, p.location, p.body)
	}
	page := e.follow(admin, p)
	for _, want := range []string{
		`Schedule &#34;nightly&#34; created`, `id="schedule-state"`, "every 6h", "keep daily 7, within 1y",
		`id="schedule-run"`, `id="schedule-preview"`, "/srv\n/etc</textarea>", `value="nightly web"`,
	} {
		if !page.has(want) {
			t.Errorf("schedule page lacks %q", want)
		}
	}
	id := strings.TrimPrefix(p.location, "/schedules/")
	s, err := e.db.GetSchedule(context.Background(), id)
	if err != nil || s.EverySeconds != 6*3600 || len(s.Paths) != 2 || s.Retention.KeepDaily != 7 || s.Retention.KeepWithin != "1y" ||
		s.HostID != "h1" || len(s.Tags) != 2 || !s.Enabled || !s.CatchUp {
		t.Fatalf("stored %+v %v", s, err)
	}

	// The list and the host page show it, with its next run.
	list := e.get(admin, "/schedules")
	if !list.has(`data-schedule="nightly"`) || !list.has(`href="/hosts/h1"`) || !list.has(`data-field="next-run"><time`) {
		t.Errorf("list:\n%s", list.body)
	}
	host := e.get(admin, "/hosts/web1")
	if !host.has(`id="host-schedules"`) || !host.has(`data-schedule="nightly"`) {
		t.Errorf("host page has no schedule section:\n%s", host.body)
	}

	// Switch to cron, drop the retention, pause it.
	p = e.form(admin, "/schedules/"+id, "/schedules/"+id, scheduleFormValues(map[string]string{
		"timing": "cron", "cron": "30 2 * * *", "timezone": "Europe/Berlin", "keep_daily": "", "keep_within": "", "enabled": "",
	}))
	if p.status != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", p.status, p.body)
	}
	if s, _ = e.db.GetSchedule(context.Background(), id); s.Cron != "30 2 * * *" || s.Timezone != "Europe/Berlin" || s.EverySeconds != 0 ||
		!s.Retention.Empty() || s.Enabled {
		t.Fatalf("updated %+v", s)
	}
	page = e.follow(admin, p)
	if !page.has("cron 30 2 * * * (Europe/Berlin)") || !page.has("— (paused)") || page.has(`id="schedule-preview"`) {
		t.Errorf("after update:\n%s", page.body)
	}

	// Delete asks first; only the confirm step's post deletes.
	confirm := e.get(admin, "/schedules/"+id+"/delete")
	if confirm.status != http.StatusOK || !confirm.has("Delete schedule nightly?") || !confirm.has(`name="confirm" value="yes"`) {
		t.Fatalf("confirm page %d\n%s", confirm.status, confirm.body)
	}
	if p := e.post(admin, "/schedules/"+id+"/delete", url.Values{"csrf_token": {confirm.csrf(t)}}); p.status != http.StatusOK || !p.has("Delete schedule nightly?") {
		t.Fatalf("delete without confirm: %d", p.status)
	}
	if _, err := e.db.GetSchedule(context.Background(), id); err != nil {
		t.Fatalf("deleted without the confirm step: %v", err)
	}
	p = e.post(admin, "/schedules/"+id+"/delete", url.Values{"csrf_token": {confirm.csrf(t)}, "confirm": {"yes"}})
	if p.status != http.StatusSeeOther || p.location != "/schedules" {
		t.Fatalf("delete: %d %q", p.status, p.location)
	}
	if list := e.follow(admin, p); !list.has("Schedule &#34;nightly&#34; deleted") || list.has(`data-schedule="nightly"`) {
		t.Errorf("after delete:\n%s", list.body)
	}
}

func TestScheduleEditorShowsEachFieldError(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	p := e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(map[string]string{
		"timing": "cron", "cron": "61 * * * *", "paths": "/srv\nrelative/dir", "keep_within": "forever", "tags": "a,b",
	}))
	if p.status != http.StatusBadRequest {
		t.Fatalf("status %d\n%s", p.status, p.body)
	}
	for field, want := range map[string]string{
		"cron":                  "61",
		"paths":                 "relative/dir",
		"retention.keep_within": "forever",
	} {
		m := regexp.MustCompile(`data-error-for="` + regexp.QuoteMeta(field) + `"[^>]*>([^<]+)<`).FindStringSubmatch(p.body)
		if m == nil || !strings.Contains(m[1], want) {
			t.Errorf("no error next to %s (want %q): %v", field, want, m)
		}
	}
	if !p.has(`id="s-cron" name="cron" type="text" value="61 * * * *"`) || !p.has(`aria-describedby="err-cron"`) || !p.has(`id="schedule-problems"`) {
		t.Errorf("the form did not come back as typed with its errors:\n%s", p.body)
	}
	// A number the form cannot read is named by the form itself.
	p = e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(map[string]string{"limit_upload_kib": "fast"}))
	if p.status != http.StatusBadRequest || !regexp.MustCompile(`data-error-for="limit_upload_kib"[^>]*>Must be a whole number`).MatchString(p.body) &&
		!regexp.MustCompile(`data-error-for="limit_upload_kib"[^>]*>must be a whole number`).MatchString(p.body) {
		t.Errorf("bad number: %d\n%s", p.status, p.body)
	}
	if n, _ := e.db.ListSchedules(context.Background(), store.ScheduleFilter{Limit: 10}); len(n) != 0 {
		t.Fatalf("a refused form stored %d schedules", len(n))
	}
	// A taken name is named next to the name.
	e.follow(admin, e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(nil)))
	p = e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(nil))
	if p.status != http.StatusConflict || !regexp.MustCompile(`data-error-for="name"[^>]*>A schedule named`).MatchString(p.body) {
		t.Errorf("duplicate name: %d\n%s", p.status, p.body)
	}
}

func TestScheduleEditorForViewers(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	p := e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(nil))
	id := strings.TrimPrefix(p.location, "/schedules/")
	viewer := e.userClient(admin, "vic", "viewer")
	list := e.get(viewer, "/schedules")
	if !list.has(`data-schedule="nightly"`) || list.has(`id="new-schedule"`) {
		t.Errorf("viewer's list:\n%s", list.body)
	}
	page := e.get(viewer, "/schedules/"+id)
	if page.status != http.StatusOK || !page.has(`id="schedule-readonly"`) || !page.has(` disabled>`) || page.has(`id="schedule-save"`) ||
		page.has(`id="schedule-run"`) || page.has(`id="schedule-delete"`) {
		t.Errorf("viewer's schedule page:\n%s", page.body)
	}
	if p := e.get(viewer, "/schedules/new"); p.status != http.StatusForbidden {
		t.Errorf("viewer's new form: %d", p.status)
	}
	// The API refuses them anyway.
	p = e.form(viewer, "/schedules/"+id, "/schedules/"+id, scheduleFormValues(map[string]string{"every": "1h"}))
	if p.status != http.StatusForbidden {
		t.Errorf("viewer's save: %d", p.status)
	}
	p = e.form(viewer, "/schedules/"+id, "/schedules/"+id+"/run", url.Values{})
	if p.status != http.StatusSeeOther || !strings.Contains(e.follow(viewer, p).body, "needs the operator role") {
		t.Errorf("viewer's run now: %d", p.status)
	}
	// An operator may edit but not switch prune on; the box is an admin's.
	op := e.userClient(admin, "otto", "operator")
	page = e.get(op, "/schedules/"+id)
	if page.has(`id="s-prune"`) || !page.has(`id="schedule-save"`) {
		t.Errorf("operator's page:\n%s", page.body)
	}
	p = e.form(op, "/schedules/"+id, "/schedules/"+id, scheduleFormValues(map[string]string{"every": "2h", "prune": "on"}))
	if p.status != http.StatusSeeOther {
		t.Fatalf("operator's save: %d\n%s", p.status, p.body)
	}
	if s, _ := e.db.GetSchedule(context.Background(), id); s.EverySeconds != 7200 || s.Prune {
		t.Errorf("operator's save stored %+v", s)
	}
}

func TestScheduleRunNowAndPreviewDispatch(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	p := e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(nil))
	id := strings.TrimPrefix(p.location, "/schedules/")
	p = e.form(admin, "/schedules/"+id, "/schedules/"+id+"/run", url.Values{})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/jobs/") {
		t.Fatalf("run now: %d %q", p.status, p.location)
	}
	j, err := e.db.GetJob(context.Background(), strings.TrimPrefix(p.location, "/jobs/"))
	if err != nil || j.ScheduleID != id || j.Kind != "backup" || j.HostID != "h1" {
		t.Fatalf("run-now job %+v %v", j, err)
	}
	p = e.form(admin, "/schedules/"+id, "/schedules/"+id+"/preview", url.Values{})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/schedules/"+id+"/preview/") {
		t.Fatalf("preview: %d %q", p.status, p.location)
	}
	jobID := strings.TrimPrefix(p.location, "/schedules/"+id+"/preview/")
	page := e.get(admin, p.location)
	if !page.has(`hx-trigger="every 2s"`) || !page.has(`id="preview-running"`) {
		t.Errorf("a queued preview does not poll:\n%s", page.body)
	}
	// The agent's answer: a forget_result.
	sum := `{"message_type":"forget_result","dry_run":true,"kept":["aaaaaaaa11"],"removed":["bbbbbbbb22"],"groups":[{"host":"web1","paths":["/etc","/srv"],"tags":[],` +
		`"keep":[{"id":"aaaaaaaa11","time":"2026-01-03T04:05:06Z","reasons":["daily snapshot"]}],"remove":[{"id":"bbbbbbbb22","time":"2026-01-02T04:05:06Z"}]}]}`
	code := 0
	if err := e.db.FinishJob(context.Background(), jobID, store.JobEnd{Status: store.JobSucceeded, ExitCode: &code, Summary: []byte(sum), At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	page = e.get(admin, p.location)
	if page.has(`hx-trigger="every 2s"`) || !page.has("Would remove <strong>1</strong> and keep <strong>1</strong>") ||
		!page.has(`data-action="keep" data-snapshot-id="aaaaaaaa11"`) || !page.has(`data-action="remove" data-snapshot-id="bbbbbbbb22"`) ||
		!page.has("daily snapshot") || !page.has("host web1 · paths /etc, /srv") {
		t.Errorf("finished preview:\n%s", page.body)
	}
}

func TestAPIFieldErrorsSplitsByField(t *testing.T) {
	t.Parallel()
	by, rest := apiFieldErrors(`cron: expected 5 to 6 fields, found 2: "1 2"; paths[1]: "srv" is not absolute; give absolute paths such as /etc or C:\Users; retention.keep_within: "x" bad; something else`)
	if len(by["cron"]) != 1 || !strings.HasPrefix(by["cron"][0], "Expected 5") ||
		by["paths"][0] != `"srv" is not absolute; give absolute paths such as /etc or C:\Users` ||
		by["retention.keep_within"][0] != `"x" bad; something else` || len(rest) != 0 {
		t.Fatalf("by %q rest %q", by, rest)
	}
	if _, rest := apiFieldErrors("no field here"); len(rest) != 1 {
		t.Fatalf("rest %q", rest)
	}
}

func TestJobsTabPagesBothWays(t *testing.T) {
	t.Parallel()
	d := hostPageData{}
	d.setJobsPager("h1", "", "", "c2")
	if d.Older != "/hosts/h1?tab=jobs&cursor=c2" || d.Newer != "" || d.Newest != "" {
		t.Fatalf("first page %+v", d)
	}
	d = hostPageData{}
	d.setJobsPager("h1", "c2", "", "c3")
	if d.Older != "/hosts/h1?tab=jobs&cursor=c3&prev=c2" || d.Newer != "" || d.Newest != "/hosts/h1?tab=jobs" {
		t.Fatalf("second page %+v", d)
	}
	d = hostPageData{}
	d.setJobsPager("h1", "c3", "c2", "c4")
	if d.Older != "/hosts/h1?tab=jobs&cursor=c4&prev=c2+c3" || d.Newer != "/hosts/h1?tab=jobs&cursor=c2" || d.Newest != "/hosts/h1?tab=jobs" {
		t.Fatalf("third page %+v", d)
	}
	d = hostPageData{}
	d.setJobsPager("h1", "c4", "c2 c3", "")
	if d.Older != "" || d.Newer != "/hosts/h1?tab=jobs&cursor=c3&prev=c2" {
		t.Fatalf("last page %+v", d)
	}
}

func TestScheduleEditorHooksAndCopyTo(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	e.follow(admin, e.form(admin, "/repositories", "/repositories", url.Values{"name": {"offsite"}, "url": {"/srv/offsite"}, "password": {repoPW}}))
	p := e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(map[string]string{
		"copy_to": "offsite", "pre_hook": "systemctl stop app", "pre_hook_timeout": "30s", "post_hook": "systemctl start app",
	}))
	if p.status != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", p.status, p.body)
	}
	id := strings.TrimPrefix(p.location, "/schedules/")
	page := e.follow(admin, p)
	for _, want := range []string{
		`id="schedule-hooks"`, ">systemctl stop app</textarea>", `value="30s"`, ">systemctl start app</textarea>",
		`<option value="offsite" selected>`,
	} {
		if !page.has(want) {
			t.Errorf("admin's page lacks %q", want)
		}
	}
	// An operator sees neither the hooks nor their text, and saving keeps
	// them.
	op := e.userClient(admin, "otto", "operator")
	page = e.get(op, "/schedules/"+id)
	if page.has("systemctl") || page.has(`id="schedule-hooks"`) || !page.has(`id="schedule-hooks-note"`) {
		t.Errorf("operator's page:\n%s", page.body)
	}
	if p := e.form(op, "/schedules/"+id, "/schedules/"+id, scheduleFormValues(map[string]string{"every": "3h", "copy_to": "offsite"})); p.status != http.StatusSeeOther {
		t.Fatalf("operator's save: %d\n%s", p.status, p.body)
	}
	page = e.get(admin, "/schedules/"+id)
	if !page.has(">systemctl stop app</textarea>") || !page.has("every 3h") {
		t.Errorf("after the operator's save:\n%s", page.body)
	}
	// A bad hook timeout is named next to the hook.
	p = e.form(admin, "/schedules/"+id, "/schedules/"+id, scheduleFormValues(map[string]string{
		"copy_to": "offsite", "pre_hook": "systemctl stop app", "pre_hook_timeout": "soon", "post_hook": "systemctl start app",
	}))
	if p.status != http.StatusBadRequest || !regexp.MustCompile(`data-error-for="pre_hook"[^>]*>[^<]*soon`).MatchString(p.body) {
		t.Errorf("bad timeout: %d\n%s", p.status, p.body)
	}
	// Removing the copy and the hooks.
	p = e.form(admin, "/schedules/"+id, "/schedules/"+id, scheduleFormValues(nil))
	if p.status != http.StatusSeeOther {
		t.Fatalf("clear: %d\n%s", p.status, p.body)
	}
	page = e.follow(admin, p)
	if page.has("systemctl") || page.has(`<option value="offsite" selected>`) {
		t.Errorf("hooks or copy kept:\n%s", page.body)
	}
}

func TestScheduleEditorMaintenanceKinds(t *testing.T) {
	t.Parallel()
	e, admin := scheduleEnv(t)
	// A check takes no paths: the API names the field.
	p := e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(map[string]string{"kind": "check", "read_data_subset": "1/7", "keep_daily": "", "keep_within": ""}))
	if p.status != http.StatusBadRequest || !regexp.MustCompile(`data-error-for="paths"[^>]*>Is for backup schedules only`).MatchString(p.body) {
		t.Fatalf("check with paths: %d\n%s", p.status, p.body)
	}
	p = e.form(admin, "/schedules/new", "/schedules", scheduleFormValues(map[string]string{
		"name": "weekly-check", "kind": "check", "read_data_subset": "1/7", "paths": "", "excludes": "", "tags": "", "keep_daily": "", "keep_within": "",
	}))
	if p.status != http.StatusSeeOther {
		t.Fatalf("check schedule: %d\n%s", p.status, p.body)
	}
	s, err := e.db.GetSchedule(context.Background(), "weekly-check")
	if err != nil || s.Kind != "check" || s.ReadDataSubset != "1/7" {
		t.Fatalf("stored %+v %v", s, err)
	}
	page := e.follow(admin, p)
	if !page.has(`<option value="check" selected>`) || page.has(`id="schedule-run"`) {
		t.Errorf("check schedule's page:\n%s", page.body)
	}
}
