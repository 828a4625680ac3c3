package hub

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// finish records a job_finished whose row is stored: the snapshot
// projection first (so that a job seen as succeeded has its snapshots
// listed), then the job's end, exactly once. A job_finished sent again
// after a reconnect finds the job ended and changes nothing. It reports
// whether the end is recorded, so the caller may acknowledge it.
func (h *Hub) finish(ctx context.Context, ac *agentConn, fin wire.JobFinished) bool {
	log := ac.log.With("job_id", fin.JobID)
	j, err := h.store.GetJob(ctx, fin.JobID)
	if err != nil {
		log.Error("reading a finished job failed", "error", err)
		return false
	}
	if !store.Terminal(j.Status) {
		h.project(ctx, ac, j, fin)
	}
	summary := fin.Summary
	if len(summary) == 0 {
		if l, err := h.store.LastJobLog(ctx, j.ID, string(wire.EventSummary)); err == nil && json.Valid([]byte(l.Line)) {
			summary = json.RawMessage(l.Line)
		}
	}
	at := fin.FinishedAt
	if at.IsZero() {
		at = h.now()
	}
	code := fin.ExitCode
	err = h.store.FinishJob(ctx, j.ID, store.JobEnd{Status: fin.Status, ExitCode: &code, Error: fin.Error, Summary: summary, At: at})
	if err != nil && !errors.Is(err, store.ErrJobFinished) {
		log.Error("recording the job's end failed", "error", err)
		return false
	}
	h.jobEnded(j.ID)
	if err == nil {
		log.Info("job finished", "kind", j.Kind, "status", fin.Status, "exit_code", fin.ExitCode)
		if refreshAfter(j.Kind, fin) {
			h.spawn(func() { h.refreshSnapshots(j) })
		}
		h.afterRepoCare(ctx, j, fin, summary) // repocare.go
	}
	return true
}

// jobEnded tells everything waiting on a job that it has ended.
func (h *Hub) jobEnded(jobID string) {
	h.mu.Lock()
	delete(h.orphans, jobID)
	h.mu.Unlock()
	h.endSubscribers(jobID)
	h.spawn(func() { h.scopedJobEnded(jobID) }) // scoped_flow.go
}

// endJob ends a job on the server's side (cancelled while queued, past its
// deadline, rejected, lost) and reports whether this call ended it.
func (h *Hub) endJob(ctx context.Context, jobID string, end store.JobEnd) bool {
	err := h.store.FinishJob(ctx, jobID, end)
	switch {
	case errors.Is(err, store.ErrJobFinished):
		return false
	case err != nil:
		h.log.Error("recording a job's end failed", "job_id", jobID, "error", err)
		return false
	}
	h.log.Info("job ended", "job_id", jobID, "status", end.Status, "reason", end.Error)
	h.jobEnded(jobID)
	return true
}

// refreshAfter says whether a finished job may have changed the
// repository's snapshots: a backup that made one (restic exits 3 when some
// files were unreadable but the snapshot was still made), and a successful
// forget or prune.
func refreshAfter(kind string, fin wire.JobFinished) bool {
	switch kind {
	case "backup":
		return fin.Status == wire.StatusSucceeded || fin.ExitCode == 3
	case "forget", "prune":
		return fin.Status == wire.StatusSucceeded
	}
	return false
}

// refreshSnapshots queues a `snapshots` job on the host that ran j, so the
// projection follows what j changed. It runs after j has finished, never on
// its critical path; a refresh already waiting for the same host and
// repository is enough.
func (h *Hub) refreshSnapshots(j store.Job) {
	if j.RepositoryID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.opts.DispatchTimeout+10*time.Second)
	defer cancel()
	queued, err := h.store.QueuedJobs(ctx, j.HostID, 1000)
	if err != nil {
		h.log.Warn("listing queued jobs failed", "host_id", j.HostID, "error", err)
		return
	}
	for _, q := range queued {
		if q.Kind == "snapshots" && q.RepositoryID == j.RepositoryID && q.CreatedBy == createdBySystem {
			return
		}
	}
	now := h.now()
	deadline := now.Add(h.opts.QueueDeadline)
	refresh := store.Job{
		ID: newJobID(), HostID: j.HostID, Kind: "snapshots", Status: store.JobQueued, RepositoryID: j.RepositoryID,
		CreatedBy: createdBySystem, CreatedAt: now, DeadlineAt: &deadline,
	}
	if err := h.store.CreateJob(ctx, refresh); err != nil {
		h.log.Warn("queueing a snapshot refresh failed", "after_job_id", j.ID, "error", err)
		return
	}
	h.log.Debug("snapshot refresh queued", "job_id", refresh.ID, "after_job_id", j.ID)
	if err := h.Dispatch(ctx, refresh.ID); err != nil {
		h.log.Debug("snapshot refresh stays queued", "job_id", refresh.ID, "error", err)
	}
}

