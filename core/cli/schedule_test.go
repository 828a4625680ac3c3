package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
)

// realAPI is the server's real API over a real store, for the schedule
// commands: what they send is checked by what the server keeps.
type realAPI struct {
	t      *testing.T
	srv    *httptest.Server
	admin  string
	viewer string
}

func newRealAPI(t *testing.T) *realAPI {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	kr, err := (*secrets.Keyring)(nil).WithNewKey()
	if err != nil {
		t.Fatal(err)
	}
	setup, _ := auth.NewToken(auth.KindSetup)
	srv := httptest.NewServer(api.New(api.Options{
		Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Sealer: kr,
	}))
	t.Cleanup(srv.Close)
	r := &realAPI{t: t, srv: srv}
	var boot struct {
		Token string `json:"token"`
	}
	r.call("POST", "/api/v1/bootstrap", "", map[string]string{"setup_token": setup, "username": "root", "password": "a long admin password"}, &boot)
	r.admin = boot.Token
	var tok struct {
		Token string `json:"token"`
	}
	r.call("POST", "/api/v1/enrollment-tokens", r.admin, map[string]any{"tags": []string{"db"}}, &tok)
	r.call("POST", "/api/v1/agents/enroll", "", map[string]string{
		"token": tok.Token, "hostname": "web1", "os": "linux", "arch": "amd64", "agent_version": "test",
	}, nil)
	r.call("POST", "/api/v1/repositories", r.admin, map[string]any{"name": "main", "url": "/srv/restic", "password": "pw-cli-test"}, nil)
	r.call("POST", "/api/v1/users", r.admin, map[string]string{"username": "victor", "password": "a long viewer password", "role": "viewer"}, nil)
	var login struct {
		CSRF string `json:"csrf_token"`
	}
	cookies := r.call("POST", "/api/v1/login", "", map[string]string{"username": "victor", "password": "a long viewer password"}, &login)
	var vt struct {
		Token string `json:"token"`
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/tokens", strings.NewReader(`{"name":"cli"}`))
	for _, c := range cookies {
		req.AddCookie(c)
	}
	req.Header.Set("X-CSRF-Token", login.CSRF)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&vt); err != nil || vt.Token == "" {
		t.Fatalf("viewer token: %v", err)
	}
	r.viewer = vt.Token
	return r
}

// call makes one request, which must succeed, and returns the cookies
// it set.
func (r *realAPI) call(method, path, token string, body, out any) []*http.Cookie {
	r.t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, r.srv.URL+path, bytes.NewReader(b))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		r.t.Fatalf("%s %s: %d %s", method, path, resp.StatusCode, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			r.t.Fatal(err)
		}
	}
	return resp.Cookies()
}

func (r *realAPI) run(token string, args ...string) result {
	r.t.Helper()
	return invocation{env: map[string]string{envAddr: r.srv.URL, envToken: token}}.run(r.t, args...)
}

func (r *realAPI) show(name string) map[string]any {
	r.t.Helper()
	res := r.run(r.admin, "schedule", "show", name, "--json")
	var s map[string]any
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &s) != nil {
		r.t.Fatalf("schedule show: exit %d %s%s", res.code, res.stdout, res.stderr)
	}
	return s
}

