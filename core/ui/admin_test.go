package ui

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

// lockedBuffer collects the server's log lines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// newSealedEnv is newEnv with a secret key (so repositories can be added)
// and the API's and UI's log (at debug level) kept for secret checks.
func newSealedEnv(t *testing.T) (*env, *lockedBuffer) {
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
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug})
	a := api.New(api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Sealer: kr, Logger: logger})
	u, err := New(Options{API: a, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(u)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, srv: srv, client: newClient(t), setupToken: setup}, logs
}

// loginAs logs a new client in through the login form.
func (e *env) loginAs(username, password string) *http.Client {
	e.t.Helper()
	c := newClient(e.t)
	tok := e.get(c, "/login").csrf(e.t)
	p := e.post(c, "/login", url.Values{"csrf_token": {tok}, "username": {username}, "password": {password}})
	if p.status != http.StatusSeeOther {
		e.t.Fatalf("login as %s: %d\n%s", username, p.status, p.body)
	}
	return c
}

// form posts a form from the page at from, with that page's CSRF token.
func (e *env) form(c *http.Client, from, path string, v url.Values) response {
	e.t.Helper()
	v.Set("csrf_token", e.get(c, from).csrf(e.t))
	return e.post(c, path, v)
}

// htmx posts a form as htmx does: X-CSRF-Token and HX-Request headers.
func (e *env) htmx(c *http.Client, from, path string, v url.Values) response {
	e.t.Helper()
	tok := e.get(c, from).csrf(e.t)
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(v.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-CSRF-Token", tok)
	req.Header.Set("HX-Request", "true")
	res := mustDo(e.t, c, req)
	defer res.Body.Close()
	return readPage(e.t, res)
}

// addUser creates a user through the users page and logs them in.
func (e *env) addUser(admin *http.Client, username, role, password string) *http.Client {
	e.t.Helper()
	p := e.form(admin, "/users", "/users", url.Values{"username": {username}, "role": {role}, "password": {password}})
	if p.status != http.StatusSeeOther || p.location != "/users" {
		e.t.Fatalf("add user %s: %d %q\n%s", username, p.status, p.location, p.body)
	}
	return e.loginAs(username, password)
}

// follow GETs the page a form redirected to.
func (e *env) follow(c *http.Client, p response) response {
	e.t.Helper()
	if p.status != http.StatusSeeOther {
		e.t.Fatalf("want a redirect, got %d\n%s", p.status, p.body)
	}
	return e.get(c, p.location)
}

// userID finds a user's id in the users page.
func userIDOf(t *testing.T, page response, username string) string {
	t.Helper()
	m := regexp.MustCompile(`action="/users/([^/"]+)/role"[^>]*>\s*<input[^>]*>\s*<input type="hidden" name="username" value="` + regexp.QuoteMeta(username) + `"`).FindStringSubmatch(page.body)
	if m == nil {
		t.Fatalf("no manage form for %s on the users page", username)
	}
	return m[1]
}

func TestUsersPageManagesUsers(t *testing.T) {
	t.Parallel()
	e, logs := newSealedEnv(t)
	admin := e.setup()
	const victorPW, resetPW = "victor's first password", "victor's reset password"

	p := e.get(admin, "/users")
	if p.status != http.StatusOK || !p.has(`data-user="admin"`) || !p.has("(you)") {
		t.Fatalf("users page: %d\n%s", p.status, p.body)
	}
	// A refusal names the field and keeps the username, not the password.
	p = e.form(admin, "/users", "/users", url.Values{"username": {"victor"}, "role": {"viewer"}, "password": {"short-pw"}})
	if p.status != http.StatusBadRequest || !p.has("password must be at least 12 characters") || !p.has(`value="victor"`) || p.has("short-pw") {
		t.Errorf("short password: %d\n%s", p.status, p.body)
	}
	victor := e.addUser(admin, "victor", "viewer", victorPW)
	p = e.get(admin, "/users")
	if !p.has(`User &#34;victor&#34; created as viewer`) {
		t.Errorf("no flash after creating a user:\n%s", p.body)
	}
	id := userIDOf(t, p, "victor")

	// A viewer gets the friendly 403 page and no admin links.
	for _, path := range []string{"/users", "/audit", "/hosts/new"} {
		p := e.get(victor, path)
		if p.status != http.StatusForbidden || !p.has("this needs the admin role") {
			t.Errorf("viewer at %s: %d\n%s", path, p.status, p.body)
		}
	}
	if p := e.get(victor, "/account"); p.has(`href="/users"`) || p.has(`href="/audit"`) || p.has(`href="/hosts/new"`) {
		t.Errorf("a viewer's nav links admin pages")
	}
	if p := e.form(victor, "/account", "/users/"+id+"/role", url.Values{"role": {"admin"}, "username": {"victor"}}); p.status != http.StatusForbidden {
		t.Errorf("viewer promoting themselves: %d", p.status)
	}

	p = e.follow(admin, e.form(admin, "/users", "/users/"+id+"/role", url.Values{"role": {"operator"}, "username": {"victor"}}))
	if !p.has("victor is now operator") || !regexp.MustCompile(`data-user="victor"[\s\S]*?data-field="role">operator<`).MatchString(p.body) {
		t.Errorf("role change not shown:\n%s", p.body)
	}
	p = e.follow(admin, e.form(admin, "/users", "/users/"+id+"/role", url.Values{"role": {"root"}, "username": {"victor"}}))
	if !p.has("role must be admin, operator or viewer") {
		t.Errorf("bad role: no reason shown")
	}

	p = e.follow(admin, e.form(admin, "/users", "/users/"+id+"/disabled", url.Values{"disabled": {"true"}, "username": {"victor"}}))
	if !p.has("victor is disabled") || !regexp.MustCompile(`data-user="victor"[\s\S]*?data-field="status">[\s\S]*?disabled</span>`).MatchString(p.body) {
		t.Errorf("disable not shown:\n%s", p.body)
	}
	if p := e.get(victor, "/account"); p.status != http.StatusSeeOther {
		t.Errorf("a disabled user's session still opens pages: %d", p.status)
	}
	login := e.get(e.client, "/login")
	if p := e.post(e.client, "/login", url.Values{"csrf_token": {login.csrf(t)}, "username": {"victor"}, "password": {victorPW}}); p.status != http.StatusForbidden || !p.has("this user is disabled") {
		t.Errorf("disabled user's login: %d", p.status)
	}
	e.follow(admin, e.form(admin, "/users", "/users/"+id+"/disabled", url.Values{"disabled": {"false"}, "username": {"victor"}}))

	p = e.follow(admin, e.form(admin, "/users", "/users/"+id+"/password", url.Values{"password": {resetPW}, "username": {"victor"}}))
	if !p.has("Password of victor reset") || p.has(resetPW) {
		t.Errorf("password reset:\n%s", p.body)
	}
	e.loginAs("victor", resetPW)

	// The last admin stays.
	adminID := userIDOf(t, p, "admin")
	p = e.follow(admin, e.form(admin, "/users", "/users/"+adminID+"/disabled", url.Values{"disabled": {"true"}, "username": {"admin"}}))
	if !p.has("this is the last enabled admin") {
		t.Errorf("disabling the last admin: no reason shown")
	}

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "user.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	viaUI := 0
	for _, en := range entries {
		if en.Detail["via"] == "ui" && en.Outcome == "success" {
			viaUI++
		}
	}
	if viaUI < 5 {
		t.Errorf("%d successful user.* audit entries via the UI, want at least 5", viaUI)
	}
	for _, secret := range []string{victorPW, resetPW, "short-pw"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("a password reached the log")
		}
	}
}