// createdBySystem is the created_by of jobs the server queues itself.
const createdBySystem = "system"

// resticSnapshot is a snapshot as `restic snapshots --json` prints it.
type resticSnapshot struct {
	ID             string          `json:"id"`
	ShortID        string          `json:"short_id"`
	Time           jsonTime        `json:"time"`
	Parent         string          `json:"parent"`
	Tree           string          `json:"tree"`
	Paths          []string        `json:"paths"`
	Hostname       string          `json:"hostname"`
	Username       string          `json:"username"`
	Tags           []string        `json:"tags"`
	ProgramVersion string          `json:"program_version"`
	Summary        json.RawMessage `json:"summary"`
}

// project updates the snapshot projection from a finishing job: the whole
// list a `snapshots` job printed, or the one snapshot a backup made (the
// refresh queued after it fills in the details restic adds).
func (h *Hub) project(ctx context.Context, ac *agentConn, j store.Job, fin wire.JobFinished) {
	if j.RepositoryID == "" {
		return
	}
	log := ac.log.With("job_id", j.ID)
	now := h.now()
	switch j.Kind {
	case "snapshots":
		if fin.Status != wire.StatusSucceeded {
			return
		}
		list, ok := snapshotList(fin.Summary)
		if !ok {
			list, ok = h.snapshotsFromLog(ctx, j.ID)
		}
		if !ok {
			log.Warn("the snapshots job reported no snapshot list; the projection is unchanged")
			return
		}
		snaps := make([]store.Snapshot, 0, len(list))
		for _, s := range list {
			snaps = append(snaps, toStoreSnapshot(j.RepositoryID, s))
		}
		var err error
		if filteredListing(j.Params) {
			err = h.store.UpsertSnapshots(ctx, j.HostID, snaps, now)
		} else {
			err = h.store.ReplaceSnapshots(ctx, j.RepositoryID, j.HostID, snaps, now)
		}
		if err != nil {
			log.Error("updating the snapshot projection failed", "error", err)
			return
		}
		log.Debug("snapshot projection updated", "snapshots", len(snaps))
	case "backup":
		if fin.Status != wire.StatusSucceeded && fin.ExitCode != 3 {
			return
		}
		s, ok := h.backupSnapshot(ctx, ac, j, fin)
		if !ok {
			return
		}
		if err := h.store.UpsertSnapshots(ctx, j.HostID, []store.Snapshot{s}, now); err != nil {
			log.Error("recording the backup's snapshot failed", "error", err)
		}
	}
}

// backupSnapshot builds the projection row of the snapshot a backup made,
// from restic's summary (its snapshot_id and backup_end) and the job's
// parameters.
func (h *Hub) backupSnapshot(ctx context.Context, ac *agentConn, j store.Job, fin wire.JobFinished) (store.Snapshot, bool) {
	sum := backupSummary(fin.Summary)
	if sum.SnapshotID == "" {
		if l, err := h.store.LastJobLog(ctx, j.ID, string(wire.EventSummary)); err == nil {
			sum = backupSummary(json.RawMessage(l.Line))
		}
	}
	if !validSnapshotID(sum.SnapshotID) {
		return store.Snapshot{}, false
	}
	var p struct {
		Paths []string `json:"paths"`
		Tags  []string `json:"tags"`
		Host  string   `json:"host"`
	}
	_ = json.Unmarshal(j.Params, &p)
	s := store.Snapshot{
		RepositoryID: j.RepositoryID, ID: sum.SnapshotID, HostID: j.HostID, JobID: j.ID,
		Paths: p.Paths, Tags: p.Tags, Time: sum.BackupEnd.Time,
	}
	if s.Time.IsZero() {
		s.Time = fin.FinishedAt
	}
	if s.Time.IsZero() {
		s.Time = h.now()
	}
	if p.Host != "" {
		s.Hostname, s.HostID = p.Host, ""
	} else if hn := ac.hostname.Load(); hn != nil {
		s.Hostname = *hn
	}
	return s, true
}

