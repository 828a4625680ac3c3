package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

const testPassword = "correct horse battery"

// clock is a settable time source for expiry tests.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type env struct {
	t          *testing.T
	api        *API
	db         *store.DB
	srv        *httptest.Server
	clock      *clock
	setupToken string
	bootstraps int
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	e := &env{t: t, db: db, clock: &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, setupToken: setup}
	e.api = New(Options{
		Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams,
		Now: e.clock.Now, OnBootstrap: func() { e.bootstraps++ }, Sealer: testKeyring(t),
	})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// call is one request; token is an API token, or a *http.Cookie session.
type call struct {
	method, path string
	body         any
	token        string
	cookie       *http.Cookie
	csrf         string
	raw          []byte
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) errCode(t *testing.T) string {
	t.Helper()
	var e errorBody
	r.decode(t, &e)
	return e.Error.Code
}

func (e *env) do(c call) resp {
	e.t.Helper()
	var body io.Reader
	switch {
	case c.raw != nil:
		body = bytes.NewReader(c.raw)
	case c.body != nil:
		b, _ := json.Marshal(c.body)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(c.method, e.srv.URL+c.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) want(c call, status int) resp {
	e.t.Helper()
	r := e.do(c)
	if r.status != status {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, r.status, status, r.body)
	}
	return r
}

// bootstrap creates the admin "root" and returns its API token.
func (e *env) bootstrap() string {
	e.t.Helper()
	r := e.want(call{method: "POST", path: "/api/v1/bootstrap", body: map[string]string{
		"setup_token": e.setupToken, "username": "root", "password": testPassword,
	}}, http.StatusCreated)
	var out bootstrapResponse
	r.decode(e.t, &out)
	return out.Token
}

// user creates a user with role and returns an API token of theirs.
func (e *env) user(adminToken, name, role string) string {
	e.t.Helper()
	e.want(call{method: "POST", path: "/api/v1/users", token: adminToken, body: map[string]string{
		"username": name, "password": testPassword, "role": role,
	}}, http.StatusCreated)
	cookie, csrf := e.login(name, testPassword)
	r := e.want(call{
		method: "POST", path: "/api/v1/tokens", cookie: cookie, csrf: csrf,
		body: map[string]string{"name": "test"},
	}, http.StatusCreated)
	var tok tokenJSON
	r.decode(e.t, &tok)
	return tok.Token
}

func (e *env) login(name, password string) (*http.Cookie, string) {
	e.t.Helper()
	r := e.want(call{method: "POST", path: "/api/v1/login", body: map[string]string{"username": name, "password": password}}, http.StatusOK)
	var out loginResponse
	r.decode(e.t, &out)
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == sessionCookie {
			return c, out.CSRFToken
		}
	}
	e.t.Fatal("login set no session cookie")
	return nil, ""
}
