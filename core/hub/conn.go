package hub

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/version"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// maxConnJobs bounds the per-connection cache of jobs already checked.
const maxConnJobs = 1024

// agentConn is one agent connection. Its handlers run one at a time (the
// wire package guarantees it), so the fields marked "handlers only" need no
// lock.
type agentConn struct {
	h      *Hub
	c      *wire.Conn
	ready  chan struct{} // closed once c is set
	hostID string
	name   string // the host's name, for messages
	log    hclog.Logger

	hostname  atomic.Pointer[string] // from hello
	lastFrame atomic.Int64           // unix nanoseconds of the last message
	helloDone atomic.Bool

	lastWrite time.Time           // handlers only: last time last_seen was written
	jobs      map[string]*connJob // handlers only: jobs this connection may report on

	ackMu     sync.Mutex
	acks      map[string]uint64 // job id → highest ack not yet sent
	ackSignal chan struct{}
}

// connJob is a job this connection has been allowed to report on.
type connJob struct {
	scrub []string // secret values to remove from its events
}

// ServeAgent upgrades an authenticated agent's request to the agent
// connection. The caller has checked the bearer credential and found host;
// on a failed upgrade the client already has its HTTP error. The handler
// returns at once: the connection lives on the hub's context.
func (h *Hub) ServeAgent(w http.ResponseWriter, r *http.Request, host store.Host) {
	if h.ctx.Err() != nil {
		http.Error(w, "server is shutting down", http.StatusServiceUnavailable)
		return
	}
	ac := &agentConn{
		h: h, hostID: host.ID, name: host.Name, ready: make(chan struct{}),
		log:       h.log.With("host_id", host.ID, "host", host.Name),
		jobs:      map[string]*connJob{},
		acks:      map[string]uint64{},
		ackSignal: make(chan struct{}, 1),
	}
	ac.lastFrame.Store(h.now().UnixNano())
	cfg := h.opts.Wire
	cfg.Logger = ac.log
	cfg.Handlers = map[wire.Type]wire.HandlerFunc{
		wire.TypeHello:       ac.onHello,
		wire.TypeHeartbeat:   ac.onHeartbeat,
		wire.TypeJobEvent:    ac.onEvent,
		wire.TypeJobFinished: ac.onFinished,
		wire.TypeJobData:     ac.onData,
		wire.TypeAdminKey:    ac.onAdminKey, // adminkey.go
	}
	c, err := wire.Upgrade(h.ctx, w, r, cfg)
	if err != nil {
		ac.log.Warn("agent connection upgrade failed", "error", err)
		return
	}
	ac.c = c
	close(ac.ready)
	h.mu.Lock()
	h.allConns[ac] = struct{}{}
	h.mu.Unlock()
	ac.log.Debug("agent connected", "remote_addr", r.RemoteAddr)
	go ac.run()
}

// run sends acknowledgements until the connection closes, then cleans up.
func (ac *agentConn) run() {
	ctx := ac.c.Context()
	for {
		select {
		case <-ctx.Done():
			ac.h.disconnected(ac)
			return
		case <-ac.ackSignal:
			ac.ackMu.Lock()
			acks := ac.acks
			ac.acks = make(map[string]uint64, len(acks))
			ac.ackMu.Unlock()
			for job, seq := range acks {
				if err := ac.c.Send(ctx, wire.TypeJobEventAck, wire.JobEventAck{JobID: job, UpToSeq: seq}); err != nil {
					ac.log.Debug("could not send an acknowledgement", "job_id", job, "error", err)
				}
			}
		}
	}
}

// queueAck schedules a cumulative acknowledgement; it never blocks.
func (ac *agentConn) queueAck(jobID string, upTo uint64) {
	ac.ackMu.Lock()
	if upTo > ac.acks[jobID] {
		ac.acks[jobID] = upTo
	}
	ac.ackMu.Unlock()
	select {
	case ac.ackSignal <- struct{}{}:
	default:
	}
}

// touch records that the agent is alive, and writes last_seen (which also
// marks the host online) at most every third of OfflineAfter.
func (ac *agentConn) touch(ctx context.Context) {
	now := ac.h.now()
	ac.lastFrame.Store(now.UnixNano())
	if !ac.helloDone.Load() || now.Sub(ac.lastWrite) < ac.h.opts.OfflineAfter/3 {
		return
	}
	ac.lastWrite = now
	if err := ac.h.store.SetHostStatus(ctx, ac.hostID, store.HostOnline, now); err != nil {
		if errors.Is(err, store.ErrAgentRevoked) {
			go ac.close(wire.CloseRevoked, "credential revoked")
			return
		}
		ac.log.Warn("recording the agent's heartbeat failed", "error", err)
	}
}

// close closes the connection with code and reason.
func (ac *agentConn) close(code int, reason string) {
	_ = ac.c.CloseWithCode(code, reason)
}