type summaryFields struct {
	SnapshotID string   `json:"snapshot_id"`
	BackupEnd  jsonTime `json:"backup_end"`
}

// backupSummary finds restic's backup summary fields in raw: at the top
// level, or under "summary" or "result".
func backupSummary(raw json.RawMessage) summaryFields {
	var top struct {
		summaryFields
		Summary *summaryFields `json:"summary"`
		Result  *summaryFields `json:"result"`
	}
	if json.Unmarshal(raw, &top) != nil {
		return summaryFields{}
	}
	for _, s := range []*summaryFields{&top.summaryFields, top.Summary, top.Result} {
		if s != nil && s.SnapshotID != "" {
			return *s
		}
	}
	return summaryFields{}
}

// snapshotList finds the snapshot array in a snapshots job's summary: the
// array itself (the backend's Result.Output), or under "snapshots" or
// "output".
func snapshotList(raw json.RawMessage) ([]resticSnapshot, bool) {
	raw = json.RawMessage(strings.TrimSpace(string(raw)))
	if len(raw) == 0 {
		return nil, false
	}
	if raw[0] == '{' {
		var obj struct {
			Snapshots json.RawMessage `json:"snapshots"`
			Output    json.RawMessage `json:"output"`
		}
		if json.Unmarshal(raw, &obj) != nil {
			return nil, false
		}
		switch {
		case len(obj.Snapshots) > 0:
			raw = obj.Snapshots
		case len(obj.Output) > 0:
			raw = obj.Output
		default:
			return nil, false
		}
	}
	var list []resticSnapshot
	if json.Unmarshal(raw, &list) != nil || list == nil {
		return nil, false
	}
	for _, s := range list {
		if !validSnapshotID(s.ID) {
			return nil, false
		}
	}
	return list, true
}

// snapshotsFromLog collects the snapshot lines ({"message_type":"snapshot",
// …}) the backend streamed on stdout.
func (h *Hub) snapshotsFromLog(ctx context.Context, jobID string) ([]resticSnapshot, bool) {
	var out []resticSnapshot
	found := false
	var after int64
	for {
		rows, err := h.store.JobLogs(ctx, jobID, after, 1000)
		if err != nil || len(rows) == 0 {
			return out, found && err == nil
		}
		for _, r := range rows {
			after = r.Seq
			if r.Type != string(wire.EventLog) || r.Stream != streamStdout {
				continue
			}
			for line := range strings.SplitSeq(r.Line, "\n") {
				if !strings.HasPrefix(line, `{"message_type":"snapshot"`) {
					continue
				}
				var s resticSnapshot
				if json.Unmarshal([]byte(line), &s) == nil && validSnapshotID(s.ID) {
					out = append(out, s)
					found = true
				}
			}
		}
	}
}

// filteredListing reports whether a snapshots job listed only some
// snapshots (by host, tag, path or latest), so the projection must not drop
// the ones it did not list.
func filteredListing(params json.RawMessage) bool {
	var p struct {
		Host      string          `json:"host"`
		Tags      []string        `json:"tags"`
		Paths     []string        `json:"paths"`
		Snapshots []string        `json:"snapshots"`
		Extra     json.RawMessage `json:"extra"`
	}
	if json.Unmarshal(params, &p) != nil {
		return true
	}
	extra := strings.TrimSpace(string(p.Extra))
	return p.Host != "" || len(p.Tags) > 0 || len(p.Paths) > 0 || len(p.Snapshots) > 0 || (extra != "" && extra != "{}" && extra != "null")
}

func toStoreSnapshot(repoID string, s resticSnapshot) store.Snapshot {
	return store.Snapshot{
		RepositoryID: repoID, ID: s.ID, ShortID: s.ShortID, Time: s.Time.Time, Hostname: s.Hostname, Username: s.Username,
		Paths: s.Paths, Tags: s.Tags, Parent: s.Parent, Tree: s.Tree, ProgramVersion: s.ProgramVersion, Summary: s.Summary,
	}
}

// validSnapshotID accepts restic's 64-digit hex ids (and shorter hex, for
// older formats), nothing that could surprise a path or a query.
func validSnapshotID(id string) bool {
	if len(id) < 8 || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// jsonTime is a time that decodes leniently: a missing, empty or
// malformed value is the zero time instead of an error for the whole
// object.
type jsonTime struct{ time.Time }

func (t *jsonTime) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) != nil {
		return nil
	}
	if v, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t.Time = v.UTC()
	}
	return nil
}