var tokenSecretRE = regexp.MustCompile(`rmt_[A-Za-z0-9_-]+`)

func TestAPITokensOnAccountAndUsersPages(t *testing.T) {
	t.Parallel()
	e, _ := newSealedEnv(t)
	admin := e.setup()
	olga := e.addUser(admin, "olga", "operator", "olga's long password")

	// htmx: the section comes back with the secret, once.
	frag := e.htmx(olga, "/account", "/tokens", url.Values{"name": {"laptop"}, "expires_in": {"720h"}, "back": {"/users"}})
	secret := tokenSecretRE.FindString(frag.body)
	if frag.status != http.StatusOK || secret == "" || !frag.has(`hx-history="false"`) || frag.has("<html") {
		t.Fatalf("create token (htmx): %d\n%s", frag.status, frag.body)
	}
	if frag.has("<th scope=\"col\" class=\"py-2 pr-3\">Owner</th>") {
		t.Errorf("a non-admin asking for back=/users got everyone's tokens")
	}
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	me := func() response {
		res := mustDo(t, newClient(t), req.Clone(context.Background()))
		defer res.Body.Close()
		return readPage(t, res)
	}
	if res := me(); res.status != http.StatusOK || !strings.Contains(res.body, `"olga"`) {
		t.Fatalf("the new token does not work: %d %s", res.status, res.body)
	}
	acct := e.get(olga, "/account")
	if acct.has(secret) || !acct.has(`data-token="laptop" data-token-status="active"`) {
		t.Errorf("the account page shows the secret again, or not the token")
	}

	// Without htmx the whole page comes back, with the secret.
	p := e.form(olga, "/account", "/tokens", url.Values{"name": {"ci"}, "back": {"/account"}})
	if p.status != http.StatusOK || !tokenSecretRE.MatchString(p.body) || !p.has("Your account") {
		t.Errorf("create token (form): %d\n%s", p.status, p.body)
	}
	frag = e.htmx(olga, "/account", "/tokens", url.Values{"name": {""}, "back": {"/account"}})
	if !frag.has("Token name: must be 1 to 128 characters") || tokenSecretRE.MatchString(frag.body) {
		t.Errorf("empty token name:\n%s", frag.body)
	}

	// Admins see everyone's tokens with owners, and may revoke them.
	users := e.get(admin, "/users")
	tokenID := regexp.MustCompile(`action="/tokens/([^/"]+)/revoke"[\s\S]{0,600}?name="name" value="laptop"`).FindStringSubmatch(users.body)
	if tokenID == nil || !regexp.MustCompile(`data-token="laptop"[\s\S]*?<td class="py-2 pr-3">olga</td>`).MatchString(users.body) {
		t.Fatalf("users page lacks olga's token with its owner:\n%s", users.body)
	}
	frag = e.htmx(admin, "/users", "/tokens/"+tokenID[1]+"/revoke", url.Values{"back": {"/users"}, "name": {"laptop"}})
	if !frag.has(`data-token="laptop" data-token-status="revoked"`) {
		t.Errorf("revoke (htmx):\n%s", frag.body)
	}
	if res := me(); res.status != http.StatusUnauthorized {
		t.Errorf("a revoked token still works: %d", res.status)
	}
}

