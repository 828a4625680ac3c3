// Package runner is the agent process: it keeps the outbound connection to
// the server (internal/wire), runs the jobs the server dispatches through
// the backend plugin (sdk/backend, served by backend-restic), and writes
// every event to the spool (agent/spool) before sending it, so that nothing
// a job reported is lost to a dropped connection, a server restart or an
// agent restart.
//
// One Agent runs per host. Its life:
//
//  1. Open the spool in the state dir and report the jobs a previous agent
//     process left running as failed ("agent restarted mid-job").
//  2. Configure the backend and ask it for restic's version.
//  3. Connect, with jittered exponential backoff between attempts: dial,
//     hello, then heartbeats, a resend of everything the spool holds, and
//     the server's requests (job_dispatch, job_cancel, job_event_ack).
//  4. When its context ends: refuse new jobs, interrupt the running ones
//     (restic gets SIGINT through the plugin), record how they ended, give
//     the connection a moment to deliver that, and close the spool.
//
// Delivery: the spool is the source of truth. Job runners only write to it
// (log lines that come within a few milliseconds of each other as one
// event, see logBatch); one sender per connection reads what is
// unacknowledged and sends it in seq order, job_finished last, and the
// server's cumulative acks delete it.
// Progress is coalesced by the runner: a job writes a progress event only
// once the server has acknowledged its previous one, so the spool never has
// to drop a progress event it already numbered and the stream the server
// sees has no gaps.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/version"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
)

// Defaults of Config's tuning fields.
const (
	DefaultCancelSettle    = 3 * time.Second
	DefaultShutdownTimeout = 30 * time.Second
	DefaultDrainTimeout    = 5 * time.Second
	// DefaultLogLinger is how long a job's log line waits for more lines to
	// share its job_event.
	DefaultLogLinger = 5 * time.Millisecond
	// BackendName is the name the agent reports for its restic backend in
	// hello.backends.
	BackendName = "restic"
)

var (
	// ErrConfig means the Config given to New is incomplete.
	ErrConfig = errors.New("agent configuration")

	// Causes of a job's context ending, which decide its final status.
	errShutdown = errors.New("the agent shut down before the job finished")
	errDeadline = errors.New("the job's deadline passed before the job finished")
)

// cancelled is the cause of a job cancelled by the server.
type cancelled struct{ reason string }

func (c *cancelled) Error() string {
	if c.reason == "" {
		return "cancelled"
	}
	return "cancelled: " + c.reason
}

// Config is what an Agent needs. The agent's HCL file (agent/config)
// provides the connection and state fields; the command builds Backend.
type Config struct {
	// ServerURL is the server's base URL (https://backup.example.com); the
	// agent connects to its /api/v1/agent/connect.
	ServerURL string
	// Credential is the agent's bearer credential. It is only ever sent to
	// the server.
	Credential string
	// ServerFingerprint pins the server's TLS certificate (hex SHA-256);
	// empty means normal certificate verification.
	ServerFingerprint string
	// AllowInsecure permits ws:// (plain HTTP) to a host that is not
	// loopback.
	AllowInsecure bool
	// StateDir holds the spool (agent.db); it is created with mode 0700.
	StateDir string

	// Backend runs the jobs: a handle on the backend-restic plugin.
	Backend sdk.Backend
	// BackendConfig is the JSON configuration given to Backend.Configure
	// (such as {"restic_binary":"/usr/bin/restic"}); nil skips Configure.
	BackendConfig []byte

	// HookShell is the shell's argv that runs pre/post hooks (the agent
	// configuration's hook_shell); nil is hooks.DefaultShell.
	HookShell []string
	// Logger receives the agent's log lines; nil discards them.
	Logger hclog.Logger
	// Hostname is reported in hello; empty means os.Hostname.
	Hostname string

	// ReconnectBase and ReconnectMax bound the reconnect backoff (wire's
	// defaults, 1 s and 60 s, when zero).
	ReconnectBase, ReconnectMax time.Duration
	// CancelSettle bounds how long a cancelled job waits for restic's
	// processes to exit before it reports (DefaultCancelSettle).
	CancelSettle time.Duration
	// ShutdownTimeout bounds the wait for interrupted jobs to record their
	// end when the agent stops (DefaultShutdownTimeout).
	ShutdownTimeout time.Duration
	// DrainTimeout bounds the wait for the server to acknowledge what is
	// left in the spool when the agent stops (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// DataStallTimeout is how long a download (dump job) may wait for the
	// server to acknowledge its output with the flow-control window full
	// before the agent cancels it (DefaultDataStallTimeout; data.go).
	DataStallTimeout time.Duration
	// Spool tunes the spool; its Logger defaults to Logger.
	Spool spool.Options
	// EventBuffer is how many events of a job wait in memory for the
	// spool's next commit before the job's output is held back
	// (spool.DefaultWriterBuffer when zero).
	EventBuffer int
	// LogLinger is how long a log line waits for the next ones to share its
	// job_event (DefaultLogLinger when zero). LogBatchLines and
	// LogBatchBytes bound such an event (wire.LogBatchLines and
	// wire.LogBatchBytes when zero or larger).
	LogLinger                    time.Duration
	LogBatchLines, LogBatchBytes int
	// Wire tunes the connection (timeouts, queue sizes); Logger and
	// Handlers are set by the agent.
	Wire wire.Config
}

