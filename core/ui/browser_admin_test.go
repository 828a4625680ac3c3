package ui

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserAdminPages walks the admin's pages in Chromium against the
// real server, with a real agent enrolled by the command the page shows:
// add a repository, add a host and watch it come online, add a viewer and
// an API token, then, as that viewer in a second browser, meet the 403
// page, change the password and log in with the new one; last, filter the
// audit log for the repository the form added.
func TestBrowserAdminPages(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	_, agentBin := binaries(t)
	restic := resticBinary(t)
	ctx := newBrowser(t)
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(ctx context.Context, sel string) string {
		return get(ctx, t, "text of "+sel, chromedp.Text(css(sel)))
	}
	html := func(ctx context.Context) string {
		return get(ctx, t, "page HTML", chromedp.OuterHTML(css("html")))
	}
	r.login(ctx, "admin", r.adminPassword)

	// Repositories: the add form; its secrets never come back.
	const repoPassword, envSecret = "browser-repo-password-4c1d", "browser-env-secret-9e27"
	// Not initialised here: the URL only has to pass validation.
	const repoURL = "sftp:backup@nas.example.com:/srv/restic/offsite"
	do(ctx, t, "add a repository",
		chromedp.Navigate(r.base+"/repositories"),
		chromedp.WaitVisible(css("#no-repositories")),
		chromedp.SendKeys(css("#repo-name"), "offsite"),
		chromedp.SendKeys(css("#repo-url"), repoURL),
		chromedp.SendKeys(css("#repo-password"), repoPassword),
		chromedp.SendKeys(css("#repo-description"), "the off-site copy"),
		chromedp.SetValue(css("#repo-env"), "B2_ACCOUNT_ID=browser-id\nB2_ACCOUNT_KEY="+envSecret),
		chromedp.Click(css(`form[action="/repositories"] button[type="submit"]`)),
		chromedp.WaitVisible(css(`[data-repository="offsite"]`)))
	screenshot(ctx, t, "repositories")
	if got := text(ctx, `[data-repository="offsite"]`); !strings.Contains(got, repoURL) || !strings.Contains(got, "B2_ACCOUNT_KEY") {
		t.Errorf("repository card says %q", got)
	}
	if page := html(ctx); strings.Contains(page, repoPassword) || strings.Contains(page, envSecret) || strings.Contains(page, "browser-id") {
		t.Error("the repositories page shows a secret")
	}

	// Add host: the page shows the command; a real agent runs it; the host
	// appears and turns online without a reload.
	do(ctx, t, "make an enrollment token",
		chromedp.Navigate(r.base+"/hosts/new"),
		chromedp.WaitVisible(css("#enroll-uses")),
		chromedp.SetValue(css("#enroll-tags"), "browser, prod"),
		chromedp.Click(css(`form[action="/hosts/new"] button[type="submit"]`)),
		chromedp.WaitVisible(css("#enroll-linux")))
	command := text(ctx, "#enroll-linux")
	_, token, ok := strings.Cut(command, " --token ")
	token = strings.TrimSpace(token)
	if !ok || !strings.HasPrefix(command, "restic-manager-agent enroll --server "+r.base) || !strings.HasPrefix(token, "rme_") {
		t.Fatalf("the page's Linux command is %q", command)
	}
	if win := text(ctx, "#enroll-windows"); !strings.Contains(win, "--token "+token) {
		t.Errorf("the Windows command is %q", win)
	}
	tokenPage := get(ctx, t, "location", chromedp.Location())
	if !strings.HasPrefix(tokenPage, r.base+"/hosts/new/") || strings.Contains(tokenPage, token) {
		t.Errorf("after making the token the address is %s", tokenPage)
	}
	do(ctx, t, "copy the command",
		chromedp.Click(css(`button[data-copy="enroll-linux"]`)),
		chromedp.WaitVisible(css(`[data-copy-status="enroll-linux"]:not(:empty)`)))
	if got := text(ctx, `[data-copy-status="enroll-linux"]`); !strings.Contains(got, "Copied") && !strings.Contains(got, "Selected") {
		t.Errorf("after Copy the page says %q", got)
	}
	runAgent(t, r, agentBin, restic, token, "browser-agent")
	do(ctx, t, "the host appears online",
		chromedp.WaitVisible(css(`#enroll-status [data-host-name="browser-agent"][data-status="online"]`)))
	screenshot(ctx, t, "add-host")
	if got := text(ctx, "#enroll-status"); !strings.Contains(got, "1 of 1 used") || !strings.Contains(got, "online") {
		t.Errorf("enrollment status says %q", got)
	}
	do(ctx, t, "reload the token page",
		chromedp.Reload(),
		chromedp.WaitVisible(css("#token-shown-once")),
		chromedp.WaitVisible(css(`[data-host-name="browser-agent"][data-status="online"]`)))
	if strings.Contains(html(ctx), token) {
		t.Error("the token is shown again after a reload")
	}

	// Users: a viewer and an API token (shown once, copyable).
	const veraFirst, veraNext = "vera's first long password", "vera's next long password"
	do(ctx, t, "add a viewer",
		chromedp.Navigate(r.base+"/users"),
		chromedp.WaitVisible(css("#new-username")),
		chromedp.SendKeys(css("#new-username"), "vera"),
		chromedp.SetValue(css("#new-role"), "viewer"),
		chromedp.SendKeys(css("#new-password"), veraFirst),
		chromedp.Click(css(`form[action="/users"] button[type="submit"]`)),
		chromedp.WaitVisible(css(`[data-user="vera"]`)))
	do(ctx, t, "make an API token",
		chromedp.SendKeys(css("#token-name"), "browser-cli"),
		chromedp.Click(css(`#api-tokens form[action="/tokens"] button[type="submit"]`)),
		chromedp.WaitVisible(css("#token-created #new-token")),
		chromedp.WaitVisible(css(`[data-token="browser-cli"][data-token-status="active"]`)))
	screenshot(ctx, t, "users")
	apiToken := strings.TrimSpace(text(ctx, "#new-token"))
	if !strings.HasPrefix(apiToken, "rmt_") {
		t.Fatalf("the new API token reads %q", apiToken)
	}
	do(ctx, t, "the users page again", chromedp.Reload(), chromedp.WaitVisible(css(`[data-token="browser-cli"]`)))
	if strings.Contains(html(ctx), apiToken) {
		t.Error("the API token is shown again after a reload")
	}

	// The viewer, in a browser context of their own.
	vctx, vcancel := chromedp.NewContext(ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(vcancel)
	r.login(vctx, "vera", veraFirst)
	links := get(vctx, t, "nav links", chromedp.Evaluate[int](
		`document.querySelectorAll('nav a[href="/users"], nav a[href="/audit"], nav a[href="/hosts/new"]').length`))
	if links != 0 {
		t.Errorf("the viewer's nav has %d admin links", links)
	}
	do(vctx, t, "viewer at /users", chromedp.Navigate(r.base+"/users"), chromedp.WaitVisible(css("main h1")))
	if got := text(vctx, "main"); !strings.Contains(got, "403") || !strings.Contains(got, "needs the admin role") {
		t.Errorf("the viewer's /users page says %q", got)
	}
	do(vctx, t, "change the password",
		chromedp.Navigate(r.base+"/account"),
		chromedp.WaitVisible(css("#current-password")),
		chromedp.SendKeys(css("#current-password"), veraFirst),
		chromedp.SendKeys(css("#new-password"), veraNext),
		chromedp.SendKeys(css("#confirm-password"), veraNext),
		chromedp.Click(css(`form[action="/account/password"] button[type="submit"]`)),
		chromedp.WaitVisible(css(`#flash [role="status"]`)))
	screenshot(vctx, t, "account")
	if got := text(vctx, "#flash"); !strings.Contains(got, "Password changed") {
		t.Errorf("after the change the page says %q", got)
	}
	do(vctx, t, "log out",
		chromedp.Click(css(`form[action="/logout"] button`)),
		chromedp.WaitVisible(css("#username")))
	r.login(vctx, "vera", veraNext)

	// Audit: the repository.create entry the form made, via the UI.
	do(ctx, t, "filter the audit log",
		chromedp.Navigate(r.base+"/audit"),
		chromedp.WaitVisible(css("#audit-action")),
		chromedp.SendKeys(css("#audit-action"), "repository.create"),
		chromedp.Click(css(`form[action="/audit"] button[type="submit"]`)),
		chromedp.WaitVisible(css(`#audit tr[data-action="repository.create"]`)))
	screenshot(ctx, t, "audit")
	others := get(ctx, t, "other rows", chromedp.Evaluate[int](`document.querySelectorAll('#audit tr[data-action]:not([data-action="repository.create"])').length`))
	row := text(ctx, `#audit tr[data-action="repository.create"]`)
	if others != 0 || !strings.Contains(row, "admin") || !strings.Contains(row, "via=ui") || !strings.Contains(row, "success") {
		t.Errorf("filtered audit log: %d other rows; the entry reads %q", others, row)
	}
	if page := html(ctx); strings.Contains(page, repoPassword) || strings.Contains(page, envSecret) {
		t.Error("the audit page shows a secret")
	}
}

// runAgent enrolls the agent binary with token under name, with the
// command line the add-host page shows plus a config and state dir of the
// test's own, and runs it with restic on PATH until the test ends.
func runAgent(t *testing.T, r *rig, agentBin, restic, token, name string) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.hcl")
	out, err := exec.Command(agentBin, "enroll", "--server", r.base, "--token", token,
		"--config", cfg, "--state-dir", filepath.Join(dir, "state"), "--name", name).CombinedOutput()
	if err != nil {
		t.Fatalf("agent enroll: %v\n%s", err, out)
	}
	pathDir := t.TempDir()
	if err := os.Symlink(restic, filepath.Join(pathDir, "restic")); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	r.agentLogs = append(r.agentLogs, log)
	cmd := exec.Command(agentBin, "run", "--config", cfg)
	cmd.Env = append(os.Environ(), "PATH="+pathDir+string(os.PathListSeparator)+os.Getenv("PATH"), "HOME="+dir)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	})
}
