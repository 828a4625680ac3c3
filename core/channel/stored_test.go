package channel

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/core/secrets"
	"github.com/restic-manager/restic-manager/core/store"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
)

// storedEnv is a server's channel state as the server builds it: the
// registry of the configuration's channels, a real store and keyring, and
// the stored channels over them.
type storedEnv struct {
	t         *testing.T
	pluginHCL string
	dbPath    string
	keyring   *secrets.Keyring
}

func newStoredEnv(t *testing.T) *storedEnv {
	t.Helper()
	pluginHCL, _ := setup(t)
	dir := t.TempDir()
	kr, err := secrets.CreateKeyFile(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &storedEnv{t: t, pluginHCL: pluginHCL, dbPath: filepath.Join(dir, "rm.db"), keyring: kr}
}

// start loads the configuration's channels (extra HCL) and the stored
// ones, as a server start does.
func (e *storedEnv) start(extraHCL string) (*Registry, *Stored, *store.DB) {
	e.t.Helper()
	cfg, _, diags := config.LoadBytes([]byte(e.pluginHCL+extraHCL), "server.hcl")
	if diags.HasErrors() {
		e.t.Fatal(diags)
	}
	var exts []pluginhost.External
	for _, p := range cfg.Plugins {
		exts = append(exts, pluginhost.External{Name: p.Name, Command: p.Command, SHA256: p.SHA256})
	}
	h, err := pluginhost.New(pluginhost.Options{PluginDir: cfg.Server.PluginDir, Externals: exts})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(h.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	reg, diags := Load(ctx, h, cfg.Channels)
	if diags.HasErrors() {
		e.t.Fatal(diags)
	}
	db, err := store.Open(ctx, e.dbPath, store.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = db.Close() })
	s := NewStored(reg, h, db, e.keyring, hclog.NewNullLogger())
	if err := s.Load(ctx); err != nil {
		e.t.Fatal(err)
	}
	return reg, s, db
}

func TestStoredChannels(t *testing.T) {
	t.Parallel()
	e := newStoredEnv(t)
	out := t.TempDir()
	reg, s, db := e.start("")
	ctx := context.Background()
	logA := filepath.Join(out, "a.jsonl")

	// Problems name their field.
	for name, tc := range map[string]struct {
		spec Spec
		want []string
	}{
		"bad name":       {Spec{Name: "Ops A", Plugin: "notify-log"}, []string{"name: "}},
		"unknown plugin": {Spec{Name: "ops", Plugin: "notify-nope"}, []string{"plugin: no plugin is named \"notify-nope\"", "notify-log"}},
		"unknown setting": {
			Spec{Name: "ops", Plugin: "notify-log", Config: map[string]any{"path": logA, "colour": "red"}},
			[]string{`config.colour: plugin notify-log has no setting "colour"; its settings are path, min_severity`},
		},
		"missing setting": {Spec{Name: "ops", Plugin: "notify-log", Config: map[string]any{}}, []string{"config.path: is required"}},
		"wrong type":      {Spec{Name: "ops", Plugin: "notify-log", Config: map[string]any{"path": 42.0}}, []string{"config.path: want a string, got 42"}},
	} {
		_, err := s.Create(ctx, tc.spec)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) || len(Problems(err)) == 0 {
				t.Errorf("%s: %v, want %q", name, err, w)
			}
		}
	}
	_, err := s.Create(ctx, Spec{Name: "ops", Plugin: "notify-log", Config: map[string]any{"path": "relative.jsonl"}})
	var rejected *RejectedError
	if !errors.As(err, &rejected) {
		t.Errorf("a path the plugin refuses: %v", err)
	}

	info, err := s.Create(ctx, Spec{Name: "ops-a", Plugin: "notify-log", Enabled: true, Config: map[string]any{"path": logA, "min_severity": "info"}})
	if err != nil {
		t.Fatal(err)
	}
	if info.ManagedBy != ManagedByAPI || !info.Enabled || info.Config["path"] != logA || info.CreatedAt == nil {
		t.Errorf("created %+v", info)
	}
	if _, err := s.Create(ctx, Spec{Name: "ops-a", Plugin: "notify-log", Config: map[string]any{"path": logA}}); !errors.Is(err, ErrExists) {
		t.Errorf("a second ops-a: %v", err)
	}
	// Live at once: the registry sends through it.
	if err := reg.Test(ctx, "ops-a"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(logA); err != nil || !strings.Contains(string(b), "Test notification") {
		t.Fatalf("notification file: %v %s", err, b)
	}
	// Sealed at rest: the row holds none of the configuration in the clear.
	row, err := db.GetChannel(ctx, "ops-a")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(row.Sealed, []byte(logA)) || bytes.Contains(row.Sealed, []byte("notify-log")) {
		t.Error("the stored channel is not sealed")
	}

	// Disabled: nothing is sent, and Send says why.
	off := false
	if _, err := s.Update(ctx, "ops-a", Patch{Enabled: &off}); err != nil {
		t.Fatal(err)
	}
	if err := reg.Test(ctx, "ops-a"); !errors.Is(err, ErrDisabled) {
		t.Errorf("test of a disabled channel: %v", err)
	}
	// A change the plugin refuses leaves the channel as it was.
	on := true
	if _, err := s.Update(ctx, "ops-a", Patch{Enabled: &on, Config: map[string]any{"path": "relative"}}); !errors.As(err, &rejected) {
		t.Errorf("refused change: %v", err)
	}
	if got, _ := reg.Get("ops-a"); got.Enabled || got.Config["path"] != logA {
		t.Errorf("after a refused change: %+v", got)
	}
	logB := filepath.Join(out, "b.jsonl")
	if _, err := s.Update(ctx, "ops-a", Patch{Enabled: &on, Config: map[string]any{"path": logB, "min_severity": ""}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := reg.Get("ops-a"); !got.Enabled || got.Config["path"] != logB || got.Config["min_severity"] != nil {
		t.Errorf("after the change: %+v", got)
	}

	// In use: a rule sends to it, so it cannot be deleted.
	now := time.Now()
	if err := db.CreateAlertRule(ctx, store.AlertRule{
		ID: "r1", Name: "failed", Event: "job_failed", Params: []byte(`{}`), MinSeverity: "warning",
		Channels: []string{"ops-a"}, Repeat: time.Hour, Enabled: true, ManagedBy: "user", CreatedAt: now, UpdatedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	var inUse *store.ChannelInUseError
	if err := s.Delete(ctx, "ops-a"); !errors.As(err, &inUse) || strings.Join(inUse.Rules, ",") != "failed" {
		t.Errorf("deleting a channel in use: %v", err)
	}

	// A restart: the stored channel is back, configured as last saved; one
	// the configuration file now declares is taken over by it.
	if _, err := s.Create(ctx, Spec{Name: "ops-c", Plugin: "notify-log", Enabled: true, Config: map[string]any{"path": logA}}); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	reg2, s2, db2 := e.start("channel \"ops-c\" {\n  plugin = \"notify-log\"\n  config {\n    path = \"" + logA + "\"\n  }\n}\n")
	got, ok := reg2.Get("ops-a")
	if !ok || got.ManagedBy != ManagedByAPI || got.Config["path"] != logB || !got.Enabled {
		t.Fatalf("after a restart: %+v %v", got, ok)
	}
	if err := reg2.Test(ctx, "ops-a"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(logB); err != nil || !strings.Contains(string(b), "Test notification") {
		t.Errorf("notification after the restart: %v %s", err, b)
	}
	if c, _ := reg2.Get("ops-c"); c.ManagedBy != ManagedByConfig {
		t.Errorf("ops-c after the config declares it: %+v", c)
	}
	if _, err := db2.GetChannel(ctx, "ops-c"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the taken-over row: %v", err)
	}
	if err := s2.Delete(ctx, "ops-c"); !errors.Is(err, ErrManagedByConfig) {
		t.Errorf("deleting a config channel: %v", err)
	}
	if err := db2.DeleteAlertRule(ctx, "r1", now); err != nil {
		t.Fatal(err)
	}
	if err := s2.Delete(ctx, "ops-a"); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg2.Get("ops-a"); ok {
		t.Error("ops-a is still listed after its delete")
	}
	if err := reg2.Test(ctx, "ops-a"); !errors.Is(err, ErrUnknown) {
		t.Errorf("test after delete: %v", err)
	}
}