// Agent is the agent process. Create it with New and call Run once.
type Agent struct {
	cfg        Config
	log        hclog.Logger
	connectURL string
	hostname   string
	backend    sdk.Backend
	locks      *repoLocks

	spool *spool.Spool

	mu       sync.Mutex
	jobs     map[string]*job
	draining bool
	sender   *sender // the connected session's, nil while disconnected
	jobWG    sync.WaitGroup

	backendMu     sync.Mutex
	backendReady  bool
	resticVersion string

	sched schedules // the agent's own scheduler (scheduled.go)
}

// New checks cfg and returns an Agent; nothing runs until Run.
func New(cfg Config) (*Agent, error) {
	var errs []error
	connectURL, err := wire.ConnectURL(cfg.ServerURL)
	if err != nil {
		errs = append(errs, err)
	}
	if cfg.Credential == "" {
		errs = append(errs, errors.New("no agent credential"))
	}
	if cfg.StateDir == "" {
		errs = append(errs, errors.New("no state dir"))
	}
	if cfg.Backend == nil {
		errs = append(errs, errors.New("no backend"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.CancelSettle <= 0 {
		cfg.CancelSettle = DefaultCancelSettle
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.DrainTimeout <= 0 {
		cfg.DrainTimeout = DefaultDrainTimeout
	}
	if cfg.DataStallTimeout <= 0 {
		cfg.DataStallTimeout = DefaultDataStallTimeout
	}
	if cfg.LogLinger <= 0 {
		cfg.LogLinger = DefaultLogLinger
	}
	if cfg.LogBatchLines <= 0 || cfg.LogBatchLines > wire.LogBatchLines {
		cfg.LogBatchLines = wire.LogBatchLines
	}
	if cfg.LogBatchBytes <= 0 || cfg.LogBatchBytes > wire.LogBatchBytes {
		cfg.LogBatchBytes = wire.LogBatchBytes
	}
	if cfg.Spool.Logger == nil {
		cfg.Spool.Logger = cfg.Logger
	}
	hostname := cfg.Hostname
	if hostname == "" {
		if hostname, err = os.Hostname(); err != nil || hostname == "" {
			hostname = "unknown"
		}
	}
	return &Agent{
		cfg:        cfg,
		log:        cfg.Logger,
		connectURL: connectURL,
		hostname:   cleanText(hostname, 255),
		backend:    cfg.Backend,
		locks:      newRepoLocks(),
		jobs:       map[string]*job{},
	}, nil
}

// Run runs the agent until ctx ends, then shuts down gracefully: running
// jobs are interrupted and reported, and the spool is flushed and closed.
// It returns an error only if the agent cannot start (the spool is locked
// by another agent, say); a server that is away is retried for ever.
func (a *Agent) Run(ctx context.Context) error {
	a.checkStateDir()
	sp, err := spool.Open(a.cfg.StateDir, a.cfg.Spool)
	if err != nil {
		return fmt.Errorf("open the spool: %w", err)
	}
	a.spool = sp
	defer func() {
		if err := sp.Close(); err != nil {
			a.log.Error("closing the spool failed", "error", err)
		}
	}()
	if err := a.failOrphans(); err != nil {
		return err
	}
	sched, err := a.openScheduler()
	if err != nil {
		return fmt.Errorf("open the scheduler: %w", err)
	}
	a.log.Info("agent starting", "version", version.Version, "server", a.connectURL, "state_dir", a.cfg.StateDir)
	if v := a.restic(ctx); v != "" {
		a.log.Info("restic found", "restic_version", v)
	}

	connCtx, stopConn := context.WithCancel(context.WithoutCancel(ctx))
	defer stopConn()
	connDone := make(chan struct{})
	go func() {
		defer close(connDone)
		b := &wire.Backoff{Base: a.cfg.ReconnectBase, Max: a.cfg.ReconnectMax}
		_ = wire.Reconnect(connCtx, b, func(ctx context.Context) error { return a.session(ctx, b) })
	}()

	// Schedules fire from now on, whether the server is reachable or not.
	stopSched := a.runScheduler(context.WithoutCancel(ctx), sched)

	<-ctx.Done()
	a.log.Info("agent stopping: interrupting running jobs")
	stopped := make(chan struct{})
	go func() { stopSched(); close(stopped) }() // no new runs; the running ones end with shutdown
	a.shutdown()
	<-stopped
	stopConn()
	<-connDone
	a.log.Info("agent stopped")
	return nil
}

// checkStateDir warns when the state dir is open to other users: the spool
// is 0600 itself, but the directory is the agent's.
func (a *Agent) checkStateDir() {
	if runtime.GOOS == "windows" {
		return
	}
	if fi, err := os.Stat(a.cfg.StateDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		a.log.Warn("the state dir is accessible by other users; restrict it to the agent's user (chmod 700)",
			"state_dir", a.cfg.StateDir, "mode", fi.Mode().Perm().String())
	}
}

// failOrphans reports the jobs a previous agent process was running when
// it died: each is finished as failed, and the sender delivers that.
func (a *Agent) failOrphans() error {
	jobs, err := a.spool.ActiveJobs()
	if err != nil {
		return fmt.Errorf("read the spool's running jobs: %w", err)
	}
	now := time.Now().UTC()
	for _, j := range jobs {
		if !j.Orphaned {
			continue
		}
		ev, err := finishedEvent(wire.JobFinished{
			JobID:      j.ID,
			Status:     wire.StatusFailed,
			ExitCode:   -1,
			Error:      spool.ReasonAgentRestarted,
			StartedAt:  j.AcceptedAt,
			FinishedAt: now,
		})
		if err == nil {
			_, err = a.spool.FinishJob(j.ID, ev)
		}
		if err != nil {
			return fmt.Errorf("report orphaned job %s: %w", j.ID, err)
		}
		a.log.Warn("job was running when the agent stopped; reporting it failed",
			"job_id", j.ID, "kind", j.Meta.Kind, "reason", spool.ReasonAgentRestarted)
	}
	return nil
}

// shutdown refuses new jobs, interrupts the running ones, waits for them to
// record their end, and gives the connection a moment to deliver it.
func (a *Agent) shutdown() {
	a.mu.Lock()
	a.draining = true
	running := make([]*job, 0, len(a.jobs))
	for _, j := range a.jobs {
		running = append(running, j)
	}
	a.mu.Unlock()
	for _, j := range running {
		j.cancel(errShutdown)
	}
	done := make(chan struct{})
	go func() {
		a.jobWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(a.cfg.ShutdownTimeout):
		a.log.Error("jobs did not end in time; the next start reports them as failed", "timeout", a.cfg.ShutdownTimeout)
	}
	a.drain()
}

// drain waits, while connected and for at most DrainTimeout, until the
// server has acknowledged everything in the spool. What is left is sent
// after the next start.
func (a *Agent) drain() {
	deadline := time.Now().Add(a.cfg.DrainTimeout)
	for time.Now().Before(deadline) {
		if a.spool.Stats().PendingEvents == 0 || a.currentSender() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	a.log.Warn("events left unacknowledged at shutdown; they are sent after the next start",
		"pending_events", a.spool.Stats().PendingEvents)
}

// ensureBackend configures the backend once; a failure (no restic, say) is
// retried on the next job.
func (a *Agent) ensureBackend(ctx context.Context) error {
	a.backendMu.Lock()
	defer a.backendMu.Unlock()
	if a.backendReady {
		return nil
	}
	if a.cfg.BackendConfig != nil {
		if err := a.backend.Configure(ctx, a.cfg.BackendConfig); err != nil {
			return fmt.Errorf("configure the restic backend: %w", err)
		}
	}
	a.backendReady = true
	return nil
}

// restic returns restic's version, asking the backend (a version job) the
// first time it can; "" while restic cannot be run.
func (a *Agent) restic(ctx context.Context) string {
	a.backendMu.Lock()
	v := a.resticVersion
	a.backendMu.Unlock()
	if v != "" {
		return v
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := a.ensureBackend(ctx); err != nil {
		a.log.Error("restic cannot run; jobs fail until it can", "error", err)
		return ""
	}
	res, err := a.backend.Run(ctx, sdk.Job{ID: "restic-version", Kind: sdk.JobVersion}, nil)
	if err != nil {
		a.log.Error("cannot ask restic for its version", "error", err)
		return ""
	}
	var doc struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(res.Output, &doc); err != nil || doc.Version == "" {
		a.log.Warn("restic's version answer has no version", "error", err)
		return ""
	}
	v = cleanText(doc.Version, 255)
	a.backendMu.Lock()
	a.resticVersion = v
	a.backendMu.Unlock()
	return v
}

// runningJobIDs lists the jobs this process is running (or about to run),
// sorted.
func (a *Agent) runningJobIDs() []string {
	a.mu.Lock()
	ids := make([]string, 0, len(a.jobs))
	for id := range a.jobs {
		ids = append(ids, id)
	}
	a.mu.Unlock()
	slices.Sort(ids)
	return ids
}

func (a *Agent) currentSender() *sender {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sender
}

func (a *Agent) setSender(s *sender) {
	a.mu.Lock()
	a.sender = s
	a.mu.Unlock()
}

// clearSender forgets s if it is still the current sender.
func (a *Agent) clearSender(s *sender) {
	a.mu.Lock()
	if a.sender == s {
		a.sender = nil
	}
	a.mu.Unlock()
}

// isRunning reports whether the job runs in this process.
func (a *Agent) isRunning(id string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.jobs[id]
	return ok
}
