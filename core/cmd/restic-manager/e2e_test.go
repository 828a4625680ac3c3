package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests run the real binary: built once, started as a
// server on a free port, and driven through its own CLI.

// buildRoot holds the binaries the tests build once; TestMain removes it.
var buildRoot string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rm-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildRoot = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp(buildRoot, "rm-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "restic-manager")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// syncBuffer collects a process's output for assertions while it runs.
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
	cmd     *exec.Cmd
	addr    string
	dataDir string
	log     *syncBuffer
	done    chan error
}

func startServer(t *testing.T) *serverProc {
	t.Helper()
	dir := t.TempDir()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfgPath := filepath.Join(dir, "config.hcl")
	cfg := fmt.Sprintf("server {\n  listen   = %q\n  data_dir = %q\n}\nlog {\n  level  = \"debug\"\n  format = \"json\"\n}\n", addr, filepath.Join(dir, "data"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{addr: addr, dataDir: filepath.Join(dir, "data"), log: &syncBuffer{}, done: make(chan error, 1)}
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
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
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

type result struct {
	stdout, stderr string
	code           int
}

// cli runs the binary as the operator CLI against the server.
func (p *serverProc) cli(t *testing.T, token string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(os.Environ(), "RM_ADDR=http://"+p.addr, "RM_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{stdout: stdout.String(), stderr: stderr.String(), code: code}
}

func (p *serverProc) ok(t *testing.T, token string, args ...string) string {
	t.Helper()
	r := p.cli(t, token, args...)
	if r.code != 0 {
		t.Fatalf("restic-manager %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func TestEndToEndBootstrapAndUse(t *testing.T) {
	t.Parallel()
	p := startServer(t)
	setup, err := os.ReadFile(filepath.Join(p.dataDir, "setup-token"))
	if err != nil {
		t.Fatalf("setup token file: %v", err)
	}
	if !strings.Contains(p.log.String(), strings.TrimSpace(string(setup))) {
		t.Fatal("the server did not print the setup token in its log")
	}

	// Before setup the API refuses everything but bootstrap.
	r := p.cli(t, "rmt_notyet", "user", "list")
	if r.code == 0 || !strings.Contains(r.stderr, "setup") {
		t.Fatalf("user list before setup: exit %d, %s", r.code, r.stderr)
	}

	const password = "a long admin password"
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := p.ok(t, "", "bootstrap", "--setup-token", strings.TrimSpace(string(setup)), "--username", "admin", "--password-file", pwFile, "--json")
	var boot struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal([]byte(out), &boot); err != nil || !strings.HasPrefix(boot.Token, "rmt_") {
		t.Fatalf("bootstrap --json printed %q (%v)", out, err)
	}
	if _, err := os.Stat(filepath.Join(p.dataDir, "setup-token")); !os.IsNotExist(err) {
		t.Fatalf("setup token file still there after bootstrap: %v", err)
	}
	r = p.cli(t, "", "bootstrap", "--setup-token", strings.TrimSpace(string(setup)), "--username", "again", "--password-file", pwFile)
	if r.code == 0 {
		t.Fatal("a second bootstrap succeeded")
	}

	p.ok(t, boot.Token, "user", "create", "--username", "olivia", "--password-file", pwFile, "--role", "operator")
	var users []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, boot.Token, "user", "list", "--json")), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0]["username"] != "admin" || users[1]["role"] != "operator" {
		t.Fatalf("user list --json = %v", users)
	}
	if table := p.ok(t, boot.Token, "user", "list"); !strings.Contains(table, "olivia") {
		t.Fatalf("user list table lacks olivia:\n%s", table)
	}

	tok := strings.TrimSpace(p.ok(t, boot.Token, "token", "create", "--name", "ci"))
	if !strings.HasPrefix(tok, "rmt_") {
		t.Fatalf("token create printed %q", tok)
	}
	var tokens []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, tok, "token", "list", "--json")), &tokens); err != nil || len(tokens) != 2 {
		t.Fatalf("token list --json = %v (%v)", tokens, err)
	}
	var ciID string
	for _, tk := range tokens {
		if tk["name"] == "ci" {
			ciID, _ = tk["id"].(string)
		}
	}
	p.ok(t, boot.Token, "user", "disable", "olivia")
	p.ok(t, boot.Token, "token", "revoke", ciID)
	if r := p.cli(t, tok, "user", "list"); r.code == 0 || !strings.Contains(r.stderr, "revoked") {
		t.Fatalf("revoked token still works: exit %d %s", r.code, r.stderr)
	}

	var audit []map[string]any
	if err := json.Unmarshal([]byte(p.ok(t, boot.Token, "audit", "list", "--json")), &audit); err != nil {
		t.Fatal(err)
	}
	actions := map[string]bool{}
	for _, e := range audit {
		actions[e["action"].(string)] = true
	}
	for _, want := range []string{"bootstrap", "user.create", "user.update", "token.create", "token.revoke"} {
		if !actions[want] {
			t.Errorf("audit list lacks %s: %v", want, actions)
		}
	}
	if strings.Contains(p.log.String(), password) {
		t.Fatal("the server log holds a user's password")
	}
}

