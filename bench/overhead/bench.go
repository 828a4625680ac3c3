package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/restic-manager/restic-manager/bench/internal/benchkit"
)

// bench holds the running server and agent and what their logs said.
type bench struct {
	*benchkit.Stack
	opts options

	serverLog    *serverLog
	agentLog     *agentLog
	repoPassword string
	tree         tree
}

// startServer starts the server and waits until it is ready, reading
// its log for the hub's dispatch and finish lines.
func (b *bench) startServer(ctx context.Context) error {
	b.serverLog = &serverLog{dispatched: map[string]dispatchLine{}, finished: map[string]time.Time{}}
	return b.StartServer(ctx, benchkit.ServerOptions{OnLine: b.serverLog.line, ClientTimeout: 2 * time.Minute, ReadyTimeout: 30 * time.Second})
}

// setUp bootstraps an admin, enrolls a host and starts its agent. The
// agent logs at debug level for the plugin's "restic started" line (a
// handful of lines per job, none per event).
func (b *bench) setUp(ctx context.Context) error {
	b.agentLog = &agentLog{jobs: map[string]*agentJob{}}
	if err := b.SetUp(ctx, benchkit.AgentOptions{Hostname: "bench-overhead", LogLevel: "debug", OnLine: b.agentLog.line}); err != nil {
		return err
	}
	b.repoPassword = benchkit.RandomString(24)
	return nil
}

// resticRun runs bare restic on repo and returns its wall and CPU time.
func (b *bench) resticRun(ctx context.Context, repo string, extraEnv []string, args ...string) (wall, cpu time.Duration, err error) {
	cmd := exec.CommandContext(ctx, b.Env.Restic, args...) //nolint:gosec // G204: the restic under test
	cmd.Env = append(b.ChildEnv(), "RESTIC_REPOSITORY="+repo, "RESTIC_PASSWORD="+b.repoPassword)
	cmd.Env = append(cmd.Env, extraEnv...)
	tail := &benchkit.TailBuffer{N: 4096}
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
		if st, err := benchkit.ReadStat(pid); err == nil {
			*to += st.CPU
		}
	}
	add(&c.server, b.Server.PID())
	for _, pid := range benchkit.Descendants(b.Server.PID()) {
		add(&c.server, pid)
	}
	add(&c.agent, b.Agent.PID())
	for _, pid := range benchkit.Descendants(b.Agent.PID()) {
		if benchkit.ExePath(pid) != b.Env.Restic {
			add(&c.plugins, pid)
		}
	}
	return c
}

// memReading is one idle memory reading.
type memReading struct {
	label         string
	server, agent benchkit.ProcInfo
	serverPlugins []benchkit.ProcInfo
	agentPlugins  []benchkit.ProcInfo
}

func (b *bench) memory(label string) memReading {
	m := memReading{label: label}
	m.server, _ = benchkit.ReadProc(b.Server.PID())
	for _, pid := range benchkit.Descendants(b.Server.PID()) {
		if info, err := benchkit.ReadProc(pid); err == nil {
			m.serverPlugins = append(m.serverPlugins, info)
		}
	}
	if b.Agent != nil {
		m.agent, _ = benchkit.ReadProc(b.Agent.PID())
		for _, pid := range benchkit.Descendants(b.Agent.PID()) {
			if benchkit.ExePath(pid) == b.Env.Restic {
				continue
			}
			if info, err := benchkit.ReadProc(pid); err == nil {
				m.agentPlugins = append(m.agentPlugins, info)
			}
		}
	}
	return m
}

// shutdown stops the agent (gracefully first: it interrupts restic), then
// the server, then any restic the plugin started that is still there.
func (b *bench) shutdown() {
	b.Stop()
	if b.agentLog != nil {
		for _, pid := range b.agentLog.pids() {
			if benchkit.ExePath(pid) == b.Env.Restic {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
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
		if err := benchkit.Sleep(ctx, 5*time.Millisecond); err != nil {
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