func (ac *agentConn) onHello(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	<-ac.ready
	var hello wire.Hello
	if err := env.DecodePayload(&hello); err != nil {
		return err
	}
	now := ac.h.now()
	// The online write and the registration happen together, so that a
	// previous connection closing meanwhile either marks the host offline
	// before them or sees this one and leaves the host alone.
	sl := ac.h.statusLock(ac.hostID)
	sl.Lock()
	registered := false
	defer func() {
		if !registered {
			sl.Unlock()
		}
	}()
	err := ac.h.store.UpdateHostHello(ctx, ac.hostID, store.HostHello{
		Hostname: hello.Hostname, OS: hello.OS, Arch: hello.Arch, AgentVersion: hello.AgentVersion,
		ResticVersion: hello.ResticVersion, Backends: hello.Backends,
	}, now)
	if errors.Is(err, store.ErrAgentRevoked) || errors.Is(err, store.ErrNotFound) {
		go ac.close(wire.CloseRevoked, "credential revoked")
		return nil
	}
	if err != nil {
		return err
	}
	hostname := hello.Hostname
	ac.hostname.Store(&hostname)
	ac.lastWrite = now
	ok := ac.h.register(ac)
	registered = true
	sl.Unlock()
	if !ok {
		go ac.close(wire.CloseRevoked, "credential revoked")
		return nil
	}
	ac.lastFrame.Store(now.UnixNano())
	if err := c.Reply(ctx, env, wire.TypeHelloOK, wire.HelloOK{
		HostID:             ac.hostID,
		ServerVersion:      version.Version,
		HeartbeatIntervalS: max(1, int(ac.h.opts.HeartbeatInterval/time.Second)),
	}); err != nil {
		return err
	}
	// Only now may dispatches go out: hello_ok is queued first, so no
	// job_dispatch can overtake it. Handlers run one at a time, so the
	// agent's next message is handled after this.
	ac.helloDone.Store(true)
	ac.log.Info("agent online", "hostname", hello.Hostname, "agent_version", hello.AgentVersion,
		"restic_version", hello.ResticVersion, "running_jobs", len(hello.State.RunningJobs))
	running, schedRev := hello.State.RunningJobs, hello.State.ScheduleRevision
	ac.h.spawn(func() { ac.h.afterHello(ac, running, schedRev) })
	return nil
}

func (ac *agentConn) onHeartbeat(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	<-ac.ready
	ac.touch(ctx)
	var hb wire.Heartbeat
	if err := env.DecodePayload(&hb); err != nil {
		return err
	}
	return c.Reply(ctx, env, wire.TypeHeartbeatAck, wire.HeartbeatAck{ServerTime: ac.h.now().UTC()})
}

// register makes ac its host's connection, closing the one it replaces.
// It refuses a host revoked while this process runs.
func (h *Hub) register(ac *agentConn) bool {
	h.mu.Lock()
	if h.revoked[ac.hostID] {
		h.mu.Unlock()
		return false
	}
	old := h.conns[ac.hostID]
	h.conns[ac.hostID] = ac
	h.mu.Unlock()
	if old != nil && old != ac {
		old.log.Info("agent reconnected; closing its previous connection")
		go old.close(wire.CloseReplaced, "replaced by a newer connection")
	}
	return true
}

// disconnected forgets a closed connection; if it was its host's current
// one, the host is offline now.
func (h *Hub) disconnected(ac *agentConn) {
	h.mu.Lock()
	current := h.conns[ac.hostID] == ac
	if current {
		delete(h.conns, ac.hostID)
	}
	revoked := h.revoked[ac.hostID]
	h.mu.Unlock()
	go func() {
		<-ac.c.Done()
		h.mu.Lock()
		delete(h.allConns, ac)
		h.mu.Unlock()
	}()
	reason := ""
	if err := ac.c.Err(); err != nil {
		reason = err.Error()
	}
	if !current || revoked || !ac.helloDone.Load() {
		ac.log.Debug("agent connection closed", "reason", reason)
		return
	}
	sl := h.statusLock(ac.hostID)
	sl.Lock()
	defer sl.Unlock()
	h.mu.Lock()
	succeeded := h.conns[ac.hostID] != nil
	h.mu.Unlock()
	if succeeded {
		ac.log.Debug("agent connection closed; a newer one is already online", "reason", reason)
		return
	}
	ac.log.Info("agent offline", "reason", reason)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.ctx), 5*time.Second)
	defer cancel()
	if err := h.store.SetHostStatus(ctx, ac.hostID, store.HostOffline, h.now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		ac.log.Warn("marking the host offline failed", "error", err)
	}
}

// dropSilent closes connections that sent nothing for OfflineAfter; their
// hosts go offline as the connections end.
func (h *Hub) dropSilent(now time.Time) {
	h.mu.Lock()
	var silent []*agentConn
	for _, ac := range h.conns {
		if now.Sub(time.Unix(0, ac.lastFrame.Load())) > h.opts.OfflineAfter {
			silent = append(silent, ac)
		}
	}
	h.mu.Unlock()
	for _, ac := range silent {
		ac.log.Warn("no heartbeat from the agent; dropping its connection", "silent_for", h.opts.OfflineAfter)
		go ac.close(websocket.CloseGoingAway, "no heartbeat")
	}
}

// Revoke cuts a host off at once: its open connection is closed with
// CloseRevoked, later connections are refused, and its queued jobs fail.
// The API calls it after revoking the host's credentials in the store.
func (h *Hub) Revoke(hostID string) {
	h.mu.Lock()
	h.revoked[hostID] = true
	ac := h.conns[hostID]
	delete(h.conns, hostID)
	h.mu.Unlock()
	if ac != nil {
		ac.log.Info("host revoked; closing its agent connection")
		go ac.close(wire.CloseRevoked, "credential revoked")
	}
	h.spawn(func() { h.failQueuedOfRevoked(hostID) })
}

func (h *Hub) failQueuedOfRevoked(hostID string) {
	ctx, cancel := context.WithTimeout(h.ctx, 30*time.Second)
	defer cancel()
	jobs, err := h.store.QueuedJobs(ctx, hostID, 10000)
	if err != nil {
		h.log.Warn("listing the queued jobs of a revoked host failed", "host_id", hostID, "error", err)
		return
	}
	for _, j := range jobs {
		h.endJob(ctx, j.ID, store.JobEnd{Status: store.JobFailed, Error: "the host was removed before the job ran", At: h.now()})
	}
}
