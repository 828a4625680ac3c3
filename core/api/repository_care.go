package api

import (
	"context"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

// RepoCareStore reads what stats and check jobs recorded of a repository.
type RepoCareStore interface {
	GetRepositoryCare(ctx context.Context, id string) (store.RepositoryCare, error)
}

// repositoryCareJSON is what the jobs that looked at a repository found:
// its sizes and snapshot count from the last unfiltered stats job
// (stats_updated_at when), and its last check. Null until such a job ran.
type repositoryCareJSON struct {
	TotalSize       *int64     `json:"total_size"`
	RawSize         *int64     `json:"raw_size"`
	SnapshotCount   *int64     `json:"snapshot_count"`
	StatsUpdatedAt  *time.Time `json:"stats_updated_at"`
	LastCheckAt     *time.Time `json:"last_check_at"`
	LastCheckStatus *string    `json:"last_check_status"`
	Locked          bool       `json:"locked"`
	// HasAdminPassword says prune jobs get a key of their own (repo_admin.go).
	HasAdminPassword bool `json:"has_admin_password"`
}

// withCare adds a repository's recorded state to its JSON.
func (a *API) withCare(ctx context.Context, j repositoryJSON) repositoryJSON {
	c, err := a.store.GetRepositoryCare(ctx, j.ID)
	if err != nil {
		a.logger.Warn("reading a repository's recorded state failed", "repository_id", j.ID, "error", err)
		return j
	}
	j.repositoryCareJSON = repositoryCareJSON{
		TotalSize: c.TotalSize, RawSize: c.RawSize, SnapshotCount: c.SnapshotCount, StatsUpdatedAt: c.StatsUpdatedAt,
		LastCheckAt: c.LastCheckAt, Locked: c.Locked,
	}
	if c.LastCheckStatus != "" {
		j.LastCheckStatus = &c.LastCheckStatus
	}
	if id, err := a.store.RepositoryAdminCredential(ctx, j.ID); err == nil {
		j.HasAdminPassword = id != ""
	}
	return j
}
