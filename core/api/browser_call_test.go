package api

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/store"
)

// browserRequest is a request as the UI receives it from a browser with
// the session cookie.
func browserRequest(method string, cookie *http.Cookie) *http.Request {
	r := httptest.NewRequest(method, "/some/page", nil)
	r.RemoteAddr = "192.0.2.7:4242"
	r.AddCookie(cookie)
	return r
}

func TestCallRunsTheAPIRouteForTheSession(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	admin := e.bootstrap()
	e.user(admin, "olivia", "operator")
	e.user(admin, "victor", "viewer")

	caller := func(name string) (*Caller, *http.Cookie) {
		cookie, _ := e.login(name, testPassword)
		c, err := e.api.BrowserCaller(browserRequest(http.MethodGet, cookie))
		if err != nil || c == nil {
			t.Fatalf("BrowserCaller(%s): %v, %v", name, c, err)
		}
		return c, cookie
	}

	// A read answers like the route: the operator sees itself in /me.
	op, opCookie := caller("olivia")
	var me meResponse
	if err := e.api.Call(browserRequest(http.MethodGet, opCookie), op, http.MethodGet, "/api/v1/me", nil, &me); err != nil {
		t.Fatalf("GET /api/v1/me: %v", err)
	}
	if me.User.Username != "olivia" || me.AuthMethod != "session" {
		t.Fatalf("GET /api/v1/me through Call answered %+v", me)
	}

	// A change on behalf of a POST goes through, audited as the user, via the UI.
	var tok tokenJSON
	if err := e.api.Call(browserRequest(http.MethodPost, opCookie), op, http.MethodPost, "/api/v1/tokens", map[string]string{"name": "from-ui"}, &tok); err != nil {
		t.Fatalf("POST /api/v1/tokens: %v", err)
	}
	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "token.create"})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, a := range entries {
		if a.ActorName == "olivia" && a.Detail["via"] == "ui" && a.SourceAddr == "192.0.2.7" {
			found = true
		}
	}
	if !found {
		t.Fatalf("no token.create audit entry by olivia via ui from 192.0.2.7 in %+v", entries)
	}

	// A change on behalf of a page view (GET) is refused before the API.
	err = e.api.Call(browserRequest(http.MethodGet, opCookie), op, http.MethodPost, "/api/v1/tokens", map[string]string{"name": "sneaky"}, nil)
	if err == nil || !strings.Contains(err.Error(), "CSRF-checked POST") {
		t.Fatalf("a POST on behalf of a GET: %v", err)
	}

	// The API's refusals come back as *Error with its status and message.
	viewer, vCookie := caller("victor")
	err = e.api.Call(browserRequest(http.MethodGet, vCookie), viewer, http.MethodGet, "/api/v1/users", nil, nil)
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Message == "" {
		t.Fatalf("viewer listing users: %v, want a 403 *Error", err)
	}
	err = e.api.Call(browserRequest(http.MethodGet, vCookie), viewer, http.MethodGet, "/api/v1/jobs/nonexistent", nil, nil)
	if !errors.As(err, &ae) || ae.Status != http.StatusNotFound {
		t.Fatalf("unknown job: %v, want a 404 *Error", err)
	}
	if err := e.api.Call(browserRequest(http.MethodGet, vCookie), nil, http.MethodGet, "/api/v1/me", nil, nil); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Fatalf("no caller: %v, want 401", err)
	}
}
