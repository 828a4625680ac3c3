package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/store"
)

// realServer is the real API on a real store, for commands whose server
// side is built; it returns the server and an admin API token.
func realServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	srv := httptest.NewServer(api.New(api.Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams}))
	t.Cleanup(srv.Close)
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, srv.URL+"/api/v1/bootstrap", map[string]string{
		"setup_token": setup, "username": "root", "password": "correct horse battery",
	}, http.StatusCreated, &boot)
	return srv, boot.Token
}

func postJSON(t *testing.T, url string, body any, want int, out any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		t.Fatalf("POST %s: %d, want %d", url, res.StatusCode, want)
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			t.Fatal(err)
		}
	}
}

// agentEnroll redeems token for hostname as an agent would.
func agentEnroll(t *testing.T, srvURL, token, hostname string) string {
	t.Helper()
	var out struct {
		HostID string `json:"host_id"`
	}
	postJSON(t, srvURL+"/api/v1/agents/enroll", map[string]string{"token": token, "hostname": hostname, "os": "linux", "arch": "arm64"},
		http.StatusCreated, &out)
	return out.HostID
}

func TestEnrollTokenCommands(t *testing.T) {
	t.Parallel()
	srv, admin := realServer(t)
	in := invocation{env: map[string]string{envAddr: srv.URL, envToken: admin}}

	r := in.run(t, "enroll-token", "create", "--json", "--ttl", "2h", "--uses", "3", "--tag", "prod")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var created struct {
		ID             string   `json:"id"`
		Token          string   `json:"token"`
		Command        string   `json:"command"`
		CommandWindows string   `json:"command_windows"`
		Uses           int      `json:"uses"`
		Tags           []string `json:"tags"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatalf("--json printed %q: %v", r.stdout, err)
	}
	if !strings.HasPrefix(created.Token, "rme_") || created.Uses != 3 || len(created.Tags) != 1 ||
		created.Command != "restic-manager-agent enroll --server "+srv.URL+" --token "+created.Token ||
		!strings.Contains(created.CommandWindows, `restic-manager-agent.exe" enroll --server `+srv.URL+" --token "+created.Token) {
		t.Fatalf("created %+v", created)
	}
	if !strings.Contains(r.stderr, "shown only once") || strings.Contains(r.stderr, created.Token) {
		t.Fatalf("stderr %q", r.stderr)
	}

	r = in.run(t, "enroll-token", "create")
	lines := strings.Split(r.stdout, "\n")
	if r.code != 0 || !strings.HasPrefix(lines[0], "rme_") || !strings.Contains(r.stdout, "Linux:\n  restic-manager-agent enroll --server "+srv.URL+" --token "+lines[0]) ||
		!strings.Contains(r.stdout, "Windows (PowerShell") {
		t.Fatalf("plain create: exit %d\n%s", r.code, r.stdout)
	}

	for _, args := range [][]string{
		{"enroll-token", "create", "--ttl", "31d"},
		{"enroll-token", "create", "--ttl", "soon"},
		{"enroll-token", "create", "--uses", "0"},
		{"enroll-token", "revoke", created.Token},
		{"enroll-token", "revoke"},
	} {
		if r := in.run(t, args...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}

	agentEnroll(t, srv.URL, lines[0], "web1")
	r = in.run(t, "enroll-token", "revoke", created.ID)
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Revoked") {
		t.Fatalf("revoke: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}

	r = in.run(t, "enroll-token", "list", "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 2 {
		t.Fatalf("list --json: %v\n%s", err, r.stdout)
	}
	if strings.Contains(r.stdout, "rme_") {
		t.Fatal("the listing shows a secret")
	}
	r = in.run(t, "enroll-token", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^ID +STATUS +USES LEFT +EXPIRES`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)revoked +3/3 `).MatchString(r.stdout) || !regexp.MustCompile(`(?m)used +0/1 `).MatchString(r.stdout) {
		t.Fatalf("list table:\n%s", r.stdout)
	}

	viewer := invocation{env: map[string]string{envAddr: srv.URL, envToken: "rmt_not_a_real_token"}}
	if r := viewer.run(t, "enroll-token", "create"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 401") {
		t.Fatalf("bad token: exit %d %q", r.code, r.stderr)
	}
}

func TestHostCommands(t *testing.T) {
	t.Parallel()
	srv, admin := realServer(t)
	in := invocation{env: map[string]string{envAddr: srv.URL, envToken: admin}}
	r := in.run(t, "enroll-token", "create", "--json", "--uses", "3")
	var tok struct{ Token string }
	if err := json.Unmarshal([]byte(r.stdout), &tok); err != nil {
		t.Fatal(err)
	}
	web1 := agentEnroll(t, srv.URL, tok.Token, "web1")
	db1 := agentEnroll(t, srv.URL, tok.Token, "db1")

	r = in.run(t, "host", "list", "--json")
	var hosts []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil || len(hosts) != 2 {
		t.Fatalf("host list --json: %v\n%s", err, r.stdout)
	}
	for _, field := range []string{"id", "name", "status", "last_seen", "os", "arch", "agent_version", "restic_version", "tags"} {
		if _, ok := hosts[0][field]; !ok {
			t.Errorf("host object lacks %q: %v", field, hosts[0])
		}
	}
	if hosts[0]["name"] != "db1" || hosts[0]["status"] != "offline" {
		t.Fatalf("hosts %v", hosts)
	}

	r = in.run(t, "host", "list")
	if r.code != 0 || !regexp.MustCompile(`(?m)^ID +NAME +STATUS +PLATFORM`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^`+web1+` +web1 +offline +linux/arm64`).MatchString(r.stdout) {
		t.Fatalf("host list table:\n%s", r.stdout)
	}

	r = in.run(t, "host", "show", "web1")
	if r.code != 0 || !regexp.MustCompile(`(?m)^ID: +`+web1+`$`).MatchString(r.stdout) {
		t.Fatalf("host show:\n%s%s", r.stdout, r.stderr)
	}
	r = in.run(t, "host", "show", db1, "--json")
	var one map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &one); err != nil || one["name"] != "db1" {
		t.Fatalf("host show --json: %v %s", err, r.stdout)
	}

	r = in.run(t, "host", "remove", "web1")
	if r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "credential is revoked") {
		t.Fatalf("host remove: exit %d, %q, %q", r.code, r.stdout, r.stderr)
	}
	r = in.run(t, "host", "list", "--status", "revoked", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil || len(hosts) != 1 || hosts[0]["id"] != web1 {
		t.Fatalf("revoked hosts: %v\n%s", err, r.stdout)
	}
	r = in.run(t, "host", "list", "--name", "db1", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &hosts); err != nil || len(hosts) != 1 || hosts[0]["id"] != db1 {
		t.Fatalf("hosts named db1: %v\n%s", err, r.stdout)
	}

	if r := in.run(t, "host", "list", "--status", "asleep"); r.code != 2 {
		t.Fatalf("bad --status: exit %d", r.code)
	}
	if r := in.run(t, "host", "show", "nope"); r.code != 1 || !strings.Contains(r.stderr, "HTTP 404") {
		t.Fatalf("unknown host: exit %d %q", r.code, r.stderr)
	}
	agentEnroll(t, srv.URL, tok.Token, "db1")
	if r := in.run(t, "host", "show", "db1"); r.code != 1 || !strings.Contains(r.stderr, "use the host's id") {
		t.Fatalf("ambiguous name: exit %d %q", r.code, r.stderr)
	}
}
