package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// maxStatusParams bounds the params an agent reports with a scheduled job.
const maxStatusParams = 64 << 10

// ScheduleStore is what the hub needs of the store to keep agents'
// schedules: the server is their source of truth, and every agent holds a
// copy of its host's list so that it fires them while the server is away.
type ScheduleStore interface {
	HostSchedules(ctx context.Context, hostID string) ([]store.Schedule, error)
	ScheduleRevision(ctx context.Context) (int64, error)
	BumpScheduleRevision(ctx context.Context) error
	ScheduleForHost(ctx context.Context, scheduleID, hostID string) (store.Schedule, error)
	ScheduleHostsOfRepositoriesUpdatedAfter(ctx context.Context, after time.Time) ([]string, time.Time, error)
}

// schedulePusher runs at most one push per host at a time; a change that
// comes while one is under way makes it push once more, so the last push
// always carries the newest list. It also remembers the newest repository
// change its agents have, to push again when credentials change.
type schedulePusher struct {
	mu       sync.Mutex
	hosts    map[string]*pushState
	repoSeen time.Time
	repoInit bool
}

type pushState struct {
	again bool
}

// PushSchedules sends each host's schedule list to its agent, in the
// background. An offline host gets its list when its agent connects.
func (h *Hub) PushSchedules(hostIDs ...string) {
	for _, id := range hostIDs {
		h.requestPush(id)
	}
}

// pushOnConnect sends a connecting agent its schedules, unless the
// revision it holds is the current one: a fleet reconnecting after a
// server restart is not sent what it has.
func (h *Hub) pushOnConnect(ctx context.Context, ac *agentConn, agentRev int64) {
	rev, err := h.store.ScheduleRevision(ctx)
	if err == nil && rev == agentRev {
		ac.log.Debug("the agent's schedules are current", "revision", rev)
		return
	}
	h.requestPush(ac.hostID)
}

// requestPush starts a push worker for the host, or tells the running one
// to push again.
func (h *Hub) requestPush(hostID string) {
	p := &h.schedules
	p.mu.Lock()
	if st, ok := p.hosts[hostID]; ok {
		st.again = true
		p.mu.Unlock()
		return
	}
	if p.hosts == nil {
		p.hosts = map[string]*pushState{}
	}
	st := &pushState{}
	p.hosts[hostID] = st
	p.mu.Unlock()
	h.mu.Lock()
	if h.closing {
		h.mu.Unlock()
		p.mu.Lock()
		delete(p.hosts, hostID)
		p.mu.Unlock()
		return
	}
	h.wg.Add(1)
	h.mu.Unlock()
	go func() {
		defer h.wg.Done()
		for {
			if ac := h.conn(hostID); ac != nil && ac.helloDone.Load() {
				h.pushTo(ac)
			}
			p.mu.Lock()
			if !st.again {
				delete(p.hosts, hostID)
				p.mu.Unlock()
				return
			}
			st.again = false
			p.mu.Unlock()
		}
	}()
}

// pushTo sends the host's enabled schedules, with the credentials of their
// repositories, as one schedules_sync, and logs the agent's answer.
func (h *Hub) pushTo(ac *agentConn) {
	ctx, cancel := context.WithTimeout(ac.c.Context(), h.opts.DispatchTimeout+10*time.Second)
	defer cancel()
	list, err := h.scheduleList(ctx, ac)
	if err != nil {
		ac.log.Error("building the host's schedule list failed; its agent keeps the one it has", "error", err)
		return
	}
	rctx, rcancel := context.WithTimeout(ctx, h.opts.DispatchTimeout)
	defer rcancel()
	_, err = ac.c.Request(rctx, wire.TypeSchedulesSync, list)
	var perr *wire.Error
	switch {
	case errors.As(err, &perr):
		ac.log.Warn("the agent did not take every schedule", "revision", list.Revision, "error", perr.Message)
	case err != nil:
		ac.log.Warn("sending the schedules failed; they are sent again when the agent reconnects", "revision", list.Revision, "error", err)
	default:
		ac.log.Debug("schedules sent", "revision", list.Revision, "schedules", len(list.Schedules))
	}
}

