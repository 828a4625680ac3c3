package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// Retry bounds of a key_remove that failed.
const (
	scopedRetryFirst = 30 * time.Second
	scopedRetryMax   = 30 * time.Minute
	scopedSweepLimit = 200
)

// errScopedRestoreEnded means a key_add is not worth sending: the restore
// it was for ended already.
var errScopedRestoreEnded = errors.New("the restore it was for ended before the key was made")

// scopedDispatch puts the one-job password in a dispatch: in place of the
// repository's password for the restore that uses it, as the new key's
// password for the key_add that makes it. Other jobs are left as they are.
func (h *Hub) scopedDispatch(ctx context.Context, j store.Job, msg *wire.JobDispatch) error {
	k, ok := h.scopedKeyOf(ctx, j)
	if !ok {
		return nil
	}
	if k.AddJobID == j.ID {
		if r, err := h.store.GetJob(ctx, k.JobID); err == nil && store.Terminal(r.Status) {
			return errScopedRestoreEnded
		}
	} else if k.State != store.ScopedReady {
		return fmt.Errorf("its one-job key is %s, not ready", k.State)
	}
	pw, err := h.scopedPassword(ctx, k)
	if err != nil {
		return err
	}
	if k.AddJobID == j.ID {
		msg.NewPassword = wire.NewSecret(pw)
		return nil
	}
	msg.Repository.Password = wire.NewSecret(pw)
	return nil
}

// scopedJobEnded moves the one-job key that a just-ended job is part of.
func (h *Hub) scopedJobEnded(jobID string) {
	ctx, cancel := context.WithTimeout(h.ctx, h.opts.DispatchTimeout)
	defer cancel()
	k, err := h.store.ScopedKeyForJob(ctx, jobID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Warn("looking up a job's one-job key failed", "job_id", jobID, "error", err)
		}
		return
	}
	if k.Open() {
		h.reconcileScoped(ctx, k.JobID)
	}
}

// sweepScoped moves every open one-job key along: a key_add or restore
// that ended while the server was down, a removal waiting for a key
// holder or for its retry time.
func (h *Hub) sweepScoped(ctx context.Context) {
	keys, err := h.store.OpenScopedKeys(ctx, scopedSweepLimit)
	if err != nil {
		h.log.Warn("listing open one-job keys failed", "error", err)
		return
	}
	for _, k := range keys {
		h.reconcileScoped(ctx, k.JobID)
	}
}

// reconcileScoped moves one key through its states as far as its jobs
// allow. One key moves at a time on this server.
func (h *Hub) reconcileScoped(ctx context.Context, restoreID string) {
	h.scopedMu.Lock()
	defer h.scopedMu.Unlock()
	for range 4 {
		k, err := h.store.ScopedKeyForJob(ctx, restoreID)
		if err != nil {
			h.log.Warn("reading a one-job key failed", "job_id", restoreID, "error", err)
			return
		}
		if !h.scopedStep(ctx, k) {
			return
		}
	}
}

// scopedStep makes one move of k and reports whether its state changed.
func (h *Hub) scopedStep(ctx context.Context, k store.ScopedKey) bool {
	log := h.log.With("job_id", k.JobID, "repository_id", k.RepositoryID)
	now := h.now()
	switch k.State {
	case store.ScopedAdding:
		add, err := h.store.GetJob(ctx, k.AddJobID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("reading the key_add job failed", "error", err)
			return false
		}
		if err == nil && !store.Terminal(add.Status) {
			return false
		}
		keyID := ""
		if err == nil && add.Status == store.JobSucceeded {
			keyID = scopedKeyID(add.Summary)
		}
		if keyID != "" {
			ok, err := h.store.ScopedKeyReady(ctx, k.JobID, keyID, now)
			if err != nil || !ok {
				return false
			}
			log.Info("one-job key made", "add_job_id", k.AddJobID, "key", shortKey(keyID))
			h.auditScoped(ctx, scopedAddAction, "success", k, add.HostID, keyID, "")
			h.spawn(func() {
				dctx, cancel := context.WithTimeout(h.ctx, h.opts.DispatchTimeout+5*time.Second)
				defer cancel()
				if err := h.Dispatch(dctx, k.JobID); err != nil {
					h.log.Debug("the cross-host restore stays queued", "job_id", k.JobID, "error", err)
				}
			})
			return true
		}
		reason := scopedAddFailure(add, err)
		if ok, err := h.store.EndScopedKey(ctx, k.JobID, store.ScopedFailed, reason, now); err != nil || !ok {
			return false
		}
		log.Warn("one-job key could not be made; the restore fails", "add_job_id", k.AddJobID, "reason", reason)
		h.auditScoped(ctx, scopedAddAction, "failure", k, add.HostID, "", reason)
		h.endJob(ctx, k.JobID, store.JobEnd{
			Status: store.JobFailed, At: now,
			Error: "the one-job key for this restore could not be made: " + reason,
		})
		return true
	case store.ScopedReady:
		r, err := h.store.GetJob(ctx, k.JobID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("reading the cross-host restore failed", "error", err)
			return false
		}
		if err == nil && !store.Terminal(r.Status) {
			return false
		}
		ok, err := h.store.ScopedKeyRemoving(ctx, k.JobID, now)
		if err != nil {
			log.Warn("marking the one-job key for removal failed", "error", err)
		}
		return ok
	case store.ScopedRemoving:
		return h.scopedRemoveStep(ctx, k, now)
	}
	return false
}