func TestEndToEndGracefulShutdown(t *testing.T) {
	t.Parallel()
	p := startServer(t)
	// Start a request and send only half its body, then ask the server to stop.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"setup_token":"rmsetup_x","username":"admin","password":"a long admin password"}`
	fmt.Fprintf(conn, "POST /api/v1/bootstrap HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		p.addr, len(body), body[:10])
	time.Sleep(200 * time.Millisecond)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-p.done:
		t.Fatalf("server exited with a request in flight: %v", err)
	default:
	}
	// New connections are refused while the old request finishes.
	if c, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		c.Close()
		t.Fatal("server still accepts connections after SIGTERM")
	}
	if _, err := io.WriteString(conn, body[10:]); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request got no answer: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("in-flight request: %d, want 401 (wrong setup token)", res.StatusCode)
	}
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("server exit: %v\n%s", err, p.log.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not exit after the in-flight request finished")
	}
	if !strings.Contains(p.log.String(), "stopped") {
		t.Fatalf("no clean stop in the log:\n%s", p.log.String())
	}
}

func TestEndToEndConfigValidate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.hcl")
	if err := os.WriteFile(bad, []byte("server {\n  listen = \"127.0.0.1:8080\"\n  colour = \"blue\"\n}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "config", "validate", bad)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("config validate on a broken file: %v, want exit 1", err)
	}
	if !strings.Contains(stderr.String(), bad+":3:3") {
		t.Fatalf("diagnostics do not point at %s:3:3:\n%s", bad, stderr.String())
	}
	if out, err := exec.Command(binary(t), "config", "validate", "../../../config.hcl.example").CombinedOutput(); err != nil {
		t.Fatalf("config.hcl.example: %v\n%s", err, out)
	}
	// The server refuses the broken file the same way.
	out, err := exec.Command(binary(t), "server", "--config", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), bad+":3:3") {
		t.Fatalf("server with a broken config: %v\n%s", err, out)
	}
}

func TestEndToEndSecretsRotate(t *testing.T) {
	t.Parallel()
	p := startServer(t)
	cfgPath := p.cmd.Args[len(p.cmd.Args)-1]
	r := p.cli(t, "", "secrets", "rotate", "--config", cfgPath)
	if r.code == 0 || !strings.Contains(r.stderr, "stop the server first") {
		t.Fatalf("rotate while the server runs: exit %d %s", r.code, r.stderr)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-p.done; err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(p.dataDir, "secret.key"))
	out := p.ok(t, "", "secrets", "rotate", "--config", cfgPath, "--json")
	var res struct {
		NewKey   string   `json:"new_key"`
		OldKeys  []string `json:"old_keys"`
		Resealed int      `json:"resealed"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.NewKey == "" || len(res.OldKeys) != 1 {
		t.Fatalf("rotate --json printed %q (%v)", out, err)
	}
	after, _ := os.ReadFile(filepath.Join(p.dataDir, "secret.key"))
	if bytes.Equal(before, after) || !strings.Contains(string(after), res.NewKey) || strings.Contains(string(after), res.OldKeys[0]) {
		t.Fatalf("key file after rotation:\n%s", after)
	}
}
