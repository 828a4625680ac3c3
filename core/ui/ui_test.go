package ui

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/store"
)

func TestEveryPageLeadsToSetupBeforeFirstAdmin(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, path := range []string{"/", "/login", "/hosts", "/no/such/page"} {
		p := e.get(e.client, path)
		if p.status != http.StatusSeeOther || p.location != "/setup" {
			t.Errorf("GET %s before setup: %d %q, want 303 to /setup", path, p.status, p.location)
		}
	}
	if p := e.get(e.client, "/setup"); p.status != http.StatusOK || !p.has("Create admin") {
		t.Errorf("GET /setup: %d", p.status)
	}
	if p := e.get(e.client, "/static/app.css"); p.status != http.StatusOK {
		t.Errorf("GET /static/app.css before setup: %d", p.status)
	}
	if p := e.get(e.client, "/healthz"); p.status != http.StatusOK || !p.has(`"ok"`) {
		t.Errorf("GET /healthz through the UI: %d %s", p.status, p.body)
	}
}

func TestSetupLoginLogout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := newClient(t)
	tok := e.get(c, "/setup").csrf(t)

	p := e.post(c, "/setup", url.Values{"csrf_token": {tok}, "setup_token": {"rmsetup_wrong"}, "username": {"admin"}, "password": {testPassword}})
	if p.status != http.StatusUnauthorized || !p.has("setup token is wrong") {
		t.Fatalf("wrong setup token: %d\n%s", p.status, p.body)
	}
	p = e.post(c, "/setup", url.Values{"csrf_token": {tok}, "setup_token": {e.setupToken}, "username": {"admin"}, "password": {testPassword}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("setup: %d %q\n%s", p.status, p.location, p.body)
	}
	dash := e.get(c, "/")
	if dash.status != http.StatusOK || !dash.has("No hosts yet") || !dash.has("admin") || !dash.has("you are the admin") {
		t.Fatalf("dashboard after setup: %d\n%s", dash.status, dash.body)
	}
	if p := e.get(c, "/setup"); p.status != http.StatusSeeOther || p.location != "/login" {
		t.Errorf("GET /setup after setup: %d %q", p.status, p.location)
	}

	if p := e.post(c, "/logout", url.Values{}); p.status != http.StatusForbidden {
		t.Errorf("logout without CSRF token: %d, want 403", p.status)
	}
	if p := e.post(c, "/logout", url.Values{"csrf_token": {dash.csrf(t)}}); p.status != http.StatusSeeOther || p.location != "/login" {
		t.Fatalf("logout: %d %q", p.status, p.location)
	}
	if p := e.get(c, "/"); p.status != http.StatusSeeOther || p.location != "/login?next=%2F" {
		t.Errorf("dashboard after logout: %d %q", p.status, p.location)
	}

	login := e.get(c, "/login")
	if !login.has("You are logged out") {
		t.Errorf("login page shows no logout message:\n%s", login.body)
	}
	p = e.post(c, "/login", url.Values{"csrf_token": {login.csrf(t)}, "username": {"admin"}, "password": {"wrong password!"}})
	if p.status != http.StatusUnauthorized || !p.has("wrong username or password") {
		t.Errorf("wrong password: %d\n%s", p.status, p.body)
	}
	p = e.post(c, "/login", url.Values{"csrf_token": {login.csrf(t)}, "username": {"admin"}, "password": {testPassword}, "next": {"//evil.example"}})
	if p.status != http.StatusSeeOther || p.location != "/" {
		t.Fatalf("login: %d %q", p.status, p.location)
	}

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, en := range entries {
		if en.Detail["via"] == "ui" {
			got[en.Action+"/"+en.Outcome]++
		}
	}
	for _, want := range []string{"bootstrap/success", "bootstrap/denied", "logout/success", "login/denied", "login/success"} {
		if got[want] == 0 {
			t.Errorf("no audit entry %s from the UI; have %v", want, got)
		}
	}
}

func TestLoginFormNeedsItsCSRFToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.setup()
	c := newClient(t)
	e.get(c, "/login") // sets the pre-session cookie
	p := e.post(c, "/login", url.Values{"csrf_token": {"forged"}, "username": {"admin"}, "password": {testPassword}})
	if p.status != http.StatusForbidden {
		t.Errorf("login with a forged CSRF token: %d, want 403", p.status)
	}
	if p := e.get(c, "/"); p.status != http.StatusSeeOther {
		t.Errorf("forged login started a session: %d", p.status)
	}
}

func TestPageCSRFTokenWorksWithTheAPI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	dash := e.get(c, "/")
	tok := dash.csrf(t)
	if !dash.has(`<meta name="csrf-token" content="` + tok + `">`) {
		t.Errorf("the page's meta csrf-token differs from its form token")
	}
	for name, csrf := range map[string]string{"without": "", "with": tok} {
		req, err := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/tokens", strings.NewReader(`{"name":"from-ui"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if csrf != "" {
			req.Header.Set("X-CSRF-Token", csrf)
		}
		raw := mustDo(t, c, req)
		defer raw.Body.Close()
		res := readPage(t, raw)
		want := map[string]int{"without": http.StatusForbidden, "with": http.StatusCreated}[name]
		if res.status != want {
			t.Errorf("POST /api/v1/tokens %s the page's CSRF token: %d %s, want %d", name, res.status, res.body, want)
		}
	}
}

func mustDo(t *testing.T, c *http.Client, req *http.Request) *http.Response {
	t.Helper()
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestDashboardListsAndFiltersHosts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	now := time.Now()
	for _, h := range []store.Host{
		{ID: "h1", Name: "web-1", OS: "linux", Arch: "amd64", AgentVersion: "1.2.3", ResticVersion: "0.18.1", Status: store.HostOnline, LastSeenAt: &now},
		{ID: "h2", Name: "db-1", OS: "windows", Arch: "amd64", Status: store.HostOffline},
	} {
		insertHost(t, e.db, h)
	}
	p := e.get(c, "/")
	for _, want := range []string{"web-1", "db-1", "linux/amd64", "1.2.3", "0.18.1", "bg-emerald-500", "just now", "never"} {
		if !p.has(want) {
			t.Errorf("dashboard lacks %q", want)
		}
	}
	p = e.get(c, "/?name=WEB")
	if !p.has("web-1") || p.has("db-1") {
		t.Errorf("name filter WEB: web-1 %v, db-1 %v", p.has("web-1"), p.has("db-1"))
	}
	p = e.get(c, "/?status=offline")
	if p.has("web-1") || !p.has("db-1") {
		t.Errorf("status filter offline: web-1 %v, db-1 %v", p.has("web-1"), p.has("db-1"))
	}
	if p := e.get(c, "/?name=nothing-like-this"); !p.has("No hosts match") {
		t.Errorf("an empty filter result does not say so")
	}
}

func TestNotFoundPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.setup()
	p := e.get(c, "/no/such/page")
	if p.status != http.StatusNotFound || !p.has("There is no page at this address") || !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("unknown page: %d %s\n%s", p.status, p.header.Get("Content-Type"), p.body)
	}
	if p := e.get(c, "/api/v1/no-such-endpoint"); p.status != http.StatusNotFound || !strings.HasPrefix(p.header.Get("Content-Type"), "application/json") {
		t.Errorf("unknown API path: %d %s, want the API's JSON 404", p.status, p.header.Get("Content-Type"))
	}
}

func TestStaticAssetsAreCachedLong(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.get(e.client, "/static/htmx.min.js")
	if p.status != http.StatusOK || !strings.Contains(p.header.Get("Cache-Control"), "max-age=31536000") {
		t.Errorf("GET /static/htmx.min.js: %d, Cache-Control %q", p.status, p.header.Get("Cache-Control"))
	}
	if p := e.get(e.client, "/static/"); p.status != http.StatusNotFound {
		t.Errorf("GET /static/ lists the directory: %d", p.status)
	}
	c := e.setup()
	dash := e.get(c, "/")
	if !dash.has(`/static/app.css?v=`) || strings.Contains(dash.body, "https://") {
		t.Errorf("the layout does not link versioned local assets")
	}
}
