package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

var hostMatrix = map[string]access{
	"enrollment_token.list": admin, "enrollment_token.create": admin, "enrollment_token.revoke": admin, "enrollment_token.show": admin,
	"agent.enroll": public,
	"host.list":    viewer, "host.show": viewer, "host.remove": admin,
}

// newEnvWith is newEnv with options changed by mod before the API is built.
func newEnvWith(t *testing.T, mod func(*Options)) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	e := &env{t: t, db: db, clock: &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, setupToken: setup}
	opts := Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Now: e.clock.Now}
	mod(&opts)
	e.api = New(opts)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// enrollToken creates an enrollment token with body and returns the answer.
func (e *env) enrollToken(admin string, body map[string]any) enrollTokenJSON {
	e.t.Helper()
	var out enrollTokenJSON
	e.want(call{method: "POST", path: "/api/v1/enrollment-tokens", token: admin, body: body}, http.StatusCreated).decode(e.t, &out)
	return out
}

func enrollBody(token, hostname string) map[string]string {
	return map[string]string{"token": token, "hostname": hostname, "os": "linux", "arch": "amd64", "agent_version": "1.0.0"}
}

func (e *env) enroll(token, hostname string) enrollResponse {
	e.t.Helper()
	var out enrollResponse
	e.want(call{method: "POST", path: "/api/v1/agents/enroll", body: enrollBody(token, hostname)}, http.StatusCreated).decode(e.t, &out)
	return out
}

func TestEnrollmentTokenCreate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tok := e.enrollToken(root, map[string]any{})
	if auth.TokenKind(tok.Token) != auth.KindEnrollment || tok.Uses != 1 || tok.UsesLeft != 1 || tok.Status != "active" {
		t.Fatalf("token %+v", tok)
	}
	if got := tok.ExpiresAt.Sub(tok.CreatedAt); got != time.Hour {
		t.Fatalf("default lifetime %s, want 1h", got)
	}
	wantCmd := "restic-manager-agent enroll --server " + e.srv.URL + " --token " + tok.Token
	if tok.Command != wantCmd {
		t.Fatalf("command %q\nwant    %q", tok.Command, wantCmd)
	}
	wantWin := `& "C:\Program Files\restic-manager\restic-manager-agent.exe" enroll --server ` + e.srv.URL + " --token " + tok.Token
	if tok.CommandWindows != wantWin {
		t.Fatalf("command_windows %q\nwant            %q", tok.CommandWindows, wantWin)
	}

	tok = e.enrollToken(root, map[string]any{"ttl": "7d", "uses": 5, "tags": []string{"prod", "db", "prod"}})
	if tok.Uses != 5 || tok.ExpiresAt.Sub(tok.CreatedAt) != 7*24*time.Hour || fmt.Sprint(tok.Tags) != "[prod db]" {
		t.Fatalf("token %+v", tok)
	}

	for name, body := range map[string]map[string]any{
		"ttl too long":  {"ttl": "31d"},
		"ttl negative":  {"ttl": "-1h"},
		"ttl garbage":   {"ttl": "soon"},
		"zero uses":     {"uses": 0},
		"too many uses": {"uses": 1001},
		"bad tag":       {"tags": []string{"a/b"}},
		"empty tag":     {"tags": []string{""}},
		"unknown field": {"name": "x"},
	} {
		if r := e.do(call{method: "POST", path: "/api/v1/enrollment-tokens", token: root, body: body}); r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", name, r.status, r.body)
		}
	}

	// Listing shows no secrets.
	r := e.want(call{method: "GET", path: "/api/v1/enrollment-tokens", token: root}, http.StatusOK)
	if strings.Contains(string(r.body), tok.Token) || strings.Contains(string(r.body), "command") {
		t.Fatalf("the listing holds a secret: %s", r.body)
	}
	var page list[enrollTokenJSON]
	r.decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].CreatedBy == "" || page.Items[0].Token != "" {
		t.Fatalf("listing %+v", page)
	}
}

func TestEnrollmentCommandUsesPublicURL(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *Options) {
		o.PublicURL = "https://backup.example.com/rm/"
		o.ServerFingerprint = strings.Repeat("ab", 32)
	})
	root := e.bootstrap()
	tok := e.enrollToken(root, nil)
	if !strings.HasPrefix(tok.Command, "restic-manager-agent enroll --server https://backup.example.com/rm --token rme_") {
		t.Fatalf("command %q", tok.Command)
	}
	got := e.enroll(tok.Token, "web1")
	if got.AgentConnectURL != "wss://backup.example.com/rm/api/v1/agent/connect" || got.ServerFingerprint != strings.Repeat("ab", 32) {
		t.Fatalf("enroll answer %+v", got)
	}
}

