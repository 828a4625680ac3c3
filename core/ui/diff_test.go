package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// diffFixture gives online host h1 three snapshots in repository r1 and
// returns their ids, oldest first.
func diffFixture(t *testing.T, e *env) []string {
	t.Helper()
	ctx := context.Background()
	insertHost(t, e.db, store.Host{ID: "h1", Name: "web1", Status: store.HostOnline})
	now := time.Now()
	if err := e.db.CreateRepository(ctx, store.Repository{ID: "r1", Name: "offsite", URL: "/srv/repo", CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	var ids []string
	var snaps []store.Snapshot
	for i, c := range []string{"a1", "b2", "c3"} {
		id := strings.Repeat(c, 32)
		ids = append(ids, id)
		snaps = append(snaps, store.Snapshot{RepositoryID: "r1", ID: id, ShortID: id[:8], HostID: "h1", Time: now.Add(time.Duration(i-3) * time.Hour)})
	}
	if err := e.db.UpsertSnapshots(ctx, "", snaps, now); err != nil {
		t.Fatal(err)
	}
	return ids
}

// finishDiff ends the host's only diff job with n changes: added, removed
// and modified in turn.
func finishDiff(t *testing.T, e *env, n int) {
	t.Helper()
	ctx := context.Background()
	jobs, err := e.db.ListJobs(ctx, store.JobFilter{HostID: "h1", Limit: 10})
	if err != nil || len(jobs) != 1 || jobs[0].Kind != "diff" {
		t.Fatalf("jobs %+v %v", jobs, err)
	}
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf(`{"message_type":"change","path":"/srv/f%03d","modifier":%q}`, i, []string{"+", "-", "M"}[i%3]))
	}
	if _, err := e.db.AppendJobLogs(ctx, []store.JobLog{{JobID: jobs[0].ID, Seq: 1, Time: time.Now(), Stream: "stdout", Type: "log", Line: strings.Join(lines, "\n")}}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.FinishJob(ctx, jobs[0].ID, store.JobEnd{Status: store.JobSucceeded, At: time.Now(), Summary: json.RawMessage(`{}`)}); err != nil {
		t.Fatal(err)
	}
}

func TestDiffPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	ids := diffFixture(t, e)

	// No pair given: the two newest, and the diff job's progress.
	p := e.get(c, "/hosts/h1/diff")
	if p.status != http.StatusOK || !p.has(`id="diff-progress"`) || !p.has(`hx-get="/hosts/h1/diff/progress?from=`+ids[1]+`&amp;to=`+ids[2]+`"`) {
		t.Fatalf("first visit: %d\n%s", p.status, p.body)
	}
	if !p.has(`<option value="`+ids[1]+`" selected>`) || !p.has(`<option value="`+ids[2]+`" selected>`) || !p.has(`<label for="diff-from"`) {
		t.Errorf("the selects do not default to the two newest:\n%s", p.body)
	}
	prog := e.get(c, "/hosts/h1/diff/progress?from="+ids[1]+"&to="+ids[2])
	if prog.status != http.StatusOK || prog.header.Get("HX-Refresh") != "" || !prog.has("Comparing the snapshots on the host") {
		t.Errorf("progress while running: %d %v %s", prog.status, prog.header, prog.body)
	}
	finishDiff(t, e, diffChangesPerPage+5)
	if prog := e.get(c, "/hosts/h1/diff/progress?from="+ids[1]+"&to="+ids[2]); prog.header.Get("HX-Refresh") != "true" {
		t.Errorf("progress when done: %v %s", prog.header, prog.body)
	}

	// The result: counts, words next to colour, a page and a More link.
	p = e.get(c, "/hosts/h1/diff?from="+ids[1][:8]+"&to="+ids[2][:8])
	for _, want := range []string{
		`id="diff-count-added">69<`, `id="diff-count-removed">68<`, `id="diff-count-modified">68<`,
		`data-change="added" data-path="/srv/f000"`, `>Added</span>`, `>Removed</span>`, `>Modified</span>`, "bg-emerald-100", "bg-red-100",
		`id="diff-more"`, "More (200 of 205 shown)",
	} {
		if !p.has(want) {
			t.Errorf("result lacks %q", want)
		}
	}
	if n := strings.Count(p.body, "data-path="); n != diffChangesPerPage {
		t.Errorf("%d rows on the first page", n)
	}
	// More, as htmx asks for it: the rest of the rows.
	start := strings.Index(p.body, `hx-get="`) + len(`hx-get="`)
	for !strings.Contains(p.body[start:start+40], "/diff?") {
		next := strings.Index(p.body[start:], `hx-get="`)
		if next < 0 {
			t.Fatal("no More link")
		}
		start += next + len(`hx-get="`)
	}
	more := strings.ReplaceAll(p.body[start:start+strings.Index(p.body[start:], `"`)], "&amp;", "&")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+more, nil)
	req.Header.Set("HX-Request", "true")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	frag := readPage(t, res)
	if frag.status != http.StatusOK || strings.Count(frag.body, "data-path=") != 5 || frag.has("<html") || frag.has(`id="diff-more"`) || !frag.has(`data-path="/srv/f204"`) {
		t.Errorf("More: %d\n%s", frag.status, frag.body)
	}

	// A filter link narrows the rows; the counts stay.
	p = e.get(c, "/hosts/h1/diff?from="+ids[1]+"&to="+ids[2]+"&filter=removed")
	if !p.has(`aria-current="page">Removed <span class="tabular-nums">(68)</span>`) || p.has(`data-change="added"`) || !p.has(`data-change="removed"`) {
		t.Errorf("filter removed:\n%s", p.body)
	}
	// Refusals are shown with the form, under the API's status.
	p = e.get(c, "/hosts/h1/diff?from="+ids[1]+"&to=ffffffff")
	if p.status != http.StatusNotFound || !p.has(`id="diff-error"`) || !p.has("has no snapshot") || !p.has(`id="diff-form"`) {
		t.Errorf("unknown snapshot: %d\n%s", p.status, p.body)
	}
	p = e.get(c, "/hosts/h1/diff?from="+ids[1]+"&to="+ids[1])
	if p.status != http.StatusBadRequest || !p.has("same snapshot") {
		t.Errorf("same snapshot: %d", p.status)
	}
	if p = e.get(c, "/hosts/nohost/diff"); p.status != http.StatusNotFound {
		t.Errorf("unknown host: %d", p.status)
	}
	// The host page's Compare form.
	p = e.get(c, "/hosts/h1?tab=snapshots")
	if !p.has(`id="snapshot-compare-form"`) || !p.has(`action="/hosts/h1/diff"`) || !p.has(`<label for="compare-from"`) {
		t.Errorf("host page lacks the Compare form:\n%s", p.body)
	}
}

