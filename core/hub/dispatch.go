package hub

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

func newJobID() string { return auth.NewID() }

// spawn runs fn on a goroutine that Close waits for; once the hub is
// closing it runs nothing.
func (h *Hub) spawn(fn func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closing {
		return
	}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		fn()
	}()
}

// Dispatch sends a queued job to its host's agent and waits for the agent
// to accept it (the job is running then) or reject it (the job fails with
// the agent's reason). A job whose host is offline stays queued and is
// sent when the agent connects; a job already being sent is waited for. An
// error means the agent did not answer: the job stays queued and is sent
// again by the next sweep or reconnect.
func (h *Hub) Dispatch(ctx context.Context, jobID string) error {
	j, err := h.store.GetJob(ctx, jobID)
	if err != nil {
		return err
	}
	if j.Status != store.JobQueued {
		return nil
	}
	ac := h.conn(j.HostID)
	if ac == nil || !ac.helloDone.Load() {
		return nil
	}
	return h.dispatch(ctx, ac, j)
}

// claim marks a job's dispatch as under way. When another one is, it
// returns that one's done channel instead.
func (h *Hub) claim(jobID string) (release func(), busy <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ch, ok := h.inflight[jobID]; ok {
		return nil, ch
	}
	ch := make(chan struct{})
	h.inflight[jobID] = ch
	return func() {
		h.mu.Lock()
		delete(h.inflight, jobID)
		h.mu.Unlock()
		close(ch)
	}, nil
}

func (h *Hub) dispatching(jobID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.inflight[jobID]
	return ok
}

