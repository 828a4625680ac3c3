package server

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/core/channel"
	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

func TestCheckPluginsPointsAtThePluginBlock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	outside := filepath.Join(t.TempDir(), "elsewhere")
	if err := os.WriteFile(outside, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "inside"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	src := "server {\n  plugin_dir = \"" + dir + "\"\n}\n\n" +
		"plugin \"missing\" {\n  command = \"missing\"\n  sha256  = \"" + sum + "\"\n}\n\n" +
		"plugin \"escape\" {\n  command = \"escape\"\n  sha256  = \"" + sum + "\"\n}\n\n" +
		"plugin \"notify-x\" {\n  command = \"inside\"\n  sha256  = \"" + sum + "\"\n}\n"
	cfg, _, diags := config.LoadBytes([]byte(src), "server.hcl")
	if diags.HasErrors() {
		t.Fatal(diags.Error())
	}
	builtins := []pluginhost.Builtin{{Name: "notify-x", Kind: plugin.KindNotify, Serve: func() {}}}
	diags = CheckPlugins(context.Background(), cfg, builtins)
	got := map[string]string{}
	for _, d := range diags {
		if d.Subject == nil {
			t.Fatalf("diagnostic without a position: %s: %s", d.Summary, d.Detail)
		}
		got[d.Detail] = d.Subject.String()
	}
	want := map[string]string{
		"no such file":                    "server.hcl:6,13-22",
		"outside":                         "server.hcl:11,13-21",
		"a built-in plugin has this name": "server.hcl:15,8-18",
	}
	for text, pos := range want {
		found := false
		for detail, at := range got {
			if strings.Contains(detail, text) && at == pos {
				found = true
			}
		}
		if !found {
			t.Errorf("no diagnostic with %q at %s in %v", text, pos, got)
		}
	}
	err := diagnosticsError(diags)
	if !strings.Contains(err.Error(), "server.hcl:6:13: Invalid plugin") {
		t.Errorf("error %q does not name file:line:col", err)
	}
}

func TestLoadPluginsWithoutPlugins(t *testing.T) {
	t.Parallel()
	p, diags := LoadPlugins(context.Background(), config.Default(), nil, nil)
	if diags.HasErrors() || p == nil {
		t.Fatalf("LoadPlugins: %v", diags)
	}
	defer p.Close()
	if len(p.Plugins()) != 0 || len(p.Channels()) != 0 {
		t.Fatalf("plugins %v, channels %v", p.Plugins(), p.Channels())
	}
	if err := p.TestChannel(context.Background(), "x"); err == nil || !errors.Is(err, channel.ErrUnknown) {
		t.Fatalf("TestChannel: %v", err)
	}
}
