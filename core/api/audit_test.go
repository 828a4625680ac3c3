package api

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

// TestEveryStateChangeIsAudited drives every mutating route once and checks
// that each left an audit entry naming the actor, target and outcome, and
// that no secret reached the log.
func TestEveryStateChangeIsAudited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	cookie, csrf := e.login("root", testPassword)
	r := e.want(call{method: "POST", path: "/api/v1/users", token: root, body: map[string]string{
		"username": "olivia", "password": testPassword, "role": "operator",
	}}, http.StatusCreated)
	var olivia userJSON
	r.decode(t, &olivia)
	e.want(call{method: "PATCH", path: "/api/v1/users/" + olivia.ID, token: root, body: map[string]any{"role": "viewer", "password": "another long password"}}, http.StatusOK)
	r = e.want(call{method: "POST", path: "/api/v1/tokens", cookie: cookie, csrf: csrf, body: map[string]string{"name": "ci"}}, http.StatusCreated)
	var tok tokenJSON
	r.decode(t, &tok)
	e.want(call{method: "DELETE", path: "/api/v1/tokens/" + tok.ID, token: root}, http.StatusNoContent)
	e.want(call{method: "DELETE", path: "/api/v1/users/" + olivia.ID, token: root}, http.StatusNoContent)
	e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": "wrong password!"}}, http.StatusUnauthorized)
	e.want(call{method: "DELETE", path: "/api/v1/users/root", token: root}, http.StatusConflict)
	e.want(call{method: "POST", path: "/api/v1/logout", cookie: cookie, csrf: csrf}, http.StatusNoContent)
	hostSecrets := driveHostRoutes(e, root)
	hostSecrets = append(hostSecrets, driveRepositoryRoutes(e, root)...)
	hostSecrets = append(hostSecrets, drivePluginRoutes(e, root)...)
	hostSecrets = append(hostSecrets, driveJobRoutes(e, root)...)
	hostSecrets = append(hostSecrets, driveRestoreRoutes(e, root)...)
	hostSecrets = append(hostSecrets, driveScheduleRoutes(e, root)...)
	hostSecrets = append(hostSecrets, driveScheduleRunRoutes(e, root)...)
	hostSecrets = append(hostSecrets, driveAlertRoutes(e, root)...)
	hostSecrets = append(hostSecrets, driveAccountRoutes(e, root)...)

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string][]store.AuditEntry{}
	for _, en := range entries {
		seen[en.Action] = append(seen[en.Action], en)
		for _, secret := range append([]string{testPassword, "another long password", "wrong password!", tok.Token, root, csrf, cookie.Value, e.setupToken}, hostSecrets...) {
			if strings.Contains(en.ActorName+en.TargetID+en.TargetKind+en.ActorID+fmtDetail(en.Detail), secret) {
				t.Errorf("audit entry %s holds a secret", en.Action)
			}
		}
	}
	for _, rt := range e.api.routes() {
		if !mutating(rt.method) {
			continue
		}
		if len(seen[rt.name]) == 0 {
			t.Errorf("state-changing route %q left no audit entry", rt.name)
		}
	}
	check := func(action, actor, outcome, targetID string) {
		t.Helper()
		for _, en := range seen[action] {
			if en.ActorName == actor && en.Outcome == outcome && (targetID == "" || en.TargetID == targetID) {
				if en.SourceAddr == "" || en.Time.IsZero() {
					t.Errorf("%s: no source address or time: %+v", action, en)
				}
				return
			}
		}
		t.Errorf("no %s entry by %s with outcome %s on %q: %+v", action, actor, outcome, targetID, seen[action])
	}
	check("bootstrap", "root", "success", "")
	check("user.create", "root", "success", olivia.ID)
	check("user.update", "root", "success", olivia.ID)
	check("user.delete", "root", "success", olivia.ID)
	check("user.delete", "root", "failure", "")
	check("token.create", "root", "success", tok.ID)
	check("token.revoke", "root", "success", tok.ID)
	check("login", "root", "success", "")
	check("login", "root", "denied", "")
	check("logout", "root", "success", "")

	// The audit API serves the same entries with filters.
	r = e.want(call{method: "GET", path: "/api/v1/audit?action=user.&target=" + olivia.ID, token: root}, http.StatusOK)
	var got list[auditJSON]
	r.decode(t, &got)
	if len(got.Items) != 3 {
		t.Fatalf("filtered audit = %+v", got.Items)
	}
	r = e.want(call{method: "GET", path: "/api/v1/audit?limit=2", token: root}, http.StatusOK)
	r.decode(t, &got)
	if len(got.Items) != 2 || got.NextCursor == "" {
		t.Fatalf("first page = %d items, cursor %q", len(got.Items), got.NextCursor)
	}
	r = e.want(call{method: "GET", path: "/api/v1/audit?limit=1000&cursor=" + got.NextCursor, token: root}, http.StatusOK)
	var rest list[auditJSON]
	r.decode(t, &rest)
	if len(rest.Items) != len(entries)-2 || rest.Items[0].ID >= got.Items[1].ID {
		t.Fatalf("second page = %d items (want %d)", len(rest.Items), len(entries)-2)
	}
}

