package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// pluginSetup builds the SDK's example notifier into a fresh plugin_dir
// and returns the directory and its pinned checksum.
func pluginSetup(t *testing.T) (dir, sum string) {
	t.Helper()
	dir = t.TempDir()
	bin := filepath.Join(dir, "notify-log")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/restic-manager/restic-manager/sdk/examples/notify-log")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build notify-log: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(raw)
	return dir, hex.EncodeToString(s[:])
}

// pluginConfig writes a server configuration with a plugin block for
// notify-log and the given channel blocks, and returns its path, the
// listen address and the data directory.
func pluginConfig(t *testing.T, pluginDir, sum, channels string) (path, addr, dataDir string) {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = ln.Addr().String()
	ln.Close()
	dataDir = filepath.Join(dir, "data")
	cfg := fmt.Sprintf(`server {
  listen     = %q
  data_dir   = %q
  plugin_dir = %q
}

log {
  level  = "debug"
  format = "json"
}

plugin "notify-log" {
  command = "notify-log"
  sha256  = %q
}
%s`, addr, dataDir, pluginDir, sum, channels)
	path = filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, addr, dataDir
}

func TestEndToEndChannelTestThroughAnExternalPlugin(t *testing.T) {
	t.Parallel()
	pluginDir, sum := pluginSetup(t)
	out := filepath.Join(t.TempDir(), "notifications.jsonl")
	cfgPath, addr, dataDir := pluginConfig(t, pluginDir, sum, fmt.Sprintf(`
channel "audit-log" {
  plugin = "notify-log"
  config {
    path = %q
  }
}
`, out))

	if r := execBin(t, nil, binary(t), "config", "validate", cfgPath); r.code != 0 || !strings.Contains(r.stdout, "valid") {
		t.Fatalf("config validate: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	p := &serverProc{addr: addr, dataDir: dataDir, log: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary(t), "server", "--config", cfgPath)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("server log:\n%s", p.log.String())
		}
	})
	waitReady(t, p)
	setup, err := os.ReadFile(filepath.Join(dataDir, "setup-token"))
	if err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("a long admin password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := strings.TrimSpace(p.ok(t, "", "bootstrap", "--setup-token", strings.TrimSpace(string(setup)), "--username", "admin", "--password-file", pw))

	// The plugin ran once at start-up to check the channel, then stopped:
	// plugins run on first use.
	var plugins []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, admin, "plugin", "list", "--json")), &plugins); err != nil {
		t.Fatal(err)
	}
	byName := map[string]map[string]any{}
	for _, pl := range plugins {
		byName[pl["name"].(string)] = pl
	}
	nl := byName["notify-log"]
	if nl == nil || nl["sha256"] != sum || nl["plugin_version"] != "0.1.0" || nl["state"] != "stopped" || nl["source"] != "external" {
		t.Fatalf("plugin list --json = %v", plugins)
	}
	for _, builtin := range []string{"notify-ntfy", "notify-smtp", "notify-webhook"} {
		if pl := byName[builtin]; pl == nil || pl["source"] != "builtin" || pl["kind"] != "notify" {
			t.Errorf("built-in %s missing from plugin list: %v", builtin, plugins)
		}
	}
	var channels []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, admin, "channel", "list", "--json")), &channels); err != nil {
		t.Fatal(err)
	}
	if len(channels) != 1 || channels[0]["name"] != "audit-log" || channels[0]["managed_by"] != "config" || channels[0]["plugin"] != "notify-log" {
		t.Fatalf("channel list --json = %v", channels)
	}

	if got := p.ok(t, admin, "channel", "test", "audit-log"); !strings.Contains(got, `Sent a test notification through channel "audit-log"`) {
		t.Fatalf("channel test printed %q", got)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("notify-log wrote nothing: %v", err)
	}
	var n map[string]any
	if err := json.Unmarshal(raw, &n); err != nil || n["event"] != "test" || n["severity"] != "info" {
		t.Fatalf("notify-log wrote %s (%v)", raw, err)
	}

	table := p.ok(t, admin, "plugin", "list")
	for _, want := range []string{"notify-log", "notify", "external", "0.1.0", "1.0.0", "running", sum} {
		if !strings.Contains(table, want) {
			t.Errorf("plugin list lacks %q:\n%s", want, table)
		}
	}
	if r := p.cli(t, admin, "channel", "test", "nope"); r.code != 1 || !strings.Contains(r.stderr, `no channel "nope"`) {
		t.Errorf("channel test nope: exit %d %s", r.code, r.stderr)
	}
	var audit []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, admin, "audit", "list", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range audit {
		if e["action"] == "channel.test" && e["target_id"] == "audit-log" && e["outcome"] == "success" {
			found = true
		}
	}
	if !found {
		t.Errorf("no successful channel.test in the audit log: %v", audit)
	}
	// The plugin's own log lines are in the server's log, under its name.
	if !strings.Contains(p.log.String(), `"@module":"restic-manager.plugin.notify-log"`) {
		t.Errorf("no plugin.notify-log lines in the server log")
	}
	// The help lists plugin list but not the plumbing.
	if help := p.ok(t, "", "--help"); !strings.Contains(help, "plugin list") || strings.Contains(help, "plugin serve") {
		t.Errorf("--help:\n%s", help)
	}
	if r := p.cli(t, "", "plugin", "serve", "nope"); r.code != 1 || !strings.Contains(r.stderr, "notify-webhook") {
		t.Errorf("plugin serve nope: exit %d %s", r.code, r.stderr)
	}
}

