package ui

import (
	"os"
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
	f := r.backUpTree(h, "restore", 6, "d00/f002.bin")
	victim, snap := f.Path, f.Snap
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
	startRestore(ctx, t, 60*time.Second)
	screenshot(ctx, t, "restore-job")
	wantFile(t, victim, f.Want)
}
