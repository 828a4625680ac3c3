package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// environment is what the measurements ran with.
type environment struct {
	server, agent, restic string
	resticVersion         string
	goVersion             string
	cpu                   string
	cores                 int
	memTotal              string
	kernel                string
	source                string // the git commit built, when the benchmark built it
	treeFS                string // the file system the generated files are on
}

// bench holds the running server and agent.
type bench struct {
	opts     options
	work     string
	treeRoot string // the generated files' parent, removed at the end
	env      environment
	progress func(string, ...any)

	server, agent *proc
	api           *api
	hostID        string
	repoPassword  string
	cacheDir      string
}

// newBench makes the work directory, finds restic and builds the binaries
// not given. On error it has removed what it made.
func newBench(ctx context.Context, o options, progress func(string, ...any)) (_ *bench, err error) {
	work, err := os.MkdirTemp(o.workParent, "rm-bench-browse1m-")
	if err != nil {
		return nil, err
	}
	b := &bench{opts: o, progress: progress}
	b.work, err = filepath.Abs(work)
	if err != nil {
		_ = os.RemoveAll(work)
		return nil, err
	}
	defer func() {
		if err != nil {
			b.cleanUp()
		}
	}()
	progress("work directory %s", b.work)
	if err := b.prepare(ctx); err != nil {
		return nil, err
	}
	return b, nil
}

func (b *bench) prepare(ctx context.Context) error {
	restic, err := findRestic(ctx, b.opts.restic)
	if err != nil {
		return err
	}
	b.env.restic = restic
	out, err := exec.CommandContext(ctx, restic, "version").Output() //nolint:gosec // G204: the restic binary the user chose
	if err != nil {
		return fmt.Errorf("%s version: %w", restic, err)
	}
	b.env.resticVersion = strings.TrimSpace(string(out))

	b.env.server, b.env.agent = b.opts.server, b.opts.agent
	if b.env.server == "" || b.env.agent == "" {
		root, err := moduleRoot(ctx)
		if err != nil {
			return err
		}
		bin := filepath.Join(b.work, "bin")
		if err := os.MkdirAll(bin, 0o700); err != nil {
			return err
		}
		if b.env.server == "" {
			b.env.server = filepath.Join(bin, "restic-manager")
			b.progress("building %s", b.env.server)
			if err := goBuild(ctx, root, "1", b.env.server, "./core/cmd/restic-manager"); err != nil {
				return err
			}
		}
		if b.env.agent == "" {
			b.env.agent = filepath.Join(bin, "restic-manager-agent")
			b.progress("building %s", b.env.agent)
			if err := goBuild(ctx, root, "0", b.env.agent, "./agent/cmd/restic-manager-agent"); err != nil {
				return err
			}
		}
		b.env.source = gitSource(ctx, root)
	}
	for _, p := range []*string{&b.env.server, &b.env.agent} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		if _, err := os.Stat(abs); err != nil {
			return err
		}
		*p = abs
	}
	b.env.goVersion = runtime.Version()
	b.env.cores = runtime.NumCPU()
	b.env.cpu = cpuModel()
	b.env.memTotal = memTotal()
	if k, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		b.env.kernel = strings.TrimSpace(string(k))
	}
	return nil
}

// cleanUp stops the agent (gracefully first: it interrupts restic), then
// the server, and removes the generated files and the work directory
// unless --keep.
func (b *bench) cleanUp() {
	if b.agent != nil {
		b.agent.stop(15 * time.Second)
		b.agent = nil
	}
	if b.server != nil {
		b.server.stop(10 * time.Second)
		b.server = nil
	}
	if b.opts.keep {
		b.progress("kept %s and %s", b.work, b.treeRoot)
		return
	}
	for _, dir := range []string{b.treeRoot, b.work} {
		if dir == "" {
			continue
		}
		b.progress("removing %s", dir)
		if err := os.RemoveAll(dir); err != nil { //nolint:gosec // G703: the directories this run made
			b.progress("could not remove %s: %v", dir, err)
		}
	}
}

