package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

const newTestPassword = "a brand new long password"

// driveAccountRoutes changes a user's own password once, for the audit
// test; it returns the passwords, which no audit entry may hold.
func driveAccountRoutes(e *env, admin string) []string {
	e.t.Helper()
	e.want(call{method: "POST", path: "/api/v1/users", token: admin, body: map[string]string{
		"username": "paula", "password": testPassword, "role": "viewer",
	}}, http.StatusCreated)
	cookie, csrf := e.login("paula", testPassword)
	e.want(call{method: "POST", path: "/api/v1/account/password", cookie: cookie, csrf: csrf, body: map[string]string{
		"current_password": testPassword, "new_password": newTestPassword,
	}}, http.StatusNoContent)
	return []string{newTestPassword}
}

func TestChangeOwnPassword(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	token := e.user(root, "alice", "viewer")
	keep, keepCSRF := e.login("alice", testPassword)
	other, _ := e.login("alice", testPassword)
	change := func(c call, current, next string) resp {
		t.Helper()
		c.method, c.path = "POST", "/api/v1/account/password"
		c.body = map[string]string{"current_password": current, "new_password": next}
		return e.do(c)
	}
	session := call{cookie: keep, csrf: keepCSRF}

	for name, tc := range map[string]struct {
		c             call
		current, next string
		status        int
		code, message string
	}{
		"no CSRF token":   {c: call{cookie: keep}, current: testPassword, next: newTestPassword, status: 403, code: "csrf"},
		"no credentials":  {current: testPassword, next: newTestPassword, status: 401, code: "unauthenticated"},
		"no current":      {c: session, next: newTestPassword, status: 400, code: "bad_request", message: "current_password is required"},
		"no new":          {c: session, current: testPassword, status: 400, code: "bad_request", message: "new_password is required"},
		"too short":       {c: session, current: testPassword, next: "short", status: 400, code: "bad_password", message: "new_password: password must be at least 12 characters"},
		"same as current": {c: session, current: testPassword, next: testPassword, status: 400, code: "bad_password", message: "must differ"},
		"wrong current":   {c: session, current: "not the password", next: newTestPassword, status: 403, code: "wrong_password", message: "current_password is wrong"},
	} {
		r := change(tc.c, tc.current, tc.next)
		if r.status != tc.status || r.errCode(t) != tc.code || !strings.Contains(string(r.body), tc.message) {
			t.Errorf("%s: %d %s, want %d %s %q", name, r.status, r.body, tc.status, tc.code, tc.message)
		}
	}
	// Nothing changed so far.
	e.login("alice", testPassword)

	// Wrong current passwords count against the login limit of the user.
	for range 5 {
		change(session, "not the password", newTestPassword)
	}
	r := change(session, testPassword, newTestPassword)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 6 wrong current passwords: %d %s, want 429 with Retry-After", r.status, r.body)
	}
	if r := e.do(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "alice", "password": testPassword}}); r.status != http.StatusTooManyRequests {
		t.Fatalf("login during the password-change lockout: %d, want 429", r.status)
	}
	e.clock.Advance(2 * time.Minute)

	r = change(session, testPassword, newTestPassword)
	if r.status != http.StatusNoContent {
		t.Fatalf("change: %d %s", r.status, r.body)
	}
	if r := e.do(call{method: "GET", path: "/api/v1/me", cookie: keep}); r.status != http.StatusOK {
		t.Errorf("the session that changed the password ended: %d", r.status)
	}
	if r := e.do(call{method: "GET", path: "/api/v1/me", cookie: other}); r.status != http.StatusUnauthorized {
		t.Errorf("another session of alice's survived the change: %d", r.status)
	}
	if r := e.do(call{method: "GET", path: "/api/v1/me", token: token}); r.status != http.StatusOK {
		t.Errorf("alice's API token stopped working: %d", r.status)
	}
	if r := e.do(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "alice", "password": testPassword}}); r.status != http.StatusUnauthorized {
		t.Errorf("the old password still logs in: %d", r.status)
	}
	e.login("alice", newTestPassword)

	// With an API token there is no session to keep: all of them end.
	r = change(call{token: token}, newTestPassword, testPassword)
	if r.status != http.StatusNoContent {
		t.Fatalf("change with a token: %d %s", r.status, r.body)
	}
	if r := e.do(call{method: "GET", path: "/api/v1/me", cookie: keep}); r.status != http.StatusUnauthorized {
		t.Errorf("a session survived a change made with an API token: %d", r.status)
	}

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "account.password", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, en := range entries {
		outcomes[en.Outcome]++
		if en.ActorName != "alice" && en.ActorName != "" {
			t.Errorf("entry by %q", en.ActorName)
		}
		if d := fmtDetail(en.Detail); strings.Contains(d, testPassword) || strings.Contains(d, newTestPassword) {
			t.Errorf("audit detail holds a password: %v", en.Detail)
		}
	}
	if outcomes["success"] != 2 || outcomes["denied"] < 6 || outcomes["failure"] < 4 {
		t.Errorf("audit outcomes %v, want 2 successes, the wrong passwords denied and bad input failed", outcomes)
	}
}

