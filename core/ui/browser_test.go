package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// The browser test drives Debian's Chromium with chromedp against the real
// server binary. It fails, not skips, without Chromium: CI installs it with
// scripts/install-chromium.sh (make test does).

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, c := range []string{os.Getenv("CHROME_PATH"), "chromium", "chromium-browser"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: run scripts/install-chromium.sh (or set CHROME_PATH) to install it for the browser tests")
	return ""
}

// syncBuffer collects the server's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type serverProc struct {
	bin, addr, dataDir string
}

// startServer builds restic-manager and runs it on a free loopback port
// with a fresh data directory.
func startServer(t *testing.T) *serverProc {
	t.Helper()
	dir := t.TempDir()
	bin, _ := binaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := &serverProc{bin: bin, addr: addr, dataDir: filepath.Join(dir, "data")}
	cfgPath := filepath.Join(dir, "config.hcl")
	cfg := fmt.Sprintf("server {\n  listen   = %q\n  data_dir = %q\n}\n", addr, p.dataDir)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	cmd := exec.Command(bin, "server", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		exit := <-done
		if t.Failed() {
			t.Logf("server (%v) log:\n%s", exit, log.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if res, err := http.Get("http://" + addr + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-done:
			t.Fatalf("server exited early: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready\n%s", log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// newBrowser starts headless Chromium with a fresh profile.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(390, 844), // phone width: the layout must hold
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start Chromium: %v (run scripts/install-chromium.sh)", err)
	}
	// Headless Chromium keeps its window at least 500 px wide; emulate the
	// phone's viewport so every page is tested at 390 px.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(390, 844)); err != nil {
		t.Fatalf("emulate a phone viewport: %v", err)
	}
	return bctx
}

// do runs the steps of one part of the walk, and on failure shows where the
// browser is and what it shows.
func do(ctx context.Context, t *testing.T, step string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(ctx, chromedp.Location())
		body, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
		t.Fatalf("%s: %v\nat %s:\n%s", step, err, loc, body)
	}
}

// screenshot saves a PNG of the whole page as dir/name.png when
// RM_SCREENSHOT_DIR names a directory (for docs/screenshots); otherwise it
// does nothing.
func screenshot(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("RM_SCREENSHOT_DIR")
	if dir == "" {
		return
	}
	// At a desktop width, the way most people will first see it; then back
	// to the phone's viewport the tests run at.
	do(ctx, t, "desktop viewport for "+name, chromedp.EmulateViewport(1280, 800), chromedp.Sleep(300*time.Millisecond))
	png := get(ctx, t, "screenshot "+name, chromedp.FullScreenshot(100))
	do(ctx, t, "phone viewport after "+name, chromedp.EmulateViewport(390, 844))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o600); err != nil {
		t.Fatal(err)
	}
}

// get runs one action that returns a value.
func get[T any](ctx context.Context, t *testing.T, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func TestBrowserSetupLoginAndDashboard(t *testing.T) {
	srv := startServer(t)
	ctx := newBrowser(t)
	base := "http://" + srv.addr
	raw, err := os.ReadFile(filepath.Join(srv.dataDir, "setup-token"))
	if err != nil {
		t.Fatal(err)
	}
	setupToken := strings.TrimSpace(string(raw))
	const password = "a long browser password"
	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	location := func() string { return get(ctx, t, "location", chromedp.Location()) }

	do(ctx, t, "first visit leads to setup",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css("#setup_token")))
	screenshot(ctx, t, "setup")
	if loc := location(); loc != base+"/setup" {
		t.Errorf("first visit landed on %s, want /setup", loc)
	}
	do(ctx, t, "setup",
		chromedp.SendKeys(css("#setup_token"), setupToken),
		chromedp.SetValue(css("#username"), "admin"),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css(`form[action="/setup"] button[type="submit"]`)),
		chromedp.WaitVisible(css("#no-hosts")))
	screenshot(ctx, t, "dashboard-empty")
	if got := text("#no-hosts"); !strings.Contains(got, "No hosts yet") {
		t.Errorf("empty dashboard says %q", got)
	}
	if got := text(`[data-testid="current-user"]`); !strings.Contains(got, "admin") {
		t.Errorf("the layout shows the user as %q", got)
	}

	do(ctx, t, "logout",
		chromedp.Click(css(`form[action="/logout"] button`)),
		chromedp.WaitVisible(css("#username")))
	screenshot(ctx, t, "login")
	if loc, flash := location(), text("#flash"); loc != base+"/login" || !strings.Contains(flash, "logged out") {
		t.Errorf("after logout: at %s, flash %q", loc, flash)
	}
	do(ctx, t, "dashboard needs a login again",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css("#username")))
	if loc := location(); !strings.HasPrefix(loc, base+"/login") {
		t.Errorf("dashboard after logout landed on %s", loc)
	}
	do(ctx, t, "login",
		chromedp.SendKeys(css("#username"), "admin"),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Click(css(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(css("#no-hosts")))

	// Enroll a host the way an operator and an agent do: an API token made
	// with the browser's session and the page's CSRF token, the CLI's
	// enrollment token, the agent's enrollment call.
	csrf := get(ctx, t, "csrf meta", chromedp.AttributeValue(css(`meta[name="csrf-token"]`), "content")).Value
	cookies := get(ctx, t, "cookies", chromedp.Action[*network.GetCookiesResult](
		func(ctx context.Context, tg *chromedp.Target) (*network.GetCookiesResult, error) {
			res, err := cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{base}})
			return &res, err
		}))
	var session string
	for _, c := range cookies.Cookies {
		if c.Name == "rm_session" {
			session = c.Value
		}
	}
	if session == "" || csrf == "" {
		t.Fatalf("no session cookie (%v) or CSRF token (%v) in the browser", session != "", csrf != "")
	}
	var tok struct {
		Token string `json:"token"`
	}
	postJSON(t, base+"/api/v1/tokens", map[string]string{"name": "browser-test"}, http.StatusCreated, &tok,
		"Cookie", "rm_session="+session, "X-CSRF-Token", csrf)
	cmd := exec.Command(srv.bin, "enroll-token", "create", "--json")
	cmd.Env = append(os.Environ(), "RM_ADDR="+base, "RM_TOKEN="+tok.Token)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("enroll-token create: %v\n%s", err, out)
	}
	var et struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(out, &et); err != nil {
		t.Fatalf("enroll-token create --json: %v\n%s", err, out)
	}
	postJSON(t, base+"/api/v1/agents/enroll", map[string]string{
		"token": et.Token, "hostname": "browser-host", "os": "linux", "arch": "arm64", "agent_version": "9.9.9",
	}, http.StatusCreated, nil)

	do(ctx, t, "host listed after reload",
		chromedp.Reload(),
		chromedp.WaitVisible(css("#hosts tr[data-host-id]")))
	screenshot(ctx, t, "dashboard")
	row := text("#hosts")
	for _, want := range []string{"browser-host", "linux/arm64", "9.9.9", "offline", "never"} {
		if !strings.Contains(row, want) {
			t.Errorf("host row lacks %q: %q", want, row)
		}
	}
	do(ctx, t, "name filter",
		chromedp.SendKeys(css("#filter-name"), "no-such-host"),
		chromedp.Submit(css("#filter-name")),
		chromedp.WaitNotPresent(css("#hosts")))
	if got := text("main"); !strings.Contains(got, "No hosts match") {
		t.Errorf("filtered dashboard says %q", got)
	}
	do(ctx, t, "404 page",
		chromedp.Navigate(base+"/no/such/page"),
		chromedp.WaitVisible(css("h1")))
	if got := text("main"); !strings.Contains(got, "There is no page at this address") {
		t.Errorf("404 page says %q", got)
	}
}

// postJSON posts v and decodes the answer into out, failing unless the
// status is want. hdr is header name, value pairs.
func postJSON(t *testing.T, url string, v any, want int, out any, hdr ...string) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d %s, want %d", url, res.StatusCode, body, want)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("POST %s: %v\n%s", url, err, body)
		}
	}
}
