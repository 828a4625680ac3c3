package api

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

var repositoryMatrix = map[string]access{
	"repository.list": viewer, "repository.show": viewer,
	"repository.create": admin, "repository.update": admin, "repository.delete": admin,
}

// Secrets the repository tests send; none may come back out anywhere.
const (
	repoPassword    = "repo-password-0xDEADBEEF"
	repoPassword2   = "rotated-repo-password-0xFEEDFACE"
	repoEnvSecret   = "aws-secret-value-9f8e7d6c"
	repoEnvSecret2  = "b2-account-key-1a2b3c4d"
	repoURLPassword = "url-password-5e6f7a8b"
)

var repoSecrets = []string{repoPassword, repoPassword2, repoEnvSecret, repoEnvSecret2, repoURLPassword}

// testKeyring is an in-memory keyring for the API's Sealer.
func testKeyring(t *testing.T) *secrets.Keyring {
	t.Helper()
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// logBuffer collects the API's log output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// newRepoEnv is newEnv with its options changed by edit, and the API's log
// (every level) captured.
func newRepoEnv(t *testing.T, edit func(*Options)) (*env, *logBuffer) {
	t.Helper()
	e := newEnv(t)
	logs := &logBuffer{}
	opts := e.api.opts
	opts.Logger = hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Trace})
	if edit != nil {
		edit(&opts)
	}
	e.api = New(opts)
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e, logs
}

func repoBody(name string) map[string]any {
	return map[string]any{
		"name":        name,
		"url":         "rest:https://backup:" + repoURLPassword + "@rest.example.com/" + name,
		"password":    repoPassword,
		"env":         map[string]string{"AWS_SECRET_ACCESS_KEY": repoEnvSecret, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"},
		"description": "offsite copy",
	}
}

// noSecrets fails the test if any repository secret is in text.
func noSecrets(t *testing.T, where, text string) {
	t.Helper()
	for _, s := range repoSecrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds the secret %q:\n%s", where, s, text)
		}
	}
}

// driveRepositoryRoutes calls every state-changing repository route once
// and returns the secrets it sent.
func driveRepositoryRoutes(e *env, admin string) []string {
	e.t.Helper()
	r := e.want(call{method: "POST", path: "/api/v1/repositories", token: admin, body: repoBody("audited")}, http.StatusCreated)
	var repo repositoryJSON
	r.decode(e.t, &repo)
	e.want(call{method: "PATCH", path: "/api/v1/repositories/" + repo.ID, token: admin, body: map[string]any{
		"password": repoPassword2, "env": map[string]string{"B2_ACCOUNT_KEY": repoEnvSecret2},
	}}, http.StatusOK)
	e.want(call{method: "DELETE", path: "/api/v1/repositories/" + repo.ID, token: admin}, http.StatusNoContent)
	return repoSecrets
}

