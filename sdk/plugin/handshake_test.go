package plugin

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

func TestCheckAPIVersion(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		want, got string
		err       string
	}{
		"same":            {"1.0.0", "1.0.0", ""},
		"newer minor":     {"1.0.0", "1.4.2", ""},
		"older minor":     {"1.3.0", "1.0.0", ""},
		"v prefix":        {"v1.0.0", "1.2.0", ""},
		"prerelease":      {"1.0.0", "1.1.0-rc.1", ""},
		"other major":     {"1.0.0", "2.0.0", "incompatible"},
		"empty":           {"1.0.0", "", "no API version"},
		"not semver":      {"1.0.0", "one", "not a semantic version"},
		"short":           {"1.0.0", "1.0", "not a semantic version"},
		"bad host":        {"x", "1.0.0", "host API version"},
		"major zero, too": {"0.1.0", "1.0.0", "incompatible"},
	}
	for name, tc := range tests {
		err := CheckAPIVersion(tc.want, tc.got)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want %q", name, err, tc.err)
		}
	}
}

func TestVersionedPluginsAddsBase(t *testing.T) {
	t.Parallel()
	other := &BasePlugin{}
	vp := VersionedPlugins(goplugin.PluginSet{"notify": other})
	set, ok := vp[ProtocolVersion]
	if !ok || len(vp) != 1 {
		t.Fatalf("VersionedPlugins = %v, want protocol %d only", vp, ProtocolVersion)
	}
	if _, ok := set[BasePluginName].(*BasePlugin); !ok || set["notify"] != other {
		t.Errorf("plugin set = %v", set)
	}
}

func TestNewClientConfig(t *testing.T) {
	t.Setenv("HOME", "/home/rm")
	t.Setenv("RM_TOKEN", "host-secret")
	bin := filepath.Join(t.TempDir(), "notify-x")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte("#!/bin/sh\n"))

	cfg, err := NewClientConfig(ClientOptions{
		Path:   bin,
		Args:   []string{"serve"},
		SHA256: sum[:],
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Debug, Output: hclog.DefaultOutput}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.AutoMTLS || !cfg.SkipHostEnv || cfg.SecureConfig == nil || cfg.HandshakeConfig != Handshake {
		t.Errorf("config lacks mTLS, env isolation, checksum or handshake: %+v", cfg)
	}
	if !slices.Equal(cfg.AllowedProtocols, []goplugin.Protocol{goplugin.ProtocolGRPC}) {
		t.Errorf("protocols = %v, want gRPC only", cfg.AllowedProtocols)
	}
	if ok, err := cfg.SecureConfig.Check(bin); !ok || err != nil {
		t.Errorf("checksum of the binary: %v, %v", ok, err)
	}
	if !slices.Equal(cfg.Cmd.Args, []string{bin, "serve"}) {
		t.Errorf("argv = %q", cfg.Cmd.Args)
	}
	if !slices.Contains(cfg.Cmd.Env, "HOME=/home/rm") || !slices.Contains(cfg.Cmd.Env, EnvLogLevel+"=debug") {
		t.Errorf("env %q lacks HOME or the log level", cfg.Cmd.Env)
	}
	for _, kv := range cfg.Cmd.Env {
		if strings.Contains(kv, "host-secret") {
			t.Errorf("the host's environment leaks into the plugin's: %q", kv)
		}
	}

	for name, opts := range map[string]ClientOptions{
		"relative path": {Path: "notify-x", SHA256: sum[:]},
		"no checksum":   {Path: bin},
		"short sum":     {Path: bin, SHA256: sum[:8]},
	} {
		if _, err := NewClientConfig(opts); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
