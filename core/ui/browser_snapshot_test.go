package ui

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The snapshot browser in Chromium with a real agent, restic and
// repository: a backup, then its snapshot opened from the host page. The
// first visit shows the listing's progress and turns into the folder by
// itself; then a folder is entered, entries are selected for a restore,
// the download links are checked, and the snapshot is searched.
func TestBrowserSnapshotBrowser(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.startAgent("files")
	r.addRepo("main", h)
	src := filepath.Join(t.TempDir(), "src")
	for name, body := range map[string]string{
		"docs/report.txt": strings.Repeat("quarterly ", 300), "docs/notes.md": "notes",
		"photos/2024/beach.jpg": "jpg", "photos/2024/hills.jpg": "jpg2", "readme.md": "hello",
	} {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.backup(h, "main", src)
	snapID := r.firstSnapshot(h).ID

	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	r.login(ctx, "admin", r.adminPassword)

	// From the host's snapshots to the browser: the listing runs, then the
	// page shows the top folder without a reload by hand.
	do(ctx, t, "open the snapshot from the host page",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"?tab=snapshots"),
		chromedp.Click(css(`#snapshots tr[data-snapshot-id="`+snapID+`"] a`)),
		chromedp.WaitVisible(css("#snapshot-progress, #snapshot-entries")))
	if loc := get(ctx, t, "location", chromedp.Location()); loc != r.base+"/hosts/"+h.ID+"/snapshots/"+snapID {
		t.Errorf("the snapshot's link leads to %s", loc)
	}
	hostsWait(ctx, t, 60*time.Second, "the folder after the listing", `!!document.querySelector("#snapshot-entries")`)
	top := "/" + strings.Split(strings.TrimPrefix(src, "/"), "/")[0]
	if got := text("#snapshot-entries tbody"); !strings.Contains(got, strings.TrimPrefix(top, "/")+"/") || !strings.Contains(got, "folder") {
		t.Errorf("top folder shows %q, want %s", got, top)
	}

	// Into src, then docs by its link.
	do(ctx, t, "open src, then docs",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"/snapshots/"+snapID+"?path="+url.QueryEscape(src)),
		chromedp.WaitVisible(css(`#snapshot-entries tr[data-entry-path="`+src+`/docs"]`)),
		chromedp.Click(css(`tr[data-entry-path="`+src+`/docs"] a[href*="path="]`)),
		chromedp.WaitVisible(css(`tr[data-entry-path="`+src+`/docs/report.txt"]`)))
	rows := text("#snapshot-entries tbody")
	for _, want := range []string{"notes.md", "report.txt", "2.9 KiB", "file"} {
		if !strings.Contains(rows, want) {
			t.Errorf("docs lacks %q:\n%s", want, rows)
		}
	}
	if crumbs := text("#snapshot-crumbs"); !strings.HasSuffix(strings.Join(strings.Fields(crumbs), ""), "/src/docs") {
		t.Errorf("breadcrumb %q", crumbs)
	}
	if got := text("#snapshot-count"); !strings.HasPrefix(got, "2 entries") {
		t.Errorf("count %q", got)
	}
	dl := get(ctx, t, "download link", chromedp.Evaluate[string](`document.querySelector('tr[data-entry-path$="/report.txt"] a[download]').getAttribute("href")`))
	if want := "/api/v1/hosts/" + h.ID + "/snapshots/" + snapID + "/dump?path=" + url.QueryEscape(src+"/docs/report.txt"); dl != want { // a file: its bytes, no format
		t.Errorf("file download %q, want %q", dl, want)
	}

	// Select both entries: the restore button names them and its form
	// leads to the restore wizard with both paths.
	if !hostsEval[bool](ctx, t, `document.getElementById("restore-selected").disabled`) {
		t.Error("Restore selected… is enabled with nothing selected")
	}
	do(ctx, t, "select both",
		chromedp.Click(css(`tr[data-entry-path$="/report.txt"] input[type=checkbox]`)),
		chromedp.Click(css(`tr[data-entry-path$="/notes.md"] input[type=checkbox]`)))
	if got := text("#restore-count"); got != "2 entries selected." {
		t.Errorf("restore count %q", got)
	}
	screenshot(ctx, t, "snapshot-browser")
	fitsWidth(ctx, t, "the snapshot browser")
	restore := hostsEval[string](ctx, t, `(function(){var f=document.getElementById("restore-form");return f.getAttribute("action")+"?"+new URLSearchParams(new FormData(f)).toString()})()`)
	wantRestore := "/hosts/" + h.ID + "/restore?" + url.Values{"snapshot": {snapID}}.Encode() + "&include=" + url.QueryEscape(src+"/docs/notes.md") + "&include=" + url.QueryEscape(src+"/docs/report.txt")
	if restore != wantRestore {
		t.Errorf("restore link %q, want %q", restore, wantRestore)
	}

	// Search by part of a name.
	do(ctx, t, "search",
		chromedp.SendKeys(css("#snapshot-q"), "JPG"),
		chromedp.Submit(css("#snapshot-q")),
		chromedp.WaitVisible(css(`tr[data-entry-path="`+src+`/photos/2024/beach.jpg"]`)))
	if got := text("#snapshot-count"); !strings.HasPrefix(got, "2 found") {
		t.Errorf("search count %q", got)
	}
	if got := text("#snapshot-entries tbody"); !strings.Contains(got, src+"/photos/2024/hills.jpg") {
		t.Errorf("search rows %q", got)
	}
	// The folder's own download is a zip.
	do(ctx, t, "back to src",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"/snapshots/"+snapID[:8]+"?path="+url.QueryEscape(src)),
		chromedp.WaitVisible(css(`tr[data-entry-path="`+src+`/photos"]`)))
	if dl := hostsEval[string](ctx, t, `document.querySelector('tr[data-entry-path$="/photos"] a[download]').getAttribute("href")`); !strings.Contains(dl, "/snapshots/"+snapID+"/dump?") || !strings.Contains(dl, "format=zip") {
		t.Errorf("folder download %q", dl)
	}
	// Folders first: docs, photos, then readme.md.
	order := hostsEval[[]string](ctx, t, `Array.from(document.querySelectorAll("#snapshot-entries tbody tr[data-entry-path]")).map(function(r){return r.dataset.entryPath.split("/").pop()})`)
	if strings.Join(order, ",") != "docs,photos,readme.md" {
		t.Errorf("order %v", order)
	}
}