func TestScheduleCreateSendsEveryFlag(t *testing.T) {
	t.Parallel()
	r := newRealAPI(t)
	res := r.run(r.admin, "schedule", "create", "--name", "nightly", "--host", "web1", "--repo", "main",
		"--path", "/srv", "--path", "/etc", "--exclude", "*.tmp", "--exclude-file", "/etc/restic/excludes",
		"--exclude-if-present", ".nobackup", "--exclude-caches", "--one-file-system", "--tag", "nightly",
		"--cron", "0 3 * * *", "--timezone", "Europe/Berlin", "--jitter", "15m", "--catch-up=false",
		"--limit-upload", "2048", "--limit-download", "4096",
		"--keep-daily", "7", "--keep-weekly", "4", "--keep-within", "1y", "--keep-tag", "keep", "--group-by", "host,paths")
	if res.code != 0 || len(strings.TrimSpace(res.stdout)) != 36 {
		t.Fatalf("schedule create: exit %d %q %q", res.code, res.stdout, res.stderr)
	}
	s := r.show("nightly")
	want := map[string]string{
		"id": strings.TrimSpace(res.stdout), "host": "web1", "repository": "main", "paths": "[/srv /etc]", "excludes": "[*.tmp]",
		"exclude_files": "[/etc/restic/excludes]", "exclude_if_present": "[.nobackup]", "exclude_caches": "true",
		"one_file_system": "true", "tags": "[nightly]", "cron": "0 3 * * *", "timezone": "Europe/Berlin", "jitter": "15m",
		"catch_up": "false", "limit_upload_kib": "2048", "limit_download_kib": "4096", "enabled": "true", "prune": "false",
		"retention": "map[group_by:host,paths keep_daily:7 keep_tags:[keep] keep_weekly:4 keep_within:1y]",
	}
	for k, v := range want {
		if got := jsonString(s[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}

	res = r.run(r.admin, "schedule", "create", "--host-tag", "db", "--repo", "main", "--path", "/var/lib/db", "--every", "6h", "--disabled", "--json")
	var obj map[string]any
	if res.code != 0 || json.Unmarshal([]byte(res.stdout), &obj) != nil || obj["every"] != "6h" || obj["host_tag"] != "db" || obj["enabled"] != false {
		t.Fatalf("--json create: exit %d %s %s", res.code, res.stdout, res.stderr)
	}

	list := r.run(r.admin, "schedule", "list", "--host", "web1")
	if list.code != 0 || !strings.Contains(list.stdout, "nightly") || !strings.Contains(list.stdout, "0 3 * * * Europe/Berlin +15m jitter") ||
		!strings.Contains(list.stdout, "tag:db") || !strings.Contains(list.stdout, "every 6h") {
		t.Fatalf("schedule list: exit %d\n%s%s", list.code, list.stdout, list.stderr)
	}
	var items []map[string]any
	if res := r.run(r.viewer, "schedule", "list", "--json"); res.code != 0 || json.Unmarshal([]byte(res.stdout), &items) != nil || len(items) != 2 {
		t.Fatalf("schedule list --json as a viewer: exit %d %s %s", res.code, res.stdout, res.stderr)
	}
	show := r.run(r.admin, "schedule", "show", "nightly")
	for _, line := range []string{"Hosts:", "web1", "Retention:", "--keep-daily 7", "--keep-within 1y", "Catch up:", "Next run:"} {
		if !strings.Contains(show.stdout, line) {
			t.Errorf("schedule show lacks %q:\n%s", line, show.stdout)
		}
	}
}

// jsonString prints a decoded JSON value for comparisons: fmt's form
// (maps with sorted keys), "null" for null.
func jsonString(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}

func TestScheduleUpdateChangesOnlyWhatIsGiven(t *testing.T) {
	t.Parallel()
	r := newRealAPI(t)
	if res := r.run(r.admin, "schedule", "create", "--name", "n", "--host", "web1", "--repo", "main", "--path", "/srv",
		"--every", "1h", "--exclude", "*.tmp", "--tag", "a", "--keep-daily", "7", "--keep-weekly", "4"); res.code != 0 {
		t.Fatalf("create: %d %s", res.code, res.stderr)
	}
	if res := r.run(r.admin, "schedule", "update", "n", "--keep-daily", "14", "--keep-weekly", "0", "--cron", "30 1 * * *", "--disable"); res.code != 0 {
		t.Fatalf("update: %d %s", res.code, res.stderr)
	}
	s := r.show("n")
	if jsonString(s["retention"]) != "map[keep_daily:14]" || s["cron"] != "30 1 * * *" || s["every"] != nil || s["enabled"] != false ||
		jsonString(s["excludes"]) != "[*.tmp]" || jsonString(s["paths"]) != "[/srv]" {
		t.Fatalf("after update: %v", s)
	}
	if res := r.run(r.admin, "schedule", "update", "n", "--clear", "exclude", "--clear", "retention", "--enable"); res.code != 0 {
		t.Fatalf("update --clear: %d %s", res.code, res.stderr)
	}
	s = r.show("n")
	if s["retention"] != nil || jsonString(s["excludes"]) != "[]" || s["enabled"] != true || jsonString(s["tags"]) != "[a]" {
		t.Fatalf("after --clear: %v", s)
	}
	if res := r.run(r.admin, "schedule", "delete", "n"); res.code != 0 || res.stdout != "" || !strings.Contains(res.stderr, `Deleted schedule "n"`) {
		t.Fatalf("delete: %d %q %q", res.code, res.stdout, res.stderr)
	}
	if res := r.run(r.admin, "schedule", "show", "n"); res.code != 1 || !strings.Contains(res.stderr, "404") {
		t.Fatalf("show after delete: %d %s", res.code, res.stderr)
	}
}

func TestScheduleCommandsRefuseBadInput(t *testing.T) {
	t.Parallel()
	r := newRealAPI(t)
	base := []string{"schedule", "create", "--host", "web1", "--repo", "main", "--path", "/srv"}
	for name, tc := range map[string]struct {
		token string
		args  []string
		code  int
		want  string
	}{
		"no timing":       {r.admin, base, exitUsage, "give one of --cron and --every"},
		"both timings":    {r.admin, append(base, "--cron", "* * * * *", "--every", "1h"), exitUsage, "give one of --cron and --every"},
		"no host":         {r.admin, []string{"schedule", "create", "--repo", "main", "--path", "/srv", "--every", "1h"}, exitUsage, "--host"},
		"no path":         {r.admin, []string{"schedule", "create", "--host", "web1", "--repo", "main", "--every", "1h"}, exitUsage, "--path is required"},
		"negative keep":   {r.admin, append(base, "--every", "1h", "--keep-daily", "-1"), exitUsage, "--keep-daily must not be negative"},
		"bad number":      {r.admin, append(base, "--every", "1h", "--limit-upload", "fast"), exitUsage, "limit-upload"},
		"bad cron":        {r.admin, append(base, "--cron", "61 * * * *"), exitError, "cron: "},
		"bad zone":        {r.admin, append(base, "--cron", "0 3 * * *", "--timezone", "Mars/Olympus"), exitError, "timezone: "},
		"bad interval":    {r.admin, append(base, "--every", "sometimes"), exitError, "every: "},
		"relative path":   {r.admin, []string{"schedule", "create", "--host", "web1", "--repo", "main", "--path", "srv", "--every", "1h"}, exitError, "paths[0]: "},
		"bad keep-within": {r.admin, append(base, "--every", "1h", "--keep-within", "2 weeks"), exitError, "retention.keep_within: "},
		"viewer":          {r.viewer, append(base, "--every", "1h"), exitError, "403"},
		"nothing to do":   {r.admin, []string{"schedule", "update", "x"}, exitUsage, "nothing to change"},
		"bad clear":       {r.admin, []string{"schedule", "update", "x", "--clear", "paths"}, exitUsage, "--clear \"paths\""},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := r.run(tc.token, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d with %q", res.code, res.stderr, tc.code, tc.want)
			}
		})
	}
	if res := r.run(r.admin, "schedule", "list", "--json"); res.code != 0 || strings.TrimSpace(res.stdout) != "[]" {
		t.Fatalf("refused schedules were created: %s", res.stdout)
	}
}

func TestScheduleHelpExplains(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"create", "update", "list", "show", "delete"} {
		res := run(t, "schedule", cmd, "--help")
		if res.code != 0 || !strings.HasPrefix(res.stdout, "Usage: restic-manager schedule "+cmd) {
			t.Fatalf("schedule %s --help: %d %s", cmd, res.code, res.stdout)
		}
	}
	help := run(t, "schedule", "create", "--help").stdout
	for _, want := range []string{
		"--cron EXPR", "--every D", "--timezone TZ", "--jitter D", "--catch-up=false", "--keep-within D",
		"--limit-upload KiB", "--limit-download KiB", "--exclude-file F", "--one-file-system", "also while the server is unreachable",
	} {
		if !strings.Contains(help, want) {
			t.Errorf("schedule create --help lacks %q", want)
		}
	}
}