func TestDiffPageWithOneSnapshot(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	insertHost(t, e.db, store.Host{ID: "h1", Name: "web1", Status: store.HostOnline})
	p := e.get(c, "/hosts/h1/diff")
	if p.status != http.StatusOK || !p.has(`id="diff-too-few"`) || p.has(`id="diff-progress"`) {
		t.Errorf("no snapshots: %d\n%s", p.status, p.body)
	}
	if jobs, _ := e.db.ListJobs(context.Background(), store.JobFilter{HostID: "h1", Limit: 10}); len(jobs) != 0 {
		t.Errorf("a page without a pair started %d jobs", len(jobs))
	}
}

func TestDefaultDiffPair(t *testing.T) {
	t.Parallel()
	s := func(id, repo string) hostSnapshot { return hostSnapshot{ID: id, Repository: repo} }
	for name, tc := range map[string]struct {
		snaps    []hostSnapshot
		from, to string
	}{
		"none":            {nil, "", ""},
		"one":             {[]hostSnapshot{s("a", "r")}, "", ""},
		"two":             {[]hostSnapshot{s("b", "r"), s("a", "r")}, "a", "b"},
		"same repository": {[]hostSnapshot{s("c", "r1"), s("b", "r2"), s("a", "r1")}, "a", "c"},
		"no other in it":  {[]hostSnapshot{s("c", "r1"), s("b", "r2")}, "b", "c"},
	} {
		if from, to := defaultDiffPair(tc.snaps); from != tc.from || to != tc.to {
			t.Errorf("%s: %s→%s, want %s→%s", name, from, to, tc.from, tc.to)
		}
	}
	for _, kind := range []string{"added", "removed", "modified", "type_changed", "metadata_changed", "bitrot", "other"} {
		if changeWords(kind) == "" || changeBadge(kind) == "" || !strings.Contains(changeBadge(kind), "dark:") {
			t.Errorf("%s: words %q badge %q", kind, changeWords(kind), changeBadge(kind))
		}
	}
}
