// Package hub holds the server's end of every agent connection: it accepts
// agents on /api/v1/agent/connect, keeps one connection per host, tracks
// which hosts are online, dispatches and cancels jobs, and ingests the
// events agents send into the job log, acknowledging only what is stored.
// docs/protocol.md is the wire contract; docs/jobs.md describes the job
// lifecycle this package drives.
package hub

import (
	"context"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// Defaults for Options' zero fields.
const (
	DefaultHeartbeatInterval = 30 * time.Second
	DefaultOfflineAfter      = 90 * time.Second
	DefaultSweepInterval     = 5 * time.Second
	DefaultFlushInterval     = 50 * time.Millisecond
	DefaultFlushRows         = 1000
	DefaultDispatchTimeout   = 30 * time.Second
	DefaultOrphanGrace       = 2 * time.Minute
	DefaultQueueDeadline     = time.Hour
)

// Store is what the hub needs of the store.
type Store interface {
	GetHost(ctx context.Context, id string) (store.Host, error)
	UpdateHostHello(ctx context.Context, id string, hello store.HostHello, now time.Time) error
	SetHostStatus(ctx context.Context, id, status string, now time.Time) error
	MarkStaleHostsOffline(ctx context.Context, seenBefore, now time.Time) (int64, error)
	GetRepository(ctx context.Context, ref string) (store.Repository, error)

	CreateJob(ctx context.Context, j store.Job) error
	CreateAgentJob(ctx context.Context, j store.Job) error
	GetJob(ctx context.Context, id string) (store.Job, error)
	StartJob(ctx context.Context, id string, now time.Time) error
	FinishJob(ctx context.Context, id string, end store.JobEnd) error
	QueuedJobs(ctx context.Context, hostID string, limit int) ([]store.Job, error)
	QueuedJobsPastDeadline(ctx context.Context, now time.Time, limit int) ([]store.Job, error)
	RunningJobs(ctx context.Context, hostID string) ([]store.Job, error)

	AppendJobLogs(ctx context.Context, logs []store.JobLog) (int64, error)
	JobLogs(ctx context.Context, jobID string, afterSeq int64, limit int) ([]store.JobLog, error)
	JobLogPrefix(ctx context.Context, jobID string) (int64, error)
	LastJobLog(ctx context.Context, jobID, typ string) (store.JobLog, error)

	ReplaceSnapshots(ctx context.Context, repositoryID, preferHost string, snaps []store.Snapshot, now time.Time) error
	UpsertSnapshots(ctx context.Context, preferHost string, snaps []store.Snapshot, now time.Time) error

	ScheduleStore
	CancelStore
	RepoCareStore // repocare.go
	AuditStore    // adminkey.go
	ScopedStore   // scoped.go
}

// RepoSecrets opens a repository's sealed credentials for a dispatch: the
// restic URL, the password and the backend environment.
type RepoSecrets interface {
	RepoSecrets(ctx context.Context, repoID string) (url, password string, env map[string]string, err error)
}

// RepoSecretsFunc adapts a function to RepoSecrets.
type RepoSecretsFunc func(ctx context.Context, repoID string) (url, password string, env map[string]string, err error)

// RepoSecrets calls f.
func (f RepoSecretsFunc) RepoSecrets(ctx context.Context, repoID string) (string, string, map[string]string, error) {
	return f(ctx, repoID)
}

// Options configure a Hub. Zero durations take the defaults above.
type Options struct {
	Store   Store
	Secrets RepoSecrets
	// Hooks opens the pre/post hooks a schedule runs on a host (hooks.go);
	// nil: schedules are sent without hooks.
	Hooks HookSource
	// AdminSecrets opens repositories' admin passwords, which pruning jobs
	// are sent (repo_admin.go); nil: they get the usual password.
	AdminSecrets AdminSecrets
	// Sealer seals the one-job keys of cross-host restores (scoped.go);
	// nil: such restores are refused.
	Sealer Sealer
	Logger hclog.Logger
	// Now is the clock; tests move it.
	Now func() time.Time
	// HeartbeatInterval is what agents are told in hello_ok.
	HeartbeatInterval time.Duration
	// OfflineAfter marks a host offline (and drops its connection) when
	// nothing arrived from its agent for this long.
	OfflineAfter time.Duration
	// SweepInterval is how often the hub looks for silent agents, expired
	// queued jobs, lost jobs and queued jobs of online hosts.
	SweepInterval time.Duration
	// FlushInterval and FlushRows bound how long and how many events wait
	// before they are written to the job log in one transaction.
	FlushInterval time.Duration
	FlushRows     int
	// DispatchTimeout bounds the wait for job_accept or job_reject.
	DispatchTimeout time.Duration
	// OrphanGrace is how long a job the server has as running may stay
	// silent after its agent reconnected without listing it as running,
	// before it is failed as lost.
	OrphanGrace time.Duration
	// QueueDeadline is the deadline of the snapshot refreshes the hub
	// queues itself.
	QueueDeadline time.Duration
	// Wire tunes every agent connection (limits, timeouts); its Role,
	// Logger and Handlers are set by the hub.
	Wire wire.Config
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.HeartbeatInterval, DefaultHeartbeatInterval)
	def(&o.OfflineAfter, DefaultOfflineAfter)
	def(&o.SweepInterval, DefaultSweepInterval)
	def(&o.FlushInterval, DefaultFlushInterval)
	def(&o.DispatchTimeout, DefaultDispatchTimeout)
	def(&o.OrphanGrace, DefaultOrphanGrace)
	def(&o.QueueDeadline, DefaultQueueDeadline)
	if o.FlushRows <= 0 {
		o.FlushRows = DefaultFlushRows
	}
	// A connected host's last_seen is written at most every third of
	// OfflineAfter; heartbeats at least that often keep it fresh enough
	// that the sweep never takes a connected host offline.
	o.HeartbeatInterval = min(o.HeartbeatInterval, o.OfflineAfter/3)
	return o
}

