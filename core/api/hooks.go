package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/restic-manager/restic-manager/core/api/apijson"
	"github.com/restic-manager/restic-manager/core/hookspec"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/timing"
)

// Pre/post hooks: a schedule's own ("pre_hook"/"post_hook" on the schedule)
// and a host's defaults (GET/PUT /hosts/{id}/hooks), which a schedule
// without a hook of its own runs. They run commands on hosts, so only
// admins set or see them: any hook field from an operator or viewer is 403,
// and schedule JSON carries them for admins only (others see has_hooks).
// They are sealed at rest (core/hookspec); the audit entry of a change
// keeps the command text.

// HookStore is what the hook endpoints need of the store.
type HookStore interface {
	GetCredential(ctx context.Context, id string) (store.Credential, error)
	SetScheduleHooks(ctx context.Context, scheduleID string, c *store.Credential) error
	SetHostHooks(ctx context.Context, hostID string, c *store.Credential) error
	HostHooksCredential(ctx context.Context, hostID string) (string, error)
}

// hookRoutes are a host's default hooks, admin-only both ways.
func (a *API) hookRoutes() []route {
	return []route{
		{name: "host.hooks.show", method: http.MethodGet, path: "/api/v1/hosts/{id}/hooks", access: admin, handle: a.showHostHooks},
		{name: "host.hooks.set", method: http.MethodPut, path: "/api/v1/hosts/{id}/hooks", access: admin, handle: a.setHostHooks},
	}
}

type hookJSON = apijson.Hook

// hooksJSON is a pair of hooks; null is none.
type hooksJSON struct {
	PreHook  *hookJSON `json:"pre_hook"`
	PostHook *hookJSON `json:"post_hook"`
}

func showHook(h *hookspec.Hook) *hookJSON {
	if h == nil {
		return nil
	}
	t := h.Timeout()
	return &hookJSON{Command: h.Command, Timeout: timing.FormatDuration(t), TimeoutSeconds: int64(t / time.Second)}
}

// hookEdit is one hook field of a request: absent (set false), null
// (remove) or a hook.
type hookEdit struct {
	set  bool
	hook *hookspec.Hook
}

// parseHook reads a hook field; field names it in errors.
func parseHook(field string, raw json.RawMessage, bad *problems) hookEdit {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return hookEdit{}
	}
	if bytes.Equal(raw, []byte("null")) {
		return hookEdit{set: true}
	}
	var hj hookJSON
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&hj); err != nil {
		bad.add(field, "want null or an object of command and timeout (such as \"30s\"): %v", err)
		return hookEdit{}
	}
	h := hookspec.Hook{Command: hj.Command, TimeoutSeconds: hj.TimeoutSeconds}
	if t := strings.TrimSpace(hj.Timeout); t != "" {
		d, err := timing.ParseDuration(t)
		if err != nil {
			bad.add(field+".timeout", "%v", err)
			return hookEdit{}
		}
		h.TimeoutSeconds = int64(d / time.Second)
	}
	if err := h.Check(field); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			*bad = append(*bad, e)
		}
		return hookEdit{}
	}
	return hookEdit{set: true, hook: &h}
}

// requireHookAdmin refuses a non-admin any hook field: hooks run commands
// on hosts.
func requireHookAdmin(r *http.Request, fields ...json.RawMessage) error {
	given := false
	for _, f := range fields {
		given = given || len(bytes.TrimSpace(f)) > 0
	}
	if !given {
		return nil
	}
	who := state(r).who
	if roleLevel(who.user.Role) < admin {
		return errorf(http.StatusForbidden, "forbidden", "hooks run commands on hosts and need the admin role; you are %s", who.user.Role)
	}
	return nil
}

// applyHooks applies pre and post edits onto cur; changed says whether
// anything was given.
func applyHooks(cur hookspec.Set, pre, post hookEdit) (out hookspec.Set, changed bool) {
	out = cur
	if pre.set {
		out.Pre, changed = pre.hook, true
	}
	if post.set {
		out.Post, changed = post.hook, true
	}
	return out, changed
}

// hookAudit is what an audit entry keeps of a hook change: the command
// texts (hooks are audited with their text; they are not secrets).
func hookAudit(detail map[string]any, set hookspec.Set) {
	for field, h := range map[string]*hookspec.Hook{"pre_hook": set.Pre, "post_hook": set.Post} {
		if h == nil {
			detail[field] = nil
		} else {
			detail[field] = map[string]any{"command": h.Command, "timeout_seconds": int64(h.Timeout() / time.Second)}
		}
	}
}