func TestCommandQuoting(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"http://127.0.0.1:8080":  {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
		"http://[::1]:8080":      {"'http://[::1]:8080'", "'http://[::1]:8080'"},
		"http://a;b'c":           {`'http://a;b'\''c'`, `'http://a;b''c'`},
		"https://x.example/$(x)": {"'https://x.example/$(x)'", "'https://x.example/$(x)'"},
	} {
		if got := shellArg(in); got != want[0] {
			t.Errorf("shellArg(%q) = %q, want %q", in, got, want[0])
		}
		if got := powershellArg(in); got != want[1] {
			t.Errorf("powershellArg(%q) = %q, want %q", in, got, want[1])
		}
	}
}

func TestEnrollCreatesHostAndCredential(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tok := e.enrollToken(root, map[string]any{"tags": []string{"prod"}})
	got := e.enroll(tok.Token, "web1")
	if auth.TokenKind(got.Credential) != auth.KindAgent || got.HostName != "web1" || got.ServerFingerprint != "" {
		t.Fatalf("enroll answer %+v", got)
	}
	if want := "ws://" + strings.TrimPrefix(e.srv.URL, "http://") + "/api/v1/agent/connect"; got.AgentConnectURL != want {
		t.Fatalf("agent_connect_url %q, want %q", got.AgentConnectURL, want)
	}

	var h hostJSON
	e.want(call{method: "GET", path: "/api/v1/hosts/" + got.HostID, token: root}, http.StatusOK).decode(t, &h)
	if h.ID != got.HostID || h.Name != "web1" || h.Status != "offline" || h.OS != "linux" || h.Arch != "amd64" ||
		h.AgentVersion != "1.0.0" || fmt.Sprint(h.Tags) != "[prod]" || h.LastSeen != nil {
		t.Fatalf("host %+v", h)
	}
	// The credential is stored hashed and authenticates as this host.
	authed, err := e.db.AuthenticateAgent(context.Background(), auth.HashToken(got.Credential))
	if err != nil || authed.ID != got.HostID {
		t.Fatalf("AuthenticateAgent: %+v, %v", authed, err)
	}
	if _, err := e.db.AuthenticateAgent(context.Background(), got.Credential); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the credential is stored in clear: %v", err)
	}

	// Audited as an anonymous actor named after the host, targeting it.
	var entries list[auditJSON]
	e.want(call{method: "GET", path: "/api/v1/audit?action=agent.enroll", token: root}, http.StatusOK).decode(t, &entries)
	if len(entries.Items) != 1 {
		t.Fatalf("audit entries %+v", entries.Items)
	}
	a := entries.Items[0]
	if a.ActorKind != "anonymous" || a.Actor != "web1" || a.TargetKind != "host" || a.TargetID != got.HostID ||
		a.Outcome != "success" || a.Detail["token_id"] != tok.ID {
		t.Fatalf("audit entry %+v", a)
	}
	if strings.Contains(fmt.Sprint(a.Detail), got.Credential) || strings.Contains(fmt.Sprint(a.Detail), tok.Token) {
		t.Fatalf("audit entry holds a secret: %+v", a)
	}
}

