package hub

import (
	"context"
	"errors"
	"fmt"

	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/wire"
)

// The admin key at run time. A schedule whose repository has an admin
// password is pushed with Repository.AdminKey set, never with the key:
// the agent asks for it (admin_key) right before a scheduled step that
// removes data, uses it for that one job and forgets it. So an agent holds
// the day-to-day (append-only) credential only, and the server decides,
// each time, whether a run may delete.

// AuditStore records audit entries; the hub audits every admin key it
// issues.
type AuditStore interface {
	AppendAudit(ctx context.Context, e store.AuditEntry) error
}

// adminKeyAction is the audit action of an issued admin key.
const adminKeyAction = "repository.admin_key.issue"

// scheduleRemovesData reports whether a run of kind that schedule s fires
// removes data: a prune schedule's prune, a forget schedule's forget with
// prune, or the retention forget (with prune) after a backup schedule's
// runs.
func scheduleRemovesData(s store.Schedule, kind string) bool {
	sk := s.Kind
	if sk == "" {
		sk = store.ScheduleBackup
	}
	switch {
	case kind == store.SchedulePrune:
		return sk == store.SchedulePrune
	case kind == store.ScheduleForget && s.Prune:
		return sk == store.ScheduleForget || (sk == store.ScheduleBackup && !s.Retention.Empty())
	}
	return false
}

// SchedulePrunes reports whether a schedule has a step that removes data:
// it is a prune schedule, a forget schedule with prune, or a backup
// schedule whose retention prunes.
func SchedulePrunes(s store.Schedule) bool {
	return scheduleRemovesData(s, store.SchedulePrune) || scheduleRemovesData(s, store.ScheduleForget)
}

// PruneKey says which key a schedule's data-removing step runs with:
// "admin" when the schedule removes data and its repository has an admin
// password, "default" otherwise (the repository's own password, or no
// pruning at all).
func (h *Hub) PruneKey(ctx context.Context, s store.Schedule) (string, error) {
	if h.opts.AdminSecrets == nil || !SchedulePrunes(s) {
		return "default", nil
	}
	_, ok, err := h.opts.AdminSecrets.AdminPassword(ctx, s.RepositoryID)
	switch {
	case err != nil:
		return "", err
	case ok:
		return "admin", nil
	}
	return "default", nil
}

// markAdminKey sets the AdminKey flag of a schedule's repository when the
// schedule removes data and the repository has an admin password; the
// password stays on the server.
func (h *Hub) markAdminKey(ctx context.Context, s store.Schedule, ws *wire.Schedule) error {
	key, err := h.PruneKey(ctx, s)
	if err != nil {
		return fmt.Errorf("repository %s: admin password: %w", ws.Repository.Name, err)
	}
	ws.Repository.AdminKey = key == "admin"
	return nil
}

// onAdminKey answers an agent's admin_key: the repository's admin password,
// only for a schedule of this host whose step of that kind removes data,
// on a repository that has one. Every key issued is audited (no secret),
// and the job's events are scrubbed of it.
func (ac *agentConn) onAdminKey(ctx context.Context, c *wire.Conn, env wire.Envelope) error {
	<-ac.ready
	ac.touch(ctx)
	refuse := func(code, msg string) error {
		ac.log.Warn("admin key refused", "reason", msg)
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: code, Message: msg})
	}
	var m wire.AdminKey
	if err := env.DecodePayload(&m); err != nil {
		return refuse(wire.CodeInvalid, err.Error())
	}
	if !ac.helloDone.Load() {
		return fmt.Errorf("%w: admin_key before a successful hello", wire.ErrPolicyViolation)
	}
	log := ac.log.With("schedule_id", m.ScheduleID, "job_id", m.JobID, "kind", truncate(m.Kind, 32))
	s, err := ac.h.store.ScheduleForHost(ctx, m.ScheduleID, ac.hostID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return refuse(wire.CodeNotFound, "the schedule is not (or no longer) this host's")
	case err != nil:
		log.Error("looking up the schedule for an admin key failed", "error", err)
		return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeInternal, Message: "the server could not look up the schedule"})
	case !s.Enabled:
		return refuse(wire.CodeConflict, "the schedule is disabled")
	case !scheduleRemovesData(s, m.Kind):
		return refuse(wire.CodeConflict, fmt.Sprintf("a %s run of this schedule removes no data, so it gets no admin key", truncate(m.Kind, 32)))
	}
	if err := ac.checkAdminKeyJob(ctx, m); err != nil {
		return err
	}
	pw, ok := "", false
	if ac.h.opts.AdminSecrets != nil {
		if pw, ok, err = ac.h.opts.AdminSecrets.AdminPassword(ctx, s.RepositoryID); err != nil {
			log.Error("opening the repository's admin password failed", "error", err)
			return c.Reply(ctx, env, wire.TypeError, wire.Error{Code: wire.CodeInternal, Message: "the server could not open the repository's admin key"})
		}
	}
	if !ok {
		return refuse(wire.CodeConflict, "the schedule's repository has no admin key")
	}
	if cj := ac.jobs[m.JobID]; cj != nil {
		cj.scrub = append(cj.scrub, secretForms(pw)...)
	}
	ac.h.auditAdminKey(ctx, ac, s, m)
	log.Info("admin key issued")
	return c.Reply(ctx, env, wire.TypeAdminKeyResult, wire.AdminKeyResult{Password: wire.NewSecret(pw)})
}

// checkAdminKeyJob refuses an admin key for a job the server knows as
// another host's (a policy violation: agent A never acts for agent B) or
// as another schedule's. A job the server has not heard of yet is fine:
// the agent asks before it reports the run.
func (ac *agentConn) checkAdminKeyJob(ctx context.Context, m wire.AdminKey) error {
	j, err := ac.h.store.GetJob(ctx, m.JobID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case j.HostID != ac.hostID:
		ac.log.Warn("agent asked for an admin key for a job of another host; closing its connection", "job_id", m.JobID)
		return fmt.Errorf("%w: job %s belongs to another host", wire.ErrPolicyViolation, m.JobID)
	case j.ScheduleID != m.ScheduleID || j.Kind != m.Kind:
		ac.log.Warn("admin key refused", "job_id", m.JobID, "reason", "the job is not a run of that kind of that schedule")
		return &wire.Error{Code: wire.CodeConflict, Message: fmt.Sprintf("job %s is not a %s run of schedule %s", m.JobID, truncate(m.Kind, 32), m.ScheduleID)}
	}
	return nil
}

// auditAdminKey records an issued admin key: host, schedule, job; never
// the key.
func (h *Hub) auditAdminKey(ctx context.Context, ac *agentConn, s store.Schedule, m wire.AdminKey) {
	err := h.store.AppendAudit(ctx, store.AuditEntry{
		Time: h.now().UTC(), ActorKind: "agent", ActorID: ac.hostID, ActorName: ac.name,
		Action: adminKeyAction, TargetKind: "repository", TargetID: s.RepositoryID, Outcome: "success",
		Detail: map[string]any{"host_id": ac.hostID, "schedule_id": s.ID, "job_id": m.JobID, "kind": m.Kind},
	})
	if err != nil {
		ac.log.Error("auditing an issued admin key failed", "job_id", m.JobID, "error", err)
	}
}

// secretForms are a secret as it may show in output: itself and its
// JSON-escaped form.
func secretForms(pw string) []string {
	if len(pw) < 4 {
		return nil
	}
	out := []string{pw}
	if esc := jsonEscaped(pw); esc != pw {
		out = append(out, esc)
	}
	return out
}
