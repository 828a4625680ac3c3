package testkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/core/config"
	"github.com/restic-manager/restic-manager/internal/pluginhost"
)

// An installed plugin is the built binary, executable, and the HCL pins
// its checksum: the plugin host starts it as a notifier.
func TestInstallPluginStartsUnderThePluginHost(t *testing.T) {
	t.Parallel()
	const pkg = "github.com/restic-manager/restic-manager/sdk/examples/notify-log"
	dir, hcl := InstallPlugin(t, pkg, "notify-log")
	bin, err := os.ReadFile(filepath.Join(dir, "notify-log"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	if !strings.Contains(hcl, hex.EncodeToString(sum[:])) {
		t.Errorf("the HCL does not pin the installed binary's SHA-256:\n%s", hcl)
	}
	if again := PluginBinary(t, pkg); string(again) != string(bin) {
		t.Error("a second PluginBinary returns other bytes than the installed plugin")
	}
	cfg, _, diags := config.LoadBytes([]byte(hcl), "server.hcl")
	if diags.HasErrors() {
		t.Fatalf("the HCL does not load: %s", diags)
	}
	if cfg.Server.PluginDir != dir || len(cfg.Plugins) != 1 {
		t.Fatalf("the HCL gives plugin_dir %q and %d plugins", cfg.Server.PluginDir, len(cfg.Plugins))
	}
	p := cfg.Plugins[0]
	host, err := pluginhost.New(pluginhost.Options{
		PluginDir: dir, Externals: []pluginhost.External{{Name: p.Name, Command: p.Command, SHA256: p.SHA256}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := host.Notifier(ctx, "notify-log"); err != nil {
		t.Fatalf("the plugin host cannot start the installed plugin: %v", err)
	}
}