func (a *API) openHooks(ctx context.Context, credentialID string) (hookspec.Set, error) {
	set, err := hookspec.Open(ctx, a.store, a.opts.Sealer, credentialID)
	if errors.Is(err, hookspec.ErrNoSealer) {
		return hookspec.Set{}, errorf(http.StatusServiceUnavailable, "no_secret_key", "the server has no secret key to open hooks with")
	}
	return set, err
}

func (a *API) sealHooks(set hookspec.Set) (*store.Credential, error) {
	c, err := hookspec.Seal(a.opts.Sealer, set, a.now())
	if errors.Is(err, hookspec.ErrNoSealer) {
		return nil, errorf(http.StatusServiceUnavailable, "no_secret_key", "the server has no secret key to seal hooks with")
	}
	return c, err
}

// scheduleHookEdits reads a schedule request's hook fields, after
// checking the requester may give them.
func scheduleHookEdits(r *http.Request, req scheduleRequest) (pre, post hookEdit, err error) {
	if err := requireHookAdmin(r, req.PreHook, req.PostHook); err != nil {
		return hookEdit{}, hookEdit{}, err
	}
	var bad problems
	pre = parseHook("pre_hook", req.PreHook, &bad)
	post = parseHook("post_hook", req.PostHook, &bad)
	return pre, post, bad.err()
}

// saveScheduleHooks stores a schedule's hooks after the edits, when any
// was given, and notes them in the audit entry.
func (a *API) saveScheduleHooks(r *http.Request, s *store.Schedule, pre, post hookEdit) error {
	if !pre.set && !post.set {
		return nil
	}
	cur, err := a.openHooks(r.Context(), s.HooksCredentialID)
	if err != nil {
		return err
	}
	set, _ := applyHooks(cur, pre, post)
	c, err := a.sealHooks(set)
	if err != nil {
		return err
	}
	if err := a.store.SetScheduleHooks(r.Context(), s.ID, c); err != nil {
		return fmt.Errorf("store the schedule's hooks: %w", err)
	}
	s.HooksCredentialID = ""
	if c != nil {
		s.HooksCredentialID = c.ID
	}
	if st := state(r); st.detail != nil {
		hookAudit(st.detail, set)
	}
	return nil
}

// scheduleHooksOut fills in a schedule's hooks for an admin; others learn
// only whether it has any.
func (a *API) scheduleHooksOut(r *http.Request, out *scheduleJSON, s store.Schedule) {
	out.HasHooks = s.HooksCredentialID != ""
	if !out.HasHooks || roleLevel(state(r).who.user.Role) < admin {
		return
	}
	set, err := a.openHooks(r.Context(), s.HooksCredentialID)
	if err != nil {
		a.logger.Warn("opening a schedule's hooks failed", "schedule_id", s.ID, "error", err)
		return
	}
	out.PreHook, out.PostHook = showHook(set.Pre), showHook(set.Post)
}

func (a *API) showHostHooks(w http.ResponseWriter, r *http.Request) error {
	h, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	id, err := a.store.HostHooksCredential(r.Context(), h.ID)
	if err != nil {
		return err
	}
	set, err := a.openHooks(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hooksJSON{PreHook: showHook(set.Pre), PostHook: showHook(set.Post)})
	return nil
}

// hostHooksRequest sets a host's default hooks: absent fields keep theirs,
// null removes one.
type hostHooksRequest struct {
	PreHook  json.RawMessage `json:"pre_hook"`
	PostHook json.RawMessage `json:"post_hook"`
}

func (a *API) setHostHooks(w http.ResponseWriter, r *http.Request) error {
	h, err := a.lookupHost(r)
	if err != nil {
		return err
	}
	var req hostHooksRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	var bad problems
	pre := parseHook("pre_hook", req.PreHook, &bad)
	post := parseHook("post_hook", req.PostHook, &bad)
	if err := bad.err(); err != nil {
		return err
	}
	id, err := a.store.HostHooksCredential(r.Context(), h.ID)
	if err != nil {
		return err
	}
	cur, err := a.openHooks(r.Context(), id)
	if err != nil {
		return err
	}
	set, _ := applyHooks(cur, pre, post)
	c, err := a.sealHooks(set)
	if err != nil {
		return err
	}
	if err := a.store.SetHostHooks(r.Context(), h.ID, c); err != nil {
		return fmt.Errorf("store the host's hooks: %w", err)
	}
	detail := map[string]any{"host": h.Name}
	hookAudit(detail, set)
	state(r).detail = detail
	a.logger.Info("host hooks set", "host_id", h.ID)
	if p, ok := a.opts.Agents.(SchedulePusher); ok {
		p.PushSchedules(h.ID)
	}
	writeJSON(w, http.StatusOK, hooksJSON{PreHook: showHook(set.Pre), PostHook: showHook(set.Post)})
	return nil
}