func TestRepositoriesAPI(t *testing.T) {
	t.Parallel()
	e, logs := newRepoEnv(t, nil)
	root := e.bootstrap()
	viewer := e.user(root, "victor", "viewer")
	var bodies []string
	do := func(c call, status int) resp {
		t.Helper()
		r := e.want(c, status)
		bodies = append(bodies, string(r.body))
		return r
	}

	r := do(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody("offsite")}, http.StatusCreated)
	var raw map[string]any
	r.decode(t, &raw)
	for _, k := range []string{"password", "env"} {
		if _, ok := raw[k]; ok {
			t.Errorf("the answer has a %q field: %s", k, r.body)
		}
	}
	var created repositoryJSON
	r.decode(t, &created)
	want := repositoryJSON{
		ID: created.ID, Name: "offsite", URL: "rest:https://backup:***@rest.example.com/offsite", Description: "offsite copy",
		EnvKeys: []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, HasPassword: true, ManagedBy: "user",
		CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
	}
	if got, _ := json.Marshal(created); string(got) != string(mustJSON(t, want)) {
		t.Fatalf("created\n%s\nwant\n%s", got, mustJSON(t, want))
	}

	// Viewers read by id or name; the listing shows the same object.
	for _, ref := range []string{created.ID, "offsite"} {
		r = do(call{method: "GET", path: "/api/v1/repositories/" + ref, token: viewer}, http.StatusOK)
		var got repositoryJSON
		r.decode(t, &got)
		if got.ID != created.ID || got.URL != want.URL {
			t.Fatalf("show %s = %+v", ref, got)
		}
	}
	r = do(call{method: "GET", path: "/api/v1/repositories", token: viewer}, http.StatusOK)
	var page list[repositoryJSON]
	r.decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != created.ID || len(page.Items[0].EnvKeys) != 2 {
		t.Fatalf("list = %+v", page)
	}
	do(call{method: "GET", path: "/api/v1/repositories/nope", token: viewer}, http.StatusNotFound)
	r = do(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody("offsite")}, http.StatusConflict)
	if r.errCode(t) != "conflict" {
		t.Fatalf("duplicate: %s", r.body)
	}

	// PATCH rotates the password, replaces the whole env and moves the URL.
	e.clock.Advance(60e9)
	r = do(call{method: "PATCH", path: "/api/v1/repositories/offsite", token: root, body: map[string]any{
		"password": repoPassword2, "env": map[string]string{"B2_ACCOUNT_KEY": repoEnvSecret2},
		"url": "b2:bucket:offsite", "description": "",
	}}, http.StatusOK)
	var updated repositoryJSON
	r.decode(t, &updated)
	if updated.URL != "b2:bucket:offsite" || strings.Join(updated.EnvKeys, ",") != "B2_ACCOUNT_KEY" || updated.Description != "" ||
		!updated.HasPassword || !updated.UpdatedAt.After(updated.CreatedAt) {
		t.Fatalf("updated = %+v", updated)
	}
	r = do(call{method: "PATCH", path: "/api/v1/repositories/offsite", token: root, body: map[string]any{"env": map[string]string{}}}, http.StatusOK)
	r.decode(t, &updated)
	if len(updated.EnvKeys) != 0 {
		t.Fatalf("env {} kept %v", updated.EnvKeys)
	}
	r = do(call{method: "PATCH", path: "/api/v1/repositories/offsite", token: root, body: map[string]any{"name": "renamed"}}, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "unknown field") {
		t.Fatalf("rename: %s", r.body)
	}

	do(call{method: "DELETE", path: "/api/v1/repositories/offsite", token: root}, http.StatusNoContent)
	do(call{method: "GET", path: "/api/v1/repositories/" + created.ID, token: root}, http.StatusNotFound)
	do(call{method: "DELETE", path: "/api/v1/repositories/offsite", token: root}, http.StatusNotFound)

	for _, b := range bodies {
		noSecrets(t, "an API answer", b)
	}
	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	actions := map[string]store.AuditEntry{}
	for _, en := range entries {
		b, _ := json.Marshal(en)
		noSecrets(t, "audit entry "+en.Action, string(b))
		if en.Outcome == "success" {
			actions[en.Action] = en
		}
	}
	if en := actions["repository.create"]; en.TargetID != created.ID || en.TargetKind != "repository" ||
		en.Detail["name"] != "offsite" || en.Detail["url"] != want.URL {
		t.Errorf("repository.create audit entry = %+v", en)
	}
	if en := actions["repository.update"]; en.Detail["password_changed"] != true || en.TargetID != created.ID {
		t.Errorf("repository.update audit entry = %+v", en)
	}
	if en := actions["repository.delete"]; en.TargetID != created.ID {
		t.Errorf("repository.delete audit entry = %+v", en)
	}
	if !strings.Contains(logs.String(), "repository created") {
		t.Fatalf("the log capture caught nothing:\n%s", logs.String())
	}
	noSecrets(t, "the server log", logs.String())
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRepositoryValidation(t *testing.T) {
	t.Parallel()
	e, logs := newRepoEnv(t, nil)
	root := e.bootstrap()
	tests := map[string]struct {
		edit func(map[string]any)
		code string
	}{
		"name with slash":      {func(b map[string]any) { b["name"] = "a/b" }, "bad_name"},
		"name with dotdot":     {func(b map[string]any) { b["name"] = "a..b" }, "bad_name"},
		"name with NUL":        {func(b map[string]any) { b["name"] = "a\x00b" }, "bad_name"},
		"missing url":          {func(b map[string]any) { delete(b, "url") }, "bad_url"},
		"relative url":         {func(b map[string]any) { b["url"] = "backups" }, "bad_url"},
		"http without prefix":  {func(b map[string]any) { b["url"] = "https://backup:" + repoURLPassword + "@host/" }, "bad_url"},
		"missing password":     {func(b map[string]any) { delete(b, "password") }, "bad_password"},
		"password over 4 KiB":  {func(b map[string]any) { b["password"] = strings.Repeat(repoPassword, 200) }, "bad_password"},
		"env key":              {func(b map[string]any) { b["env"] = map[string]string{"AWS-KEY": repoEnvSecret} }, "bad_env"},
		"env key holds value":  {func(b map[string]any) { b["env"] = map[string]string{"KEY=" + repoEnvSecret: ""} }, "bad_env"},
		"env value NUL":        {func(b map[string]any) { b["env"] = map[string]string{"KEY": repoEnvSecret + "\x00"} }, "bad_env"},
		"env sets password":    {func(b map[string]any) { b["env"] = map[string]string{"RESTIC_PASSWORD": repoEnvSecret} }, "bad_env"},
		"env value not string": {func(b map[string]any) { b["env"] = map[string]any{"KEY": 1} }, "bad_request"},
		"unknown field":        {func(b map[string]any) { b["passwrd"] = repoPassword }, "bad_request"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			body := repoBody("valid")
			tc.edit(body)
			r := e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: body}, http.StatusBadRequest)
			if code := r.errCode(t); code != tc.code {
				t.Fatalf("code %q, want %q: %s", code, tc.code, r.body)
			}
			noSecrets(t, "a validation error", string(r.body))
		})
	}
	r := e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: map[string]any{"name": "x/y", "url": "rel"}}, http.StatusBadRequest)
	var eb errorBody
	r.decode(t, &eb)
	for _, field := range []string{"name:", "url:", "password:"} {
		if !strings.Contains(eb.Error.Message, field) {
			t.Errorf("message %q does not name %s", eb.Error.Message, field)
		}
	}
	r = e.want(call{method: "GET", path: "/api/v1/repositories", token: root}, http.StatusOK)
	if !strings.Contains(string(r.body), `"items":[]`) {
		t.Fatalf("refused creates left repositories: %s", r.body)
	}
	noSecrets(t, "the server log", logs.String())
}

