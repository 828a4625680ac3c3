package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// bench holds the running server and agent and what their logs said.
type bench struct {
	opts     options
	work     string
	env      environment
	progress func(string, ...any)

	server, agent *proc
	serverLog     *serverLog
	agentLog      *agentLog
	api           *api
	hostID        string
	repoPassword  string
	cacheDir      string
	tree          tree
}

// startServer starts the server on a free loopback port with its data in
// the work directory, at the default log level (info), and waits until it
// is ready.
func (b *bench) startServer(ctx context.Context) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(b.work, "server")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	cfg := fmt.Sprintf("server {\n  listen   = %q\n  data_dir = %q\n}\nlog {\n  level  = \"info\"\n  format = \"json\"\n}\n",
		addr, filepath.Join(dir, "data"))
	cfgPath := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	b.serverLog = &serverLog{dispatched: map[string]dispatchLine{}, finished: map[string]time.Time{}}
	b.progress("starting the server on %s", addr)
	p, err := startProc("server", filepath.Join(b.work, "server.log"), os.Environ(), b.serverLog.line, b.env.server, "server", "--config", cfgPath)
	if err != nil {
		return err
	}
	b.server = p
	b.api = &api{base: "http://" + addr, http: &http.Client{Timeout: 2 * time.Minute}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.api.call(ctx, http.MethodGet, "/readyz", nil, nil)
		if err == nil {
			return nil
		}
		if p.exited() {
			return fmt.Errorf("the server exited: %w (log: %s)", p.err, filepath.Join(b.work, "server.log"))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server is not ready after 30s: %w", err)
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
}

// setUp bootstraps an admin, enrolls a host through the API, writes the
// agent's configuration and starts the agent, and waits for the host to
// be online.
func (b *bench) setUp(ctx context.Context) error {
	setup, err := os.ReadFile(filepath.Join(b.work, "server", "data", "setup-token"))
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
		"token": et.Token, "hostname": "bench-overhead", "os": runtime.GOOS, "arch": runtime.GOARCH, "agent_version": "bench",
	}, &enrolled); err != nil {
		return err
	}
	b.hostID = enrolled.HostID

	dir := filepath.Join(b.work, "agent")
	b.cacheDir = filepath.Join(b.work, "restic-cache")
	for _, d := range []string{dir, b.cacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	// The agent logs at debug level for the plugin's "restic started" line
	// (a handful of lines per job, none per event).
	cfg := fmt.Sprintf(`agent {
  server_url    = %q
  host_id       = %q
  credential    = %q
  state_dir     = %q
  restic_binary = %q
  log {
    level  = "debug"
    format = "json"
  }
}
`, b.api.base, enrolled.HostID, enrolled.Credential, filepath.Join(dir, "state"), b.env.restic)
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	b.agentLog = &agentLog{jobs: map[string]*agentJob{}}
	b.progress("starting the agent")
	p, err := startProc("agent", filepath.Join(b.work, "agent.log"), b.childEnv(), b.agentLog.line, b.env.agent, "run", "--config", cfgPath)
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

// addRepository registers a repository on the server and runs its init job.
func (b *bench) addRepository(ctx context.Context, name, path string) error {
	if err := b.api.call(ctx, http.MethodPost, "/api/v1/repositories", map[string]string{
		"name": name, "url": path, "password": b.repoPassword,
	}, nil); err != nil {
		return err
	}
	j, err := b.api.runJob(ctx, b.hostID, jobRequest{Kind: "init", Repository: name})
	if err != nil {
		return err
	}
	j, _, err = b.api.waitJob(ctx, j.ID, 50*time.Millisecond, 5*time.Minute)
	if err != nil {
		return err
	}
	if j.Status != "succeeded" {
		return fmt.Errorf("init of %s: %s: %s", name, j.Status, j.Error)
	}
	return b.api.waitQuiet(ctx, b.hostID, 5*time.Minute)
}

// resticRun runs bare restic on repo and returns its wall and CPU time.
func (b *bench) resticRun(ctx context.Context, repo string, extraEnv []string, args ...string) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, b.env.restic, args...) //nolint:gosec // G204: the restic under test
	cmd.Env = append(b.childEnv(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+b.repoPassword)
	cmd.Env = append(cmd.Env, extraEnv...)
	tail := &tailBuffer{n: 4096}
	cmd.Stdout, cmd.Stderr = io.Discard, tail
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err = cmd.Run()
	wall = time.Since(start)
	if err != nil {
		return wall, 0, fmt.Errorf("restic %s: %w\n%s", strings.Join(args, " "), err, tail.String())
	}
	return wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// managerCPU is the CPU time the server, the agent and the agent's plugin
// processes have used so far (restic's own time is not in it).
func (b *bench) managerCPU() time.Duration {
	c := b.cpuByProcess()
	return c.server + c.agent + c.plugins
}

// cpuUse is CPU time used so far, by process.
type cpuUse struct {
	server  time.Duration // with its plugin processes
	agent   time.Duration
	plugins time.Duration // the agent's plugin processes, restic excluded
}

func (c cpuUse) sub(d cpuUse) cpuUse {
	return cpuUse{server: c.server - d.server, agent: c.agent - d.agent, plugins: c.plugins - d.plugins}
}

func (b *bench) cpuByProcess() cpuUse {
	var c cpuUse
	add := func(to *time.Duration, pid int) {
		if st, err := readStat(pid); err == nil {
			*to += st.cpu
		}
	}
	add(&c.server, b.server.pid())
	for _, pid := range descendants(b.server.pid()) {
		add(&c.server, pid)
	}
	add(&c.agent, b.agent.pid())
	for _, pid := range descendants(b.agent.pid()) {
		if exePath(pid) != b.env.restic {
			add(&c.plugins, pid)
		}
	}
	return c
}

// memReading is one idle memory reading.
type memReading struct {
	label         string
	server, agent procInfo
	serverPlugins []procInfo
	agentPlugins  []procInfo
}

func (b *bench) memory(label string) memReading {
	m := memReading{label: label}
	m.server, _ = readProc(b.server.pid())
	for _, pid := range descendants(b.server.pid()) {
		if info, err := readProc(pid); err == nil {
			m.serverPlugins = append(m.serverPlugins, info)
		}
	}
	if b.agent != nil {
		m.agent, _ = readProc(b.agent.pid())
		for _, pid := range descendants(b.agent.pid()) {
			if exePath(pid) == b.env.restic {
				continue
			}
			if info, err := readProc(pid); err == nil {
				m.agentPlugins = append(m.agentPlugins, info)
			}
		}
	}
	return m
}

// shutdown stops the agent (gracefully first: it interrupts restic), then
// the server, then any restic the plugin started that is still there.
func (b *bench) shutdown() {
	if b.agent != nil {
		b.agent.stop(15 * time.Second)
	}
	if b.server != nil {
		b.server.stop(10 * time.Second)
	}
	if b.agentLog != nil {
		for _, pid := range b.agentLog.pids() {
			if exePath(pid) == b.env.restic {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

func randomString(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// hclogLine is the part of an hclog JSON line the benchmark reads.
type hclogLine struct {
	Message   string  `json:"@message"`
	Module    string  `json:"@module"`
	Timestamp string  `json:"@timestamp"`
	Own       string  `json:"timestamp"` // a plugin's own clock (ms)
	JobID     string  `json:"job_id"`
	Kind      string  `json:"kind"`
	PID       int     `json:"pid"`
	Latency   float64 `json:"latency"` // a time.Duration, in ns
}

func parseLine(b []byte) (hclogLine, time.Time, bool) {
	var l hclogLine
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &l) != nil {
		return l, time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, l.Timestamp)
	return l, t, err == nil
}

// dispatchLine is the hub's "job dispatched" line: the dispatch request's
// round trip to the agent.
type dispatchLine struct {
	latency time.Duration
}

// serverLog keeps the hub's "job dispatched" lines and its "job
// finished" lines (logged once the job's end is stored).
type serverLog struct {
	mu         sync.Mutex
	dispatched map[string]dispatchLine
	finished   map[string]time.Time
}

func (s *serverLog) line(b []byte) {
	l, at, ok := parseLine(b)
	if !ok || l.JobID == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch l.Message {
	case "job dispatched":
		s.dispatched[l.JobID] = dispatchLine{latency: time.Duration(l.Latency)}
	case "job finished":
		s.finished[l.JobID] = at
	}
}

func (s *serverLog) get(id string) (dispatchLine, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.dispatched[id]
	return d, ok
}

// finishedAt waits up to 5 s for the server's "job finished" line of a
// job the API already shows ended.
func (s *serverLog) finishedAt(ctx context.Context, id string) (time.Time, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		at, ok := s.finished[id]
		s.mu.Unlock()
		if ok {
			return at, nil
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("job %s: no \"job finished\" line in the server's log", id)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return time.Time{}, err
		}
	}
}

// agentJob is when the agent's and the plugin's log lines say a job
// reached each step.
type agentJob struct {
	accepted       time.Time // agent: "job accepted" (recorded in its spool)
	running        time.Time // agent: "job running", about to call the plugin
	pluginStarted  time.Time // plugin: "job started" (relayed by the agent)
	resticStarted  time.Time // plugin: "restic started", its own clock (ms)
	resticRelayed  time.Time // the same line as the agent logged it (µs)
	resticFinished time.Time // plugin: "restic finished", its own clock (ms)
}

type agentLog struct {
	mu         sync.Mutex
	jobs       map[string]*agentJob
	current    string // the job the plugin last said it started
	resticPIDs []int
}

func (a *agentLog) line(b []byte) {
	l, at, ok := parseLine(b)
	if !ok {
		return
	}
	own, err := time.Parse(time.RFC3339Nano, l.Own)
	if err != nil {
		own = at
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	get := func(id string) *agentJob {
		j := a.jobs[id]
		if j == nil {
			j = &agentJob{}
			a.jobs[id] = j
		}
		return j
	}
	plugin := strings.HasPrefix(l.Module, "agent.plugin.")
	switch {
	case l.Module == "agent.job" && l.Message == "job accepted" && l.JobID != "":
		get(l.JobID).accepted = at
	case l.Module == "agent.job" && l.Message == "job running" && l.JobID != "":
		get(l.JobID).running = at
	case plugin && l.Message == "job started" && l.JobID != "":
		// The plugin's lines reach the agent in the order it wrote them,
		// and the benchmark runs one job at a time: restic's lines until
		// the plugin's "job finished" are this job's.
		get(l.JobID).pluginStarted = at
		a.current = l.JobID
	case plugin && (l.Message == "job finished" || l.Message == "job failed"):
		a.current = ""
	case l.Message == "restic started" && l.PID > 0:
		a.resticPIDs = append(a.resticPIDs, l.PID)
		if a.current != "" {
			j := get(a.current)
			j.resticStarted, j.resticRelayed = own, at
		}
	case l.Message == "restic finished" && a.current != "":
		get(a.current).resticFinished = own
	}
}

func (a *agentLog) get(id string) (agentJob, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	j, ok := a.jobs[id]
	if !ok {
		return agentJob{}, false
	}
	return *j, true
}

func (a *agentLog) pids() []int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]int(nil), a.resticPIDs...)
}
