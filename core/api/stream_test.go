package api

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// newStreamEnv is newEnv with options changed by mod (the public URL).
func newStreamEnv(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	e := &env{t: t, db: db, clock: &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, setupToken: setup}
	opts := Options{
		Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams,
		Now: e.clock.Now, Sealer: testKeyring(t),
	}
	mod(&opts)
	e.api = New(opts)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// endedJob creates a backup job on "jobhost" with one stored log line
// and ends it, so its stream replays the line, sends the status frame
// and closes.
func endedJob(e *env, admin string) string {
	e.t.Helper()
	jobSetup(e, admin)
	var j jobJSON
	e.want(call{method: "POST", path: "/api/v1/hosts/jobhost/jobs", token: admin, body: map[string]any{
		"kind": "backup", "repository": "jobrepo", "paths": []string{"/srv"},
	}}, http.StatusCreated).decode(e.t, &j)
	ctx := context.Background()
	if _, err := e.db.AppendJobLogs(ctx, []store.JobLog{{JobID: j.ID, Seq: 1, Time: e.clock.Now(), Stream: "stdout", Type: "log", Line: "hello from restic"}}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.FinishJob(ctx, j.ID, store.JobEnd{Status: store.JobFailed, Error: "it broke", At: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
	return j.ID
}

type streamDial struct {
	token  string
	cookie *http.Cookie
	origin string
}

// dialStream opens a job's stream as d says. On success it reads the
// stream to its end and returns the frames' lines and the final status;
// otherwise the refusal's status and error code.
func dialStream(t *testing.T, e *env, jobID string, d streamDial) (status int, code string, lines []string, end string) {
	t.Helper()
	h := http.Header{}
	if d.token != "" {
		h.Set("Authorization", "Bearer "+d.token)
	}
	if d.cookie != nil {
		h.Set("Cookie", d.cookie.String())
	}
	if d.origin != "" {
		h.Set("Origin", d.origin)
	}
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/api/v1/jobs/" + jobID + "/stream"
	ws, res, err := websocket.DefaultDialer.Dial(url, h)
	if err != nil {
		if res == nil {
			t.Fatalf("dial: %v", err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, resp{status: res.StatusCode, body: b}.errCode(t), nil, ""
	}
	defer ws.Close()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		var f streamFrame
		if err := ws.ReadJSON(&f); err != nil {
			t.Fatalf("reading the stream: %v (frames so far %q)", err, lines)
		}
		if f.Frame == "status" {
			return res.StatusCode, "", lines, f.Status
		}
		lines = append(lines, f.Line)
	}
}

func TestJobStreamRefusesPagesOfOtherSites(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	cookie, _ := e.login("root", testPassword)
	id := endedJob(e, root)
	host := strings.TrimPrefix(e.srv.URL, "http://")

	for name, tc := range map[string]struct {
		d    streamDial
		want int
	}{
		"session from this server's page":             {streamDial{cookie: cookie, origin: e.srv.URL}, http.StatusSwitchingProtocols},
		"session from this server's page, upper case": {streamDial{cookie: cookie, origin: "HTTP://" + strings.ToUpper(host)}, http.StatusSwitchingProtocols},
		"session without Origin (not a browser)":      {streamDial{cookie: cookie}, http.StatusSwitchingProtocols},
		"token without Origin (the CLI)":              {streamDial{token: root}, http.StatusSwitchingProtocols},
		"session from another site":                   {streamDial{cookie: cookie, origin: "http://evil.example"}, http.StatusForbidden},
		"session from this host over https":           {streamDial{cookie: cookie, origin: "https://" + host}, http.StatusForbidden},
		"session from another port of this host":      {streamDial{cookie: cookie, origin: "http://127.0.0.1:1"}, http.StatusForbidden},
		"session from a sandboxed page":               {streamDial{cookie: cookie, origin: "null"}, http.StatusForbidden},
		"session from a site named like this host":    {streamDial{cookie: cookie, origin: "http://" + host + ".evil.example"}, http.StatusForbidden},
		"token from another site":                     {streamDial{token: root, origin: "http://evil.example"}, http.StatusForbidden},
	} {
		t.Run(name, func(t *testing.T) {
			status, code, lines, end := dialStream(t, e, id, tc.d)
			if status != tc.want {
				t.Fatalf("status %d (%s), want %d", status, code, tc.want)
			}
			if tc.want == http.StatusForbidden {
				if code != "bad_origin" {
					t.Errorf("refused with %q, want bad_origin", code)
				}
				return
			}
			if len(lines) != 1 || lines[0] != "hello from restic" || end != store.JobFailed {
				t.Errorf("stream gave %q and ended %q", lines, end)
			}
		})
	}

	// The refusal reveals nothing about which jobs exist.
	status, code, _, _ := dialStream(t, e, "no-such-job", streamDial{cookie: cookie, origin: "http://evil.example"})
	if status != http.StatusForbidden || code != "bad_origin" {
		t.Errorf("unknown job from another site: %d %s, want 403 bad_origin", status, code)
	}
}

// Behind a proxy that terminates TLS the browser's Origin is the public
// URL, not the scheme and host the server sees.
func TestJobStreamAcceptsThePublicURLsOrigin(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, func(o *Options) { o.PublicURL = "https://Backup.example.com/" })
	root := e.bootstrap()
	cookie, _ := e.login("root", testPassword)
	id := endedJob(e, root)

	for origin, want := range map[string]int{
		"https://backup.example.com":      http.StatusSwitchingProtocols,
		"https://backup.example.com:443":  http.StatusSwitchingProtocols,
		e.srv.URL:                         http.StatusSwitchingProtocols,
		"http://backup.example.com":       http.StatusForbidden,
		"https://backup.example.com:8443": http.StatusForbidden,
		"https://example.com":             http.StatusForbidden,
	} {
		if status, code, _, _ := dialStream(t, e, id, streamDial{cookie: cookie, origin: origin}); status != want {
			t.Errorf("Origin %s: %d %s, want %d", origin, status, code, want)
		}
	}
}

func TestOriginKey(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"http://example.com":          "http://example.com",
		"HTTP://Example.COM:80":       "http://example.com",
		"https://example.com:443/x?y": "https://example.com",
		"https://example.com:8443":    "https://example.com:8443",
		"http://[::1]:8080":           "http://[::1]:8080",
		"http://[::1]":                "http://[::1]",
		"null":                        "",
		"":                            "",
		"file:///etc/passwd":          "",
		"chrome-extension://abc":      "",
		"http://user@example.com":     "",
		"example.com":                 "",
	} {
		if got := originKey(in); got != want {
			t.Errorf("originKey(%q) = %q, want %q", in, got, want)
		}
	}
}