// startServer starts the server on a free loopback port with its data in
// the work directory and waits until it is ready.
func (b *bench) startServer(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(b.work, "server")
	if err := os.MkdirAll(dir, 0o700); err != nil { //nolint:gosec // G703: inside our own work directory
		return err
	}
	cfg := fmt.Sprintf("server {\n  listen   = %q\n  data_dir = %q\n}\nlog {\n  level  = \"info\"\n  format = \"json\"\n}\n",
		addr, filepath.Join(dir, "data"))
	cfgPath := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil { //nolint:gosec // G703: inside our own work directory
		return err
	}
	b.progress("starting the server on %s", addr)
	p, err := startProc("server", filepath.Join(b.work, "server.log"), os.Environ(), nil, b.env.server, "server", "--config", cfgPath)
	if err != nil {
		return err
	}
	b.server = p
	b.api = &api{base: "http://" + addr, http: &http.Client{Timeout: 10 * time.Minute}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := b.api.call(ctx, http.MethodGet, "/readyz", nil, nil)
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("the server exited: %w (log: %s)", p.err, filepath.Join(b.work, "server.log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server is not ready after 60s: %w", err)
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
}

// setUp bootstraps an admin, enrolls a host through the API, starts the
// agent and waits for the host to be online.
func (b *bench) setUp(ctx context.Context) error {
	setup, err := os.ReadFile(filepath.Join(b.work, "server", "data", "setup-token")) //nolint:gosec // G703: inside our own work directory
	if err != nil {
		return fmt.Errorf("the server's setup token: %w", err)
	}
	var boot struct {
		Token string `json:"token"`
	}
	if err := b.api.call(ctx, http.MethodPost, "/api/v1/bootstrap", map[string]string{
		"setup_token": strings.TrimSpace(string(setup)), "username": "bench", "password": randomString(24),
	}, &boot); err != nil {
		return err
	}
	b.api.token = boot.Token
	var et struct {
		Token string `json:"token"`
	}
	if err := b.api.call(ctx, http.MethodPost, "/api/v1/enrollment-tokens", map[string]any{}, &et); err != nil {
		return err
	}
	var enrolled struct {
		HostID     string `json:"host_id"`
		Credential string `json:"credential"`
	}
	if err := b.api.call(ctx, http.MethodPost, "/api/v1/agents/enroll", map[string]string{
		"token": et.Token, "hostname": "bench-browse1m", "os": runtime.GOOS, "arch": runtime.GOARCH, "agent_version": "bench",
	}, &enrolled); err != nil {
		return err
	}
	b.hostID = enrolled.HostID

	dir := filepath.Join(b.work, "agent")
	b.cacheDir = filepath.Join(b.work, "restic-cache")
	for _, d := range []string{dir, b.cacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil { //nolint:gosec // G703: inside our own work directory
			return err
		}
	}
	cfg := fmt.Sprintf(`agent {
  server_url    = %q
  host_id       = %q
  credential    = %q
  state_dir     = %q
  restic_binary = %q
  log {
    level  = "info"
    format = "json"
  }
}
`, b.api.base, enrolled.HostID, enrolled.Credential, filepath.Join(dir, "state"), b.env.restic)
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil { //nolint:gosec // G703: inside our own work directory
		return err
	}
	b.progress("starting the agent")
	p, err := startProc("agent", filepath.Join(b.work, "agent.log"), b.childEnv(), nil, b.env.agent, "run", "--config", cfgPath)
	if err != nil {
		return err
	}
	b.agent = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		var h struct {
			Status string `json:"status"`
		}
		if err := b.api.call(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(b.hostID), nil, &h); err != nil {
			return err
		}
		if h.Status == "online" {
			break
		}
		if p.exited() {
			return fmt.Errorf("the agent exited: %w (log: %s)", p.err, filepath.Join(b.work, "agent.log"))
		}
		if time.Now().After(deadline) {
			return errors.New("the agent did not come online within 60s")
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	b.repoPassword = randomString(24)
	return nil
}

// childEnv is this process's environment without restic's variables, with
// the benchmark's own restic cache (the same for bare restic and the agent).
func (b *bench) childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RESTIC_") {
			env = append(env, kv)
		}
	}
	return append(env, "RESTIC_CACHE_DIR="+b.cacheDir)
}

// findRestic: --restic, $RESTIC_BINARY, restic on PATH, then GOPATH/bin.
func findRestic(ctx context.Context, flagValue string) (string, error) {
	for _, c := range []string{flagValue, os.Getenv("RESTIC_BINARY"), "restic"} {
		if c == "" {
			continue
		}
		if p, err := exec.LookPath(c); err == nil {
			return filepath.Abs(p)
		}
		if c == flagValue {
			return "", fmt.Errorf("--restic %s: not an executable", c)
		}
	}
	out, err := exec.CommandContext(ctx, "go", "env", "GOPATH").Output()
	if err == nil {
		for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
			p := filepath.Join(dir, "bin", "restic")
			if _, err := exec.LookPath(p); err == nil {
				return p, nil
			}
		}
	}
	return "", errors.New("no restic found: set RESTIC_BINARY, pass --restic, or run scripts/install-restic.sh")
}

func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the restic-manager module: run from the repository, or pass --server and --agent")
	}
	return filepath.Dir(mod), nil
}

// goBuild builds a package as the Makefile does (the server with cgo, the
// agent without).
func goBuild(ctx context.Context, root, cgo, out, pkg string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, pkg) //nolint:gosec // G204: fixed packages, our own temp path
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, buf.String())
	}
	return nil
}

// gitSource names the commit the binaries were built from, and whether the
// working tree had changes on top of it.
func gitSource(ctx context.Context, root string) string {
	git := func(args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "git", args...) //nolint:gosec // G204: git in the module's own directory
		cmd.Dir = root
		return cmd.Output()
	}
	out, err := git("rev-parse", "--short", "HEAD")
	if err != nil {
		return ""
	}
	src := "commit " + strings.TrimSpace(string(out))
	if st, err := git("status", "--porcelain", "--untracked-files=no"); err == nil && len(bytes.TrimSpace(st)) > 0 {
		src += " with uncommitted changes"
	}
	return src
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(s.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

func memTotal() string {
	kb, err := statusField("/proc/meminfo", "MemTotal")
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%.1f GB", float64(kb)*1024/1e9)
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	buf := make([]byte, n)
	_, _ = rand.Read(buf)
	for i := range buf {
		buf[i] = alphabet[int(buf[i])%len(alphabet)]
	}
	return string(buf)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
