package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// userClient creates a user with role through the API (as the admin's
// browser session) and returns a client logged in as that user.
func (e *env) userClient(admin *http.Client, name, role string) *http.Client {
	e.t.Helper()
	tok := e.get(admin, "/").csrf(e.t)
	body := fmt.Sprintf(`{"username":%q,"password":%q,"role":%q}`, name, testPassword, role)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/users", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-CSRF-Token", tok)
	raw := mustDo(e.t, admin, req)
	defer raw.Body.Close()
	if res := readPage(e.t, raw); res.status != http.StatusCreated {
		e.t.Fatalf("create user %s: %d %s", name, res.status, res.body)
	}
	c := newClient(e.t)
	login := e.get(c, "/login")
	if p := e.post(c, "/login", url.Values{"csrf_token": {login.csrf(e.t)}, "username": {name}, "password": {testPassword}}); p.status != http.StatusSeeOther {
		e.t.Fatalf("login %s: %d\n%s", name, p.status, p.body)
	}
	return c
}

// addRepo stores a repository without credentials: enough for jobs to be
// created (the test API has no agents to run them).
func addRepo(t *testing.T, db *store.DB, id, name string) {
	t.Helper()
	now := time.Now()
	if err := db.CreateRepository(context.Background(), store.Repository{ID: id, Name: name, URL: "/srv/restic/" + name, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
}

// finishedBackup stores a backup job of host that ran d and ended with status at end.
func finishedBackup(t *testing.T, db *store.DB, id, host, repo, status string, end time.Time, d time.Duration) {
	t.Helper()
	ctx := context.Background()
	if err := db.CreateJob(ctx, store.Job{ID: id, HostID: host, Kind: "backup", Status: store.JobQueued, RepositoryID: repo, CreatedAt: end.Add(-d)}); err != nil {
		t.Fatal(err)
	}
	if err := db.StartJob(ctx, id, end.Add(-d)); err != nil {
		t.Fatal(err)
	}
	if err := db.FinishJob(ctx, id, store.JobEnd{Status: status, At: end}); err != nil {
		t.Fatal(err)
	}
}

var rowRE = regexp.MustCompile(`(?s)<tr [^>]*data-host-id="([^"]+)" data-host-name="([^"]+)">(.*?)</tr>`)

// rows are the dashboard's host rows: name → row HTML, and the names in order.
func rows(p response) (map[string]string, []string) {
	out := map[string]string{}
	var order []string
	for _, m := range rowRE.FindAllStringSubmatch(p.body, -1) {
		out[m[2]] = m[3]
		order = append(order, m[2])
	}
	return out, order
}

func TestDashboardPagesSortsAndSummarises(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	now := time.Now()
	for i := range 120 {
		h := store.Host{ID: fmt.Sprintf("h%03d", i), Name: fmt.Sprintf("host-%03d", i), OS: "linux", Arch: "amd64", AgentVersion: "1.0.0", ResticVersion: "0.18.1"}
		if i%3 == 0 {
			h.Status = store.HostOnline
		}
		insertHost(t, e.db, h)
	}
	addRepo(t, e.db, "r1", "main")
	finishedBackup(t, e.db, "j-old", "h007", "r1", store.JobFailed, now.Add(-3*time.Hour), time.Second)
	finishedBackup(t, e.db, "j-new", "h007", "r1", store.JobSucceeded, now.Add(-2*time.Hour), 90*time.Second)
	finishedBackup(t, e.db, "j-other", "h100", "r1", store.JobFailed, now.Add(-time.Hour), 5*time.Second)
	snaps := []store.Snapshot{
		{RepositoryID: "r1", ID: strings.Repeat("a", 64), HostID: "h007", Time: now},
		{RepositoryID: "r1", ID: strings.Repeat("b", 64), HostID: "h007", Time: now.Add(-time.Hour)},
	}
	if err := e.db.UpsertSnapshots(context.Background(), "", snaps, now); err != nil {
		t.Fatal(err)
	}

	p := e.get(c, "/")
	got, order := rows(p)
	if p.status != http.StatusOK || len(order) != 50 || order[0] != "host-000" || order[49] != "host-049" || !p.has("Hosts 1–50 of 120") {
		t.Fatalf("first page: %d, %d rows %v", p.status, len(order), order)
	}
	row := got["host-007"]
	for _, want := range []string{"succeeded", "in 1 min 30 s", `href="/jobs/j-new"`, "2 h ago", `data-testid="snapshot-count">2<`, "—", "linux/amd64", "offline"} {
		if !strings.Contains(row, want) {
			t.Errorf("host-007's row lacks %q:\n%s", want, row)
		}
	}
	if !strings.Contains(got["host-003"], "online") || !strings.Contains(got["host-003"], "never") || strings.Contains(got["host-003"], "/jobs/") {
		t.Errorf("host-003's row:\n%s", got["host-003"])
	}
	for _, want := range []string{`href="/?page=2"`, `href="/?page=3"`, `rel="next"`, `aria-current="page"`} {
		if !p.has(want) {
			t.Errorf("the first page's pager lacks %s", want)
		}
	}
	if p.has(`rel="prev"`) {
		t.Error("the first page links a previous page")
	}

	p = e.get(c, "/?page=3")
	if _, order := rows(p); len(order) != 20 || order[0] != "host-100" || !p.has("Hosts 101–120 of 120") || p.has(`rel="next"`) {
		t.Errorf("page 3: %v", order)
	}
	p = e.get(c, "/?page=9")
	if _, order := rows(p); len(order) != 0 || !p.has("past the last of the 120 hosts") || !p.has(`href="/?page=3"`) {
		t.Errorf("a page past the end: %v", order)
	}

	tests := map[string]struct {
		query string
		first string
		count string
	}{
		"name desc":        {"?order=desc", "host-119", "Hosts 1–50 of 120"},
		"last backup desc": {"?sort=last_backup&order=desc", "host-100", "Hosts 1–50 of 120"},
		"status":           {"?sort=status", "host-000", "Hosts 1–40 of 40"},
		"search":           {"?name=HOST-01", "host-010", "Hosts 1–10 of 10"},
		"search and state": {"?name=host-00&status=online", "host-000", "Hosts 1–4 of 4"},
	}
	for name, tc := range tests {
		if name == "status" {
			tc.query += "&status=online"
		}
		p := e.get(c, "/"+tc.query)
		_, order := rows(p)
		if p.status != http.StatusOK || len(order) == 0 || order[0] != tc.first || !p.has(tc.count) {
			t.Errorf("%s: %d, first %v, want %s and %q", name, p.status, order, tc.first, tc.count)
		}
	}
	if _, order := rows(e.get(c, "/?sort=last_backup&order=desc")); order[1] != "host-007" {
		t.Errorf("by last backup, newest first: %v", order[:3])
	}

	// Column headers: the current column flips its order, others start in
	// their own; the filter stays, paging restarts.
	p = e.get(c, "/?name=host&page=2")
	for _, want := range []string{
		`aria-sort="ascending"><a href="/?name=host&amp;order=desc"`,
		`aria-sort="none"><a href="/?name=host&amp;order=desc&amp;sort=last_backup"`,
		`aria-sort="none"><a href="/?name=host&amp;sort=status"`,
	} {
		if !p.has(want) {
			t.Errorf("headers lack %s", want)
		}
	}

	for query, msg := range map[string]string{
		"?sort=size":  "sort must be name, status, last_seen or last_backup",
		"?order=up":   "order must be asc or desc",
		"?page=0":     "page must be a number from 1",
		"?status=zzz": "status must be online, offline or revoked",
	} {
		if p := e.get(c, "/"+query); p.status != http.StatusBadRequest || !p.has(msg) {
			t.Errorf("GET /%s: %d, want 400 saying %q", query, p.status, msg)
		}
	}
	if p := e.get(c, "/hosts?name=host-11"); p.status != http.StatusOK || !p.has("Hosts 1–10 of 10") {
		t.Errorf("/hosts is not the host list: %d", p.status)
	}
}

func TestDashboardRowsFragmentFollowsTheFleet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	insertHost(t, e.db, store.Host{ID: "h1", Name: "web-1", Status: store.HostOffline})
	page := e.get(c, "/?name=web&sort=status")
	if !page.has(`hx-get="/dashboard/rows?name=web&amp;sort=status"`) || !page.has(`hx-trigger="every 5s"`) {
		t.Fatalf("the dashboard does not poll its rows for its own query:\n%s", page.body)
	}
	frag := e.get(c, "/dashboard/rows?name=web&sort=status")
	rowsBefore, _ := rows(frag)
	if frag.status != http.StatusOK || strings.Contains(frag.body, "<html") || !strings.HasPrefix(strings.TrimSpace(frag.body), `<div id="host-results"`) ||
		len(rowsBefore) != 1 || !strings.Contains(rowsBefore["web-1"], "offline") {
		t.Fatalf("fragment: %d\n%s", frag.status, frag.body)
	}
	// A host comes online and another enrolls: the next poll shows both.
	if err := e.db.SetHostStatus(context.Background(), "h1", store.HostOnline, time.Now()); err != nil {
		t.Fatal(err)
	}
	insertHost(t, e.db, store.Host{ID: "h2", Name: "web-2", Status: store.HostOnline})
	insertHost(t, e.db, store.Host{ID: "h3", Name: "db-1", Status: store.HostOnline})
	frag = e.get(c, "/dashboard/rows?name=web&sort=status")
	got, order := rows(frag)
	if fmt.Sprint(order) != "[web-1 web-2]" || !strings.Contains(got["web-1"], "online") || !frag.has("Hosts 1–2 of 2") {
		t.Errorf("after changes: %v\n%s", order, frag.body)
	}
	if p := e.get(newClient(t), "/dashboard/rows"); p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/login") {
		t.Errorf("rows without a session: %d %q", p.status, p.location)
	}
}

