package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

const testPassword = "correct horse battery"

// env is a UI in front of a real API and store, and a browser-like client
// with a cookie jar that does not follow redirects.
type env struct {
	t          *testing.T
	db         *store.DB
	srv        *httptest.Server
	client     *http.Client
	setupToken string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, err := auth.NewToken(auth.KindSetup)
	if err != nil {
		t.Fatal(err)
	}
	a := api.New(api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams})
	u, err := New(Options{API: a})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv, client: newClient(t), setupToken: setup}
}

func newClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type response struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (e *env) get(c *http.Client, path string) response {
	e.t.Helper()
	res, err := c.Get(e.srv.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	return readPage(e.t, res)
}

func (e *env) post(c *http.Client, path string, form url.Values) response {
	e.t.Helper()
	res, err := c.PostForm(e.srv.URL+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	return readPage(e.t, res)
}

func readPage(t *testing.T, res *http.Response) response {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, location: res.Header.Get("Location"), header: res.Header, body: string(b)}
}

var csrfField = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// csrf is the token in the page's forms.
func (p response) csrf(t *testing.T) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no csrf_token field in page:\n%s", p.body)
	}
	return m[1]
}

func (p response) has(s string) bool { return strings.Contains(p.body, s) }

// setup creates the admin through the setup page and returns its client,
// logged in.
func (e *env) setup() *http.Client {
	e.t.Helper()
	c := newClient(e.t)
	tok := e.get(c, "/setup").csrf(e.t)
	p := e.post(c, "/setup", url.Values{
		"csrf_token": {tok}, "setup_token": {e.setupToken}, "username": {"admin"}, "password": {testPassword},
	})
	if p.status != http.StatusSeeOther || p.location != "/" {
		e.t.Fatalf("setup: %d %q\n%s", p.status, p.location, p.body)
	}
	return c
}

// insertHost enrolls h through the store as an agent would, then reports
// its hello (online) or leaves it offline.
func insertHost(t *testing.T, db *store.DB, h store.Host) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	hash := "hash-" + h.ID
	if err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "tok-" + h.ID, TokenHash: hash, CreatedAt: now, ExpiresAt: now.Add(time.Hour), UsesTotal: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := db.RedeemEnrollmentToken(ctx, store.Enrollment{
		TokenHash: hash, Host: h, CredentialID: "cred-" + h.ID, SecretHash: "secret-" + h.ID, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if h.Status == store.HostOnline {
		hello := store.HostHello{Hostname: h.Name, OS: h.OS, Arch: h.Arch, AgentVersion: h.AgentVersion, ResticVersion: h.ResticVersion}
		if err := db.UpdateHostHello(ctx, h.ID, hello, now); err != nil {
			t.Fatal(err)
		}
	}
}
