package ui

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The restore wizard in Chromium with a real agent, restic and
// repository: a file deleted on the host is brought back to its place by
// walking host → snapshot → files → target → overwrite → confirm, and the
// wizard ends on the restore's job page, which follows it to the end.
func TestBrowserRestoreWizardBringsAFileBack(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := r.startAgent("restore-host")
	r.addRepo("restore", h)
	src := filepath.Join(t.TempDir(), "src")
	writeJobTree(t, src, 6, 4<<10)
	victim := filepath.Join(src, "d00", "f002.bin")
	want, err := os.ReadFile(victim)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.waitJob(r.runJob(h, map[string]any{"kind": "backup", "repository": "restore", "paths": []string{src}})); st != "succeeded" {
		t.Fatalf("backup: %s", st)
	}
	var snap struct{ ID, ShortID string }
	eventually(t, 30*time.Second, "the snapshot listed", func() bool {
		var page struct {
			Items []struct {
				ID      string `json:"id"`
				ShortID string `json:"short_id"`
			} `json:"items"`
		}
		r.api(http.MethodGet, "/api/v1/hosts/"+h.ID+"/snapshots", nil, http.StatusOK, &page)
		if len(page.Items) == 0 {
			return false
		}
		snap.ID, snap.ShortID = page.Items[0].ID, page.Items[0].ShortID
		return true
	})
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}

	ctx := newBrowser(t)
	pw := r.createUser("rita", "operator")
	r.login(ctx, "rita", pw)
	do(ctx, t, "open the wizard and pick the snapshot",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"/restore"),
		chromedp.WaitVisible(chromedp.CSS("#restore-pick-"+snap.ShortID)))
	screenshot(ctx, t, "restore-snapshot")
	do(ctx, t, "choose the file, the original location and skip existing",
		chromedp.Click(chromedp.CSS("#restore-pick-"+snap.ShortID)),
		chromedp.WaitVisible(chromedp.CSS("#restore-includes")),
		chromedp.SendKeys(chromedp.CSS("#restore-includes"), victim),
		chromedp.Click(chromedp.CSS("#restore-original")),
		chromedp.SetValue(chromedp.CSS("#restore-overwrite"), "never"))
	screenshot(ctx, t, "restore-details")
	do(ctx, t, "review",
		chromedp.Click(chromedp.CSS("#restore-review")),
		chromedp.WaitVisible(chromedp.CSS("#restore-start")))
	if got := js[string](ctx, t, `document.getElementById("restore-confirm-includes").textContent`); got != victim {
		t.Errorf("the confirm step restores %q, want %q", got, victim)
	}
	if got := js[string](ctx, t, `document.getElementById("restore-confirm-overwrite").textContent`); got != "Skip existing files" {
		t.Errorf("the confirm step's overwrite policy is %q", got)
	}
	screenshot(ctx, t, "restore-confirm")
	do(ctx, t, "start the restore",
		chromedp.Click(chromedp.CSS("#restore-start")),
		chromedp.WaitVisible(chromedp.CSS("#job-status")))
	waitJS(ctx, t, 60*time.Second, "the restore to succeed", `document.querySelector("#job-status").dataset.status === "succeeded"`)
	screenshot(ctx, t, "restore-job")
	got, err := os.ReadFile(victim)
	if err != nil {
		t.Fatalf("the file is not back: %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the restored file differs (%d bytes, want %d)", len(got), len(want))
	}
}
