package config

import (
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func TestLoadPluginsAndChannels(t *testing.T) {
	t.Parallel()
	requireUnset(t, "RM_CONFIG_TEST_NTFY_TOKEN")
	cfg, files, diags := Load(filepath.Join("testdata", "plugins.hcl"))
	if len(diags) > 0 {
		t.Fatalf("Load: unexpected diagnostics:\n%s", diagText(t, files, diags))
	}
	if cfg.Server.PluginDir != "/usr/local/lib/restic-manager/plugins" {
		t.Errorf("plugin_dir = %q", cfg.Server.PluginDir)
	}
	type plug struct {
		Name, Command, SHA256 string
		Args                  []string
	}
	var plugins []plug
	for _, p := range cfg.Plugins {
		plugins = append(plugins, plug{p.Name, p.Command, p.SHA256, p.Args})
		if p.DefRange.Start.Line == 0 || p.NameRange.Start.Line == 0 || p.SHA256Range.Start.Line == 0 {
			t.Errorf("plugin %s has no source ranges: %+v", p.Name, p)
		}
	}
	wantPlugins := []plug{
		{"notify-log", "notify-log", "e83b284a5b5c7650415fe63912d78824acbd82692a1bcf6c4d3c2399fc0dc527", nil},
		{"notify-teams", "teams/notify-teams", "E83B284A5B5C7650415FE63912D78824ACBD82692A1BCF6C4D3C2399FC0DC527", []string{"--verbose"}},
	}
	if !reflect.DeepEqual(plugins, wantPlugins) {
		t.Errorf("plugins = %+v\nwant %+v", plugins, wantPlugins)
	}
	var channels []string
	for _, c := range cfg.Channels {
		channels = append(channels, c.Name+"="+c.Plugin)
	}
	if want := []string{"audit-log=notify-log", "ops_push=notify-ntfy", "bare=notify-teams"}; !reflect.DeepEqual(channels, want) {
		t.Errorf("channels = %v, want %v", channels, want)
	}
	if cfg.Channels[0].Config == nil || cfg.Channels[2].Config != nil {
		t.Errorf("config blocks: %+v, %+v", cfg.Channels[0].Config, cfg.Channels[2].Config)
	}
}

// logSchema is notify-log's schema.
var logSchema = plugin.Schema{Attributes: []plugin.Attribute{
	{Name: "path", Type: plugin.TypeString, Required: true, Description: "File."},
	{Name: "min_severity", Type: plugin.TypeString, Description: "Least severity."},
}}

func loadChannel(t *testing.T, src string) (*Channel, *Files) {
	t.Helper()
	cfg, files, diags := LoadBytes([]byte(src), "server.hcl")
	if diags.HasErrors() {
		t.Fatalf("LoadBytes:\n%s", diagText(t, files, diags))
	}
	if len(cfg.Channels) != 1 {
		t.Fatalf("%d channels", len(cfg.Channels))
	}
	return &cfg.Channels[0], files
}

func TestChannelDecodeConfig(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		src  string
		json string // want, when no error
		diag []string
	}{
		"valid": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    path = \"/var/log/n.jsonl\"\n  }\n}\n",
			json: `{"path":"/var/log/n.jsonl"}`,
		},
		"typo": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    path        = \"/var/log/n.jsonl\"\n    min_severty = \"warning\"\n  }\n}\n",
			diag: []string{"Error: server.hcl:5:5: Unsupported argument", `Did you mean "min_severity"?`, `5:     min_severty = "warning"`, "\n        ^^^^^^^^^^^\n"},
		},
		"wrong type": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    path = [\"x\"]\n  }\n}\n",
			diag: []string{"Error: server.hcl:4:12: Incorrect attribute value type"},
		},
		"missing required": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    min_severity = \"info\"\n  }\n}\n",
			diag: []string{"Error: server.hcl:3:10: Missing required argument", `The argument "path" is required`},
		},
		"no config block": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n}\n",
			diag: []string{"Error: server.hcl:1:1: Missing required argument", `The argument "path" is required`},
		},
		"unset env": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    path = env(\"RM_CONFIG_TEST_NEVER_SET\")\n  }\n}\n",
			diag: []string{"Error: server.hcl:4:12: Error in function call", `"RM_CONFIG_TEST_NEVER_SET" is not set`, "          ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"},
		},
		"nested block": {
			src:  "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    path = \"/x\"\n    extra {\n    }\n  }\n}\n",
			diag: []string{"Error: server.hcl:5:5: Unsupported block type"},
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			requireUnset(t, "RM_CONFIG_TEST_NEVER_SET")
			ch, files := loadChannel(t, tt.src)
			js, diags := ch.DecodeConfig(logSchema)
			if tt.diag == nil {
				if diags.HasErrors() {
					t.Fatalf("DecodeConfig:\n%s", diagText(t, files, diags))
				}
				if string(js) != tt.json {
					t.Fatalf("DecodeConfig = %s, want %s", js, tt.json)
				}
				return
			}
			if !diags.HasErrors() {
				t.Fatalf("DecodeConfig = %s without an error", js)
			}
			text := diagText(t, files, diags)
			for _, want := range tt.diag {
				if !strings.Contains(text, want) && !containsAll(text, want) {
					t.Errorf("diagnostics lack %q:\n%s", want, text)
				}
			}
		})
	}
}

func TestChannelConfigUsesFunctionsAtDecode(t *testing.T) {
	// Not parallel: it sets an environment variable.
	t.Setenv("RM_CONFIG_TEST_CHANNEL_PATH", "/from/env")
	ch, files := loadChannel(t, "channel \"a\" {\n  plugin = \"notify-log\"\n  config {\n    path = env(\"RM_CONFIG_TEST_CHANNEL_PATH\")\n  }\n}\n")
	js, diags := ch.DecodeConfig(logSchema)
	if diags.HasErrors() {
		t.Fatal(diagText(t, files, diags))
	}
	var got map[string]string
	if err := json.Unmarshal(js, &got); err != nil || got["path"] != "/from/env" {
		t.Fatalf("config %s (%v)", js, err)
	}
	if r := ch.ConfigRange(); r.Start.Line != 3 {
		t.Errorf("ConfigRange = %v, want line 3", r)
	}
	var noBlock Channel
	noBlock.DefRange = hcl.Range{Filename: "x.hcl", Start: hcl.Pos{Line: 7, Column: 1}}
	if r := noBlock.ConfigRange(); r.Start.Line != 7 {
		t.Errorf("ConfigRange without a config block = %v", r)
	}
}
