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
	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

var pluginMatrix = map[string]access{
	"plugin.list":  admin,
	"channel.list": viewer,
	"channel.test": operator,
}

// fakePlugins is a PluginService with two channels: "ops" delivers, "broken"
// fails with the plugin's error.
type fakePlugins struct {
	mu    sync.Mutex
	tests []string
}

func (f *fakePlugins) Plugins() []pluginhost.Status {
	return []pluginhost.Status{{
		Name: "notify-log", Kind: plugin.KindNotify, Source: pluginhost.SourceExternal, Path: "/srv/plugins/notify-log",
		SHA256: strings.Repeat("ab", 32), APIVersion: "1.0.0", PluginVersion: "0.1.0", State: pluginhost.StateRunning,
		Instances: []pluginhost.InstanceStatus{{Instance: "channel:ops", State: pluginhost.StateRunning, PID: 42}},
	}}
}

func (f *fakePlugins) Channels() []channel.Info {
	return []channel.Info{
		{Name: "broken", Plugin: "notify-log", ManagedBy: "config", Enabled: true},
		{Name: "ops", Plugin: "notify-log", ManagedBy: "config", Enabled: true},
	}
}

func (f *fakePlugins) TestChannel(_ context.Context, name string) error {
	f.mu.Lock()
	f.tests = append(f.tests, name)
	f.mu.Unlock()
	switch name {
	case "ops":
		return nil
	case "broken":
		return errors.New(`open /var/log/n.jsonl: permission denied`)
	}
	return fmt.Errorf("%w %q", channel.ErrUnknown, name)
}

// newPluginEnv is newEnv with a PluginService.
func newPluginEnv(t *testing.T, svc PluginService) *env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	e := &env{t: t, db: db, clock: &clock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)}, setupToken: setup}
	e.api = New(Options{
		Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams,
		Now: e.clock.Now, Plugins: svc,
	})
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

func TestPluginAndChannelEndpoints(t *testing.T) {
	t.Parallel()
	svc := &fakePlugins{}
	e := newPluginEnv(t, svc)
	root := e.bootstrap()
	viewerTok := e.user(root, "victor", "viewer")
	operatorTok := e.user(root, "olivia", "operator")

	r := e.want(call{method: "GET", path: "/api/v1/plugins", token: root}, http.StatusOK)
	var plugins struct {
		Items []map[string]any `json:"items"`
	}
	r.decode(t, &plugins)
	if len(plugins.Items) != 1 {
		t.Fatalf("plugins %s", r.body)
	}
	p := plugins.Items[0]
	for k, want := range map[string]any{
		"id": "notify-log", "name": "notify-log", "kind": "notify", "source": "external", "path": "/srv/plugins/notify-log",
		"sha256": strings.Repeat("ab", 32), "api_version": "1.0.0", "plugin_version": "0.1.0", "state": "running",
		"restarts": float64(0), "last_error": "",
	} {
		if p[k] != want {
			t.Errorf("plugin %s = %v, want %v", k, p[k], want)
		}
	}

	r = e.want(call{method: "GET", path: "/api/v1/channels", token: viewerTok}, http.StatusOK)
	if got := string(r.body); !strings.Contains(got, `{"id":"ops","name":"ops","plugin":"notify-log","managed_by":"config","enabled":true}`) || strings.Contains(got, "config\":{") {
		t.Errorf("channels %s", got)
	}

	r = e.want(call{method: "POST", path: "/api/v1/channels/ops/test", token: operatorTok}, http.StatusOK)
	if strings.TrimSpace(string(r.body)) != `{"ok":true}` {
		t.Errorf("test ops: %s", r.body)
	}
	r = e.want(call{method: "POST", path: "/api/v1/channels/broken/test", token: operatorTok}, http.StatusBadGateway)
	if r.errCode(t) != "plugin_error" || !strings.Contains(string(r.body), "permission denied") {
		t.Errorf("test broken: %s", r.body)
	}
	e.want(call{method: "POST", path: "/api/v1/channels/nope/test", token: operatorTok}, http.StatusNotFound)
	e.want(call{method: "POST", path: "/api/v1/channels/ops/test", token: viewerTok}, http.StatusForbidden)

	entries, err := e.db.ListAudit(context.Background(), store.AuditFilter{Action: "channel.test", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]string{}
	for _, en := range entries {
		if en.ActorName == "olivia" && en.TargetKind == "channel" {
			outcomes[en.TargetID] = en.Outcome
		}
		if en.TargetID == "ops" && en.Outcome == "success" && en.Detail["plugin"] != "notify-log" {
			t.Errorf("audit detail %v", en.Detail)
		}
	}
	want := map[string]string{"ops": "success", "broken": "failure", "nope": "failure"}
	if fmt.Sprint(outcomes) != fmt.Sprint(want) {
		t.Errorf("channel.test audit outcomes %v, want %v", outcomes, want)
	}
}

func TestPluginEndpointsWithoutPlugins(t *testing.T) {
	t.Parallel()
	e := newPluginEnv(t, nil)
	root := e.bootstrap()
	for _, path := range []string{"/api/v1/plugins", "/api/v1/channels"} {
		r := e.want(call{method: "GET", path: path, token: root}, http.StatusOK)
		if strings.TrimSpace(string(r.body)) != `{"items":[],"next_cursor":""}` {
			t.Errorf("%s: %s", path, r.body)
		}
	}
	e.want(call{method: "POST", path: "/api/v1/channels/ops/test", token: root}, http.StatusNotFound)
}

// drivePluginRoutes makes every state change of this area once, for
// TestEveryStateChangeIsAudited.
func drivePluginRoutes(e *env, admin string) []string {
	e.t.Helper()
	e.want(call{method: "POST", path: "/api/v1/channels/audited/test", token: admin}, http.StatusNotFound)
	driveChannelRoutes(e, admin)
	return nil
}
