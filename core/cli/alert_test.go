package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
)

// fakeChannelList gives the real API two channel names to check rules
// against; delivering through channels is not what these tests cover (the
// end-to-end tests deliver through the real plugins).
type fakeChannelList struct{}

func (fakeChannelList) Plugins() []pluginhost.Status { return nil }
func (fakeChannelList) Channels() []channel.Info {
	return []channel.Info{{Name: "ops", Plugin: "notify-ntfy", ManagedBy: "config"}, {Name: "mail", Plugin: "notify-smtp", ManagedBy: "config"}}
}
func (fakeChannelList) TestChannel(context.Context, string) error { return nil }

// alertServer is the real API on a real store with two channels; it
// returns the server's URL, an admin token and the store.
func alertServer(t *testing.T) (string, string, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	srv := httptest.NewServer(api.New(api.Options{
		Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Plugins: fakeChannelList{},
	}))
	t.Cleanup(srv.Close)
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, srv.URL+"/api/v1/bootstrap", map[string]string{
		"setup_token": setup, "username": "root", "password": "correct horse battery",
	}, http.StatusCreated, &boot)
	return srv.URL, boot.Token, db
}

func TestAlertRuleCreateChecksFlags(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		args []string
		want string
	}{
		"no condition":   {[]string{"--channel", "ops"}, "--on is required"},
		"no channel":     {[]string{"--on", "job_failed"}, "--channel: is required"},
		"bad condition":  {[]string{"--on", "failed", "--channel", "ops"}, `--on: "failed" is not a condition`},
		"bad max age":    {[]string{"--on", "backup_stale", "--max-age", "a day", "--channel", "ops"}, `--max-age: "a day" is not a duration`},
		"stale no age":   {[]string{"--on", "backup_stale", "--channel", "ops"}, "--max-age: is required for backup_stale"},
		"kind offline":   {[]string{"--on", "host_offline", "--kind", "backup", "--channel", "ops"}, "--kind: does not apply to host_offline"},
		"bad severity":   {[]string{"--on", "job_failed", "--min-severity", "loud", "--channel", "ops"}, `--min-severity: "loud" is not a severity`},
		"bad name":       {[]string{"--on", "job_failed", "--name", "Backup Failed", "--channel", "ops"}, `--name: "Backup Failed" is not a valid name`},
		"unknown flag":   {[]string{"--on", "job_failed", "--channels", "ops"}, "flag provided but not defined: -channels"},
		"extra argument": {[]string{"--on", "job_failed", "--channel", "ops", "x"}, "unexpected argument"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			// No server: a usage error never reaches one.
			r := invocation{env: map[string]string{envAddr: "http://127.0.0.1:1", envToken: fakeAdminToken}}.run(t, append([]string{"alert", "rule", "create"}, tt.args...)...)
			if r.code != exitUsage || !strings.Contains(r.stderr, tt.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.want)
			}
		})
	}
}