func fmtDetail(d map[string]any) string {
	var b strings.Builder
	for k, v := range d {
		b.WriteString(k)
		if s, ok := v.(string); ok {
			b.WriteString(s)
		}
	}
	return b.String()
}

func TestUsersAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	for _, name := range []string{"b", "c", "d"} {
		e.want(call{method: "POST", path: "/api/v1/users", token: root, body: map[string]string{"username": name, "password": testPassword}}, http.StatusCreated)
	}
	r := e.want(call{method: "POST", path: "/api/v1/users", token: root, body: map[string]string{"username": "B", "password": testPassword}}, http.StatusConflict)
	if r.errCode(t) != "conflict" {
		t.Fatal(string(r.body))
	}
	var names []string
	cursor := ""
	for {
		r := e.want(call{method: "GET", path: "/api/v1/users?limit=2&cursor=" + cursor, token: root}, http.StatusOK)
		if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "password") {
			t.Fatalf("user list leaks password material: %s", r.body)
		}
		var l list[userJSON]
		r.decode(t, &l)
		for _, u := range l.Items {
			names = append(names, u.Username)
		}
		if l.NextCursor == "" {
			break
		}
		cursor = l.NextCursor
	}
	if strings.Join(names, ",") != "b,c,d,root" {
		t.Fatalf("paged users = %v", names)
	}
	r = e.want(call{method: "GET", path: "/api/v1/users/c", token: root}, http.StatusOK)
	var c userJSON
	r.decode(t, &c)
	if c.Role != "viewer" {
		t.Fatalf("default role = %q", c.Role)
	}
	// The last admin can be neither demoted, disabled nor deleted.
	e.want(call{method: "PATCH", path: "/api/v1/users/root", token: root, body: map[string]string{"role": "viewer"}}, http.StatusConflict)
	e.want(call{method: "PATCH", path: "/api/v1/users/root", token: root, body: map[string]bool{"disabled": true}}, http.StatusConflict)
	e.want(call{method: "PATCH", path: "/api/v1/users/c", token: root, body: map[string]string{"role": "admin"}}, http.StatusOK)
	e.want(call{method: "PATCH", path: "/api/v1/users/root", token: root, body: map[string]string{"role": "operator"}}, http.StatusOK)
	// root is an operator now: its token no longer reaches admin routes.
	e.want(call{method: "GET", path: "/api/v1/users", token: root}, http.StatusForbidden)
	e.want(call{method: "GET", path: "/api/v1/users/nobody", token: e.user(root2(e), "zed", "viewer")}, http.StatusForbidden)
}

// root2 logs in as the new admin "c" and returns a token of theirs.
func root2(e *env) string {
	cookie, csrf := e.login("c", testPassword)
	r := e.want(call{method: "POST", path: "/api/v1/tokens", cookie: cookie, csrf: csrf, body: map[string]string{"name": "t"}}, http.StatusCreated)
	var tok tokenJSON
	r.decode(e.t, &tok)
	return tok.Token
}