func TestAccountPasswordChange(t *testing.T) {
	t.Parallel()
	e, logs := newSealedEnv(t)
	admin := e.setup()
	const old, next = "vera's old password", "vera's new password"
	vera := e.addUser(admin, "vera", "viewer", old)
	other := e.loginAs("vera", old)

	p := e.get(vera, "/account")
	for _, want := range []string{`id="current-password"`, `id="new-password"`, `id="confirm-password"`, "Change your password", "viewer"} {
		if !p.has(want) {
			t.Errorf("account page lacks %q", want)
		}
	}
	for name, tc := range map[string]struct {
		current, next, confirm, want string
	}{
		"mismatch": {old, next, next + "x", "New password: the two entries differ"},
		"wrong":    {"not my password", next, next, "Current password is wrong"},
		"short":    {old, "short", "short", "New password: password must be at least 12 characters"},
	} {
		p := e.follow(vera, e.form(vera, "/account", "/account/password", url.Values{
			"current_password": {tc.current}, "new_password": {tc.next}, "confirm_password": {tc.confirm},
		}))
		if !p.has(tc.want) {
			t.Errorf("%s: the page does not say %q:\n%s", name, tc.want, p.body)
		}
	}
	p = e.follow(vera, e.form(vera, "/account", "/account/password", url.Values{
		"current_password": {old}, "new_password": {next}, "confirm_password": {next},
	}))
	if !p.has("Password changed") || p.status != http.StatusOK {
		t.Fatalf("change: %d\n%s", p.status, p.body)
	}
	if p := e.get(other, "/account"); p.status != http.StatusSeeOther {
		t.Errorf("vera's other session survived: %d", p.status)
	}
	e.loginAs("vera", next)
	login := e.get(e.client, "/login")
	if p := e.post(e.client, "/login", url.Values{"csrf_token": {login.csrf(t)}, "username": {"vera"}, "password": {old}}); p.status != http.StatusUnauthorized {
		t.Errorf("old password: %d", p.status)
	}
	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "account.password", Outcome: "success", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].ActorName != "vera" || entries[0].Detail["via"] != "ui" {
		t.Errorf("audit entries %+v", entries)
	}
	if strings.Contains(logs.String(), old) || strings.Contains(logs.String(), next) {
		t.Errorf("a password reached the log")
	}
}