func TestChangeOwnPasswordRefusedForConfigUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.bootstrap()
	hash, err := auth.HashPassword(testPassword, auth.TestingParams)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if err := e.db.CreateUser(context.Background(), store.User{
		ID: "carl-id", Username: "carl", PasswordHash: hash, Role: store.RoleViewer, ManagedBy: "config", CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	cookie, csrf := e.login("carl", testPassword)
	r := e.do(call{method: "POST", path: "/api/v1/account/password", cookie: cookie, csrf: csrf, body: map[string]string{
		"current_password": testPassword, "new_password": newTestPassword,
	}})
	if r.status != http.StatusConflict || r.errCode(t) != "managed_by_config" {
		t.Errorf("config user: %d %s, want 409 managed_by_config", r.status, r.body)
	}
}

func TestEnrollmentTokenShowListsItsHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tok := e.enrollToken(root, map[string]any{"uses": 3, "tags": []string{"prod"}})
	other := e.enrollToken(root, map[string]any{})
	e.enroll(tok.Token, "web1")
	e.clock.Advance(time.Second)
	e.enroll(other.Token, "db1")
	e.enroll(tok.Token, "web2")

	r := e.want(call{method: "GET", path: "/api/v1/enrollment-tokens/" + tok.ID, token: root}, http.StatusOK)
	if strings.Contains(string(r.body), tok.Token) || strings.Contains(string(r.body), `"token"`) {
		t.Fatalf("the token's secret came back: %s", r.body)
	}
	var got enrollTokenDetailJSON
	r.decode(t, &got)
	var names []string
	for _, h := range got.Hosts {
		names = append(names, h.Name+"/"+h.Status+"/"+strings.Join(h.Tags, ","))
	}
	if got.ID != tok.ID || got.Uses != 3 || got.UsesLeft != 1 || got.Status != "active" || got.LastUsedAt == nil ||
		strings.Join(names, " ") != "web1/offline/prod web2/offline/prod" {
		t.Errorf("token %+v with hosts %v", got.enrollTokenJSON, names)
	}
	r = e.want(call{method: "GET", path: "/api/v1/enrollment-tokens/nope", token: root}, http.StatusNotFound)
	if r.errCode(t) != "not_found" {
		t.Errorf("unknown token: %s", r.body)
	}
}

func TestAuditOutcomeFilterAndPaging(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	for range 3 {
		e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": "root", "password": "wrong password!"}}, http.StatusUnauthorized)
	}
	e.login("root", testPassword)

	var got list[auditJSON]
	e.want(call{method: "GET", path: "/api/v1/audit?action=login&outcome=denied&limit=2", token: root}, http.StatusOK).decode(t, &got)
	if len(got.Items) != 2 || got.NextCursor == "" {
		t.Fatalf("first page of denied logins: %d items, cursor %q", len(got.Items), got.NextCursor)
	}
	var rest list[auditJSON]
	e.want(call{method: "GET", path: "/api/v1/audit?action=login&outcome=denied&limit=2&cursor=" + got.NextCursor, token: root}, http.StatusOK).decode(t, &rest)
	if len(rest.Items) != 1 || rest.NextCursor != "" {
		t.Fatalf("second page: %d items, cursor %q", len(rest.Items), rest.NextCursor)
	}
	for _, en := range append(got.Items, rest.Items...) {
		if en.Outcome != "denied" || en.Action != "login" {
			t.Errorf("entry %s %s passed the filter", en.Action, en.Outcome)
		}
	}
	e.want(call{method: "GET", path: "/api/v1/audit?action=login&outcome=success", token: root}, http.StatusOK).decode(t, &got)
	if len(got.Items) != 1 {
		t.Errorf("successful logins: %d, want 1", len(got.Items))
	}
	r := e.want(call{method: "GET", path: "/api/v1/audit?outcome=maybe", token: root}, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "outcome must be success, failure or denied") {
		t.Errorf("bad outcome: %s", r.body)
	}
}
