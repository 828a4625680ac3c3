package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// A download from the snapshot page in Chromium with a real agent, restic
// and repository: the progress bar counts the bytes received against the
// size the server announces, reaches 100% and the browser saves the very
// bytes of the file; a folder's zip reaches 100% too. The API's headers
// are checked on the way: a file's Content-Length is its size from the
// snapshot's listing.
func TestBrowserDownloadProgress(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.startAgent("dl")
	r.addRepo("main", h)
	src := filepath.Join(t.TempDir(), "src")
	if err := os.MkdirAll(filepath.Join(src, "folder"), 0o750); err != nil {
		t.Fatal(err)
	}
	big := make([]byte, 3<<20+12345) // 13 job_data pieces, not a multiple of one
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "big.bin"), big, 0o600); err != nil {
		t.Fatal(err)
	}
	for i, body := range []string{"one", "two two"} {
		if err := os.WriteFile(filepath.Join(src, "folder", "f"+strconv.Itoa(i)+".txt"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r.backup(h, "main", src)
	snapID := r.firstSnapshot(h).ID

	ctx := newBrowser(t)
	dir := t.TempDir()
	do(ctx, t, "allow downloads", chromedp.Action[chromedp.Void](func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, tg, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: dir})
		return chromedp.Void{}, err
	}))
	r.login(ctx, "admin", r.adminPassword)
	page := r.base + "/hosts/" + h.ID + "/snapshots/" + snapID + "?path=" + url.QueryEscape(src)
	do(ctx, t, "open the snapshot", chromedp.Navigate(page))
	hostsWait(ctx, t, 90*time.Second, "the folder after the listing", `!!document.querySelector("#snapshot-entries")`)
	do(ctx, t, "open src", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`tr[data-entry-path="`+src+`/big.bin"]`)))
	if !hostsEval[bool](ctx, t, `document.getElementById("download-status").hidden`) {
		t.Error("the download bar shows before any download")
	}

	// The file's headers, as the page's script reads them.
	hostsEval[bool](ctx, t, `(function(){
		window.dlHeaders = null;
		var a = document.querySelector('tr[data-entry-path$="/big.bin"] a[data-download]');
		fetch(a.href).then(function (res) {
			var out = {status: String(res.status), length: res.headers.get("Content-Length") || "", size: res.headers.get("X-Download-Size") || ""};
			return res.arrayBuffer().then(function () { window.dlHeaders = out; });
		});
		return true;
	})()`)
	hostsWait(ctx, t, 60*time.Second, "the headers of the file's download", `window.dlHeaders !== null`)
	hdr := hostsEval[map[string]string](ctx, t, `window.dlHeaders`)
	if want := strconv.Itoa(len(big)); hdr["status"] != "200" || hdr["length"] != want || hdr["size"] != want {
		t.Errorf("file download headers %v, want Content-Length and X-Download-Size %s", hdr, want)
	}

	do(ctx, t, "download the file", chromedp.Click(chromedp.CSS(`tr[data-entry-path$="/big.bin"] a[data-download]`)))
	hostsWait(ctx, t, 60*time.Second, "the file's download to end", `document.getElementById("download-status").getAttribute("data-state") !== "running"`)
	if st := hostsEval[string](ctx, t, `document.getElementById("download-status").getAttribute("data-state")`); st != "done" {
		t.Fatalf("the download ended %q: %s", st, hostsEval[string](ctx, t, `document.getElementById("download-text").textContent`))
	}
	if pct := hostsEval[float64](ctx, t, `document.getElementById("download-progress").value`); pct != 100 {
		t.Errorf("the progress bar ends at %v%%", pct)
	}
	if got := hostsEval[string](ctx, t, `document.getElementById("download-text").textContent`); got != "Downloaded 3.0 MiB of 3.0 MiB (100%)." {
		t.Errorf("progress text %q", got)
	}
	screenshot(ctx, t, "snapshot-download-progress")
	eventually(t, 30*time.Second, "the browser to save big.bin", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "big.bin"))
		return err == nil && bytes.Equal(b, big)
	})

	// A folder as zip: the bar measures against the files' sizes and ends
	// at 100% when the archive is complete.
	do(ctx, t, "download the folder", chromedp.Click(chromedp.CSS(`tr[data-entry-path$="/folder"] a[data-download]`)))
	hostsWait(ctx, t, 60*time.Second, "the folder's download to end", `document.getElementById("download-status").getAttribute("data-state") === "done"`)
	if pct := hostsEval[float64](ctx, t, `document.getElementById("download-progress").value`); pct != 100 {
		t.Errorf("the folder's progress bar ends at %v%%", pct)
	}
	eventually(t, 30*time.Second, "the browser to save folder.zip", func() bool {
		b, err := os.ReadFile(filepath.Join(dir, "folder.zip"))
		return err == nil && bytes.HasPrefix(b, []byte("PK"))
	})
}
