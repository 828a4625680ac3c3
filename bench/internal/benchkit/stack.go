package benchkit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Stack is a server and an agent a benchmark runs, with everything they
// write in Work: server/ (config and data), agent/ (config and state),
// restic-cache/, server.log and agent.log.
type Stack struct {
	Work     string
	Env      Environment
	Progress func(string, ...any)

	Server, Agent *Proc
	API           *Client
	HostID        string
	CacheDir      string // the restic cache of the agent and of bare restic runs
}

// ServerOptions are how StartServer runs the server.
type ServerOptions struct {
	OnLine        func([]byte)  // every log line, in order; nil for none
	ClientTimeout time.Duration // per API request
	ReadyTimeout  time.Duration // until /readyz answers
}

// StartServer starts the server on a free loopback port with its data in
// the work directory, at the default log level (info, as JSON), and waits
// until it is ready.
func (s *Stack) StartServer(ctx context.Context, o ServerOptions) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := filepath.Join(s.Work, "server")
	if err := os.MkdirAll(dir, 0o700); err != nil { //nolint:gosec // G703: inside the work directory
		return err
	}
	cfg := fmt.Sprintf("server {\n  listen   = %q\n  data_dir = %q\n}\nlog {\n  level  = \"info\"\n  format = \"json\"\n}\n",
		addr, filepath.Join(dir, "data"))
	cfgPath := filepath.Join(dir, "config.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil { //nolint:gosec // G703: inside the work directory
		return err
	}
	s.Progress("starting the server on %s", addr)
	logPath := filepath.Join(s.Work, "server.log")
	p, err := StartProc("server", logPath, os.Environ(), o.OnLine, s.Env.Server, "server", "--config", cfgPath)
	if err != nil {
		return err
	}
	s.Server = p
	s.API = &Client{Base: "http://" + addr, HTTP: &http.Client{Timeout: o.ClientTimeout}}
	deadline := time.Now().Add(o.ReadyTimeout)
	for {
		err := s.API.Call(ctx, http.MethodGet, "/readyz", nil, nil)
		if err == nil {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("the server exited: %w (log: %s)", p.Err, logPath)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server is not ready after %s: %w", o.ReadyTimeout, err)
		}
		if err := Sleep(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
}

// AgentOptions are how SetUp enrolls and runs the agent.
type AgentOptions struct {
	Hostname string       // the enrolled host's name
	LogLevel string       // the agent's log level
	OnLine   func([]byte) // every log line, in order; nil for none
}

// SetUp bootstraps an admin, enrolls a host through the API, writes the
// agent's configuration, starts the agent and waits for the host to be
// online.
func (s *Stack) SetUp(ctx context.Context, o AgentOptions) error {
	setup, err := os.ReadFile(filepath.Join(s.Work, "server", "data", "setup-token")) //nolint:gosec // G703: inside the work directory
	if err != nil {
		return fmt.Errorf("the server's setup token: %w", err)
	}
	var boot struct {
		Token string `json:"token"`
	}
	if err := s.API.Call(ctx, http.MethodPost, "/api/v1/bootstrap", map[string]string{
		"setup_token": strings.TrimSpace(string(setup)), "username": "bench", "password": RandomString(24),
	}, &boot); err != nil {
		return err
	}
	s.API.Token = boot.Token
	var et struct {
		Token string `json:"token"`
	}
	if err := s.API.Call(ctx, http.MethodPost, "/api/v1/enrollment-tokens", map[string]any{}, &et); err != nil {
		return err
	}
	var enrolled struct {
		HostID     string `json:"host_id"`
		Credential string `json:"credential"`
	}
	if err := s.API.Call(ctx, http.MethodPost, "/api/v1/agents/enroll", map[string]string{
		"token": et.Token, "hostname": o.Hostname, "os": runtime.GOOS, "arch": runtime.GOARCH, "agent_version": "bench",
	}, &enrolled); err != nil {
		return err
	}
	s.HostID = enrolled.HostID

	dir := filepath.Join(s.Work, "agent")
	s.CacheDir = filepath.Join(s.Work, "restic-cache")
	for _, d := range []string{dir, s.CacheDir} {
		if err := os.MkdirAll(d, 0o700); err != nil { //nolint:gosec // G703: inside the work directory
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
    level  = %q
    format = "json"
  }
}
`, s.API.Base, enrolled.HostID, enrolled.Credential, filepath.Join(dir, "state"), s.Env.Restic, o.LogLevel)
	cfgPath := filepath.Join(dir, "agent.hcl")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil { //nolint:gosec // G703: inside the work directory
		return err
	}
	s.Progress("starting the agent")
	logPath := filepath.Join(s.Work, "agent.log")
	p, err := StartProc("agent", logPath, s.ChildEnv(), o.OnLine, s.Env.Agent, "run", "--config", cfgPath)
	if err != nil {
		return err
	}
	s.Agent = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		var h struct {
			Status string `json:"status"`
		}
		if err := s.API.Call(ctx, http.MethodGet, "/api/v1/hosts/"+url.PathEscape(s.HostID), nil, &h); err != nil {
			return err
		}
		if h.Status == "online" {
			return nil
		}
		if p.Exited() {
			return fmt.Errorf("the agent exited: %w (log: %s)", p.Err, logPath)
		}
		if time.Now().After(deadline) {
			return errors.New("the agent did not come online within 60s")
		}
		if err := Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// ChildEnv is this process's environment without restic's variables, with
// the benchmark's own restic cache (the same for bare restic and the agent).
func (s *Stack) ChildEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "RESTIC_") {
			env = append(env, kv)
		}
	}
	return append(env, "RESTIC_CACHE_DIR="+s.CacheDir)
}

// Stop stops the agent (gracefully first: it interrupts restic), then the
// server.
func (s *Stack) Stop() {
	if s.Agent != nil {
		s.Agent.Stop(15 * time.Second)
		s.Agent = nil
	}
	if s.Server != nil {
		s.Server.Stop(10 * time.Second)
		s.Server = nil
	}
}

// AddRepository registers a repository on the server, runs its init job
// on the host and waits until the host has no job left.
func (s *Stack) AddRepository(ctx context.Context, name, path, password string) error {
	if err := s.API.Call(ctx, http.MethodPost, "/api/v1/repositories", map[string]string{
		"name": name, "url": path, "password": password,
	}, nil); err != nil {
		return err
	}
	j, err := s.API.RunJob(ctx, s.HostID, JobRequest{Kind: "init", Repository: name})
	if err != nil {
		return err
	}
	if j, _, err = s.API.WaitJob(ctx, j.ID, 50*time.Millisecond, 5*time.Minute); err != nil {
		return err
	}
	if j.Status != "succeeded" {
		return fmt.Errorf("init of %s: %s: %s", name, j.Status, j.Error)
	}
	return s.API.WaitQuiet(ctx, s.HostID, 5*time.Minute)
}