func TestEnrollRefusals(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	enrollAs := func(token, hostname string) resp {
		return e.do(call{method: "POST", path: "/api/v1/agents/enroll", body: enrollBody(token, hostname)})
	}

	// Uses: a two-use token enrolls two hosts, then no more.
	two := e.enrollToken(root, map[string]any{"uses": 2})
	e.enroll(two.Token, "a")
	e.enroll(two.Token, "b")
	if r := enrollAs(two.Token, "c"); r.status != http.StatusUnauthorized || r.errCode(t) != "enrollment_token_used" {
		t.Fatalf("third use of a two-use token: %d %s", r.status, r.body)
	}

	// Expiry, with the clock moved past it.
	short := e.enrollToken(root, map[string]any{"ttl": "10m"})
	e.clock.Advance(10 * time.Minute)
	if r := enrollAs(short.Token, "d"); r.status != http.StatusUnauthorized || r.errCode(t) != "enrollment_token_expired" {
		t.Fatalf("expired token: %d %s", r.status, r.body)
	}

	// Revocation.
	revoked := e.enrollToken(root, nil)
	e.want(call{method: "DELETE", path: "/api/v1/enrollment-tokens/" + revoked.ID, token: root}, http.StatusNoContent)
	e.want(call{method: "DELETE", path: "/api/v1/enrollment-tokens/nope", token: root}, http.StatusNotFound)
	if r := enrollAs(revoked.Token, "e"); r.status != http.StatusUnauthorized || r.errCode(t) != "enrollment_token_revoked" {
		t.Fatalf("revoked token: %d %s", r.status, r.body)
	}

	unknown, _ := auth.NewToken(auth.KindEnrollment)
	if r := enrollAs(unknown, "f"); r.status != http.StatusUnauthorized || r.errCode(t) != "enrollment_token_unknown" {
		t.Fatalf("unknown token: %d %s", r.status, r.body)
	}
	if r := enrollAs(root, "g"); r.status != http.StatusUnauthorized || r.errCode(t) != "enrollment_token_invalid" {
		t.Fatalf("an API token as enrollment token: %d %s", r.status, r.body)
	}

	good := e.enrollToken(root, nil)
	for _, name := range []string{"", "../etc", "a/b", "a\x00b", ".hidden", "-rf", "two words", strings.Repeat("x", 254)} {
		if r := enrollAs(good.Token, name); r.status != http.StatusBadRequest {
			t.Errorf("hostname %q: %d %s, want 400", name, r.status, r.body)
		}
	}
	if r := e.do(call{method: "POST", path: "/api/v1/agents/enroll", body: map[string]string{"hostname": "x"}}); r.status != http.StatusBadRequest {
		t.Errorf("no token: %d %s", r.status, r.body)
	}
	// None of those used the good token up.
	e.enroll(good.Token, "web-01.example.com")

	var listed list[enrollTokenJSON]
	e.want(call{method: "GET", path: "/api/v1/enrollment-tokens", token: root}, http.StatusOK).decode(t, &listed)
	status := map[string]string{}
	for _, tk := range listed.Items {
		status[tk.ID] = fmt.Sprintf("%s %d/%d", tk.Status, tk.UsesLeft, tk.Uses)
	}
	want := map[string]string{
		two.ID: "used 0/2", short.ID: "expired 1/1", revoked.ID: "revoked 1/1", good.ID: "used 0/1",
	}
	if fmt.Sprint(status) != fmt.Sprint(want) {
		t.Fatalf("statuses %v\nwant     %v", status, want)
	}

	var entries list[auditJSON]
	e.want(call{method: "GET", path: "/api/v1/audit?action=agent.enroll", token: root}, http.StatusOK).decode(t, &entries)
	denied := 0
	for _, a := range entries.Items {
		if a.Outcome == "denied" {
			denied++
		}
	}
	if denied != 5 {
		t.Fatalf("%d denied enrollments audited, want 5", denied)
	}
}

func TestEnrollRateLimitedPerAddress(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	good := e.enrollToken(root, nil)
	unknown, _ := auth.NewToken(auth.KindEnrollment)
	for i := range 10 {
		if r := e.do(call{method: "POST", path: "/api/v1/agents/enroll", body: enrollBody(unknown, "x")}); r.status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i, r.status)
		}
	}
	r := e.do(call{method: "POST", path: "/api/v1/agents/enroll", body: enrollBody(good.Token, "x")})
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") == "" {
		t.Fatalf("after 10 failures: %d %s (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	e.clock.Advance(30 * time.Second)
	e.enroll(good.Token, "x")
}

func TestConcurrentEnrollsWithOneUseTokenMakeOneHost(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	root := e.bootstrap()
	tok := e.enrollToken(root, nil)
	// Fewer than the per-address failure allowance, so every loser is
	// refused for the token, not rate limited.
	const n = 9
	statuses := make([]int, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			statuses[i] = e.do(call{method: "POST", path: "/api/v1/agents/enroll", body: enrollBody(tok.Token, fmt.Sprintf("h%d", i))}).status
		})
	}
	close(start)
	wg.Wait()
	created := 0
	for _, s := range statuses {
		switch s {
		case http.StatusCreated:
			created++
		case http.StatusUnauthorized:
		default:
			t.Errorf("status %d", s)
		}
	}
	var hosts list[hostJSON]
	e.want(call{method: "GET", path: "/api/v1/hosts", token: root}, http.StatusOK).decode(t, &hosts)
	if created != 1 || len(hosts.Items) != 1 {
		t.Fatalf("%d enrollments succeeded, %d hosts exist; want exactly one of each (%v)", created, len(hosts.Items), statuses)
	}
}