func TestAlertRuleCommands(t *testing.T) {
	t.Parallel()
	addr, admin, _ := alertServer(t)
	env := map[string]string{envAddr: addr, envToken: admin}
	run := func(args ...string) result { t.Helper(); return invocation{env: env}.run(t, args...) }

	r := run("alert", "rule", "create", "--on", "job_failed", "--kind", "backup", "--channel", "ops", "--channel", "mail", "--repeat-interval", "30m")
	if r.code != 0 || len(strings.TrimSpace(r.stdout)) != 36 {
		t.Fatalf("create: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	id := strings.TrimSpace(r.stdout)
	r = run("alert", "rule", "create", "--name", "stale", "--on", "backup_stale", "--max-age", "26h", "--host", "web-1", "--channel", "ops", "--json")
	var created map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &created) != nil || created["max_age"] != "26h" || created["name"] != "stale" {
		t.Fatalf("create --json: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = run("alert", "rule", "create", "--on", "host_offline", "--channel", "pager")
	if r.code != 1 || !strings.Contains(r.stderr, `channels: no channel "pager"; the channels are ops, mail (HTTP 400)`) {
		t.Fatalf("unknown channel: exit %d %s", r.code, r.stderr)
	}
	r = run("alert", "rule", "create", "--on", "job_failed", "--kind", "backup", "--channel", "ops", "--channel", "mail")
	if r.code != 1 || !strings.Contains(r.stderr, `"job_failed-ops-mail" exists already`) {
		t.Fatalf("second rule of the default name: exit %d %s", r.code, r.stderr)
	}

	r = run("alert", "rule", "list")
	for _, want := range []string{"job_failed-ops-mail", "ops,mail", "30m", "kinds=backup", "stale", "max_age=26h", "hosts=web-1", id} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rule list lacks %q:\n%s", want, r.stdout)
		}
	}
	var rules []map[string]any
	if r := run("alert", "rule", "list", "--json"); json.Unmarshal([]byte(r.stdout), &rules) != nil || len(rules) != 2 {
		t.Fatalf("rule list --json = %s", r.stdout)
	}
	if r := run("alert", "rule", "delete", "stale"); r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Deleted alert rule stale.") {
		t.Fatalf("delete: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run("alert", "rule", "delete", "stale"); r.code != 1 || !strings.Contains(r.stderr, `no alert rule "stale"`) {
		t.Fatalf("delete again: exit %d %s", r.code, r.stderr)
	}
}

func TestAlertCommands(t *testing.T) {
	t.Parallel()
	addr, admin, db := alertServer(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if err := db.CreateEnrollmentToken(ctx, store.EnrollmentToken{ID: "t1", TokenHash: "h1", CreatedAt: now, ExpiresAt: now.Add(time.Hour), UsesTotal: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RedeemEnrollmentToken(ctx, store.Enrollment{
		TokenHash: "h1", Host: store.Host{ID: "host-1", Name: "web-1"},
		CredentialID: "c1", SecretHash: "s1", Now: now,
	}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateAlertRule(ctx, store.AlertRule{
		ID: "r1", Name: "backup-failed", Event: "job_failed", MinSeverity: "warning",
		Channels: []string{"ops"}, Repeat: time.Hour, Enabled: true, CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	for i, host := range []string{"host-1", ""} {
		at := now.Add(time.Duration(i) * time.Second)
		if err := db.CreateAlert(ctx, store.Alert{
			ID: "a" + string(rune('1'+i)), RuleID: "r1", Kind: "job_failed", Severity: "critical",
			Status: store.AlertOpen, Fingerprint: "fp" + host, HostID: host, Title: "backup of web-1 failed",
			Body: "The backup job failed:\nFatal: \x1b[31mno space left", Occurrences: 2, CreatedAt: at, UpdatedAt: at,
		}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{envAddr: addr, envToken: admin}
	run := func(args ...string) result { t.Helper(); return invocation{env: env}.run(t, args...) }

	r := run("alert", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "a1") || !strings.Contains(r.stdout, "backup of web-1 failed") || !strings.Contains(r.stdout, "critical") {
		t.Fatalf("alert list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	var items []map[string]any
	if r := run("alert", "list", "--host", "web-1", "--json"); json.Unmarshal([]byte(r.stdout), &items) != nil || len(items) != 1 || items[0]["id"] != "a1" {
		t.Fatalf("alert list --host web-1 --json = %s %s", r.stdout, r.stderr)
	}
	if r := run("alert", "list", "--status", "closed"); r.code != exitUsage || !strings.Contains(r.stderr, "--status") {
		t.Fatalf("bad --status: exit %d %s", r.code, r.stderr)
	}

	if r := run("alert", "ack", "a1"); r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "Acknowledged alert a1.") {
		t.Fatalf("ack: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	if r := run("alert", "ack", "a1"); r.code != 1 || !strings.Contains(r.stderr, "it is acknowledged (HTTP 409)") {
		t.Fatalf("second ack: exit %d %s", r.code, r.stderr)
	}
	r = run("alert", "show", "a1")
	for _, want := range []string{"Status:", "acknowledged", "root at", "Occurrences:", "Fatal: ?[31mno space left"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("alert show lacks %q:\n%s", want, r.stdout)
		}
	}
	var resolved map[string]any
	if r := run("alert", "resolve", "a1", "--json"); json.Unmarshal([]byte(r.stdout), &resolved) != nil || resolved["status"] != "resolved" || resolved["resolved_by"] != "root" {
		t.Fatalf("resolve --json: %s %s", r.stdout, r.stderr)
	}
	if r := run("alert", "list", "--status", "active", "--json"); json.Unmarshal([]byte(r.stdout), &items) != nil || len(items) != 1 || items[0]["id"] != "a2" {
		t.Fatalf("active alerts after resolving a1 = %s", r.stdout)
	}
}
