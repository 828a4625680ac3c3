package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/internal/testkit"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// setup installs notify-log into a plugin_dir and returns the HCL that
// registers it, and the directory for notification files.
func setup(t *testing.T) (pluginHCL, outDir string) {
	t.Helper()
	_, pluginHCL = testkit.InstallPlugin(t, "github.com/restic-manager/restic-manager/sdk/examples/notify-log", "notify-log")
	return pluginHCL, t.TempDir()
}

// loadText loads src as server.hcl and the channels it declares.
func loadText(t *testing.T, src string) (*Registry, string) {
	t.Helper()
	cfg, files, diags := config.LoadBytes([]byte(src), "server.hcl")
	if diags.HasErrors() {
		t.Fatalf("config:\n%s", diagText(t, files, diags))
	}
	exts := make([]pluginhost.External, 0, len(cfg.Plugins))
	for _, p := range cfg.Plugins {
		exts = append(exts, pluginhost.External{Name: p.Name, Command: p.Command, Args: p.Args, SHA256: p.SHA256})
	}
	h, err := pluginhost.New(pluginhost.Options{
		PluginDir: cfg.Server.PluginDir, Externals: exts,
		Builtins: []pluginhost.Builtin{{Name: "builtin-backend", Kind: plugin.KindBackend, Serve: func() {}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, diags := Load(ctx, h, cfg.Channels)
	if diags.HasErrors() {
		return nil, diagText(t, files, diags)
	}
	return reg, ""
}

func diagText(t *testing.T, files *config.Files, diags hcl.Diagnostics) string {
	t.Helper()
	var buf bytes.Buffer
	if err := config.WriteDiagnostics(&buf, files, diags); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func TestLoadAndTest(t *testing.T) {
	t.Parallel()
	pluginHCL, out := setup(t)
	a, b := filepath.Join(out, "a.jsonl"), filepath.Join(out, "b.jsonl")
	reg, errs := loadText(t, pluginHCL+fmt.Sprintf(`
channel "ops-a" {
  plugin = "notify-log"
  config {
    path = %q
  }
}

channel "ops-b" {
  plugin = "notify-log"
  config {
    path         = %q
    min_severity = "critical"
  }
}
`, a, b))
	if errs != "" {
		t.Fatal(errs)
	}
	want := []Info{{Name: "ops-a", Plugin: "notify-log", ManagedBy: "config", Enabled: true}, {Name: "ops-b", Plugin: "notify-log", ManagedBy: "config", Enabled: true}}
	if got := reg.List(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("List = %v, want %v", got, want)
	}
	ctx := context.Background()
	if err := reg.Test(ctx, "ops-a"); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal(raw, &n); err != nil || n["event"] != "test" || !strings.Contains(n["body"].(string), `"ops-a"`) {
		t.Fatalf("ops-a got %s (%v)", raw, err)
	}
	// ops-b has its own configuration (another plugin instance): an info
	// test notification is below its min_severity and not written.
	if err := reg.Test(ctx, "ops-b"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(b); !os.IsNotExist(err) {
		t.Fatalf("ops-b wrote a notification below its min_severity: %v", err)
	}
	if err := reg.Test(ctx, "nope"); !errors.Is(err, ErrUnknown) {
		t.Fatalf("Test(nope) = %v", err)
	}
}

func TestLoadDiagnostics(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		channel string // %s is the output directory
		want    []string
	}{
		"typo in config": {
			channel: "channel \"ops\" {\n  plugin = \"notify-log\"\n  config {\n    path        = \"%s/n.jsonl\"\n    min_severty = \"warning\"\n  }\n}\n",
			want:    []string{"Error: server.hcl:14:5: Unsupported argument", `Did you mean "min_severity"?`},
		},
		"missing required": {
			channel: "channel \"ops\" {\n  plugin = \"notify-log\"\n}\n",
			want:    []string{"Error: server.hcl:10:1: Missing required argument", `The argument "path" is required`},
		},
		"rejected by the plugin": {
			channel: "channel \"ops\" {\n  plugin = \"notify-log\"\n  config {\n    path = \"relative.jsonl\"\n  }\n}\n",
			want:    []string{"Error: server.hcl:12:3: Plugin rejected the configuration", `path "relative.jsonl" is not absolute`},
		},
		"unknown plugin": {
			channel: "channel \"ops\" {\n  plugin = \"notify-lgo\"\n}\n",
			want:    []string{"Error: server.hcl:11:12: Unknown plugin", "the known ones are builtin-backend, notify-log"},
		},
		"wrong kind": {
			channel: "channel \"ops\" {\n  plugin = \"builtin-backend\"\n}\n",
			want:    []string{"Error: server.hcl:11:12: Not a notify plugin", "is a backend plugin, not a notify plugin"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pluginHCL, out := setup(t)
			src := pluginHCL + "\n" + tt.channel
			if strings.Contains(tt.channel, "%s") {
				src = pluginHCL + "\n" + fmt.Sprintf(tt.channel, out)
			}
			reg, errs := loadText(t, src)
			if reg != nil {
				t.Fatal("Load returned a registry despite errors")
			}
			for _, w := range tt.want {
				if !strings.Contains(strings.Join(strings.Fields(errs), " "), strings.Join(strings.Fields(w), " ")) {
					t.Errorf("diagnostics lack %q:\n%s", w, errs)
				}
			}
		})
	}
}

func TestLoadReportsAPluginThatCannotStart(t *testing.T) {
	t.Parallel()
	pluginHCL, _ := setup(t)
	// Pin a checksum the binary does not have.
	i := strings.Index(pluginHCL, "sha256  = \"") + len("sha256  = \"")
	bad := pluginHCL[:i] + strings.Repeat("0", 64) + pluginHCL[i+64:]
	_, errs := loadText(t, bad+"\nchannel \"ops\" {\n  plugin = \"notify-log\"\n}\n")
	if !strings.Contains(errs, "Error: server.hcl:11:12: Plugin cannot start") || !strings.Contains(errs, "pinned sha256") {
		t.Fatalf("diagnostics:\n%s", errs)
	}
}