func waitReady(t *testing.T, p *serverProc) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.done:
			t.Fatalf("server exited early: %v\n%s", err, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("server not ready\n%s", p.log.String())
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func TestEndToEndChannelConfigMistakes(t *testing.T) {
	t.Parallel()
	pluginDir, sum := pluginSetup(t)
	tests := map[string]struct {
		channels string
		want     string // in both config validate's and the server's output
	}{
		"typo": {
			channels: "\nchannel \"audit-log\" {\n  plugin = \"notify-log\"\n  config {\n    paht = \"/tmp/x.jsonl\"\n  }\n}\n",
			want:     ":20:5: Unsupported argument",
		},
		"rejected": {
			channels: "\nchannel \"audit-log\" {\n  plugin = \"notify-log\"\n  config {\n    path = \"relative.jsonl\"\n  }\n}\n",
			want:     ":19:3: Plugin rejected the configuration",
		},
		"unknown plugin": {
			channels: "\nchannel \"audit-log\" {\n  plugin = \"notify-nope\"\n}\n",
			want:     ":18:12: Unknown plugin",
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfgPath, _, dataDir := pluginConfig(t, pluginDir, sum, tt.channels)
			r := execBin(t, nil, binary(t), "config", "validate", cfgPath)
			if r.code != 1 || !strings.Contains(r.stderr, "Error: "+cfgPath+tt.want) {
				t.Errorf("config validate: exit %d, want 1 and %q\n%s", r.code, cfgPath+tt.want, r.stderr)
			}
			r = execBin(t, nil, binary(t), "server", "--config", cfgPath)
			if r.code == 0 || !strings.Contains(r.stderr, cfgPath+tt.want) {
				t.Errorf("server: exit %d, want a refusal naming %q\n%s", r.code, cfgPath+tt.want, r.stderr)
			}
			if _, err := os.Stat(filepath.Join(dataDir, "restic-manager.db")); !os.IsNotExist(err) {
				t.Errorf("the server created its database before refusing: %v", err)
			}
		})
	}
}

