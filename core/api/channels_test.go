package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/internal/testkit"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

var channelMatrix = map[string]access{
	"channel.create":        admin,
	"channel.show":          viewer,
	"channel.update":        admin,
	"channel.delete":        admin,
	"channel.plugins":       admin,
	"channel.plugin_schema": admin,
}

// storedPlugins is the server's PluginService with stored channels: a real
// plugin host running notify-webhook, the configuration's channels and the
// stored ones over the env's store.
type storedPlugins struct {
	host   *pluginhost.Host
	reg    *channel.Registry
	stored *channel.Stored
}

func (p *storedPlugins) Plugins() []pluginhost.Status { return p.host.List() }
func (p *storedPlugins) Channels() []channel.Info     { return p.reg.List() }
func (p *storedPlugins) TestChannel(ctx context.Context, name string) error {
	return p.reg.Test(ctx, name)
}

func (p *storedPlugins) CreateChannel(ctx context.Context, spec channel.Spec) (channel.Info, error) {
	return p.stored.Create(ctx, spec)
}

func (p *storedPlugins) UpdateChannel(ctx context.Context, name string, patch channel.Patch) (channel.Info, error) {
	return p.stored.Update(ctx, name, patch)
}

func (p *storedPlugins) DeleteChannel(ctx context.Context, name string) error {
	return p.stored.Delete(ctx, name)
}

func (p *storedPlugins) ChannelPlugins() []string { return p.stored.NotifyPlugins() }

func (p *storedPlugins) ChannelSchema(ctx context.Context, name string) (plugin.Schema, error) {
	return p.stored.Schema(ctx, name)
}

