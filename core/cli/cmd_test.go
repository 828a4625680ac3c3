package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// adminRun runs the CLI against api with an admin token in RM_TOKEN.
func adminRun(t *testing.T, api *fakeAPI, stdin string, args ...string) result {
	t.Helper()
	return invocation{env: map[string]string{envAddr: api.srv.URL, envToken: fakeAdminToken}, stdin: stdin}.run(t, args...)
}

func TestBootstrap(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args   []string
		stdout string
	}{
		"plain": {
			args:   []string{"bootstrap", "--setup-token", fakeSetupToken, "--username", "admin", "--password-file", "-"},
			stdout: fakeBootToken + "\n",
		},
		"json": {
			args:   []string{"bootstrap", "--json", "--setup-token", fakeSetupToken, "--username", "admin", "--password-file", "-"},
			stdout: "{\n  \"token\": \"" + fakeBootToken + "\"\n}\n",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			api := newFakeAPI(t)
			// A token in the environment must not be sent: bootstrap needs none.
			in := invocation{env: map[string]string{envAddr: api.srv.URL, envToken: "rmt_stale"}, stdin: "hunter2\r\n"}
			r := in.run(t, tc.args...)
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			if r.stdout != tc.stdout {
				t.Errorf("stdout %q\nwant   %q", r.stdout, tc.stdout)
			}
			var out map[string]any
			if name == "json" {
				if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
					t.Errorf("--json output %q is not exactly {\"token\": ...}", r.stdout)
				}
			}
			reqs := api.seen()
			if len(reqs) != 1 {
				t.Fatalf("%d requests, want 1", len(reqs))
			}
			got := reqs[0]
			if got.Path != "/api/v1/bootstrap" || got.Authorization != "" {
				t.Errorf("request %s with Authorization %q", got.Path, got.Authorization)
			}
			want := map[string]any{"setup_token": fakeSetupToken, "username": "admin", "password": "hunter2"}
			if fmt.Sprint(got.Body) != fmt.Sprint(want) {
				t.Errorf("body %v, want %v", got.Body, want)
			}
		})
	}
}

func TestBootstrapSetupTokenFromEnvAndFile(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	in := invocation{env: map[string]string{envAddr: api.srv.URL, envSetupToken: fakeSetupToken}}
	r := in.run(t, "bootstrap", "--username", "root", "--password-file", pw)
	if r.code != 0 || r.stdout != fakeBootToken+"\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if got := api.seen()[0].Body["password"]; got != "s3cret" {
		t.Errorf("password sent %q, want the file without its newline", got)
	}

	r = invocation{env: map[string]string{envAddr: api.srv.URL}}.run(t, "bootstrap", "--setup-token", "wrong", "--username", "root", "--password-file", pw)
	if r.code != 1 || r.stderr != "Error: the setup token is wrong or was already used (HTTP 401)\n" {
		t.Errorf("wrong setup token: exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestUserList(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.pageSize = 2
	for i := 2; i <= 5; i++ {
		api.users = append(api.users, fakeUser(fmt.Sprintf("u%d", i), fmt.Sprintf("user%d", i), "viewer"))
	}
	api.users[1]["disabled"] = true
	api.users[2]["display_name"] = "Evil\x1b[31m\tName"

	r := adminRun(t, api, "", "user", "list", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	var users []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &users); err != nil {
		t.Fatalf("--json output is not a JSON array: %v\n%s", err, r.stdout)
	}
	if len(users) != 5 || users[4]["username"] != "user5" || users[0]["auth_provider"] != "local" {
		t.Errorf("--json printed %d users (want all 5 pages' worth, every field): %v", len(users), users)
	}

	r = adminRun(t, api, "", "user", "list")
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 6 {
		t.Fatalf("exit %d, %d lines, want a header and 5 rows:\n%s", r.code, len(lines), r.stdout)
	}
	if !regexp.MustCompile(`^ID +USERNAME +DISPLAY NAME +ROLE +STATUS +LAST LOGIN$`).MatchString(lines[0]) {
		t.Errorf("header %q", lines[0])
	}
	if !regexp.MustCompile(`^u2 +user2 +- +viewer +disabled +-$`).MatchString(lines[2]) {
		t.Errorf("row %q", lines[2])
	}
	if strings.ContainsAny(r.stdout, "\x1b\t") || !strings.Contains(lines[3], "Evil?[31m?Name") {
		t.Errorf("control characters reached the terminal: %q", lines[3])
	}
}

func TestUserCreate(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	r := adminRun(t, api, "pw-from-stdin\n", "user", "create", "--username", "alice", "--password-file", "-", "--role", "operator", "--display-name", "Alice")
	if r.code != 0 || r.stdout != "u2\n" {
		t.Fatalf("exit %d, stdout %q (want the id), stderr %q", r.code, r.stdout, r.stderr)
	}
	want := map[string]any{"username": "alice", "password": "pw-from-stdin", "role": "operator", "display_name": "Alice"}
	if got := api.seen()[0].Body; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("body %v, want %v (no empty optional fields)", got, want)
	}

	r = adminRun(t, api, "x", "user", "create", "--json", "--username", "bob", "--password-file", "-")
	var u map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u["id"] != "u3" || u["role"] != "viewer" {
		t.Errorf("--json printed %q, %v; want the user object with the default role", r.stdout, err)
	}
}

