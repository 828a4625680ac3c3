// Package alert is the server's alert engine. It watches job ends, hosts
// and the notification channels' plugins, matches what it sees against the
// alert rules (core/alert/rule), keeps one alert per rule and fingerprint
// in the store from its first occurrence until its condition clears, and
// sends notifications through the channels (core/channel) with retries.
//
// Nothing here blocks the code that reports events: JobEnded and
// HostChanged hand their event to the engine's own goroutine and return at
// once (a full queue drops the event and logs it; the store keeps each job
// end unevaluated until the engine has seen it, so a dropped one, or one a
// stopped server never saw, is evaluated at the next check or start), and
// every channel has its own bounded delivery queue and worker, so a slow or failing channel
// delays neither job processing nor the other channels. A channel that
// fails to deliver, or whose plugin crashes, raises a plugin_failing alert
// delivered through the rule's other channels.
//
// Throttling: an alert is notified when it opens; while it stays unresolved
// its repeats (another failure, the condition still holding) are notified
// at most once per the rule's repeat interval, and not at all once someone
// has acknowledged it, except when its severity rises. When the condition
// clears the alert is resolved and, if it was notified, a resolution notice
// goes to the same channels. A condition that comes back after someone
// resolved its alert by hand is throttled by the old alert's last
// notification; after the engine resolved it, it is notified at once.
package alert

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/sdk/notify"
)

// Defaults of Options' zero fields.
const (
	DefaultEvaluateEvery  = 10 * time.Second
	DefaultRetries        = 3
	DefaultRetryBackoff   = time.Second
	DefaultMaxBackoff     = 30 * time.Second
	DefaultAttemptTimeout = 30 * time.Second
	DefaultQueueSize      = 256
	// DefaultPluginResetAfter is how long a channel's plugin that was
	// given up on stays down before the engine resets it; each further
	// give-up doubles it, up to MaxPluginResetAfter.
	DefaultPluginResetAfter = time.Minute
	MaxPluginResetAfter     = time.Hour
	// eventQueueSize bounds the job ends and other events waiting for the
	// engine's goroutine.
	eventQueueSize = 4096
	// probeTimeout bounds one liveness probe of a channel's plugin, which
	// may include restarting it.
	probeTimeout = 15 * time.Second
)

// ErrUnknownChannel is what a Sender returns for a channel that does not
// exist; such a delivery is not retried.
var ErrUnknownChannel = errors.New("unknown channel")

// Store is what the engine needs of the store.
type Store interface {
	GetJob(ctx context.Context, id string) (store.Job, error)
	GetHost(ctx context.Context, id string) (store.Host, error)
	GetRepository(ctx context.Context, ref string) (store.Repository, error)
	ActiveHosts(ctx context.Context) ([]store.Host, error)
	BackupFreshnesses(ctx context.Context) ([]store.BackupFreshness, error)
	RepositoryNames(ctx context.Context) (map[string]string, error)
	HostSchedules(ctx context.Context, hostID string) ([]store.Schedule, error)
	SetRepositoryLocked(ctx context.Context, l store.RepositoryLock, now time.Time) error
	ClearRepositoryLock(ctx context.Context, repoID string, now time.Time) (bool, error)
	LockedRepositories(ctx context.Context) ([]store.RepositoryLock, error)
	PendingAlertJobs(ctx context.Context, limit int) ([]string, error)
	JobAlertsDone(ctx context.Context, id string) (bool, error)
	MarkJobAlertsDone(ctx context.Context, id string) error

	EnabledAlertRules(ctx context.Context) ([]store.AlertRule, error)
	CreateAlert(ctx context.Context, a store.Alert) error
	GetAlert(ctx context.Context, id string) (store.Alert, error)
	UnresolvedAlert(ctx context.Context, ruleID, fingerprint string) (store.Alert, error)
	LatestAlert(ctx context.Context, ruleID, fingerprint string) (store.Alert, error)
	UnresolvedAlerts(ctx context.Context, ruleID string) ([]store.Alert, error)
	RecordAlertOccurrence(ctx context.Context, id string, o store.AlertOccurrence) error
	ResolveAlert(ctx context.Context, id, by string, now time.Time) error

	AppendAudit(ctx context.Context, e store.AuditEntry) error
}

// Sender delivers a notification through a channel by name (the server's
// channel registry). It returns the plugin's error, or one wrapping
// ErrUnknownChannel.
type Sender interface {
	Send(ctx context.Context, channel string, n notify.Notification) error
}

// ChannelHealth lets the engine watch the channels' plugin processes (the
// server's plugin host). Optional: without it only failed deliveries are
// noticed.
type ChannelHealth interface {
	// ChannelNames lists the channels.
	ChannelNames() []string
	// ChannelStatus describes the plugin instance of the channel.
	ChannelStatus(name string) (ChannelStatus, bool)
	// Probe checks that the channel's running plugin process is still
	// there; a process that died is noticed (and restarted) by it.
	Probe(ctx context.Context, name string) error
	// Reset clears the failed state of the channel's plugin, given up on
	// after too many crashes, so that its next call starts it afresh.
	Reset(name string) error
}

// ChannelStatus is the state of one channel's plugin instance.
type ChannelStatus struct {
	Plugin string
	// State is the plugin host's: stopped, running, restarting or failed.
	State     string
	Restarts  int
	LastError string
}

// Delivery is one notification delivered, or given up on, as OnDelivered
// reports it.
type Delivery struct {
	Channel string
	AlertID string
	Event   string
	Title   string
	// Err is nil when the channel took the notification.
	Err      error
	Attempts int
	// Latency runs from the event (a job's end as the server recorded it,
	// a condition found) to the end of the delivery.
	Latency time.Duration
}