var enrollSecretRE = regexp.MustCompile(`rme_[A-Za-z0-9_-]+`)

func TestAddHostShowsTheTokenOnceAndItsHosts(t *testing.T) {
	t.Parallel()
	e, _ := newSealedEnv(t)
	admin := e.setup()
	p := e.get(admin, "/hosts/new")
	if p.status != http.StatusOK || !p.has("New enrollment token") {
		t.Fatalf("GET /hosts/new: %d\n%s", p.status, p.body)
	}

	frag := e.htmx(admin, "/hosts/new", "/hosts/new", url.Values{"ttl": {"24h"}, "uses": {"2"}, "tags": {"prod, web"}})
	secret := enrollSecretRE.FindString(frag.body)
	push := frag.header.Get("HX-Push-Url")
	if secret == "" || !frag.has("restic-manager-agent enroll --server "+e.srv.URL+" --token "+secret) ||
		!frag.has(`enroll --server `+e.srv.URL+` --token `+secret) || !frag.has(`hx-history="false"`) ||
		!strings.HasPrefix(push, "/hosts/new/") || !frag.has("Waiting for a host") || !frag.has("0 of 2 used") {
		t.Fatalf("create (htmx): push %q\n%s", push, frag.body)
	}
	if strings.Contains(push, secret) {
		t.Fatal("the token is in the pushed URL")
	}
	var enrolled struct {
		HostID string `json:"host_id"`
	}
	postJSON(t, e.srv.URL+"/api/v1/agents/enroll", map[string]string{"token": secret, "hostname": "web1", "os": "linux", "arch": "amd64"}, http.StatusCreated, &enrolled)

	status := e.get(admin, push+"/status")
	if !regexp.MustCompile(`data-host-name="web1" data-status="offline"`).MatchString(status.body) || !status.has("1 of 2 used") ||
		!status.has(`hx-trigger="every 2s"`) || status.has("<html") {
		t.Errorf("status fragment:\n%s", status.body)
	}
	// The page the address bar moved to shows the hosts, never the secret.
	page := e.get(admin, push)
	if page.status != http.StatusOK || page.has(secret) || !page.has("shown once") || !page.has(`data-host-name="web1"`) {
		t.Errorf("token page after a reload: %d\n%s", page.status, page.body)
	}
	if p := e.get(admin, "/hosts/new"); p.has(secret) {
		t.Errorf("/hosts/new shows the secret again")
	}

	// Once the host is online and the token used up, polling stops.
	postJSON(t, e.srv.URL+"/api/v1/agents/enroll", map[string]string{"token": secret, "hostname": "web2", "os": "linux", "arch": "amd64"}, http.StatusCreated, nil)
	hosts, err := e.db.ListHosts(context.Background(), store.HostFilter{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hosts {
		if err := e.db.UpdateHostHello(context.Background(), h.ID, store.HostHello{Hostname: h.Name, OS: "linux", Arch: "amd64"}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	status = e.get(admin, push+"/status")
	if !status.has(`data-host-name="web2" data-status="online"`) || status.has("hx-trigger") || !status.has("used") {
		t.Errorf("status after both hosts came online:\n%s", status.body)
	}

	// Refusals name the field.
	frag = e.htmx(admin, "/hosts/new", "/hosts/new", url.Values{"ttl": {"1h"}, "uses": {"many"}})
	if !frag.has("Hosts it may enroll: give a whole number") || enrollSecretRE.MatchString(frag.body) {
		t.Errorf("bad uses:\n%s", frag.body)
	}
	frag = e.htmx(admin, "/hosts/new", "/hosts/new", url.Values{"ttl": {"90d"}, "uses": {"1"}})
	if !frag.has("ttl must be a positive duration of at most 30 days") {
		t.Errorf("bad ttl:\n%s", frag.body)
	}
	// Without htmx the whole page comes back with the commands.
	p = e.form(admin, "/hosts/new", "/hosts/new", url.Values{"ttl": {"1h"}, "uses": {"1"}})
	id := regexp.MustCompile(`hx-get="/hosts/new/([^/"]+)/status"`).FindStringSubmatch(p.body)
	if p.status != http.StatusOK || !enrollSecretRE.MatchString(p.body) || !p.has("Windows (PowerShell") || id == nil {
		t.Fatalf("create (form): %d\n%s", p.status, p.body)
	}
	p = e.follow(admin, e.form(admin, "/hosts/new", "/hosts/new/"+id[1]+"/revoke", url.Values{}))
	if !p.has("Enrollment token revoked") || !regexp.MustCompile(`data-enroll-token="`+id[1]+`"[\s\S]*?revoked`).MatchString(p.body) {
		t.Errorf("revoke:\n%s", p.body)
	}
}

func TestAuditPageFiltersAndPages(t *testing.T) {
	t.Parallel()
	e, _ := newSealedEnv(t)
	admin := e.setup()
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	for i := range 60 {
		outcome := "success"
		if i%3 == 0 {
			outcome = "denied"
		}
		if err := e.db.AppendAudit(ctx, store.AuditEntry{
			Time: base.Add(time.Duration(i) * time.Minute), ActorKind: "user", ActorName: "robot", Action: "repository.update",
			TargetKind: "repository", TargetID: "0123456789abcdef", SourceAddr: "192.0.2.7", Outcome: outcome,
			Detail: map[string]any{"via": "ui", "env_keys": []any{"A", "B"}, "n": float64(i)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(p response) int { return strings.Count(p.body, `<tr class="audit-row `) }

	p := e.get(admin, "/audit?actor=robot")
	if p.status != http.StatusOK || rows(p) != 50 || !p.has(`id="audit-older"`) || !p.has("via=ui") || !p.has("env_keys=A,B") ||
		!p.has("n=59") || !p.has("repository 01234567…") || !p.has("2026-03-01 10:59 UTC") {
		t.Fatalf("first page: %d, %d rows\n%s", p.status, rows(p), p.body)
	}
	older := regexp.MustCompile(`href="(/audit\?[^"]+)"[^>]*id="audit-older"`).FindStringSubmatch(p.body)
	if older == nil {
		t.Fatal("no link to older entries")
	}
	p = e.get(admin, strings.ReplaceAll(older[1], "&amp;", "&"))
	if rows(p) != 10 || p.has(`id="audit-older"`) || !p.has("← Newest") || !p.has("n=0") {
		t.Errorf("second page: %d rows\n%s", rows(p), p.body)
	}

	p = e.get(admin, "/audit?actor=robot&outcome=denied&since=2026-03-01T10:30&until=2026-03-01T10:45")
	if rows(p) != 5 || strings.Contains(p.body, `data-outcome="success"`) || !p.has(`value="2026-03-01T10:30"`) {
		t.Errorf("filtered: %d rows\n%s", rows(p), p.body)
	}
	p = e.get(admin, "/audit?action=bootstrap")
	if rows(p) != 1 || !p.has(`data-action="bootstrap"`) {
		t.Errorf("action filter: %d rows", rows(p))
	}
	p = e.get(admin, "/audit?action=repository.&actor=nobody")
	if rows(p) != 0 || !p.has("No entries match this filter") {
		t.Errorf("empty filter result: %d rows", rows(p))
	}
	p = e.get(admin, "/audit?since=yesterday")
	if p.status != http.StatusBadRequest || !p.has("Since: give a date and time") {
		t.Errorf("bad since: %d\n%s", p.status, p.body)
	}
}

func TestAdminPageHelpers(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 2, 15, 4, 5, 0, time.FixedZone("X", 3600))
	for _, tc := range []struct {
		in         any
		human, iso string
	}{
		{at, "2026-01-02 14:04 UTC", "2026-01-02T14:04:05Z"},
		{&at, "2026-01-02 14:04 UTC", "2026-01-02T14:04:05Z"},
		{(*time.Time)(nil), "—", ""},
		{time.Time{}, "—", ""},
	} {
		if got := formatStamp(tc.in, "2006-01-02 15:04 UTC", "—"); got != tc.human {
			t.Errorf("stamp(%v) = %q, want %q", tc.in, got, tc.human)
		}
		if got := formatStamp(tc.in, time.RFC3339, ""); got != tc.iso {
			t.Errorf("isoStamp(%v) = %q, want %q", tc.in, got, tc.iso)
		}
	}

	e := auditItem{Detail: map[string]any{"via": "ui", "tags": []any{"a", "b"}, "n": float64(3), "ok": true, "m": map[string]any{"k": "v"}, "long": strings.Repeat("x", 100)}}
	want := "long=" + strings.Repeat("x", 79) + "… m={\"k\":\"v\"} n=3 ok=true tags=a,b via=ui"
	if got := strings.Join(e.DetailPairs(), " "); got != want {
		t.Errorf("DetailPairs = %q\nwant %q", got, want)
	}

	env, names, err := parseEnvLines("# keys\r\nB_KEY=sec=ret\n\n A_KEY = x \n")
	if err != nil || env["B_KEY"] != "sec=ret" || env["A_KEY"] != " x " || names != "A_KEY=\nB_KEY=\n" {
		t.Errorf("parseEnvLines = %v %q %v", env, names, err)
	}
	if _, _, err := parseEnvLines("A=1\nTOP-SECRET-VALUE\n"); err == nil || err.Error() != "backend variables, line 2: write NAME=value" {
		t.Errorf("bad line: %v", err)
	}
	if _, _, err := parseEnvLines("A=1\nA=2"); err == nil || !strings.Contains(err.Error(), "A is given twice") {
		t.Errorf("duplicate: %v", err)
	}
	if env, names, err := parseEnvLines(" \n"); env != nil || names != "" || err != nil {
		t.Errorf("empty: %v %q %v", env, names, err)
	}
	if got := joinWords([]string{"a", "b", "c"}); got != "a, b and c" {
		t.Errorf("joinWords = %q", got)
	}

	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	for want, tok := range map[string]tokenItem{
		"active": {ExpiresAt: &future}, "expired": {ExpiresAt: &past}, "revoked": {RevokedAt: &past},
	} {
		if got := tokenStatus(tok, now); got != want {
			t.Errorf("tokenStatus = %s, want %s", got, want)
		}
	}
	for want, tok := range map[bool]enrollTokenItem{
		true:  {Status: "used", Hosts: []enrolledHost{{Status: "online"}, {Status: "offline"}}},
		false: {Status: "expired", Hosts: []enrolledHost{{Status: "online"}, {Status: "revoked"}}},
	} {
		if got := tok.Polling(); got != want {
			t.Errorf("Polling(%+v) = %v", tok, got)
		}
	}
}
