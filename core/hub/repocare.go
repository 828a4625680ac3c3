package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// RepoCareStore records what repository-care jobs found: the figures of a
// stats job and the outcome of a check, for the repository stats panel.
type RepoCareStore interface {
	RecordRepositoryStats(ctx context.Context, id string, s store.RepositoryStats, at time.Time) error
	RecordRepositoryCheck(ctx context.Context, id, status string, at time.Time) error
}

// afterRepoCare records what a finished repository-care job tells the
// server about its repositories: a successful copy changed its
// destination's snapshots (listed again); an unfiltered stats job's
// figures and a check's outcome are stored with the repository.
func (h *Hub) afterRepoCare(ctx context.Context, j store.Job, fin wire.JobFinished, summary json.RawMessage) {
	at := fin.FinishedAt
	if at.IsZero() {
		at = h.now()
	}
	switch {
	case j.Kind == kindCopy && fin.Status == wire.StatusSucceeded:
		if dst := h.copyDestinationID(ctx, j); dst != "" {
			to := j
			to.RepositoryID = dst
			h.spawn(func() { h.refreshSnapshots(to) })
		}
	case j.Kind == "stats" && fin.Status == wire.StatusSucceeded && j.RepositoryID != "":
		s, ok := repositoryStats(j.Params, summary)
		if !ok {
			return
		}
		if err := h.store.RecordRepositoryStats(ctx, j.RepositoryID, s, at); err != nil {
			h.log.Warn("recording a repository's stats failed", "job_id", j.ID, "error", err)
		}
	case j.Kind == "check" && j.RepositoryID != "" && (fin.Status == wire.StatusSucceeded || fin.Status == wire.StatusFailed):
		if err := h.store.RecordRepositoryCheck(ctx, j.RepositoryID, fin.Status, at); err != nil {
			h.log.Warn("recording a repository's check failed", "job_id", j.ID, "error", err)
		}
	}
}

// statsParams are the params of a stats job that matter here: a job that
// looked at some snapshots only (by id, host, path or tag) says nothing
// about the whole repository.
type statsParams struct {
	Snapshots []string `json:"snapshots"`
	Host      string   `json:"host"`
	Paths     []string `json:"paths"`
	Tags      []string `json:"tags"`
	Extra     struct {
		Mode string `json:"mode"`
	} `json:"extra"`
}

// repositoryStats reads the figures of an unfiltered stats job's summary:
// the backend's "repository" mode reports both sizes; restic's raw-data
// mode the stored size and restore-size mode (its default) the restored
// one.
func repositoryStats(params, summary json.RawMessage) (store.RepositoryStats, bool) {
	var p statsParams
	if len(bytes.TrimSpace(params)) > 0 {
		if json.Unmarshal(params, &p) != nil {
			return store.RepositoryStats{}, false
		}
	}
	if len(p.Snapshots) > 0 || p.Host != "" || len(p.Paths) > 0 || len(p.Tags) > 0 {
		return store.RepositoryStats{}, false
	}
	var doc struct {
		TotalSize      *int64 `json:"total_size"`
		RawDataSize    *int64 `json:"raw_data_size"`
		SnapshotsCount *int64 `json:"snapshots_count"`
	}
	if json.Unmarshal(summary, &doc) != nil || doc.SnapshotsCount == nil {
		return store.RepositoryStats{}, false
	}
	out := store.RepositoryStats{SnapshotCount: doc.SnapshotsCount}
	switch p.Extra.Mode {
	case "repository":
		out.TotalSize, out.RawSize = doc.TotalSize, doc.RawDataSize
	case "raw-data":
		out.RawSize = doc.TotalSize
	case "", "restore-size":
		out.TotalSize = doc.TotalSize
	default: // files-by-contents, blobs-per-file: other figures
		return store.RepositoryStats{}, false
	}
	return out, true
}