// scheduleList builds what a host's agent is sent. A schedule whose
// repository credentials cannot be opened is left out (and logged): the
// agent could not run it.
func (h *Hub) scheduleList(ctx context.Context, ac *agentConn) (wire.ScheduleList, error) {
	rev, err := h.store.ScheduleRevision(ctx)
	if err != nil {
		return wire.ScheduleList{}, err
	}
	scheds, err := h.store.HostSchedules(ctx, ac.hostID)
	if err != nil {
		return wire.ScheduleList{}, err
	}
	host, err := h.store.GetHost(ctx, ac.hostID)
	if err != nil {
		return wire.ScheduleList{}, err
	}
	list := wire.ScheduleList{Revision: rev, Schedules: make([]wire.Schedule, 0, len(scheds))}
	repos := map[string]wire.Repository{}
	for _, s := range scheds {
		repo, ok := repos[s.RepositoryID]
		if !ok {
			if repo, err = h.repository(ctx, s.RepositoryID); err != nil {
				ac.log.Error("a schedule's repository credentials cannot be opened; the agent is not sent the schedule",
					"schedule_id", s.ID, "schedule", s.Name, "error", err)
				continue
			}
			repos[s.RepositoryID] = repo
		}
		ws, err := wireSchedule(s, repo, host.Hostname)
		if err != nil {
			return wire.ScheduleList{}, fmt.Errorf("schedule %s: %w", s.Name, err)
		}
		// A schedule that prunes is told its repository has an admin key,
		// which its agent asks for at run time (adminkey.go).
		if err := h.markAdminKey(ctx, s, &ws); err != nil {
			ac.log.Error("a schedule's admin password cannot be opened; the agent is not sent the schedule",
				"schedule_id", s.ID, "schedule", s.Name, "error", err)
			continue
		}
		if id := s.SecondaryRepositoryID; id != "" && ws.Kind == store.ScheduleBackup {
			to, ok := repos[id]
			if !ok {
				if to, err = h.repository(ctx, id); err != nil {
					ac.log.Error("a schedule's secondary repository credentials cannot be opened; the agent is not sent the schedule",
						"schedule_id", s.ID, "schedule", s.Name, "error", err)
					continue
				}
				repos[id] = to
			}
			ws.CopyTo = &to
		}
		if err := h.scheduleHooks(ctx, s, ac.hostID, &ws); err != nil { // hooks.go
			// Without its hooks a run could back up a service's files
			// mid-write: better not run it at all.
			ac.log.Error("a schedule's hooks cannot be opened; the agent is not sent the schedule",
				"schedule_id", s.ID, "schedule", s.Name, "error", err)
			continue
		}
		list.Schedules = append(list.Schedules, ws)
	}
	return list, nil
}

// backupParams are a scheduled backup's params: the backend's Args, with
// restic's other exclude options in extra.
type backupParams struct {
	Paths            []string     `json:"paths"`
	Excludes         []string     `json:"excludes,omitempty"`
	Tags             []string     `json:"tags,omitempty"`
	LimitUploadKiB   int64        `json:"limit_upload_kib,omitempty"`
	LimitDownloadKiB int64        `json:"limit_download_kib,omitempty"`
	Extra            *backupExtra `json:"extra,omitempty"`
}

type backupExtra struct {
	OneFileSystem    bool     `json:"one_file_system,omitempty"`
	ExcludeCaches    bool     `json:"exclude_caches,omitempty"`
	ExcludeFiles     []string `json:"exclude_files,omitempty"`
	ExcludeIfPresent []string `json:"exclude_if_present,omitempty"`
}

// forgetParams are the params of the forget that follows a successful
// run. It only looks at the snapshots the schedule makes on this host:
// restic's --host (the hostname restic records), --path for each path and
// --tag with all of the schedule's tags.
type forgetParams struct {
	Retention        *store.Retention `json:"retention"`
	Prune            bool             `json:"prune,omitempty"`
	Host             string           `json:"host,omitempty"`
	Paths            []string         `json:"paths,omitempty"`
	Tags             []string         `json:"tags,omitempty"`
	LimitUploadKiB   int64            `json:"limit_upload_kib,omitempty"`
	LimitDownloadKiB int64            `json:"limit_download_kib,omitempty"`
}