func TestRepositoryConflicts(t *testing.T) {
	t.Parallel()
	e, _ := newRepoEnv(t, nil)
	root := e.bootstrap()
	ctx := context.Background()
	if err := e.db.CreateRepository(ctx, store.Repository{
		ID: "cfg", Name: "declared", URL: "/srv/restic", ManagedBy: "config", CreatedAt: e.clock.Now(), UpdatedAt: e.clock.Now(),
	}); err != nil {
		t.Fatal(err)
	}
	r := e.want(call{method: "PATCH", path: "/api/v1/repositories/declared", token: root, body: map[string]any{"description": "x"}}, http.StatusConflict)
	if r.errCode(t) != "managed_by_config" {
		t.Fatalf("patch a declared repository: %s", r.body)
	}
	e.want(call{method: "DELETE", path: "/api/v1/repositories/declared", token: root}, http.StatusConflict)

	// A repository a schedule uses cannot go.
	r = e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody("used")}, http.StatusCreated)
	var repo repositoryJSON
	r.decode(t, &repo)
	raw, err := sql.Open("sqlite3", "file:"+e.db.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, q := range []string{
		`INSERT INTO hosts (id, name, enrolled_at, created_at, updated_at) VALUES ('h1', 'web', 0, 0, 0)`,
		`INSERT INTO schedules (id, name, host_id, repository_id, cron, created_at, updated_at) VALUES ('s1', 'nightly', 'h1', '` + repo.ID + `', '0 3 * * *', 0, 0)`,
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	r = e.want(call{method: "DELETE", path: "/api/v1/repositories/used", token: root}, http.StatusConflict)
	if r.errCode(t) != "in_use" || !strings.Contains(string(r.body), "schedule") {
		t.Fatalf("delete a used repository: %s", r.body)
	}
}

func TestRepositoryPaging(t *testing.T) {
	t.Parallel()
	e, _ := newRepoEnv(t, nil)
	root := e.bootstrap()
	for _, name := range []string{"c", "a", "b"} {
		e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody(name)}, http.StatusCreated)
	}
	r := e.want(call{method: "GET", path: "/api/v1/repositories?limit=2", token: root}, http.StatusOK)
	var page list[repositoryJSON]
	r.decode(t, &page)
	if len(page.Items) != 2 || page.Items[0].Name != "a" || page.Items[1].Name != "b" || page.NextCursor == "" {
		t.Fatalf("page 1 = %+v", page)
	}
	r = e.want(call{method: "GET", path: "/api/v1/repositories?limit=2&cursor=" + page.NextCursor, token: root}, http.StatusOK)
	r.decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].Name != "c" || page.NextCursor != "" {
		t.Fatalf("page 2 = %+v", page)
	}
}

func TestRepositoriesWithoutSealer(t *testing.T) {
	t.Parallel()
	e, _ := newRepoEnv(t, func(o *Options) { o.Sealer = nil })
	root := e.bootstrap()
	r := e.want(call{method: "POST", path: "/api/v1/repositories", token: root, body: repoBody("x")}, http.StatusServiceUnavailable)
	if r.errCode(t) != "secrets_unavailable" {
		t.Fatalf("create without a keyring: %s", r.body)
	}
}
