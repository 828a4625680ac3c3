package hub

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// A copy job reads the job's repository and writes a second one: its
// params.to_repository for a run-now copy (the API resolved it to an id),
// the schedule's secondary repository for the copy an agent runs after a
// scheduled backup. The destination's credentials travel with the job
// like the source's, and both repositories' secrets are scrubbed from what
// the job reports.

const kindCopy = "copy"

// copyDestinationID returns the repository a copy job writes to, "" when
// it names none. A scheduled copy's params carry no destination; its
// schedule's secondary repository is it.
func (h *Hub) copyDestinationID(ctx context.Context, j store.Job) string {
	if j.Kind != kindCopy {
		return ""
	}
	var p struct {
		ToRepository string `json:"to_repository"`
	}
	if len(j.Params) > 0 && json.Unmarshal(j.Params, &p) == nil && p.ToRepository != "" {
		return p.ToRepository
	}
	if j.ScheduleID == "" {
		return ""
	}
	s, err := h.store.ScheduleForHost(ctx, j.ScheduleID, j.HostID)
	if err != nil {
		return ""
	}
	return s.SecondaryRepositoryID
}

// copyDestination assembles the destination of a copy job for its
// dispatch; other kinds have none (nil).
func (h *Hub) copyDestination(ctx context.Context, j store.Job) (*wire.Repository, error) {
	if j.Kind != kindCopy {
		return nil, nil
	}
	id := h.copyDestinationID(ctx, j)
	if id == "" {
		return nil, errors.New("the copy names no destination repository (it was removed)")
	}
	to, err := h.repository(ctx, id)
	if err != nil {
		return nil, err
	}
	return &to, nil
}

// jobScrubValues are the secret values to remove from a job's events: its
// repository's, a pruning job's admin password, and a copy's
// destination's.
func (h *Hub) jobScrubValues(ctx context.Context, j store.Job) []string {
	out := append(h.scrubValues(ctx, j.RepositoryID), h.adminScrubValues(ctx, j)...)
	if dst := h.copyDestinationID(ctx, j); dst != "" && dst != j.RepositoryID {
		out = append(out, h.scrubValues(ctx, dst)...)
	}
	return append(out, h.scopedScrubValues(ctx, j)...) // scoped.go
}