func (h *Hub) dispatch(ctx context.Context, ac *agentConn, j store.Job) error {
	release, busy := h.claim(j.ID)
	if release == nil {
		select {
		case <-busy:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	defer release()
	j, err := h.store.GetJob(ctx, j.ID) // it may have been cancelled or sent meanwhile
	if err != nil || j.Status != store.JobQueued {
		return err
	}
	if h.scopedWaiting(ctx, j) { // a cross-host restore waits for its one-job key (scoped.go)
		return nil
	}
	log := ac.log.With("job_id", j.ID, "kind", j.Kind)
	repo, err := h.jobRepository(ctx, j) // repo_admin.go
	if err != nil {
		log.Warn("cannot send the job without its repository's credentials", "error", err)
		h.endJob(ctx, j.ID, store.JobEnd{
			Status: store.JobFailed, At: h.now(),
			Error: "the job could not be sent: " + err.Error(),
		})
		return nil
	}
	toRepo, err := h.copyDestination(ctx, j) // copy.go
	if err != nil {
		log.Warn("cannot send the copy without its destination's credentials", "error", err)
		h.endJob(ctx, j.ID, store.JobEnd{
			Status: store.JobFailed, At: h.now(),
			Error: "the job could not be sent: " + err.Error(),
		})
		return nil
	}
	msg := wire.JobDispatch{JobID: j.ID, Kind: j.Kind, Repository: repo, ToRepository: toRepo, Params: j.Params}
	if err := h.dispatchHooks(ctx, j, &msg); err != nil { // hooks.go
		log.Warn("cannot send the job without its schedule's hooks", "error", err)
		h.endJob(ctx, j.ID, store.JobEnd{
			Status: store.JobFailed, At: h.now(),
			Error: "the job could not be sent: its schedule's hooks cannot be opened: " + err.Error(),
		})
		return nil
	}
	if err := h.scopedDispatch(ctx, j, &msg); err != nil { // scoped_flow.go
		log.Warn("cannot send the job without its one-job key", "error", err)
		status := store.JobFailed
		if errors.Is(err, errScopedRestoreEnded) {
			status = store.JobCancelled
		}
		h.endJob(ctx, j.ID, store.JobEnd{Status: status, At: h.now(), Error: "the job could not be sent: " + err.Error()})
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, h.opts.DispatchTimeout)
	defer cancel()
	start := time.Now()
	reply, err := ac.c.Request(rctx, wire.TypeJobDispatch, msg)
	var perr *wire.Error
	switch {
	case errors.As(err, &perr):
		h.endJob(ctx, j.ID, store.JobEnd{
			Status: store.JobFailed, At: h.now(),
			Error: fmt.Sprintf("the agent on %s refused the job: %s", ac.name, perr.Message),
		})
		return nil
	case err != nil:
		log.Warn("the agent did not answer the dispatch; the job stays queued", "error", err)
		return err
	}
	switch reply.Type {
	case wire.TypeJobAccept:
		err := h.store.StartJob(ctx, j.ID, h.now())
		switch {
		case err == nil:
			log.Info("job dispatched", "latency", time.Since(start))
		case errors.Is(err, store.ErrJobFinished):
			// The server ended it while it was on its way (cancelled,
			// past its deadline): stop it on the agent too. A job the
			// agent itself already reported has an exit code.
			if cur, err := h.store.GetJob(ctx, j.ID); err == nil && cur.ExitCode == nil {
				h.spawn(func() { _ = h.sendCancel(ac.c.Context(), ac, j.ID, "the job ended on the server before it started") })
			}
		case errors.Is(err, store.ErrConflict):
			// Running already: the agent accepted an earlier dispatch
			// whose answer was lost.
		default:
			log.Error("recording the job's start failed", "error", err)
		}
	case wire.TypeJobReject:
		var rej wire.JobReject
		_ = reply.DecodePayload(&rej)
		status := store.JobFailed
		if j.CreatedBy == createdBySystem {
			// A snapshot refresh the server queued itself is not a user's
			// failure (the repository was busy, say); the next backup,
			// forget or prune queues another.
			status = store.JobSkipped
		}
		h.endJob(ctx, j.ID, store.JobEnd{
			Status: status, At: h.now(),
			Error: fmt.Sprintf("the agent on %s rejected the job: %s", ac.name, rej.Reason),
		})
	}
	return nil
}

// repository assembles what the agent needs to open a repository.
func (h *Hub) repository(ctx context.Context, repoID string) (wire.Repository, error) {
	if repoID == "" {
		return wire.Repository{}, errors.New("the job has no repository (it was removed)")
	}
	r, err := h.store.GetRepository(ctx, repoID)
	if err != nil {
		return wire.Repository{}, fmt.Errorf("repository %s: %w", repoID, err)
	}
	if h.opts.Secrets == nil {
		return wire.Repository{}, errors.New("the server cannot open repository credentials")
	}
	url, password, env, err := h.opts.Secrets.RepoSecrets(ctx, repoID)
	if err != nil {
		return wire.Repository{}, fmt.Errorf("repository %s: %w", r.Name, err)
	}
	out := wire.Repository{ID: r.ID, Name: r.Name, URL: url, Password: wire.NewSecret(password)}
	if len(env) > 0 {
		out.Env = make(map[string]wire.Secret, len(env))
		for k, v := range env {
			out.Env[k] = wire.NewSecret(v)
		}
	}
	return out, nil
}

// Cancel stops a job and returns it as it is afterwards. A queued job is
// cancelled at once. For a running job the agent is asked to stop restic
// (its process group); the job ends as cancelled when the agent reports
// it, so the job returned is still running. When the host is offline the
// cancel is stored and sent as soon as its agent reconnects, also after a
// server restart. A job that has ended already gives store.ErrJobFinished.
func (h *Hub) Cancel(ctx context.Context, jobID, reason string) (store.Job, error) {
	j, err := h.store.GetJob(ctx, jobID)
	if err != nil {
		return store.Job{}, err
	}
	if store.Terminal(j.Status) {
		return j, store.ErrJobFinished
	}
	if j.Status == store.JobQueued {
		if h.endJob(ctx, jobID, store.JobEnd{Status: store.JobCancelled, Error: reason, At: h.now()}) {
			return h.store.GetJob(ctx, jobID)
		}
		if j, err = h.store.GetJob(ctx, jobID); err != nil {
			return store.Job{}, err
		}
		if store.Terminal(j.Status) {
			return j, store.ErrJobFinished
		}
	}
	ac := h.conn(j.HostID)
	if ac == nil || !ac.helloDone.Load() {
		if err := h.rememberCancel(ctx, j, reason); err != nil && !errors.Is(err, store.ErrJobFinished) {
			return store.Job{}, err
		}
	} else if err := h.sendCancel(ctx, ac, jobID, reason); err != nil {
		if err := h.rememberCancel(ctx, j, reason); err != nil && !errors.Is(err, store.ErrJobFinished) {
			h.log.Error("storing a cancel for the agent's next connect failed", "job_id", jobID, "error", err)
		}
	}
	return h.store.GetJob(ctx, jobID)
}

// sendCancel asks the agent to stop a job. An agent that does not know the
// job is not running it: the job ends as cancelled right away.
func (h *Hub) sendCancel(ctx context.Context, ac *agentConn, jobID, reason string) error {
	rctx, cancel := context.WithTimeout(ctx, h.opts.DispatchTimeout)
	defer cancel()
	_, err := ac.c.Request(rctx, wire.TypeJobCancel, wire.JobCancel{JobID: jobID, Reason: reason})
	var perr *wire.Error
	switch {
	case errors.As(err, &perr) && perr.Code == wire.CodeNotFound:
		h.endJob(ctx, jobID, store.JobEnd{
			Status: store.JobCancelled, At: h.now(),
			Error: fmt.Sprintf("%s (the agent on %s was not running it)", reason, ac.name),
		})
		return nil
	case err != nil:
		ac.log.Warn("sending a cancel failed", "job_id", jobID, "error", err)
		return err
	}
	ac.log.Info("cancel sent to the agent", "job_id", jobID)
	return nil
}

// afterHello runs once an agent's hello is answered: it sends the cancels
// that waited for the agent, marks the jobs the server has as running but
// the agent does not as possibly lost, and dispatches the host's queued
// jobs, oldest first.
func (h *Hub) afterHello(ac *agentConn, running []string, scheduleRev int64) {
	ctx := ac.c.Context()
	h.pushOnConnect(ctx, ac, scheduleRev) // the agent's schedules (schedules.go)
	h.sendPendingCancels(ctx, ac)
	h.spawn(func() { h.sweepScoped(h.ctx) }) // a key holder is back: pending key removals (scoped_flow.go)

	jobs, err := h.store.RunningJobs(ctx, ac.hostID)
	if err != nil {
		ac.log.Warn("listing the host's running jobs failed", "error", err)
	}
	live := make(map[string]bool, len(running))
	for _, id := range running {
		live[id] = true
	}
	deadline := h.now().Add(h.opts.OrphanGrace)
	h.mu.Lock()
	for _, j := range jobs {
		if !live[j.ID] {
			h.orphans[j.ID] = deadline
		}
	}
	h.mu.Unlock()

	queued, err := h.store.QueuedJobs(ctx, ac.hostID, 1000)
	if err != nil {
		ac.log.Warn("listing the host's queued jobs failed", "error", err)
		return
	}
	for _, j := range queued {
		if err := h.dispatch(ctx, ac, j); err != nil && ctx.Err() != nil {
			return
		}
	}
}

// orphansSeen pushes out the deadline of possibly lost jobs that events
// arrived for: their agent is still reporting on them.
func (h *Hub) orphansSeen(jobIDs map[string]bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.orphans) == 0 {
		return
	}
	deadline := h.now().Add(h.opts.OrphanGrace)
	for id := range jobIDs {
		if _, ok := h.orphans[id]; ok {
			h.orphans[id] = deadline
		}
	}
}

// failOrphans fails running jobs that their agent reconnected without and
// reported nothing of for OrphanGrace: restic is not running them anymore
// (the agent lost its state), and no result will come.
func (h *Hub) failOrphans(ctx context.Context, now time.Time) {
	h.mu.Lock()
	var lost []string
	for id, deadline := range h.orphans {
		if now.After(deadline) {
			lost = append(lost, id)
			delete(h.orphans, id)
		}
	}
	h.mu.Unlock()
	for _, id := range lost {
		h.endJob(ctx, id, store.JobEnd{
			Status: store.JobFailed, At: now,
			Error: "lost: the agent reconnected without this job running and never reported its result",
		})
	}
}

// expireQueued fails queued jobs whose host did not come online before
// their deadline.
func (h *Hub) expireQueued(ctx context.Context, now time.Time) {
	jobs, err := h.store.QueuedJobsPastDeadline(ctx, now, 1000)
	if err != nil {
		h.log.Warn("listing expired queued jobs failed", "error", err)
		return
	}
	names := map[string]string{}
	for _, j := range jobs {
		if h.dispatching(j.ID) {
			continue
		}
		name, ok := names[j.HostID]
		if !ok {
			name = j.HostID
			if host, err := h.store.GetHost(ctx, j.HostID); err == nil {
				name = host.Name
			}
			names[j.HostID] = name
		}
		reason := fmt.Sprintf("host %s did not come online before the job's deadline", name)
		if h.conn(j.HostID) != nil {
			reason = fmt.Sprintf("the agent on %s did not take the job before its deadline", name)
		}
		h.endJob(ctx, j.ID, store.JobEnd{Status: store.JobFailed, At: now, Error: reason})
	}
}

// dispatchWaiting sends queued jobs of connected hosts that no dispatch is
// working on: a dispatch that got no answer is tried again here.
func (h *Hub) dispatchWaiting(ctx context.Context) {
	jobs, err := h.store.QueuedJobs(ctx, "", 1000)
	if err != nil {
		h.log.Warn("listing queued jobs failed", "error", err)
		return
	}
	for _, j := range jobs {
		ac := h.conn(j.HostID)
		if ac == nil || !ac.helloDone.Load() || h.dispatching(j.ID) {
			continue
		}
		h.spawn(func() { _ = h.dispatch(ac.c.Context(), ac, j) })
	}
}
