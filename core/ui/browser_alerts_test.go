package ui

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startAlertingServer runs the real server with a webhook channel "hook"
// pointing at hook, a job_failed rule on backups, and a one-second alert
// check; it returns a rig with the admin "admin".
func startAlertingServer(t *testing.T, hook string) *rig {
	t.Helper()
	dir := t.TempDir()
	bin, _ := binaries(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := &serverProc{bin: bin, addr: addr, dataDir: filepath.Join(dir, "data")}
	cfg := fmt.Sprintf(`server {
  listen   = %q
  data_dir = %q
}

alerting {
  evaluate_every = "1s"
}

channel "hook" {
  plugin = "notify-webhook"
  config {
    url     = %q
    retries = 0
  }
}

alert "backup-failed" {
  on       = "job_failed"
  kinds    = ["backup"]
  channels = ["hook"]
}
`, addr, srv.dataDir, hook)
	cfgPath := filepath.Join(dir, "config.hcl")
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
	eventually(t, 30*time.Second, "the server to be ready", func() bool {
		select {
		case err := <-done:
			t.Fatalf("server exited early: %v\n%s", err, log.String())
		default:
		}
		res, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	r := &rig{t: t, srv: srv, base: "http://" + addr, adminPassword: "a long browser password"}
	raw, err := os.ReadFile(filepath.Join(srv.dataDir, "setup-token"))
	if err != nil {
		t.Fatal(err)
	}
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, r.base+"/api/v1/bootstrap", map[string]string{
		"setup_token": strings.TrimSpace(string(raw)), "username": "admin", "password": r.adminPassword,
	}, http.StatusCreated, &boot)
	r.adminToken = boot.Token
	t.Cleanup(func() {
		if t.Failed() {
			for i, l := range r.agentLogs {
				t.Logf("agent %d log:\n%s", i, l.String())
			}
		}
	})
	return r
}

// A backup fails on a real agent; the alert reaches the webhook, shows on
// /alerts, and is acknowledged and resolved there; the host's alert
// history keeps it.
func TestBrowserAlertsAcknowledgeAndResolve(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var titles []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n struct{ Title string }
		_ = json.NewDecoder(r.Body).Decode(&n)
		mu.Lock()
		titles = append(titles, n.Title)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	r := startAlertingServer(t, hook.URL)
	h := r.startAgent("alert-web")
	r.addRepo("main", h)
	ctx := newBrowser(t)

	// A backup of a path that does not exist fails.
	missing := filepath.Join(t.TempDir(), "does-not-exist")
	if st := r.waitJob(r.runJob(h, map[string]any{"kind": "backup", "repository": "main", "paths": []string{missing}})); st != "failed" {
		t.Fatalf("backup of a missing path: %s", st)
	}
	eventually(t, 30*time.Second, "the failure at the webhook", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, s := range titles {
			if strings.Contains(s, "backup of alert-web failed") {
				return true
			}
		}
		return false
	})

	css := func(s string) chromedp.CSS { return chromedp.CSS(s) }
	text := func(sel string) string { return get(ctx, t, "text of "+sel, chromedp.Text(css(sel))) }
	r.login(ctx, "admin", r.adminPassword)
	do(ctx, t, "open /alerts from the nav",
		chromedp.Click(css(`nav a[href="/alerts"]`)),
		chromedp.WaitVisible(css(`#alerts li[data-alert-status="open"]`)))
	screenshot(ctx, t, "alerts")
	card := text(`#alerts li[data-alert-status="open"]`)
	for _, want := range []string{"critical", "open", "backup of alert-web failed", "backup-failed", "main"} {
		if !strings.Contains(card, want) {
			t.Errorf("the alert card lacks %q: %q", want, card)
		}
	}
	if text("#rules") == "" || !strings.Contains(text("#rules"), "from the config file") {
		t.Errorf("rules: %q", text("#rules"))
	}

	do(ctx, t, "acknowledge",
		chromedp.Click(css(`#alerts li[data-alert-status="open"] button.alert-ack`)),
		chromedp.WaitVisible(css(`#alerts li[data-alert-status="acknowledged"]`)))
	if f := text("#flash"); !strings.Contains(f, "acknowledged") {
		t.Errorf("flash after acknowledge: %q", f)
	}
	if got := text(`#alerts li[data-alert-status="acknowledged"]`); !strings.Contains(got, "Acknowledged") || !strings.Contains(got, "by admin") {
		t.Errorf("acknowledged card: %q", got)
	}
	do(ctx, t, "resolve",
		chromedp.Click(css(`#alerts li[data-alert-status="acknowledged"] button.alert-resolve`)),
		chromedp.WaitVisible(css("#no-alerts")))
	if f := text("#flash"); !strings.Contains(f, "resolved") {
		t.Errorf("flash after resolve: %q", f)
	}
	var list struct {
		Items []struct {
			Status         string `json:"status"`
			ResolvedBy     string `json:"resolved_by"`
			AcknowledgedBy string `json:"acknowledged_by"`
		}
	}
	r.api(http.MethodGet, "/api/v1/alerts?host=alert-web", nil, http.StatusOK, &list)
	if len(list.Items) != 1 || list.Items[0].Status != "resolved" || list.Items[0].ResolvedBy != "admin" || list.Items[0].AcknowledgedBy != "admin" {
		t.Fatalf("the alert through the API after the UI resolved it: %+v", list.Items)
	}

	// The host page keeps the history, without buttons for a resolved one.
	do(ctx, t, "host alert history",
		chromedp.Navigate(r.base+"/hosts/"+h.ID+"?tab=alerts"),
		chromedp.WaitVisible(css(`#host-alerts li[data-alert-status="resolved"]`)))
	screenshot(ctx, t, "host-alerts")
	if got := text("#host-alerts"); !strings.Contains(got, "backup of alert-web failed") || !strings.Contains(got, "Resolved") {
		t.Errorf("host alert history: %q", got)
	}
	if buttons := get(ctx, t, "buttons", chromedp.Evaluate[int](`document.querySelectorAll("#host-alerts button").length`)); buttons != 0 {
		t.Errorf("a resolved alert has %d buttons", buttons)
	}
}
