package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestScheduleHooksAreAdminOnlySealedAndAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	operator := e.user(root, "olga", "operator")
	viewer := e.user(root, "vic", "viewer")
	const preCmd = "pg_dump --file=/var/backups/app.dump app # PRE-MARKER"
	const postCmd = "rm -f /var/backups/app.dump # POST-MARKER"

	// An operator may create schedules, but not with a hook, nor remove one.
	r := e.want(call{method: "POST", path: "/api/v1/schedules", token: operator, body: scheduleBody(map[string]any{"pre_hook": map[string]any{"command": "true"}})}, http.StatusForbidden)
	if !strings.Contains(string(r.body), "admin role") {
		t.Fatalf("operator's hook: %s", r.body)
	}
	// JSON null is a hook field too.
	e.want(call{method: "POST", path: "/api/v1/schedules", token: operator, raw: []byte(`{"name":"n2","host":"web1","repository":"main","paths":["/srv"],"every":"6h","post_hook":null}`)}, http.StatusForbidden)

	var s scheduleJSON
	e.want(call{method: "POST", path: "/api/v1/schedules", token: root, body: scheduleBody(map[string]any{
		"pre_hook":  map[string]any{"command": preCmd, "timeout": "90s"},
		"post_hook": map[string]any{"command": postCmd},
	})}, http.StatusCreated).decode(t, &s)
	if !s.HasHooks || s.PreHook == nil || s.PreHook.Command != preCmd || s.PreHook.TimeoutSeconds != 90 ||
		s.PostHook == nil || s.PostHook.Command != postCmd || s.PostHook.TimeoutSeconds != 300 {
		t.Fatalf("created: has_hooks %v pre %+v post %+v", s.HasHooks, s.PreHook, s.PostHook)
	}

	// Operators and viewers see that there are hooks, not what they run.
	for _, tok := range []string{operator, viewer} {
		for _, path := range []string{"/api/v1/schedules/" + s.ID, "/api/v1/schedules", "/api/v1/hosts/web1/schedules"} {
			r := e.want(call{method: "GET", path: path, token: tok}, http.StatusOK)
			if bytes.Contains(r.body, []byte("MARKER")) || !bytes.Contains(r.body, []byte(`"has_hooks":true`)) {
				t.Fatalf("GET %s as a non-admin: %s", path, r.body)
			}
		}
	}
	// An operator's PATCH of other fields keeps the hooks; of a hook is 403.
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: operator, body: map[string]any{"pre_hook": nil}}, http.StatusForbidden)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: operator, body: map[string]any{"post_hook": map[string]any{"command": "id"}}}, http.StatusForbidden)
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: operator, body: map[string]any{"every": "12h"}}, http.StatusOK)
	var got scheduleJSON
	e.want(call{method: "GET", path: "/api/v1/schedules/" + s.ID, token: root}, http.StatusOK).decode(t, &got)
	if got.PreHook == nil || got.PreHook.Command != preCmd || got.PostHook == nil || got.PostHook.Command != postCmd {
		t.Fatalf("after an operator's PATCH: pre %+v post %+v", got.PreHook, got.PostHook)
	}

	// Stored sealed: no credential row or schedule row holds the text.
	ctx := context.Background()
	sched, err := e.db.GetSchedule(ctx, s.ID)
	if err != nil || sched.HooksCredentialID == "" {
		t.Fatalf("stored schedule: %+v %v", sched, err)
	}
	c, err := e.db.GetCredential(ctx, sched.HooksCredentialID)
	if err != nil || c.Kind != store.CredentialHook || bytes.Contains(c.Sealed, []byte("MARKER")) {
		t.Fatalf("hooks credential kind %q, sealed in the clear: %v (%v)", c.Kind, bytes.Contains(c.Sealed, []byte("MARKER")), err)
	}

	// An admin removes one; the old credential row goes.
	got = scheduleJSON{}
	e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: root, body: map[string]any{"post_hook": nil}}, http.StatusOK).decode(t, &got)
	if got.PostHook != nil || got.PreHook == nil {
		t.Fatalf("after removing the post-hook: pre %+v post %+v", got.PreHook, got.PostHook)
	}
	if _, err := e.db.GetCredential(ctx, sched.HooksCredentialID); err == nil {
		t.Fatal("the replaced hooks credential is still stored")
	}

	// Bad hooks name their field.
	for name, tc := range map[string]struct {
		hook any
		want string
	}{
		"empty command": {map[string]any{"command": "  "}, "pre_hook.command: is empty"},
		"bad timeout":   {map[string]any{"command": "true", "timeout": "forever"}, "pre_hook.timeout: "},
		"NUL":           {map[string]any{"command": "true\x00rm"}, "pre_hook.command: contains control characters"},
		"unknown field": {map[string]any{"cmd": "true"}, "pre_hook: "},
	} {
		r = e.want(call{method: "PATCH", path: "/api/v1/schedules/" + s.ID, token: root, body: map[string]any{"pre_hook": tc.hook}}, http.StatusBadRequest)
		if !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %s, want %q", name, r.body, tc.want)
		}
	}

	// The audit entries keep the command text.
	entries, err := e.db.ListAudit(ctx, store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, en := range entries {
		detail, _ := json.Marshal(en.Detail)
		if en.Action == "schedule.create" && en.Outcome == "success" &&
			strings.Contains(string(detail), "PRE-MARKER") && strings.Contains(string(detail), "POST-MARKER") {
			found = true
		}
	}
	if !found {
		t.Fatal("no schedule.create audit entry holds the hooks' command text")
	}

	// Deleting the schedule drops its hooks.
	e.want(call{method: "DELETE", path: "/api/v1/schedules/" + s.ID, token: root}, http.StatusNoContent)
	if got, err := e.db.GetSchedule(ctx, s.ID); err == nil {
		t.Fatalf("deleted schedule still there: %+v", got)
	}
}