// newChannelEnv is an API whose server declares the channel "declared" in
// its configuration file, and keeps stored channels in the env's store.
func newChannelEnv(t *testing.T, receiver string) *env {
	t.Helper()
	pluginDir, pluginHCL := testkit.InstallPlugin(t, "github.com/restic-manager/restic-manager/plugins/notify-webhook", "notify-webhook")
	src := pluginHCL + fmt.Sprintf(`channel "declared" {
  plugin = "notify-webhook"
  config {
    url = %q
  }
}
`, receiver)
	cfg, _, diags := config.LoadBytes([]byte(src), "server.hcl")
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	p := cfg.Plugins[0]
	host, err := pluginhost.New(pluginhost.Options{
		PluginDir: pluginDir, Externals: []pluginhost.External{{Name: p.Name, Command: p.Command, SHA256: p.SHA256}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, diags := channel.Load(ctx, host, cfg.Channels)
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	kr, err := secrets.CreateKeyFile(filepath.Join(t.TempDir(), "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	svc := &storedPlugins{host: host, reg: reg, stored: channel.NewStored(reg, host, db, kr, hclog.NewNullLogger())}
	if err := svc.stored.Load(ctx); err != nil {
		t.Fatal(err)
	}
	setup, _ := auth.NewToken(auth.KindSetup)
	e := &env{t: t, db: db, clock: &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, setupToken: setup}
	e.api = New(Options{Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Now: e.clock.Now, Plugins: svc})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

func TestChannelEndpoints(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []*http.Request
	var bodies []string
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, string(b))
		mu.Unlock()
	}))
	t.Cleanup(receiver.Close)
	e := newChannelEnv(t, receiver.URL+"/declared")
	root := e.bootstrap()
	operatorTok := e.user(root, "olivia", "operator")
	viewerTok := e.user(root, "victor", "viewer")
	const hmacKey, bearer = "hmac-key-4f1c9a", "Bearer tok-77e2d1"

	// The plugins a channel can use, and the settings each takes.
	r := e.want(call{method: "GET", path: "/api/v1/channel-plugins", token: root}, http.StatusOK)
	if !strings.Contains(string(r.body), `"name":"notify-webhook"`) {
		t.Errorf("channel plugins: %s", r.body)
	}
	r = e.want(call{method: "GET", path: "/api/v1/channel-plugins/notify-webhook", token: root}, http.StatusOK)
	if !strings.Contains(string(r.body), `{"name":"secret","type":"string","sensitive":true,`) || !strings.Contains(string(r.body), `{"name":"url","type":"string","required":true,`) {
		t.Errorf("webhook schema: %s", r.body)
	}
	e.want(call{method: "GET", path: "/api/v1/channel-plugins/notify-pager", token: root}, http.StatusNotFound)

	// Problems name their field.
	for name, tc := range map[string]struct {
		body map[string]any
		code string
		want string
	}{
		"bad name":        {map[string]any{"name": "Ops!", "plugin": "notify-webhook", "config": map[string]any{"url": receiver.URL}}, "bad_name", "name: "},
		"no plugin":       {map[string]any{"name": "ops"}, "bad_plugin", "plugin: is required"},
		"unknown plugin":  {map[string]any{"name": "ops", "plugin": "notify-pager"}, "bad_plugin", "notify-webhook"},
		"unknown setting": {map[string]any{"name": "ops", "plugin": "notify-webhook", "config": map[string]any{"url": receiver.URL, "colour": "red"}}, "bad_config", "config.colour: "},
		"missing url":     {map[string]any{"name": "ops", "plugin": "notify-webhook", "config": map[string]any{}}, "bad_config", "config.url: is required"},
		"plugin refuses":  {map[string]any{"name": "ops", "plugin": "notify-webhook", "config": map[string]any{"url": "ftp://x"}}, "bad_config", "config: plugin notify-webhook rejected"},
	} {
		r := e.want(call{method: "POST", path: "/api/v1/channels", token: root, body: tc.body}, http.StatusBadRequest)
		if r.errCode(t) != tc.code || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %s", name, r.body)
		}
	}
	e.want(call{method: "POST", path: "/api/v1/channels", token: operatorTok, body: map[string]any{"name": "ops", "plugin": "notify-webhook"}}, http.StatusForbidden)
	r = e.want(call{method: "POST", path: "/api/v1/channels", token: root, body: map[string]any{"name": "declared", "plugin": "notify-webhook", "config": map[string]any{"url": receiver.URL}}}, http.StatusConflict)
	if r.errCode(t) != "managed_by_config" {
		t.Errorf("creating over a declared channel: %s", r.body)
	}

	r = e.want(call{method: "POST", path: "/api/v1/channels", token: root, body: map[string]any{
		"name": "ops-hook", "plugin": "notify-webhook",
		"config": map[string]any{"url": receiver.URL + "/ops", "secret": hmacKey, "headers": map[string]any{"Authorization": bearer}, "retries": "0"},
	}}, http.StatusCreated)
	var created channelJSON
	r.decode(t, &created)
	if created.ManagedBy != "api" || !created.Enabled || created.Config["url"] != receiver.URL+"/ops" || created.Config["retries"] != 0.0 ||
		!created.Secrets["secret"] || !created.Secrets["headers"] {
		t.Errorf("created: %s", r.body)
	}
	e.want(call{method: "POST", path: "/api/v1/channels", token: root, body: map[string]any{"name": "ops-hook", "plugin": "notify-webhook", "config": map[string]any{"url": receiver.URL}}}, http.StatusConflict)

	// Live at once: a test goes out, signed with the sealed secret.
	e.want(call{method: "POST", path: "/api/v1/channels/ops-hook/test", token: operatorTok}, http.StatusOK)
	mu.Lock()
	if len(got) != 1 || got[0].URL.Path != "/ops" || got[0].Header.Get("Authorization") != bearer ||
		!strings.HasPrefix(got[0].Header.Get("X-Restic-Manager-Signature"), "sha256=") || !strings.Contains(bodies[0], "Test notification") {
		t.Errorf("received %d requests: %v", len(got), bodies)
	}
	mu.Unlock()

	// Reads never show a secret.
	var responses []string
	for _, path := range []string{"/api/v1/channels", "/api/v1/channels/ops-hook"} {
		r = e.want(call{method: "GET", path: path, token: viewerTok}, http.StatusOK)
		responses = append(responses, string(r.body))
	}
	if !strings.Contains(responses[0], `"name":"declared"`) || !strings.Contains(responses[1], `"secrets":{"headers":true,"secret":true}`) {
		t.Errorf("reads: %v", responses)
	}
	e.want(call{method: "GET", path: "/api/v1/channels/nope", token: viewerTok}, http.StatusNotFound)

	// Update: settings not named stay (the secret too); "" unsets one.
	r = e.want(call{method: "PATCH", path: "/api/v1/channels/ops-hook", token: root, body: map[string]any{
		"enabled": false, "config": map[string]any{"headers": "", "method": "PUT"},
	}}, http.StatusOK)
	responses = append(responses, string(r.body))
	var updated channelJSON
	r.decode(t, &updated)
	if updated.Enabled || updated.Config["method"] != "PUT" || !updated.Secrets["secret"] || updated.Secrets["headers"] {
		t.Errorf("updated: %s", r.body)
	}
	r = e.want(call{method: "POST", path: "/api/v1/channels/ops-hook/test", token: operatorTok}, http.StatusConflict)
	if r.errCode(t) != "disabled" {
		t.Errorf("test of a disabled channel: %s", r.body)
	}
	r = e.want(call{method: "PATCH", path: "/api/v1/channels/ops-hook", token: root, body: map[string]any{"config": map[string]any{"url": ""}}}, http.StatusBadRequest)
	if !strings.Contains(string(r.body), "config.url: is required") {
		t.Errorf("unsetting url: %s", r.body)
	}
	r = e.want(call{method: "PATCH", path: "/api/v1/channels/declared", token: root, body: map[string]any{"enabled": false}}, http.StatusConflict)
	if r.errCode(t) != "managed_by_config" || !strings.Contains(string(r.body), "change it there") {
		t.Errorf("changing a declared channel: %s", r.body)
	}
	e.want(call{method: "PATCH", path: "/api/v1/channels/ops-hook", token: operatorTok, body: map[string]any{"enabled": true}}, http.StatusForbidden)

	// A rule sends to it: delete is refused, naming the rule.
	e.want(call{method: "POST", path: "/api/v1/alert-rules", token: operatorTok, body: map[string]any{
		"name": "backup-failed", "on": "job_failed", "channels": []string{"ops-hook"},
	}}, http.StatusCreated)
	r = e.want(call{method: "DELETE", path: "/api/v1/channels/ops-hook", token: root}, http.StatusConflict)
	if r.errCode(t) != "in_use" || !strings.Contains(string(r.body), "backup-failed") {
		t.Errorf("deleting a channel in use: %s", r.body)
	}
	r = e.want(call{method: "DELETE", path: "/api/v1/channels/declared", token: root}, http.StatusConflict)
	if r.errCode(t) != "managed_by_config" {
		t.Errorf("deleting a declared channel: %s", r.body)
	}
	e.want(call{method: "DELETE", path: "/api/v1/alert-rules/backup-failed", token: operatorTok}, http.StatusNoContent)
	e.want(call{method: "DELETE", path: "/api/v1/channels/ops-hook", token: operatorTok}, http.StatusForbidden)
	e.want(call{method: "DELETE", path: "/api/v1/channels/ops-hook", token: root}, http.StatusNoContent)
	e.want(call{method: "GET", path: "/api/v1/channels/ops-hook", token: root}, http.StatusNotFound)

	// No response and no audit entry holds a secret; the audit names the
	// settings that were set.
	for _, body := range responses {
		if strings.Contains(body, hmacKey) || strings.Contains(body, "tok-77e2d1") {
			t.Errorf("a response holds a secret: %s", body)
		}
	}
	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "channel.", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	sawCreate := false
	for _, en := range entries {
		text := en.ActorName + en.TargetID + fmt.Sprint(en.Detail)
		if strings.Contains(text, hmacKey) || strings.Contains(text, "tok-77e2d1") {
			t.Errorf("audit entry %s holds a secret: %v", en.Action, en.Detail)
		}
		if en.Action == "channel.create" && en.Outcome == "success" && en.TargetID == "ops-hook" && fmt.Sprint(en.Detail["settings"]) == "[headers retries secret url]" {
			sawCreate = true
		}
	}
	if !sawCreate {
		t.Errorf("no channel.create audit entry naming the settings: %+v", entries)
	}
}

func TestChannelChangesWithoutStoredChannels(t *testing.T) {
	t.Parallel()
	e := newPluginEnv(t, &fakePlugins{})
	root := e.bootstrap()
	r := e.want(call{method: "POST", path: "/api/v1/channels", token: root, body: map[string]any{"name": "ops2", "plugin": "notify-log"}}, http.StatusNotImplemented)
	if r.errCode(t) != "not_implemented" {
		t.Errorf("create: %s", r.body)
	}
	r = e.want(call{method: "PATCH", path: "/api/v1/channels/ops", token: root, body: map[string]any{"enabled": false}}, http.StatusConflict)
	if r.errCode(t) != "managed_by_config" {
		t.Errorf("update of a config channel: %s", r.body)
	}
}

// driveChannelRoutes makes every channel change once, for
// TestEveryStateChangeIsAudited (a server without stored channels).
func driveChannelRoutes(e *env, admin string) {
	e.t.Helper()
	e.want(call{method: "POST", path: "/api/v1/channels", token: admin, body: map[string]any{"name": "audited", "plugin": "notify-log"}}, http.StatusNotImplemented)
	e.want(call{method: "PATCH", path: "/api/v1/channels/audited", token: admin, body: map[string]any{"enabled": false}}, http.StatusNotFound)
	e.want(call{method: "DELETE", path: "/api/v1/channels/audited", token: admin}, http.StatusNotFound)
}
