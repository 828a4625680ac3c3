package hub

import (
	"context"
	"errors"

	"github.com/restic-manager/restic-manager/core/store"
)

// CancelStore keeps the cancels the hub could not deliver because the
// job's host was offline, so that a server restart does not forget them.
type CancelStore interface {
	SavePendingCancel(ctx context.Context, c store.PendingCancel) error
	PendingCancels(ctx context.Context, hostID string) ([]store.PendingCancel, error)
	DeletePendingCancel(ctx context.Context, jobID string) error
}

// rememberCancel records a cancel for when the job's host is back. Should
// the agent have said hello meanwhile (after its connection looked for
// pending cancels), the cancel goes out now.
func (h *Hub) rememberCancel(ctx context.Context, j store.Job, reason string) error {
	err := h.store.SavePendingCancel(ctx, store.PendingCancel{JobID: j.ID, HostID: j.HostID, Reason: reason, RequestedAt: h.now()})
	if err != nil {
		return err
	}
	h.log.Info("the job's host is offline; its cancel is sent when the agent reconnects", "job_id", j.ID, "host_id", j.HostID)
	if ac := h.conn(j.HostID); ac != nil && ac.helloDone.Load() {
		h.spawn(func() {
			if h.sendCancel(ac.c.Context(), ac, j.ID, reason) == nil {
				h.cancelDelivered(ac.c.Context(), j.ID)
			}
		})
	}
	return nil
}

// sendPendingCancels sends the cancels that waited for the agent.
func (h *Hub) sendPendingCancels(ctx context.Context, ac *agentConn) {
	cancels, err := h.store.PendingCancels(ctx, ac.hostID)
	if err != nil {
		ac.log.Warn("reading the cancels that waited for the agent failed; they are sent after its next connect", "error", err)
		return
	}
	for _, c := range cancels {
		if h.sendCancel(ctx, ac, c.JobID, c.Reason) == nil {
			h.cancelDelivered(ctx, c.JobID)
		}
	}
}

// cancelDelivered forgets a job's pending cancel once the agent has it.
func (h *Hub) cancelDelivered(ctx context.Context, jobID string) {
	if err := h.store.DeletePendingCancel(ctx, jobID); err != nil && !errors.Is(err, context.Canceled) {
		h.log.Warn("forgetting a delivered cancel failed; the agent gets it again after its next connect", "job_id", jobID, "error", err)
	}
}