// hostFixture is a host with a repository, a snapshot with a summary and
// 30 jobs (the newest a succeeded backup).
func hostFixture(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	// Tags come from the enrollment token.
	if err := e.db.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "tok-tags", TokenHash: "hash-tags", CreatedAt: now, ExpiresAt: now.Add(time.Hour), UsesTotal: 1, Tags: []string{"prod", "eu"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.RedeemEnrollmentToken(ctx, store.Enrollment{TokenHash: "hash-tags", Host: store.Host{ID: "h1", Name: "web-1"}, CredentialID: "cred-h1", SecretHash: "secret-h1", Now: now}); err != nil {
		t.Fatal(err)
	}
	hello := store.HostHello{Hostname: "web-1", OS: "linux", Arch: "arm64", AgentVersion: "1.2.3", ResticVersion: "0.18.1"}
	if err := e.db.UpdateHostHello(ctx, "h1", hello, now); err != nil {
		t.Fatal(err)
	}
	addRepo(t, e.db, "r1", "main")
	for i := range 29 {
		if err := e.db.CreateJob(ctx, store.Job{ID: fmt.Sprintf("j%02d", i), HostID: "h1", Kind: "check", Status: store.JobQueued, RepositoryID: "r1", CreatedAt: now.Add(time.Duration(i-60) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	finishedBackup(t, e.db, "jb", "h1", "r1", store.JobSucceeded, now.Add(-time.Minute), 42*time.Second)
	snap := store.Snapshot{
		RepositoryID: "r1", ID: "f00dfeed" + strings.Repeat("0", 56), HostID: "h1", Time: now.Add(-time.Minute),
		Paths: []string{"/srv/data", "/etc"}, Tags: []string{"nightly"}, Summary: json.RawMessage(`{"data_added":1572864,"total_bytes_processed":9999}`),
	}
	if err := e.db.UpsertSnapshots(ctx, "", []store.Snapshot{snap}, now); err != nil {
		t.Fatal(err)
	}
}

func TestHostPageTabs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	hostFixture(t, e)

	p := e.get(c, "/hosts/h1")
	for _, want := range []string{
		`id="host-name">web-1<`, "linux/arm64", "1.2.3", "0.18.1", ">prod<", ">eu<", "online", `href="/jobs/jb"`, "took 42.0 s",
		`id="host-snapshot-count">1<`, `href="/hosts/h1?tab=snapshots"`, `href="/hosts/h1?tab=jobs"`, `href="/hosts/h1?tab=run"`,
		`aria-current="page">Overview`, `href="/hosts/h1/revoke"`, `hx-get="/hosts/h1/status"`,
	} {
		if !p.has(want) {
			t.Errorf("overview lacks %s", want)
		}
	}
	if byName := e.get(c, "/hosts/web-1"); byName.status != http.StatusOK || !byName.has(`id="host-name">web-1<`) {
		t.Errorf("the host page by name: %d", byName.status)
	}

	p = e.get(c, "/hosts/h1?tab=snapshots")
	for _, want := range []string{`title="Browse snapshot f00dfeed`, ">f00dfeed<", "<code>/srv/data</code>, <code>/etc</code>", ">nightly<", ">main<", "1.5 MiB"} {
		if !p.has(want) {
			t.Errorf("snapshots tab lacks %s", want)
		}
	}

	p = e.get(c, "/hosts/h1?tab=jobs")
	jobRows := regexp.MustCompile(`data-job-id="([^"]+)"`).FindAllStringSubmatch(p.body, -1)
	if len(jobRows) != 25 || jobRows[0][1] != "jb" || !p.has(`href="/jobs/jb"`) || !p.has(">Backup<") || !p.has("42.0 s") || !p.has("queued") {
		t.Fatalf("jobs tab: %d rows, first %v", len(jobRows), jobRows[:1])
	}
	older := regexp.MustCompile(`href="(/hosts/h1\?tab=jobs&amp;cursor=[^"]+)" rel="next"`).FindStringSubmatch(p.body)
	if older == nil {
		t.Fatal("the jobs tab has no link to older jobs")
	}
	p = e.get(c, strings.ReplaceAll(older[1], "&amp;", "&"))
	if n := len(regexp.MustCompile(`data-job-id=`).FindAllString(p.body, -1)); n != 5 || !p.has(">Newest<") || p.has(`rel="next"`) {
		t.Errorf("older jobs: %d rows", n)
	}

	status := e.get(c, "/hosts/h1/status")
	if status.status != http.StatusOK || !strings.HasPrefix(strings.TrimSpace(status.body), `<p id="host-status"`) || !status.has("online") {
		t.Errorf("status fragment: %d %s", status.status, status.body)
	}

	for path, want := range map[string]int{"/hosts/nope": http.StatusNotFound, "/hosts/h1?tab=secrets": http.StatusNotFound, "/hosts/nope/status": http.StatusNotFound} {
		if p := e.get(c, path); p.status != want {
			t.Errorf("GET %s: %d, want %d", path, p.status, want)
		}
	}
	if p := e.get(c, "/hosts/nope"); !p.has("no host") {
		t.Errorf("unknown host page does not say why:\n%s", p.body)
	}
}

func TestHostRunNow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	hostFixture(t, e)
	op := e.userClient(admin, "olivia", "operator")
	viewer := e.userClient(admin, "victor", "viewer")
	ctx := context.Background()
	jobCount := func() int {
		jobs, err := e.db.ListJobs(ctx, store.JobFilter{HostID: "h1", Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs)
	}
	before := jobCount()

	run := e.get(op, "/hosts/h1?tab=run")
	csrf := run.csrf(t)
	for _, want := range []string{`action="/hosts/h1/run"`, `<option value="main"`, `for="run-paths"`, `value="backup"`, `value="unlock"`, `value="forget"`} {
		if !run.has(want) {
			t.Errorf("the operator's run tab lacks %s", want)
		}
	}
	if run.has(`value="prune"`) || run.has(`href="/hosts/h1/revoke"`) {
		t.Error("an operator is offered prune or revoke")
	}

	// A backup: straight to the job's page.
	p := e.post(op, "/hosts/h1/run", url.Values{
		"csrf_token": {csrf}, "kind": {"backup"}, "repository": {"main"},
		"paths": {"/srv/data\r\n\r\n /etc \r\n"}, "tags": {"manual, ui"}, "limit_upload_kib": {"512"},
	})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/jobs/") {
		t.Fatalf("run backup: %d %q\n%s", p.status, p.location, p.body)
	}
	j, err := e.db.GetJob(ctx, strings.TrimPrefix(p.location, "/jobs/"))
	if err != nil || j.Kind != "backup" || j.RepositoryID != "r1" || j.CreatedBy == "" {
		t.Fatalf("job %+v, %v", j, err)
	}
	var params struct {
		Paths          []string `json:"paths"`
		Tags           []string `json:"tags"`
		LimitUploadKiB int64    `json:"limit_upload_kib"`
	}
	if err := json.Unmarshal(j.Params, &params); err != nil || fmt.Sprint(params.Paths) != "[/srv/data /etc]" ||
		fmt.Sprint(params.Tags) != "[manual ui]" || params.LimitUploadKiB != 512 {
		t.Errorf("params %s", j.Params)
	}

	// Refusals keep the form and say why: the form's own, then the API's.
	for name, tc := range map[string]struct {
		form   url.Values
		status int
		msg    string
	}{
		"limit not a number": {url.Values{"kind": {"backup"}, "paths": {"/srv"}, "limit_upload_kib": {"fast"}}, http.StatusBadRequest, "Upload limit (KiB/s) must be a whole number"},
		"no paths":           {url.Values{"kind": {"backup"}, "paths": {" \n "}}, http.StatusBadRequest, "Paths: give at least one absolute path"},
		"relative path":      {url.Values{"kind": {"backup"}, "paths": {"srv/data"}}, http.StatusBadRequest, "is not absolute"},
		"unknown kind":       {url.Values{"kind": {"format"}}, http.StatusBadRequest, "kind &#34;format&#34;"},
		"no repository":      {url.Values{"kind": {"check"}, "repository": {"gone"}}, http.StatusNotFound, "no repository &#34;gone&#34;"},
		"prune, operator":    {url.Values{"kind": {"prune"}, "confirm": {"yes"}}, http.StatusForbidden, "needs the admin role"},
	} {
		tc.form.Set("csrf_token", csrf)
		if tc.form.Get("repository") == "" {
			tc.form.Set("repository", "main")
		}
		p := e.post(op, "/hosts/h1/run", tc.form)
		if p.status != tc.status || !p.has(tc.msg) || !p.has(`id="run-form"`) {
			t.Errorf("%s: %d, want %d with %q and the form\n%s", name, p.status, tc.status, tc.msg, p.body)
		}
		if name == "relative path" && !p.has(">srv/data</textarea>") {
			t.Errorf("the refused form lost its paths")
		}
	}
	if n := jobCount(); n != before+1 {
		t.Errorf("%d jobs were created, want 1", n-before)
	}

	// Unlock asks first, on a page of its own; only "yes" runs it.
	p = e.post(op, "/hosts/h1/run", url.Values{"csrf_token": {csrf}, "kind": {"unlock"}, "repository": {"main"}})
	if p.status != http.StatusOK || !p.has("Unlock repository on web-1?") || !p.has(`name="confirm" value="yes"`) ||
		!p.has(`href="/hosts/h1?tab=run"`) || jobCount() != before+1 {
		t.Fatalf("unlock without confirmation: %d, %d jobs\n%s", p.status, jobCount()-before, p.body)
	}
	p = e.post(op, "/hosts/h1/run", url.Values{"csrf_token": {csrf}, "kind": {"unlock"}, "repository": {"main"}, "confirm": {"yes"}})
	if p.status != http.StatusSeeOther || !strings.HasPrefix(p.location, "/jobs/") || jobCount() != before+2 {
		t.Fatalf("confirmed unlock: %d %q", p.status, p.location)
	}

	// An admin's forget with prune, confirmed: the retention goes along.
	adminCSRF := e.get(admin, "/hosts/h1?tab=run").csrf(t)
	forget := url.Values{"csrf_token": {adminCSRF}, "kind": {"forget"}, "repository": {"main"}, "keep_daily": {"7"}, "keep_last": {"3"}, "prune": {"on"}}
	p = e.post(admin, "/hosts/h1/run", forget)
	if p.status != http.StatusOK || !p.has("last 3") || !p.has("daily 7") || !p.has(`name="prune" value="on"`) {
		t.Fatalf("forget confirm page: %d\n%s", p.status, p.body)
	}
	forget.Set("confirm", "yes")
	p = e.post(admin, "/hosts/h1/run", forget)
	if p.status != http.StatusSeeOther {
		t.Fatalf("confirmed forget: %d\n%s", p.status, p.body)
	}
	j, _ = e.db.GetJob(ctx, strings.TrimPrefix(p.location, "/jobs/"))
	if j.Kind != "forget" || !strings.Contains(string(j.Params), `"keep_last":3`) || !strings.Contains(string(j.Params), `"keep_daily":7`) || !strings.Contains(string(j.Params), `"prune":true`) {
		t.Errorf("forget job %s %s", j.Kind, j.Params)
	}

	// A viewer sees no run controls, and a forged post is refused by the API.
	vp := e.get(viewer, "/hosts/h1")
	if vp.has(`?tab=run"`) || vp.has(`action="/hosts/h1/run"`) || vp.has("/revoke") {
		t.Error("a viewer is shown run or revoke controls")
	}
	if p := e.get(viewer, "/hosts/h1?tab=run"); p.has(`id="run-form"`) || !p.has("needs the operator or admin role") {
		t.Error("a viewer's run tab shows the form")
	}
	n := jobCount()
	p = e.post(viewer, "/hosts/h1/run", url.Values{"csrf_token": {vp.csrf(t)}, "kind": {"backup"}, "repository": {"main"}, "paths": {"/srv"}})
	if p.status != http.StatusForbidden || !p.has("this needs the operator role; you are viewer") || jobCount() != n {
		t.Errorf("a viewer's forged run: %d\n%s", p.status, p.body)
	}
	if p := e.post(op, "/hosts/h1/run", url.Values{"kind": {"backup"}, "repository": {"main"}, "paths": {"/srv"}}); p.status != http.StatusForbidden || jobCount() != n {
		t.Errorf("a run without the CSRF token: %d", p.status)
	}

	// The API wrote the audit entries, marked as the UI's.
	entries, err := e.db.ListAudit(ctx, store.AuditFilter{Action: "job.run", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, en := range entries {
		if en.Detail["via"] == "ui" {
			seen[en.ActorName+"/"+en.Outcome]++
		}
	}
	if seen["olivia/success"] != 2 || seen["admin/success"] != 1 || seen["victor/denied"] != 1 {
		t.Errorf("job.run audit entries from the UI: %v", seen)
	}
}

func TestHostRevokeAsksFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.setup()
	insertHost(t, e.db, store.Host{ID: "h1", Name: "web-1", Status: store.HostOnline})
	op := e.userClient(admin, "olivia", "operator")
	status := func() string {
		h, err := e.db.GetHost(context.Background(), "h1")
		if err != nil {
			t.Fatal(err)
		}
		return h.Status
	}

	p := e.get(admin, "/hosts/h1/revoke")
	if p.status != http.StatusOK || !p.has("Revoke web-1?") || !p.has(`action="/hosts/h1/revoke"`) || !p.has(`href="/hosts/h1"`) {
		t.Fatalf("confirm page: %d\n%s", p.status, p.body)
	}
	csrf := p.csrf(t)
	if p := e.post(admin, "/hosts/h1/revoke", url.Values{"csrf_token": {csrf}}); p.status != http.StatusOK || !p.has("Revoke web-1?") || status() != store.HostOnline {
		t.Fatalf("revoke without confirmation: %d, host %s", p.status, status())
	}
	if p := e.post(op, "/hosts/h1/revoke", url.Values{"csrf_token": {e.get(op, "/").csrf(t)}, "confirm": {"yes"}}); p.status != http.StatusForbidden ||
		!p.has("this needs the admin role; you are operator") || status() != store.HostOnline {
		t.Fatalf("an operator's revoke: %d, host %s", p.status, status())
	}
	p = e.post(admin, "/hosts/h1/revoke", url.Values{"csrf_token": {csrf}, "confirm": {"yes"}})
	if p.status != http.StatusSeeOther || p.location != "/hosts/h1" || status() != store.HostRevoked {
		t.Fatalf("confirmed revoke: %d %q, host %s", p.status, p.location, status())
	}
	page := e.get(admin, "/hosts/h1")
	if !page.has("web-1 is revoked") || !page.has(`data-host-status="revoked"`) || page.has(`href="/hosts/h1/revoke"`) {
		t.Errorf("after revoking:\n%s", page.body)
	}
	if run := e.get(admin, "/hosts/h1?tab=run"); run.has(`id="run-form"`) || !run.has("This host is revoked") {
		t.Error("a revoked host still offers run-now")
	}
}

func TestPagerNumbers(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		current, last int
		want          string
	}{
		"one page":   {1, 1, "[]"},
		"two pages":  {2, 2, "[1 2]"},
		"start":      {1, 40, "[1 2 3 0 40]"},
		"middle":     {20, 40, "[1 0 18 19 20 21 22 0 40]"},
		"near start": {4, 40, "[1 2 3 4 5 6 0 40]"},
		"end":        {40, 40, "[1 0 38 39 40]"},
		"small":      {3, 5, "[1 2 3 4 5]"},
	}
	for name, tc := range tests {
		if got := fmt.Sprint(pagerNumbers(tc.current, tc.last)); got != tc.want {
			t.Errorf("%s: %s, want %s", name, got, tc.want)
		}
	}
}

func TestRunRequest(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		kind string
		form runForm
		want string
	}{
		"backup": {
			"backup",
			runForm{Repository: "r", Paths: "/a\n\n /b \n", Tags: "x,y z", LimitUpload: "0"},
			`{"kind":"backup","paths":["/a","/b"],"repository":"r","tags":["x","y","z"]}`,
		},
		"check ignores backup fields": {"check", runForm{Repository: "r", Paths: "/a", Tags: "t"}, `{"kind":"check","repository":"r"}`},
		"forget":                      {"forget", runForm{Repository: "r", KeepWeekly: "4", KeepLast: ""}, `{"kind":"forget","params":{"retention":{"keep_weekly":4}},"repository":"r"}`},
		"forget with prune":           {"forget", runForm{Repository: "r", KeepDaily: "1", Prune: true}, `{"kind":"forget","params":{"prune":true,"retention":{"keep_daily":1}},"repository":"r"}`},
		"ls latest":                   {"ls", runForm{Repository: "r"}, `{"kind":"ls","params":{"snapshots":["latest"]},"repository":"r"}`},
		"ls one":                      {"ls", runForm{Repository: "r", Snapshot: "abc123"}, `{"kind":"ls","params":{"snapshots":["abc123"]},"repository":"r"}`},
		"bad keep":                    {"forget", runForm{KeepDaily: "-1"}, "error: Keep daily must be a whole number (0 or more)."},
		"bad limit":                   {"backup", runForm{Paths: "/a", LimitUpload: "1.5"}, "error: Upload limit (KiB/s) must be a whole number (0 or more)."},
	}
	for name, tc := range tests {
		body, err := tc.form.runRequest(tc.kind)
		got := ""
		if err != nil {
			got = "error: " + err.Error()
		} else {
			b, _ := json.Marshal(body)
			got = string(b)
		}
		if got != tc.want {
			t.Errorf("%s: %s\nwant %s", name, got, tc.want)
		}
	}
}
