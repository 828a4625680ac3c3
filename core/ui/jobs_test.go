package ui

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// jobFixture is a host "web-1", a repository "main" and one job in each
// status, stored as the agent hub would leave them.
type jobFixture struct {
	hostID string
	jobs   map[string]string // status → job id
}

const fixtureSnapshot = "4f0c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"

func newJobFixture(t *testing.T, db *store.DB) jobFixture {
	t.Helper()
	ctx := context.Background()
	now := time.Now().Add(-time.Minute)
	f := jobFixture{hostID: "host-web-1", jobs: map[string]string{}}
	insertHost(t, db, store.Host{ID: f.hostID, Name: "web-1", OS: "linux", Arch: "amd64", Status: store.HostOnline})
	if err := db.CreateRepository(ctx, store.Repository{ID: "repo-main", Name: "main", URL: "/srv/restic", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	exit := func(n int) *int { return &n }
	for _, st := range []string{store.JobQueued, store.JobRunning, store.JobSucceeded, store.JobFailed, store.JobCancelled} {
		id := "job-" + st
		params := json.RawMessage(`{"paths":["/srv/www","/etc/<b>nginx</b>"]}`)
		if err := db.CreateJob(ctx, store.Job{ID: id, HostID: f.hostID, Kind: "backup", Status: store.JobQueued, RepositoryID: "repo-main", Params: params, CreatedBy: "u", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		f.jobs[st] = id
		if st == store.JobQueued {
			continue
		}
		if err := db.StartJob(ctx, id, now.Add(time.Second)); err != nil {
			t.Fatal(err)
		}
		end := now.Add(66 * time.Second)
		var err error
		switch st {
		case store.JobSucceeded:
			err = db.FinishJob(ctx, id, store.JobEnd{Status: st, ExitCode: exit(0), At: end, Summary: json.RawMessage(`{"message_type":"summary",
				"files_new":3,"files_changed":1,"files_unmodified":2,"dirs_new":4,"dirs_changed":0,"dirs_unmodified":5,
				"data_added":1572864,"data_added_packed":1048576,"total_files_processed":6,"total_bytes_processed":3145728,
				"total_duration":8.25,"snapshot_id":"` + fixtureSnapshot + `"}`)})
		case store.JobFailed:
			err = db.FinishJob(ctx, id, store.JobEnd{Status: st, ExitCode: exit(12), At: end, Error: `wrong password <script>alert(1)</script>`})
		case store.JobCancelled:
			err = db.FinishJob(ctx, id, store.JobEnd{Status: st, At: end, Error: "cancelled by admin"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// jobTestUser creates a user with role through the API (as the admin
// client c) and returns a client logged in as that user.
func jobTestUser(t *testing.T, e *env, c *http.Client, name, role string) *http.Client {
	t.Helper()
	tok := e.get(c, "/").csrf(t)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/users",
		strings.NewReader(`{"username":"`+name+`","password":"`+testPassword+`","role":"`+role+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", tok)
	res := mustDo(t, c, req)
	defer res.Body.Close()
	if p := readPage(t, res); p.status != http.StatusCreated {
		t.Fatalf("create user %s: %d %s", name, p.status, p.body)
	}
	u := newClient(t)
	login := e.get(u, "/login")
	p := e.post(u, "/login", url.Values{"csrf_token": {login.csrf(t)}, "username": {name}, "password": {testPassword}})
	if p.status != http.StatusSeeOther {
		t.Fatalf("login as %s: %d\n%s", name, p.status, p.body)
	}
	return u
}

func TestJobPageShowsEveryStatus(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	f := newJobFixture(t, e.db)

	common := []string{
		`href="/hosts/` + f.hostID + `"`, ">web-1</a>", `id="job-repository">main<`, "<code>/srv/www</code>",
		"<code>/etc/&lt;b&gt;nginx&lt;/b&gt;</code>", `<h1 id="job-title"`, ">Backup</h1>", `role="log"`,
		`href="/api/v1/jobs/` + "job-", `/logs?format=text"`, `src="/static/job.js?v=`,
	}
	for status, want := range map[string][]string{
		store.JobQueued: {
			`data-status="queued"`, "Queued: waiting for the host", `id="job-cancel"`, "removes it from the queue",
			`id="job-progress"`, `id="job-started">not yet`,
		},
		store.JobRunning: {
			`data-status="running"`, `id="job-cancel"`, "no snapshot is saved", `id="job-progress"`,
			`<progress id="job-progress-bar"`, `id="job-finished">not yet`, `id="job-exit-code">—`,
		},
		store.JobSucceeded: {
			`data-status="succeeded"`, `id="job-snapshot-id" class="break-all">` + fixtureSnapshot,
			"3 new, 1 changed, 2 unmodified", "4 new, 0 changed, 5 unmodified", "1.5 MiB (1.0 MiB stored)",
			"6 files, 3.0 MiB", "8.2 s", `id="job-duration">1 min 05 s`, `id="job-exit-code">0`,
		},
		store.JobFailed: {
			`data-status="failed"`, "Why it failed", "wrong password &lt;script&gt;alert(1)&lt;/script&gt;", `id="job-exit-code">12`,
		},
		store.JobCancelled: {`data-status="cancelled"`, "Why it was cancelled", "cancelled by admin"},
	} {
		p := e.get(c, "/jobs/"+f.jobs[status])
		if p.status != http.StatusOK {
			t.Fatalf("%s job page: %d\n%s", status, p.status, p.body)
		}
		for _, s := range append(want, common...) {
			if !p.has(s) {
				t.Errorf("%s job page lacks %q", status, s)
			}
		}
		// The badge says the status in words, not only by colour.
		if !strings.Contains(p.body, `data-status="`+status+`" class=`) || !p.has("></span>"+status+"</span>") {
			t.Errorf("%s job page has no status badge with the word", status)
		}
		ended := store.Terminal(status)
		if ended && (p.has(`id="job-cancel"`) || p.has(`id="job-progress"`)) {
			t.Errorf("%s job page offers a cancel or shows progress", status)
		}
		if p.has("<script>alert") {
			t.Errorf("%s job page has unescaped text", status)
		}
	}

	if p := e.get(c, "/jobs/no-such-job"); p.status != http.StatusNotFound || !p.has(`no job &#34;no-such-job&#34;`) {
		t.Errorf("unknown job: %d\n%s", p.status, p.body)
	}

	// The panel alone, as the page's script fetches it when the status changes.
	p := e.get(c, "/jobs/"+f.jobs[store.JobSucceeded]+"/panel")
	if p.status != http.StatusOK || strings.Contains(p.body, "<html") || !strings.HasPrefix(strings.TrimSpace(p.body), `<section id="job-panel" data-status="succeeded"`) {
		t.Errorf("panel fragment: %d\n%s", p.status, p.body)
	}
	if p := e.get(c, "/jobs/no-such-job/panel"); p.status != http.StatusNotFound {
		t.Errorf("panel of an unknown job: %d", p.status)
	}
}

func TestJobPageLogStartsNearTheEndOfALongJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	f := newJobFixture(t, e.db)
	id := f.jobs[store.JobRunning]
	if p := e.get(c, "/jobs/"+id); !p.has(`data-after-seq="0"`) || !p.has(`id="job-log-trimmed" hidden`) {
		t.Errorf("a job without events does not start its log at the beginning")
	}
	logs := make([]store.JobLog, jobLogLines+250)
	for i := range logs {
		logs[i] = store.JobLog{JobID: id, Seq: int64(i + 1), Time: time.Now(), Stream: "stdout", Type: "log", Line: "x"}
	}
	if _, err := e.db.AppendJobLogs(context.Background(), logs); err != nil {
		t.Fatal(err)
	}
	p := e.get(c, "/jobs/"+id)
	if !p.has(`data-after-seq="250"`) || !p.has(`data-max-lines="5000"`) || p.has(`id="job-log-trimmed" hidden`) {
		t.Errorf("a long job's log does not start %d events before its end, with the notice shown", jobLogLines)
	}
}

func TestJobCancelFromThePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	f := newJobFixture(t, e.db)
	viewer := jobTestUser(t, e, admin, "vic", store.RoleViewer)
	operator := jobTestUser(t, e, admin, "olga", store.RoleOperator)
	queued := f.jobs[store.JobQueued]

	// A viewer sees the job but no cancel, and the API refuses it anyway.
	p := e.get(viewer, "/jobs/"+queued)
	if p.status != http.StatusOK || p.has(`id="job-cancel"`) || p.has("/cancel") {
		t.Errorf("viewer's job page: %d, cancel offered %v", p.status, p.has(`id="job-cancel"`))
	}
	r := e.post(viewer, "/jobs/"+queued+"/cancel", url.Values{"csrf_token": {p.csrf(t)}})
	if r.status != http.StatusSeeOther || r.location != "/jobs/"+queued {
		t.Fatalf("viewer's cancel: %d %q", r.status, r.location)
	}
	if p := e.get(viewer, "/jobs/"+queued); !p.has("needs the operator role") || !p.has(`data-status="queued"`) {
		t.Errorf("viewer's cancel did not show the API's refusal:\n%s", p.body)
	}

	// Without the form's token nothing happens.
	if r := e.post(operator, "/jobs/"+queued+"/cancel", url.Values{}); r.status != http.StatusForbidden {
		t.Errorf("cancel without a CSRF token: %d, want 403", r.status)
	}

	// An operator's htmx post answers with the panel, now cancelled.
	tok := e.get(operator, "/jobs/"+queued).csrf(t)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/jobs/"+queued+"/cancel", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", tok)
	raw := mustDo(t, operator, req)
	defer raw.Body.Close()
	frag := readPage(t, raw)
	if frag.status != http.StatusOK || strings.Contains(frag.body, "<html") ||
		!strings.Contains(frag.body, `<section id="job-panel" data-status="cancelled"`) || !strings.Contains(frag.body, "The job is cancelled.") {
		t.Errorf("htmx cancel: %d\n%s", frag.status, frag.body)
	}
	if j, err := e.db.GetJob(context.Background(), queued); err != nil || j.Status != store.JobCancelled || j.Error != "cancelled by olga" {
		t.Errorf("job after cancel: %+v %v", j, err)
	}
	// Again: the API's 409, shown in the panel.
	raw2 := mustDo(t, operator, req.Clone(context.Background()))
	defer raw2.Body.Close()
	frag = readPage(t, raw2)
	if !strings.Contains(frag.body, `role="alert"`) || !strings.Contains(frag.body, "has already ended") {
		t.Errorf("second cancel:\n%s", frag.body)
	}

	// A running job on a server without an agent hub: the API's reason.
	running := f.jobs[store.JobRunning]
	r = e.post(admin, "/jobs/"+running+"/cancel", url.Values{"csrf_token": {tok}})
	if r.status != http.StatusForbidden {
		t.Errorf("cancel with another session's token: %d, want 403", r.status)
	}
	r = e.post(admin, "/jobs/"+running+"/cancel", url.Values{"csrf_token": {e.get(admin, "/").csrf(t)}})
	if r.status != http.StatusSeeOther {
		t.Fatalf("admin's cancel: %d", r.status)
	}
	if p := e.get(admin, "/jobs/"+running); !p.has("cannot reach agents") {
		t.Errorf("the API's reason is not shown:\n%s", p.body)
	}

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, en := range entries {
		if en.Action == "job.cancel" && en.Detail["via"] == "ui" {
			got[en.ActorName+"/"+en.Outcome]++
		}
	}
	if got["vic/denied"] != 1 || got["olga/success"] != 1 || got["olga/failure"] != 1 || got["admin/failure"] != 1 {
		t.Errorf("job.cancel audit entries from the UI: %v", got)
	}
}

func TestJobFormatting(t *testing.T) {
	t.Parallel()
	for in, want := range map[uint64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 30: "5.0 GiB"} {
		if got := sizeIEC(in); got != want {
			t.Errorf("sizeIEC(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[time.Duration]string{
		-time.Second: "0 s", 850 * time.Millisecond: "850 ms", 8250 * time.Millisecond: "8.2 s",
		65 * time.Second: "1 min 05 s", 62*time.Minute + 5*time.Second: "1 h 02 min",
	} {
		if got := spanText(in); got != want {
			t.Errorf("spanText(%s) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"backup": "Backup", "stats": "Repository statistics", "restore": "Restore", "": "Job"} {
		if got := kindTitle(in); got != want {
			t.Errorf("kindTitle(%q) = %q, want %q", in, got, want)
		}
	}
	if s := parseBackupSummary(json.RawMessage(`{"total_size":5}`)); s != nil {
		t.Errorf("a stats summary read as a backup's: %+v", s)
	}
	facts := summaryFacts(json.RawMessage(`{"message_type":"x","total_size":1048576,"snapshots_count":3,"mode":"restore-size","ids":["a","b"],"nested":{"a":1},"dry":true}`))
	got := ""
	for _, f := range facts {
		got += f.Label + "=" + f.Value + ";"
	}
	if want := "dry=yes;ids=2 entries;mode=restore-size;snapshots count=3;total size=1.0 MiB;"; got != want {
		t.Errorf("summaryFacts = %q, want %q", got, want)
	}
	if f := summaryFacts(json.RawMessage(`[{"id":"a"},{"id":"b"},{"id":"c"}]`)); len(f) != 1 || f[0].Value != "3" {
		t.Errorf("a list summary: %+v", f)
	}
	if f := summaryFacts(json.RawMessage(`null`)); f != nil {
		t.Errorf("no summary: %+v", f)
	}
}