func TestHostDefaultHooks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	scheduleSetup(e, root)
	operator := e.user(root, "olga", "operator")
	e.want(call{method: "GET", path: "/api/v1/hosts/web1/hooks", token: operator}, http.StatusForbidden)
	e.want(call{method: "PUT", path: "/api/v1/hosts/web1/hooks", token: operator, body: map[string]any{"pre_hook": nil}}, http.StatusForbidden)

	var h hooksJSON
	e.want(call{method: "GET", path: "/api/v1/hosts/web1/hooks", token: root}, http.StatusOK).decode(t, &h)
	if h.PreHook != nil || h.PostHook != nil {
		t.Fatalf("a new host's hooks: %+v", h)
	}
	e.want(call{method: "PUT", path: "/api/v1/hosts/web1/hooks", token: root, body: map[string]any{
		"pre_hook": map[string]any{"command": "systemctl stop app", "timeout": "2m"}, "post_hook": map[string]any{"command": "systemctl start app"},
	}}, http.StatusOK)
	// Absent fields keep theirs; null removes one.
	e.want(call{method: "PUT", path: "/api/v1/hosts/web1/hooks", token: root, body: map[string]any{"post_hook": nil}}, http.StatusOK).decode(t, &h)
	if h.PreHook == nil || h.PreHook.Command != "systemctl stop app" || h.PreHook.TimeoutSeconds != 120 || h.PostHook != nil {
		t.Fatalf("host hooks: pre %+v post %+v", h.PreHook, h.PostHook)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts/web2/hooks", token: root}, http.StatusOK).decode(t, &h)
	if h.PreHook != nil {
		t.Fatalf("web2 got web1's hooks: %+v", h)
	}
	r := e.want(call{method: "PUT", path: "/api/v1/hosts/web1/hooks", token: root, body: map[string]any{"pre_hook": map[string]any{"command": ""}}}, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "pre_hook.command") {
		t.Fatalf("empty host hook: %s", r.body)
	}
	e.want(call{method: "PUT", path: "/api/v1/hosts/nowhere/hooks", token: root, body: map[string]any{}}, http.StatusNotFound)
}