func TestReEnrollInheritsNothing(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var revoked []string
	e := newEnvWith(t, func(o *Options) {
		o.OnHostRevoked = func(id string) { mu.Lock(); revoked = append(revoked, id); mu.Unlock() }
	})
	root := e.bootstrap()
	ctx := context.Background()
	first := e.enroll(e.enrollToken(root, map[string]any{"tags": []string{"old"}}).Token, "web1")
	second := e.enroll(e.enrollToken(root, nil).Token, "web1")
	if first.HostID == second.HostID || first.Credential == second.Credential {
		t.Fatalf("re-enrolling reused an identity: %+v %+v", first, second)
	}
	for _, got := range []enrollResponse{first, second} {
		h, err := e.db.AuthenticateAgent(ctx, auth.HashToken(got.Credential))
		if err != nil || h.ID != got.HostID {
			t.Fatalf("credential of %s authenticates as %q (%v)", got.HostID, h.ID, err)
		}
	}
	var h hostJSON
	e.want(call{method: "GET", path: "/api/v1/hosts/" + second.HostID, token: root}, http.StatusOK).decode(t, &h)
	if len(h.Tags) != 0 {
		t.Fatalf("the new host inherited tags: %+v", h)
	}

	// Two live hosts share the name: only the id will do.
	r := e.want(call{method: "GET", path: "/api/v1/hosts/web1", token: root}, http.StatusConflict)
	if r.errCode(t) != "ambiguous_host" || !strings.Contains(string(r.body), "use the host's id") {
		t.Fatalf("ambiguous name: %s", r.body)
	}
	e.want(call{method: "DELETE", path: "/api/v1/hosts/web1", token: root}, http.StatusConflict)

	// Remove the old host: its credential stops working, the new one's does not.
	e.want(call{method: "DELETE", path: "/api/v1/hosts/" + first.HostID, token: root}, http.StatusNoContent)
	if _, err := e.db.AuthenticateAgent(ctx, auth.HashToken(first.Credential)); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("removed host's credential still authenticates: %v", err)
	}
	if h, err := e.db.AuthenticateAgent(ctx, auth.HashToken(second.Credential)); err != nil || h.ID != second.HostID {
		t.Fatalf("the new host lost its credential: %v", err)
	}
	mu.Lock()
	if fmt.Sprint(revoked) != fmt.Sprint([]string{first.HostID}) {
		t.Fatalf("OnHostRevoked saw %v", revoked)
	}
	mu.Unlock()

	// Now the name means the one live host.
	e.want(call{method: "GET", path: "/api/v1/hosts/web1", token: root}, http.StatusOK).decode(t, &h)
	if h.ID != second.HostID {
		t.Fatalf("web1 resolved to %s, want the live host %s", h.ID, second.HostID)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts/" + first.HostID, token: root}, http.StatusOK).decode(t, &h)
	if h.Status != "revoked" {
		t.Fatalf("removed host is %q, want revoked (kept for history)", h.Status)
	}
	// Removing twice is fine; an unknown host is 404.
	e.want(call{method: "DELETE", path: "/api/v1/hosts/" + first.HostID, token: root}, http.StatusNoContent)
	e.want(call{method: "DELETE", path: "/api/v1/hosts/nope", token: root}, http.StatusNotFound)
}

func TestListHosts(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, func(o *Options) {}) // OnHostRevoked left nil: removal must not need it
	root := e.bootstrap()
	viewerTok := e.user(root, "victor", "viewer")
	tok := e.enrollToken(root, map[string]any{"uses": 3})
	var ids []string
	for _, name := range []string{"c", "a", "b"} {
		ids = append(ids, e.enroll(tok.Token, name).HostID)
	}
	e.want(call{method: "DELETE", path: "/api/v1/hosts/c", token: root}, http.StatusNoContent)

	var page list[hostJSON]
	e.want(call{method: "GET", path: "/api/v1/hosts?limit=2", token: viewerTok}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].Name != "a" || page.NextCursor == "" {
		t.Fatalf("first page %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts?limit=2&cursor=" + page.NextCursor, token: viewerTok}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != ids[0] || page.Items[0].Status != "revoked" || page.NextCursor != "" {
		t.Fatalf("second page %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts?status=revoked", token: viewerTok}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "c" {
		t.Fatalf("status filter %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts?name=b", token: viewerTok}, http.StatusOK).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != ids[2] {
		t.Fatalf("name filter %+v", page)
	}
	e.want(call{method: "GET", path: "/api/v1/hosts?status=sleeping", token: viewerTok}, http.StatusBadRequest)
	e.want(call{method: "GET", path: "/api/v1/hosts/b", token: viewerTok}, http.StatusOK)
	e.want(call{method: "DELETE", path: "/api/v1/hosts/b", token: viewerTok}, http.StatusForbidden)
}

// driveHostRoutes makes every state change of this area once, for
// TestEveryStateChangeIsAudited, and returns the secrets it saw, which no
// audit entry may hold.
func driveHostRoutes(e *env, admin string) []string {
	e.t.Helper()
	tok := e.enrollToken(admin, map[string]any{"uses": 2})
	got := e.enroll(tok.Token, "audited")
	e.want(call{method: "DELETE", path: "/api/v1/enrollment-tokens/" + tok.ID, token: admin}, http.StatusNoContent)
	e.want(call{method: "POST", path: "/api/v1/agents/enroll", body: enrollBody(tok.Token, "audited")}, http.StatusUnauthorized)
	e.want(call{method: "DELETE", path: "/api/v1/hosts/" + got.HostID, token: admin}, http.StatusNoContent)
	return []string{tok.Token, got.Credential}
}