// Options configure an Engine.
type Options struct {
	Store    Store
	Channels Sender
	// Health watches the channels' plugins; may be nil.
	Health ChannelHealth
	Logger hclog.Logger
	// Now is the clock of alert times and throttling; tests move it.
	Now func() time.Time
	// PublicURL is the server's public_url; notifications link to its
	// pages when it is set.
	PublicURL string
	// EvaluateEvery is how often the conditions that hold over time
	// (backup_stale, host_offline) and the channels' plugins are checked.
	EvaluateEvery time.Duration
	// Retries is how often a failed delivery is tried again, after
	// RetryBackoff, doubling up to MaxBackoff; AttemptTimeout bounds one
	// attempt. Retries < 0 means none.
	Retries        int
	RetryBackoff   time.Duration
	MaxBackoff     time.Duration
	AttemptTimeout time.Duration
	// QueueSize bounds each channel's delivery queue.
	QueueSize int
	// PluginResetAfter is how long a channel's plugin that the plugin
	// host gave up on (it crashed too often) stays down before the engine
	// resets it and starts it again; it doubles with every give-up in a
	// row, up to MaxPluginResetAfter (or itself, if larger).
	PluginResetAfter time.Duration
	// OnDelivered, if set, is told of every delivery's outcome (on the
	// channel's worker goroutine); tests and benchmarks use it.
	OnDelivered func(Delivery)
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
	def(&o.EvaluateEvery, DefaultEvaluateEvery)
	def(&o.RetryBackoff, DefaultRetryBackoff)
	def(&o.MaxBackoff, DefaultMaxBackoff)
	def(&o.AttemptTimeout, DefaultAttemptTimeout)
	def(&o.PluginResetAfter, DefaultPluginResetAfter)
	switch {
	case o.Retries == 0:
		o.Retries = DefaultRetries
	case o.Retries < 0:
		o.Retries = 0
	}
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	return o
}

// Engine is the alert engine. Make one with New, Start it, and Close it.
type Engine struct {
	opts  Options
	store Store
	log   hclog.Logger
	now   func() time.Time

	jobEnds chan jobEnd
	nudges  chan struct{}
	results chan Delivery
	plugins chan pluginObservation
	out     *dispatcher
	dropped atomic.Int64

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// Owned by the engine's goroutine.
	offlineSince map[string]time.Time         // host id → when it was first seen offline
	failing      map[string]string            // channel → why its last delivery failed
	pluginState  map[string]pluginObservation // channel → its plugin at the last check
	crashedAt    map[string]time.Time         // channel → when a crash of its plugin was last seen
}

type jobEnd struct {
	id string
	at time.Time // when the server recorded the end
}

// New makes an engine; nothing runs until Start.
func New(opts Options) *Engine {
	opts = opts.withDefaults()
	e := &Engine{
		opts:         opts,
		store:        opts.Store,
		log:          opts.Logger.Named("alert_engine"),
		now:          opts.Now,
		jobEnds:      make(chan jobEnd, eventQueueSize),
		nudges:       make(chan struct{}, 1),
		results:      make(chan Delivery, eventQueueSize),
		plugins:      make(chan pluginObservation, 64),
		offlineSince: map[string]time.Time{},
		failing:      map[string]string{},
		pluginState:  map[string]pluginObservation{},
		crashedAt:    map[string]time.Time{},
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.out = newDispatcher(e)
	return e
}

// Start runs the engine until ctx ends or Close is called.
func (e *Engine) Start(ctx context.Context) {
	stop := context.AfterFunc(ctx, e.cancel)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer stop()
		e.run()
	}()
	if e.opts.Health != nil {
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			e.watchPlugins()
		}()
	}
	e.log.Info("alert engine started", "evaluate_every", e.opts.EvaluateEvery, "retries", e.opts.Retries)
}

// Close stops the engine and its delivery workers; notifications still
// queued are dropped (and logged).
func (e *Engine) Close() {
	e.cancel()
	e.wg.Wait()
	e.out.wait()
	if n := e.out.pending(); n > 0 {
		e.log.Warn("notifications still queued at shutdown were dropped", "count", n)
	}
}

// JobEnded tells the engine that a job has ended. It never blocks: with
// the queue full the job end is dropped and logged.
func (e *Engine) JobEnded(jobID string) {
	select {
	case e.jobEnds <- jobEnd{id: jobID, at: time.Now()}:
	default:
		e.dropped.Add(1)
		e.log.Error("alert queue is full; a job end was not evaluated", "job_id", jobID)
	}
}

// HostChanged tells the engine that a host went online or offline, so
// host_offline alerts resolve at once rather than at the next check. It
// never blocks.
func (e *Engine) HostChanged() {
	select {
	case e.nudges <- struct{}{}:
	default:
	}
}

// Dropped counts the job ends dropped because the queue was full.
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// run is the engine's goroutine: every evaluation and every write of alert
// state happens here, one at a time.
func (e *Engine) run() {
	t := time.NewTicker(e.opts.EvaluateEvery)
	defer t.Stop()
	e.catchUp(e.ctx)
	e.evaluateState(e.ctx)
	for {
		select {
		case <-e.ctx.Done():
			return
		case je := <-e.jobEnds:
			e.onJobEnd(e.ctx, je)
		case <-e.nudges:
			e.evaluateState(e.ctx)
		case d := <-e.results:
			e.onDelivery(e.ctx, d)
		case obs := <-e.plugins:
			e.onPluginObservation(e.ctx, obs)
		case <-t.C:
			e.catchUp(e.ctx)
			e.evaluateState(e.ctx)
		}
	}
}