func TestUserDisableEnableDeleteShow(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.users = append(api.users, fakeUser("u2", "alice", "viewer"))

	r := adminRun(t, api, "", "user", "disable", "alice")
	if r.code != 0 || r.stdout != "u2\n" {
		t.Fatalf("disable: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	req := api.seen()[0]
	if req.Method != "PATCH" || req.Path != "/api/v1/users/alice" || fmt.Sprint(req.Body) != "map[disabled:true]" {
		t.Errorf("disable sent %s %s %v", req.Method, req.Path, req.Body)
	}

	r = adminRun(t, api, "", "user", "enable", "--json", "u2")
	var u map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &u); err != nil || u["disabled"] != false {
		t.Errorf("enable --json printed %q", r.stdout)
	}

	r = adminRun(t, api, "", "user", "show", "alice")
	if r.code != 0 || !regexp.MustCompile(`(?m)^Username: +alice$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^Last login: +-$`).MatchString(r.stdout) {
		t.Errorf("show: exit %d, stdout\n%s", r.code, r.stdout)
	}

	r = adminRun(t, api, "", "user", "delete", "alice")
	if r.code != 0 || r.stdout != "" {
		t.Errorf("delete: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = adminRun(t, api, "", "user", "show", "nobody")
	if r.code != 1 || r.stderr != "Error: no user \"nobody\" (HTTP 404)\n" {
		t.Errorf("show missing: exit %d, stderr %q", r.code, r.stderr)
	}

	r = adminRun(t, api, "", "user", "show", "a/b?c")
	if got := api.seen()[len(api.seen())-1].Path; got != "/api/v1/users/a/b?c" {
		t.Errorf("user name sent as path %q; want it escaped into one segment", got)
	}
}

func TestTokenCommands(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	r := adminRun(t, api, "", "token", "create", "--name", "ci", "--ttl", "30d")
	if r.code != 0 || r.stdout != "rmt_secret\n" {
		t.Fatalf("create: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr, "only once") {
		t.Errorf("create: no shown-once note on stderr: %q", r.stderr)
	}
	if got := api.seen()[0].Body; fmt.Sprint(got) != "map[expires_in:720h0m0s name:ci]" {
		t.Errorf("create sent %v", got)
	}

	r = adminRun(t, api, "", "token", "create", "--name", "forever", "--json")
	var tok map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil || tok["token"] != "rmt_secret" || tok["id"] != "tok1" {
		t.Errorf("create --json printed %q", r.stdout)
	}
	if _, sent := api.seen()[1].Body["expires_in"]; sent {
		t.Errorf("create without --ttl sent expires_in: %v", api.seen()[1].Body)
	}

	past := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
	api.tokens = []map[string]any{
		{"id": "t1", "name": "a", "user_id": "u1", "created_at": past, "expires_at": nil, "last_used_at": past, "revoked_at": nil},
		{"id": "t2", "name": "b", "user_id": "u1", "created_at": past, "expires_at": past, "last_used_at": nil, "revoked_at": nil},
		{"id": "t3", "name": "c", "user_id": "u2", "created_at": past, "expires_at": nil, "last_used_at": nil, "revoked_at": past},
	}
	r = adminRun(t, api, "", "token", "list", "--all")
	for _, want := range []string{`(?m)^t1 +a +u1 +active `, `(?m)^t2 +b +u1 +expired `, `(?m)^t3 +c +u2 +revoked `} {
		if !regexp.MustCompile(want).MatchString(r.stdout) {
			t.Errorf("list: no row matching %s in\n%s", want, r.stdout)
		}
	}
	if got := api.seen()[len(api.seen())-1].Query.Get("all"); got != "true" {
		t.Errorf("--all sent all=%q", got)
	}

	r = adminRun(t, api, "", "token", "revoke", "t1")
	if r.code != 0 || r.stdout != "" || api.seen()[len(api.seen())-1].Path != "/api/v1/tokens/t1" {
		t.Errorf("revoke: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	before := len(api.seen())
	r = adminRun(t, api, "", "token", "revoke", "rmt_0123456789")
	if r.code != 2 || len(api.seen()) != before {
		t.Errorf("revoking by secret: exit %d, stderr %q; want 2 and no request", r.code, r.stderr)
	}
}

func TestAuditList(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	api.pageSize = 20
	for i := range 60 {
		api.audit = append(api.audit, map[string]any{
			"id": 1000 - i, "time": "2026-01-02T15:04:05Z", "actor_kind": "user", "actor_id": "u1", "actor": "admin",
			"action": "user.create", "target_kind": "user", "target_id": "u2", "source_addr": "127.0.0.1",
			"outcome": "success", "detail": map[string]any{"username": "alice"},
		})
	}

	r := adminRun(t, api, "", "audit", "list")
	rows := strings.Count(r.stdout, "\n") - 1
	if r.code != 0 || rows != auditTableLimit || !strings.Contains(r.stderr, "--limit 0") {
		t.Errorf("table: exit %d, %d rows, stderr %q; want %d rows and a note", r.code, rows, r.stderr, auditTableLimit)
	}
	if !regexp.MustCompile(`(?m)^1000 +\S+ +admin +user\.create +user:u2 +success +127\.0\.0\.1$`).MatchString(r.stdout) {
		t.Errorf("table row not as expected:\n%s", r.stdout[:min(len(r.stdout), 400)])
	}

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"--json"}, 60},
		{[]string{"--json", "--limit", "5"}, 5},
		{[]string{"--limit", "0", "--json"}, 60},
	} {
		r := adminRun(t, api, "", append([]string{"audit", "list"}, tc.args...)...)
		var entries []map[string]any
		if err := json.Unmarshal([]byte(r.stdout), &entries); err != nil || len(entries) != tc.want {
			t.Errorf("%q: %d entries, %v; want %d", tc.args, len(entries), err, tc.want)
		}
		if tc.want == 60 && entries[0]["detail"] == nil {
			t.Errorf("%q: detail dropped from the JSON", tc.args)
		}
	}

	before := time.Now().Add(-24 * time.Hour).Add(-time.Minute)
	r = adminRun(t, api, "", "audit", "list", "--action", "user.", "--actor", "admin", "--since", "24h", "--until", "2026-01-02T15:04:05Z", "--limit", "1")
	q := api.seen()[len(api.seen())-1].Query
	since, err := time.Parse(time.RFC3339, q.Get("since"))
	if r.code != 0 || err != nil || since.Before(before) || since.After(time.Now()) {
		t.Errorf("since sent %q (exit %d, stderr %q); want about 24h ago", q.Get("since"), r.code, r.stderr)
	}
	if q.Get("action") != "user." || q.Get("actor") != "admin" || q.Get("until") != "2026-01-02T15:04:05Z" || q.Has("target") {
		t.Errorf("query sent %v", q)
	}

	r = adminRun(t, api, "", "audit", "list", "--limit", "-3")
	if r.code != 2 {
		t.Errorf("--limit -3: exit %d, stderr %q; want 2", r.code, r.stderr)
	}
}

func TestWhoami(t *testing.T) {
	t.Parallel()
	api := newFakeAPI(t)
	r := adminRun(t, api, "", "whoami")
	if r.code != 0 || !regexp.MustCompile(`(?m)^Auth method: +token$`).MatchString(r.stdout) {
		t.Errorf("exit %d, stdout\n%s", r.code, r.stdout)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	locRe := regexp.MustCompile(`(?m)^Error: \S+\.hcl:\d+:\d+: `)
	tests := map[string]struct {
		file     string
		code     int
		stdout   string
		lastLine string
	}{
		"minimal": {file: "minimal.hcl", stdout: "../config/testdata/minimal.hcl: valid\n"},
		"full":    {file: "full.hcl", stdout: "../config/testdata/full.hcl: valid\n"},
		"typo": {
			file: "typo_attribute_error.hcl", code: 1,
			lastLine: "Error: ../config/testdata/typo_attribute_error.hcl: 1 error",
		},
		"syntax": {
			file: "syntax_error.hcl", code: 1,
			lastLine: "Error: ../config/testdata/syntax_error.hcl: 3 errors",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := "../config/testdata/" + tc.file
			r := run(t, "config", "validate", path)
			if r.code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", r.code, tc.code, r.stderr)
			}
			if r.stdout != tc.stdout {
				t.Errorf("stdout %q, want %q", r.stdout, tc.stdout)
			}
			if tc.code == 0 {
				return
			}
			if !locRe.MatchString(r.stderr) {
				t.Errorf("stderr has no FILE:LINE:COL diagnostic:\n%s", r.stderr)
			}
			if !strings.Contains(r.stderr, "^") {
				t.Errorf("stderr has no caret under the problem:\n%s", r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if got := lines[len(lines)-1]; got != tc.lastLine {
				t.Errorf("last line %q, want %q", got, tc.lastLine)
			}
		})
	}

	t.Run("missing file", func(t *testing.T) {
		t.Parallel()
		path := filepath.Join(t.TempDir(), "nope.hcl")
		r := run(t, "config", "validate", path)
		if r.code != 1 || !strings.HasSuffix(r.stderr, "Error: "+path+": 1 error\n") {
			t.Errorf("exit %d, stderr %q", r.code, r.stderr)
		}
	})
	t.Run("no file", func(t *testing.T) {
		t.Parallel()
		if r := run(t, "config", "validate"); r.code != 2 {
			t.Errorf("exit %d, want 2", r.code)
		}
	})
}