// Hub is the agent hub. Make one with New; it runs until its context ends,
// and Close waits for it.
type Hub struct {
	opts  Options
	store Store
	log   hclog.Logger
	now   func() time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closing  bool
	conns    map[string]*agentConn    // host id → its one connection
	revoked  map[string]bool          // host ids revoked while this process runs
	inflight map[string]chan struct{} // job id → closed when its dispatch ends
	orphans  map[string]time.Time     // job id → when it is failed as lost
	allConns map[*agentConn]struct{}  // every open connection, for Close

	subMu sync.Mutex
	subs  map[string]map[*subscriber]struct{} // job id → live subscribers

	ingestq  chan ingestItem
	progress map[string]*jobProgress // the batcher's own: acknowledgement state per job

	schedules schedulePusher // schedules.go

	tap atomic.Pointer[Tap] // tap.go

	scopedMu sync.Mutex // one one-job key moves at a time (scoped_flow.go)

	dataMu sync.Mutex
	data   map[string]*DataStream // job id → its download (dump.go)

	// statusLocks order a host's online and offline writes: a hello's
	// write and registration, and a closing connection's check for a
	// successor and its offline write, never interleave.
	statusLocks [64]sync.Mutex
}

// statusLock is the lock ordering hostID's status writes.
func (h *Hub) statusLock(hostID string) *sync.Mutex {
	f := fnv.New32a()
	_, _ = f.Write([]byte(hostID))
	return &h.statusLocks[f.Sum32()%uint32(len(h.statusLocks))]
}

// New starts a hub: its event writer and its sweeper run until ctx ends or
// Close is called. Every host the store has as online is marked offline:
// it is online again when its agent connects.
func New(ctx context.Context, opts Options) *Hub {
	opts = opts.withDefaults()
	h := &Hub{
		opts:     opts,
		store:    opts.Store,
		log:      opts.Logger.Named("agent_hub"),
		now:      opts.Now,
		conns:    map[string]*agentConn{},
		revoked:  map[string]bool{},
		inflight: map[string]chan struct{}{},
		orphans:  map[string]time.Time{},
		allConns: map[*agentConn]struct{}{},
		subs:     map[string]map[*subscriber]struct{}{},
		ingestq:  make(chan ingestItem, 2*opts.FlushRows),
		progress: map[string]*jobProgress{},
	}
	h.ctx, h.cancel = context.WithCancel(ctx)
	now := h.now()
	if n, err := h.store.MarkStaleHostsOffline(h.ctx, now, now); err != nil {
		h.log.Warn("marking hosts offline at start-up failed", "error", err)
	} else if n > 0 {
		h.log.Info("marked hosts offline until their agents reconnect", "count", n)
	}
	h.wg.Add(2)
	go h.runBatcher()
	go h.runSweeper()
	return h
}

// Close stops the hub: every agent connection is closed (going away), the
// events already received are written, and Close returns when all of it
// has ended.
func (h *Hub) Close() {
	h.mu.Lock()
	h.closing = true
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	conns := make([]*agentConn, 0, len(h.allConns))
	for ac := range h.allConns {
		conns = append(conns, ac)
	}
	h.mu.Unlock()
	for _, ac := range conns {
		<-ac.c.Done()
	}
}

// Online reports whether the host's agent is connected to this server.
func (h *Hub) Online(hostID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[hostID] != nil
}

// conn returns the host's connection, or nil when it is not connected.
func (h *Hub) conn(hostID string) *agentConn {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.conns[hostID]
}

// runSweeper runs the periodic checks until the hub stops.
func (h *Hub) runSweeper() {
	defer h.wg.Done()
	t := time.NewTicker(h.opts.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
			h.sweep()
		}
	}
}

// sweep drops silent agents, fails queued jobs past their deadline and
// lost running jobs, and dispatches queued jobs of connected hosts that
// are not being dispatched already.
func (h *Hub) sweep() {
	ctx, cancel := context.WithTimeout(h.ctx, h.opts.SweepInterval*4)
	defer cancel()
	now := h.now()
	h.dropSilent(now)
	if _, err := h.store.MarkStaleHostsOffline(ctx, now.Add(-h.opts.OfflineAfter), now); err != nil {
		h.log.Warn("marking silent hosts offline failed", "error", err)
	}
	h.expireQueued(ctx, now)
	h.failOrphans(ctx, now)
	h.dispatchWaiting(ctx)
	h.syncChangedRepositories(ctx)
	h.sweepScoped(ctx) // scoped_flow.go
}
