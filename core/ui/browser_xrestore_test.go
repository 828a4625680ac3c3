package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The restore wizard onto another host, in Chromium with two real agents,
// restic and a repository: a file backed up on host A is restored into a
// directory on host B. The confirm step shows where the file lands and
// warns when B's agent cannot write to the directory; the restore runs
// with a one-job key and brings the file back byte for byte.
func TestBrowserRestoreOntoAnotherHost(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	a := r.startAgent("xr-source")
	b := r.startAgent("xr-target")
	r.addRepo("xr", a)
	f := r.backUpTree(a, "xr", 4, "d00/f001.bin")
	victim, snap := f.Path, f.Snap
	// A regular file where the target's parent should be: nobody can
	// create a directory below it.
	blocker := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(blocker, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	badTarget := filepath.Join(blocker, "restore")
	target := filepath.Join(t.TempDir(), "onto-b")

	ctx := newBrowser(t)
	pw := r.createUser("olga", "operator")
	r.login(ctx, "olga", pw)
	do(ctx, t, "open the wizard at the snapshot",
		chromedp.Navigate(r.base+"/hosts/"+a.ID+"/restore?snapshot="+snap.ID),
		chromedp.WaitVisible(chromedp.CSS("#restore-to-host")))
	if got := js[string](ctx, t, `document.getElementById("restore-to-host").value`); got != a.ID {
		t.Errorf("the target host defaults to %q, want the snapshot's host %s", got, a.ID)
	}
	do(ctx, t, "choose host B and a directory it cannot write to",
		chromedp.SendKeys(chromedp.CSS("#restore-includes"), victim),
		chromedp.SetValue(chromedp.CSS("#restore-to-host"), b.ID),
		chromedp.Click(chromedp.CSS("#restore-other")),
		chromedp.SendKeys(chromedp.CSS("#restore-target"), badTarget),
		chromedp.Click(chromedp.CSS("#restore-review")),
		chromedp.WaitVisible(chromedp.CSS("#restore-start")))
	warn := js[string](ctx, t, `document.getElementById("restore-path-check").textContent`)
	if ok := js[string](ctx, t, `document.getElementById("restore-path-check").dataset.ok`); ok != "false" || !strings.Contains(warn, "cannot write") {
		t.Errorf("the confirm step says %q (ok %s) about %s; want a warning that the agent's user cannot write there", warn, ok, badTarget)
	}
	screenshot(ctx, t, "restore-xhost-warning")
	do(ctx, t, "change to a directory B can write to",
		chromedp.Click(chromedp.CSS("#restore-edit")),
		chromedp.WaitVisible(chromedp.CSS("#restore-target")),
		chromedp.SetValue(chromedp.CSS("#restore-target"), target),
		chromedp.Click(chromedp.CSS("#restore-review")),
		chromedp.WaitVisible(chromedp.CSS("#restore-start")))
	if ok := js[string](ctx, t, `document.getElementById("restore-path-check").dataset.ok`); ok != "true" {
		t.Errorf("the confirm step warns about %s: %q", target, js[string](ctx, t, `document.getElementById("restore-path-check").textContent`))
	}
	landed := filepath.Join(target, victim)
	if got := js[string](ctx, t, `document.getElementById("restore-moves").textContent`); !strings.Contains(got, landed) {
		t.Errorf("the confirm step says the file lands at %q, want %s", got, landed)
	}
	if got := js[string](ctx, t, `document.getElementById("restore-confirm-onto").textContent`); !strings.Contains(got, "xr-target") {
		t.Errorf("the confirm step restores onto %q", got)
	}
	screenshot(ctx, t, "restore-xhost-confirm")
	startRestore(ctx, t, 90*time.Second)
	if got := js[string](ctx, t, `document.getElementById("job-scoped-key").textContent`); !strings.Contains(got, "xr-source") || !strings.Contains(got, "one-job key") {
		t.Errorf("the job page says %q about the one-job key; want the source host and the key's state", got)
	}
	screenshot(ctx, t, "restore-xhost-job")
	wantFile(t, landed, f.Want)
}