// wireSchedule turns a stored schedule into what its agent fires.
func wireSchedule(s store.Schedule, repo wire.Repository, hostname string) (wire.Schedule, error) {
	if s.Kind != "" && s.Kind != store.ScheduleBackup {
		return maintenanceSchedule(s, repo) // maintenance.go
	}
	bp := backupParams{
		Paths: s.Paths, Excludes: s.Excludes, Tags: s.Tags,
		LimitUploadKiB: s.LimitUploadKiB, LimitDownloadKiB: s.LimitDownloadKiB,
	}
	x := backupExtra{
		OneFileSystem: s.OneFileSystem, ExcludeCaches: s.ExcludeOpts.ExcludeCaches,
		ExcludeFiles: s.ExcludeOpts.ExcludeFiles, ExcludeIfPresent: s.ExcludeOpts.ExcludeIfPresent,
	}
	if x.OneFileSystem || x.ExcludeCaches || len(x.ExcludeFiles) > 0 || len(x.ExcludeIfPresent) > 0 {
		bp.Extra = &x
	}
	params, err := json.Marshal(bp)
	if err != nil {
		return wire.Schedule{}, err
	}
	kind := s.Kind
	if kind == "" {
		kind = store.ScheduleBackup
	}
	out := wire.Schedule{
		ID: s.ID, Name: s.Name, Kind: kind, Repository: repo, Cron: s.Cron, EverySeconds: s.EverySeconds,
		Timezone: s.Timezone, JitterSeconds: s.JitterSeconds, CatchUp: s.CatchUp, Params: params, UpdatedAt: s.UpdatedAt,
	}
	if !s.Retention.Empty() {
		fp := forgetParams{
			Retention: s.Retention, Prune: s.Prune, Host: hostname, Paths: s.Paths,
			LimitUploadKiB: s.LimitUploadKiB, LimitDownloadKiB: s.LimitDownloadKiB,
		}
		if len(s.Tags) > 0 {
			fp.Tags = []string{strings.Join(s.Tags, ",")}
		}
		if out.Forget, err = json.Marshal(fp); err != nil {
			return wire.Schedule{}, err
		}
	}
	return out, nil
}

// syncChangedRepositories pushes again to the hosts whose schedules use a
// repository changed since the last look (a rotated password, a new URL),
// so that their agents never fire with stale credentials. The sweeper
// calls it.
func (h *Hub) syncChangedRepositories(ctx context.Context) {
	p := &h.schedules
	p.mu.Lock()
	seen, init := p.repoSeen, p.repoInit
	p.mu.Unlock()
	hosts, newest, err := h.store.ScheduleHostsOfRepositoriesUpdatedAfter(ctx, seen)
	if err != nil {
		h.log.Warn("looking for changed repositories failed", "error", err)
		return
	}
	p.mu.Lock()
	p.repoSeen, p.repoInit = newest, true
	p.mu.Unlock()
	if !init || len(hosts) == 0 {
		return // agents get the current credentials when they connect
	}
	if err := h.store.BumpScheduleRevision(ctx); err != nil {
		h.log.Warn("raising the schedule revision failed", "error", err)
	}
	h.log.Info("a repository changed; sending its hosts their schedules again", "hosts", len(hosts))
	h.PushSchedules(hosts...)
}

// agentJobSchedule checks what an agent says about a job it started on its
// own and returns what may be recorded: the schedule only if it is one of
// the sending host's schedules, the repository only if it is that
// schedule's, and the params only if they are a small JSON object. A job
// naming no schedule is not one the agent may start (ok false). A schedule
// that is gone or no longer this host's (deleted or moved while the agent
// was offline) is recorded as none, so that the run's log is kept without
// linking it to anything it may not touch.
func (ac *agentConn) agentJobSchedule(ctx context.Context, sd wire.StatusData) (scheduleID, repositoryID string, params json.RawMessage, ok bool, err error) {
	if sd.ScheduleID == "" {
		return "", "", nil, false, nil
	}
	s, err := ac.h.store.ScheduleForHost(ctx, sd.ScheduleID, ac.hostID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		ac.log.Warn("the agent ran a schedule that is not (or no longer) this host's; its job is kept without the schedule",
			"schedule_id", truncate(sd.ScheduleID, 64))
		return "", "", nil, true, nil
	case err != nil:
		return "", "", nil, false, err
	}
	if sd.RepositoryID == s.RepositoryID {
		repositoryID = s.RepositoryID
	} else {
		ac.log.Warn("the agent ran a schedule on another repository than the schedule's; its job is kept without one",
			"schedule_id", s.ID, "repository_id", truncate(sd.RepositoryID, 64))
	}
	if p := []byte(strings.TrimSpace(string(sd.Params))); len(p) > 0 && len(p) <= maxStatusParams && p[0] == '{' && json.Valid(p) {
		params = sd.Params
	}
	return s.ID, repositoryID, params, true, nil
}
