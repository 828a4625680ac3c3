package hub

import (
	"context"
	"errors"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// HookSource opens the hooks a schedule runs on a host: the schedule's
// own, each one it lacks taken from the host's defaults. They are sealed
// at rest; the hub sends them to the agent with the schedule.
type HookSource interface {
	ScheduleHooks(ctx context.Context, s store.Schedule, hostID string) (pre, post *wire.Hook, err error)
}

// HookSourceFunc adapts a function to HookSource.
type HookSourceFunc func(ctx context.Context, s store.Schedule, hostID string) (pre, post *wire.Hook, err error)

// ScheduleHooks calls f.
func (f HookSourceFunc) ScheduleHooks(ctx context.Context, s store.Schedule, hostID string) (pre, post *wire.Hook, err error) {
	return f(ctx, s, hostID)
}

// scheduleHooks fills in a schedule's hooks for its agent.
func (h *Hub) scheduleHooks(ctx context.Context, s store.Schedule, hostID string, ws *wire.Schedule) error {
	if h.opts.Hooks == nil || (s.Kind != "" && s.Kind != store.ScheduleBackup) {
		return nil // hooks run around backups
	}
	pre, post, err := h.opts.Hooks.ScheduleHooks(ctx, s, hostID)
	if err != nil {
		return err
	}
	ws.PreHook, ws.PostHook = pre, post
	return nil
}

// dispatchHooks are the hooks a dispatched job runs: a run-now backup of a
// schedule runs the schedule's hooks, as its scheduled runs do; other jobs
// run none. A schedule that is gone leaves the job without hooks.
func (h *Hub) dispatchHooks(ctx context.Context, j store.Job, d *wire.JobDispatch) error {
	if j.ScheduleID == "" || j.Kind != store.ScheduleBackup {
		return nil
	}
	d.ScheduleID = j.ScheduleID
	if h.opts.Hooks == nil {
		return nil
	}
	s, err := h.store.ScheduleForHost(ctx, j.ScheduleID, j.HostID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	d.PreHook, d.PostHook, err = h.opts.Hooks.ScheduleHooks(ctx, s, j.HostID)
	return err
}