// TestEndToEndChannelTestThroughBuiltinNotifiers sends a test notification
// through each built-in notifier, re-executed from the server binary, to a
// real receiver in this process: an HTTP receiver checking the webhook's
// signature, an SMTP server (emersion/go-smtp) and fakeNtfyServer, an
// httptest stand-in for ntfy's publish API (ntfy itself cannot be
// installed here).
func TestEndToEndChannelTestThroughBuiltinNotifiers(t *testing.T) {
	t.Parallel()
	const secret = "webhook signing secret"
	delivered := make(chan string, 8)
	webhook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if r.Header.Get("X-Restic-Manager-Signature") != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		delivered <- "webhook " + string(body)
	}))
	defer webhook.Close()
	fakeNtfyServer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tk_ntfy" {
			http.Error(w, `{"error":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		delivered <- "ntfy " + string(body)
		_, _ = io.WriteString(w, `{"id":"x"}`)
	}))
	defer fakeNtfyServer.Close()
	mailHost, mailPort := startMailServer(t, delivered)

	pluginDir, sum := pluginSetup(t)
	cfgPath, addr, dataDir := pluginConfig(t, pluginDir, sum, fmt.Sprintf(`
channel "hook" {
  plugin = "notify-webhook"
  config {
    url    = %q
    secret = env("RM_TEST_WEBHOOK_SECRET")
  }
}
channel "phone" {
  plugin = "notify-ntfy"
  config {
    server = %q
    topic  = "backups"
    token  = "tk_ntfy"
  }
}
channel "mail" {
  plugin = "notify-smtp"
  config {
    host = %q
    port = %d
    tls  = "none"
    from = "restic-manager@example.com"
    to   = ["ops@example.com"]
  }
}
`, webhook.URL, fakeNtfyServer.URL, mailHost, mailPort))
	p := &serverProc{addr: addr, dataDir: dataDir, log: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd = exec.Command(binary(t), "server", "--config", cfgPath)
	p.cmd.Env = append(os.Environ(), "RM_TEST_WEBHOOK_SECRET="+secret)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("server log:\n%s", p.log.String())
		}
	})
	waitReady(t, p)
	admin := bootstrapAdmin(t, p)
	for channel, prefix := range map[string]string{"hook": "webhook ", "phone": "ntfy ", "mail": "smtp "} {
		if out := p.ok(t, admin, "channel", "test", channel); !strings.Contains(out, channel) {
			t.Fatalf("channel test %s printed %q", channel, out)
		}
		select {
		case got := <-delivered:
			if !strings.HasPrefix(got, prefix) || !strings.Contains(got, "test") {
				t.Fatalf("channel %s delivered %q", channel, got)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("channel %s delivered nothing", channel)
		}
	}
	for _, s := range []string{secret, "tk_ntfy"} {
		if strings.Contains(p.log.String(), s) {
			t.Fatalf("a channel secret reached the server log")
		}
	}

	// A server killed outright takes its plugin processes with it.
	children := pluginChildren(t, p.cmd.Process.Pid)
	if len(children) == 0 {
		t.Fatal("no plugin process is running under the server after channel test")
	}
	_ = p.cmd.Process.Kill()
	t.Logf("killed server: %v", <-p.done)
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range children {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("plugin process %d outlived the killed server", pid)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// mailSession records one SMTP transaction into delivered.
type mailSession struct {
	delivered chan<- string
}

func (m *mailSession) Mail(string, *gosmtp.MailOptions) error { return nil }
func (m *mailSession) Rcpt(string, *gosmtp.RcptOptions) error { return nil }
func (m *mailSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m.delivered <- "smtp " + string(b)
	return nil
}
func (m *mailSession) Reset()        {}
func (m *mailSession) Logout() error { return nil }

// startMailServer runs a real SMTP server (emersion/go-smtp) on 127.0.0.1.
func startMailServer(t *testing.T, delivered chan<- string) (string, int) {
	t.Helper()
	srv := gosmtp.NewServer(gosmtp.BackendFunc(func(*gosmtp.Conn) (gosmtp.Session, error) {
		return &mailSession{delivered: delivered}, nil
	}))
	srv.Domain = "mail.test"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	a := ln.Addr().(*net.TCPAddr)
	return a.IP.String(), a.Port
}

// pluginChildren lists the pids of "plugin serve" processes whose parent
// is ppid, from /proc.
func pluginChildren(t *testing.T, ppid int) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	var out []int
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		cmdline, err2 := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || err2 != nil {
			continue
		}
		// The parent pid is the second field after the ")" closing the name.
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == fmt.Sprint(ppid) && strings.Contains(string(cmdline), "plugin\x00serve") {
			out = append(out, pid)
		}
	}
	return out
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] != "Z"
}
