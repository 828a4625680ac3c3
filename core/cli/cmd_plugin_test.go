package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/api"
	"github.com/restic-manager/restic-manager/core/auth"
	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// cliPlugins is an api.PluginService with one plugin and two channels.
type cliPlugins struct{}

func (cliPlugins) Plugins() []pluginhost.Status {
	return []pluginhost.Status{
		{
			Name: "notify-log", Kind: plugin.KindNotify, Source: pluginhost.SourceExternal, Path: "/srv/p/notify-log",
			SHA256: strings.Repeat("e8", 32), APIVersion: "1.0.0", PluginVersion: "0.1.0", State: pluginhost.StateRunning,
		},
		{
			Name: "notify-teams", Source: pluginhost.SourceExternal, SHA256: strings.Repeat("00", 32),
			State: pluginhost.StateFailed, LastError: "plugin checksum mismatch",
		},
	}
}

func (cliPlugins) Channels() []channel.Info {
	return []channel.Info{{Name: "broken", Plugin: "notify-log", ManagedBy: "config"}, {Name: "ops", Plugin: "notify-log", ManagedBy: "config"}}
}

func (cliPlugins) TestChannel(_ context.Context, name string) error {
	switch name {
	case "ops":
		return nil
	case "broken":
		return errors.New("open /var/log/n.jsonl: permission denied")
	}
	return fmt.Errorf("%w %q", channel.ErrUnknown, name)
}

// pluginServer is the real API with cliPlugins; it returns an admin token.
func pluginServer(t *testing.T) invocation {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "rm.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	setup, _ := auth.NewToken(auth.KindSetup)
	srv := httptest.NewServer(api.New(api.Options{
		Store: db, SetupTokenHash: auth.HashToken(setup), PasswordParams: auth.TestingParams, Plugins: cliPlugins{},
	}))
	t.Cleanup(srv.Close)
	var boot struct {
		Token string `json:"token"`
	}
	postJSON(t, srv.URL+"/api/v1/bootstrap", map[string]string{
		"setup_token": setup, "username": "root", "password": "correct horse battery",
	}, http.StatusCreated, &boot)
	return invocation{env: map[string]string{envAddr: srv.URL, envToken: boot.Token}}
}

func TestPluginList(t *testing.T) {
	t.Parallel()
	in := pluginServer(t)
	r := in.run(t, "plugin", "list")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"NAME          KIND    SOURCE    VERSION  API    STATE    RESTARTS  SHA256",
		"notify-log    notify  external  0.1.0    1.0.0  running  0         " + strings.Repeat("e8", 32),
		"notify-teams  -       external  -        -      failed   0         " + strings.Repeat("00", 32),
		"\nnotify-teams: plugin checksum mismatch\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("plugin list lacks %q:\n%s", want, r.stdout)
		}
	}
	r = in.run(t, "plugin", "list", "--json")
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil || len(got) != 2 {
		t.Fatalf("--json: %s (%v)", r.stdout, err)
	}
	if got[0]["id"] != "notify-log" || got[0]["sha256"] != strings.Repeat("e8", 32) || got[1]["state"] != "failed" {
		t.Errorf("--json: %v", got)
	}
}

func TestChannelListAndTest(t *testing.T) {
	t.Parallel()
	in := pluginServer(t)
	r := in.run(t, "channel", "list")
	if r.code != 0 || !strings.Contains(r.stdout, "NAME    PLUGIN      MANAGED BY\nbroken  notify-log  config\nops     notify-log  config\n") {
		t.Fatalf("channel list: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = in.run(t, "channel", "list", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"managed_by": "config"`) {
		t.Fatalf("channel list --json:\n%s", r.stdout)
	}

	tests := map[string]struct {
		name   string
		code   int
		stdout string
		stderr string
	}{
		"delivered": {name: "ops", stdout: "Sent a test notification through channel \"ops\".\n"},
		"plugin error": {
			name: "broken", code: 1,
			stderr: "Error: channel \"broken\": open /var/log/n.jsonl: permission denied (HTTP 502)\n",
		},
		"unknown": {name: "nope", code: 1, stderr: "Error: channel \"nope\": no channel \"nope\" (HTTP 404)\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := in.run(t, "channel", "test", tt.name)
			if r.code != tt.code || r.stdout != tt.stdout || r.stderr != tt.stderr {
				t.Errorf("channel test %s: exit %d\nstdout %q\nstderr %q", tt.name, r.code, r.stdout, r.stderr)
			}
		})
	}
	if r := in.run(t, "channel", "test"); r.code != 2 {
		t.Errorf("channel test without NAME: exit %d", r.code)
	}
}

func TestHiddenCommands(t *testing.T) {
	t.Parallel()
	cmds := Commands(Command{Name: "plugin serve", Synopsis: "Serve a built-in plugin", Usage: "Usage: restic-manager plugin serve NAME\n", Hidden: true})
	in := invocation{cmds: cmds}
	for _, args := range [][]string{{"--help"}, {"plugin"}} {
		r := in.run(t, args...)
		if strings.Contains(r.stdout, "plugin serve") || strings.Contains(r.stdout, "    serve ") || !strings.Contains(r.stdout, "list") {
			t.Errorf("%v lists the hidden command:\n%s", args, r.stdout)
		}
	}
	if r := in.run(t, "plugin", "serve", "--help"); r.code != 0 || !strings.Contains(r.stdout, "Usage: restic-manager plugin serve NAME") {
		t.Errorf("plugin serve --help: exit %d %q", r.code, r.stdout)
	}
}