// scopedRemoveStep follows a key's removal: records the end of its
// key_remove, or queues one on an online key holder.
func (h *Hub) scopedRemoveStep(ctx context.Context, k store.ScopedKey, now time.Time) bool {
	log := h.log.With("job_id", k.JobID, "repository_id", k.RepositoryID)
	if k.RemoveJobID != "" {
		rj, err := h.store.GetJob(ctx, k.RemoveJobID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			log.Warn("reading the key_remove job failed", "error", err)
			return false
		}
		if err == nil && !store.Terminal(rj.Status) {
			return false
		}
		if err == nil && rj.Status == store.JobSucceeded {
			ok, err := h.store.EndScopedKey(ctx, k.JobID, store.ScopedRemoved, "", now)
			if err != nil || !ok {
				return false
			}
			log.Info("one-job key removed", "remove_job_id", k.RemoveJobID, "key", shortKey(k.KeyID))
			h.auditScoped(ctx, scopedRemoveAction, "success", k, rj.HostID, k.KeyID, "")
			return true
		}
		reason := "its key_remove job was removed"
		if err == nil {
			reason = fmt.Sprintf("key_remove %s on %s: %s", rj.Status, rj.HostID, rj.Error)
		}
		retry := now.Add(min(scopedRetryFirst<<min(k.Attempts, 10), scopedRetryMax))
		ok, err := h.store.ScopedKeyRemoveFailed(ctx, k.JobID, k.RemoveJobID, reason, retry, now)
		if err != nil || !ok {
			return false
		}
		log.Warn("removing the one-job key failed; it is tried again", "reason", reason, "retry_at", retry)
		h.auditScoped(ctx, scopedRemoveAction, "failure", k, "", k.KeyID, reason)
		return true
	}
	if now.Before(k.RetryAt) {
		return false
	}
	holder, ok := h.keyHolder(ctx, k.RepositoryID, k.SourceHostID)
	if !ok {
		log.Debug("one-job key removal pending: no key holder online")
		return false
	}
	params, err := json.Marshal(map[string]any{"extra": map[string]string{"key_id": k.KeyID}})
	if err != nil {
		return false
	}
	deadline := now.Add(h.opts.QueueDeadline)
	remove := store.Job{
		ID: newJobID(), HostID: holder, Kind: kindKeyRemove, Status: store.JobQueued, RepositoryID: k.RepositoryID,
		Params: params, CreatedBy: createdBySystem, CreatedAt: now, DeadlineAt: &deadline,
	}
	queued, err := h.store.ScopedKeyQueueRemoval(ctx, k.JobID, remove, now)
	if err != nil || !queued {
		if err != nil {
			log.Warn("queueing the one-job key's removal failed", "error", err)
		}
		return false
	}
	log.Info("one-job key removal queued", "remove_job_id", remove.ID, "key_holder", holder)
	h.spawn(func() {
		dctx, cancel := context.WithTimeout(h.ctx, h.opts.DispatchTimeout+5*time.Second)
		defer cancel()
		if err := h.Dispatch(dctx, remove.ID); err != nil {
			h.log.Debug("key_remove stays queued", "job_id", remove.ID, "error", err)
		}
	})
	return true
}

// scopedKeyID reads {"key_id"} from a key_add's summary.
func scopedKeyID(summary json.RawMessage) string {
	var s struct {
		KeyID string `json:"key_id"`
	}
	if len(summary) == 0 || json.Unmarshal(summary, &s) != nil || !validSnapshotID(s.KeyID) {
		return ""
	}
	return s.KeyID
}

// scopedAddFailure says why a key_add made no usable key.
func scopedAddFailure(add store.Job, err error) string {
	switch {
	case err != nil:
		return "its key_add job was removed"
	case add.Status == store.JobSucceeded:
		return "key_add reported no key id"
	case add.Error != "":
		return fmt.Sprintf("key_add %s: %s", add.Status, add.Error)
	}
	return "key_add " + add.Status
}

// shortKey is a key id as logs show it.
func shortKey(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// auditScoped records a one-job key's creation or removal: the
// repository, the restore, the host that ran the step and restic's key
// id; never the password.
func (h *Hub) auditScoped(ctx context.Context, action, outcome string, k store.ScopedKey, holder, keyID, reason string) {
	detail := map[string]any{"job_id": k.JobID, "source_host_id": k.SourceHostID, "add_job_id": k.AddJobID}
	if holder != "" {
		detail["key_holder"] = holder
	}
	if keyID != "" {
		detail["key_id"] = keyID
	}
	if k.RemoveJobID != "" {
		detail["remove_job_id"] = k.RemoveJobID
	}
	if reason != "" {
		detail["reason"] = reason
	}
	err := h.store.AppendAudit(ctx, store.AuditEntry{
		Time: h.now().UTC(), ActorKind: "system", ActorName: "server", Action: action,
		TargetKind: "repository", TargetID: k.RepositoryID, Outcome: outcome, Detail: detail,
	})
	if err != nil {
		h.log.Error("auditing a one-job key failed", "job_id", k.JobID, "error", err)
	}
}
