package ui

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The snapshot diff in Chromium with a real agent, restic and repository:
// two backups with a file added, one removed and one modified between
// them, compared from the host page's Compare form. The first visit shows
// the diff job's progress and turns into the result by itself; the filter
// links narrow the list; a viewer sees the same result.
func TestBrowserSnapshotDiff(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.startAgent("diffs")
	r.addRepo("main", h)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(src, 0o750); err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("gone.txt", "removed after the first backup")
	write("edited.txt", "first version")
	write("same.txt", "never changes")
	backup := func() {
		t.Helper()
		if st := r.waitJob(r.runJob(h, map[string]any{"kind": "backup", "repository": "main", "paths": []string{src}})); st != "succeeded" {
			t.Fatalf("backup: %s", st)
		}
	}
	backup()
	if err := os.Remove(filepath.Join(src, "gone.txt")); err != nil {
		t.Fatal(err)
	}
	write("edited.txt", "second version, longer")
	write("new.txt", "added before the second backup")
	backup()
	var snaps struct {
		Items []struct{ ID, ShortID string } `json:"items"`
	}
	eventually(t, 30*time.Second, "both snapshots listed", func() bool {
		r.api(http.MethodGet, "/api/v1/hosts/"+h.ID+"/snapshots", nil, http.StatusOK, &snaps)
		return len(snaps.Items) == 2
	})
	newest, older := snaps.Items[0].ID, snaps.Items[1].ID

	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	r.login(ctx, "admin", r.adminPassword)

	// The host page's Compare form: the two newest, older first.
	do(ctx, t, "compare from the host page",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"?tab=snapshots"),
		chromedp.WaitVisible(css("#snapshot-compare-form")))
	if from, to := hostsEval[string](ctx, t, `document.getElementById("compare-from").value`), hostsEval[string](ctx, t, `document.getElementById("compare-to").value`); from != older || to != newest {
		t.Errorf("compare form defaults: from %s to %s; want %s to %s", from, to, older, newest)
	}
	do(ctx, t, "submit the compare form",
		chromedp.Click(css("#snapshot-compare")),
		chromedp.WaitVisible(css("#diff-progress, #diff-changes")))
	if loc := get(ctx, t, "location", chromedp.Location()); !strings.HasPrefix(loc, r.base+"/hosts/"+h.ID+"/diff?from="+older+"&to="+newest) {
		t.Errorf("the Compare form leads to %s", loc)
	}
	hostsWait(ctx, t, 60*time.Second, "the result after the diff job", `!!document.querySelector("#diff-changes")`)
	for sel, want := range map[string]string{"#diff-count-added": "1", "#diff-count-removed": "1", "#diff-count-modified": "1", "#diff-count-other": "0"} {
		if got := strings.TrimSpace(text(sel)); got != want {
			t.Errorf("%s = %q, want %s", sel, got, want)
		}
	}
	rows := hostsEval[[]string](ctx, t, `Array.from(document.querySelectorAll("#diff-rows tr[data-path]")).map(function(r){return r.dataset.path.split("/").pop()+"="+r.querySelector("td").textContent.trim()})`)
	want := map[string]bool{"new.txt=Added": true, "gone.txt=Removed": true, "edited.txt=Modified": true}
	if len(rows) != 3 {
		t.Errorf("rows %v, want the three changes", rows)
	}
	for _, row := range rows {
		if !want[row] {
			t.Errorf("row %q is not one of %v", row, want)
		}
	}
	screenshot(ctx, t, "snapshot-diff")
	fitsWidth(ctx, t, "the diff page")

	// The filter links.
	do(ctx, t, "only the removed",
		chromedp.Click(css(`#diff-filters a[data-filter="removed"]`)),
		chromedp.WaitVisible(css(`#diff-filters a[data-filter="removed"][aria-current="page"]`)))
	if got := hostsEval[[]string](ctx, t, `Array.from(document.querySelectorAll("#diff-rows tr[data-path]")).map(function(r){return r.dataset.path})`); len(got) != 1 || got[0] != src+"/gone.txt" {
		t.Errorf("removed only: %v", got)
	}

	// The page's own selects: swapping the sides turns additions into
	// removals, a second diff job for the reversed pair.
	do(ctx, t, "swap the sides",
		chromedp.SetValue(css("#diff-from"), newest),
		chromedp.SetValue(css("#diff-to"), older),
		chromedp.Click(css("#diff-compare")),
		chromedp.WaitVisible(css("#diff-progress, #diff-changes")))
	hostsWait(ctx, t, 60*time.Second, "the reversed result", `!!document.querySelector("#diff-changes")`)
	if got := hostsEval[string](ctx, t, `document.querySelector('#diff-rows tr[data-path$="/new.txt"] td').textContent.trim()`); got != "Removed" {
		t.Errorf("new.txt in the reversed diff: %q", got)
	}

	// A viewer reads the finished result at once; a bad id is a message.
	pw := r.createUser("vic", "viewer")
	vctx := newBrowser(t)
	r.login(vctx, "vic", pw)
	do(vctx, t, "the viewer's diff",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"/diff?from="+older[:8]+"&to="+newest[:8]),
		chromedp.WaitVisible(css("#diff-changes")))
	if n := hostsEval[int](vctx, t, `document.querySelectorAll("#diff-rows tr[data-path]").length`); n != 3 {
		t.Errorf("the viewer sees %d changes", n)
	}
	do(vctx, t, "a snapshot the host lacks",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"/diff?from="+older+"&to=ffffffff"),
		chromedp.WaitVisible(css("#diff-error")))
	if got := get(vctx, t, "error", chromedp.Text(css("#diff-error"))); !strings.Contains(got, "has no snapshot") {
		t.Errorf("error %q", got)
	}
	var jobs struct {
		Items []struct{ Kind string } `json:"items"`
	}
	r.api(http.MethodGet, "/api/v1/jobs?host="+h.ID, nil, http.StatusOK, &jobs)
	n := 0
	for _, j := range jobs.Items {
		if j.Kind == "diff" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d diff jobs, want 2 (one per ordered pair)", n)
	}
}
