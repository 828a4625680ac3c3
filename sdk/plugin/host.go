package plugin

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// ClientOptions describes how a host starts one plugin binary.
type ClientOptions struct {
	// Path is the plugin binary: an absolute path that the host has already
	// checked resolves inside its plugin_dir (or its own executable, for a
	// built-in plugin).
	Path string
	// Args are the binary's arguments, such as "plugin", "serve", NAME for a
	// built-in plugin.
	Args []string
	// SHA256 is the binary's expected SHA-256 digest. It is required: go-plugin
	// checks it right before every start (SecureConfig), so a binary swapped
	// after registration never runs.
	SHA256 []byte
	// Env is the plugin's whole environment; nil means MinimalEnv(). The
	// host's own environment is never passed on, so its secrets stay out of
	// plugins. EnvLogLevel is added from Logger's level unless Env sets it.
	Env []string
	// Plugins are the kinds the host may dispense, as empty glue values:
	// goplugin.PluginSet{notify.PluginName: &notify.GRPCPlugin{}}. The Base
	// plugin is always added.
	Plugins goplugin.PluginSet
	// Logger receives go-plugin's messages and the plugin's own log lines,
	// which it re-logs under its name; nil discards them.
	Logger hclog.Logger
	// StartTimeout bounds the wait for the plugin's handshake; 0 means 30s.
	StartTimeout time.Duration
}

// NewClientConfig returns the go-plugin client configuration for a plugin
// binary, with restic-manager's handshake, gRPC only, automatic mutual TLS
// and the SHA-256 pin. Pass it to goplugin.NewClient.
func NewClientConfig(opts ClientOptions) (*goplugin.ClientConfig, error) {
	if !filepath.IsAbs(opts.Path) {
		return nil, fmt.Errorf("plugin path %q is not absolute", opts.Path)
	}
	if len(opts.SHA256) != sha256.Size {
		return nil, errors.New("plugin SHA-256 checksum is required (32 bytes)")
	}
	logger := opts.Logger
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	env := opts.Env
	if env == nil {
		env = MinimalEnv()
	}
	if !hasEnv(env, EnvLogLevel) {
		if level := logger.GetLevel(); level != hclog.NoLevel && level != hclog.Off {
			env = append(env, EnvLogLevel+"="+level.String())
		}
	}
	timeout := opts.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	// The host resolved Path inside its plugin_dir; SecureConfig checks the
	// binary's checksum before it runs.
	cmd := exec.Command(opts.Path, opts.Args...) //nolint:gosec // G204: running the configured plugin is the point

	cmd.Env = env
	dieWithHost(cmd)
	return &goplugin.ClientConfig{
		HandshakeConfig:  Handshake,
		VersionedPlugins: VersionedPlugins(opts.Plugins),
		Cmd:              cmd,
		SkipHostEnv:      true,
		SecureConfig:     &goplugin.SecureConfig{Checksum: opts.SHA256, Hash: sha256.New()},
		AutoMTLS:         true,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           logger,
		StartTimeout:     timeout,
	}, nil
}

// minimalEnvNames are the variables MinimalEnv passes on: what a program
// needs to find executables, temporary files, its time zone and locale, and
// nothing that usually holds a secret.
var minimalEnvNames = map[string][]string{
	"windows": {"SystemRoot", "SystemDrive", "windir", "ComSpec", "PATHEXT", "Path", "PATH", "TEMP", "TMP", "USERPROFILE", "LOCALAPPDATA", "APPDATA", "ProgramData"},
	"":        {"PATH", "HOME", "USER", "TMPDIR", "TZ", "LANG", "LC_ALL", "SSL_CERT_FILE", "SSL_CERT_DIR"},
}

// MinimalEnv returns the part of the host's environment a plugin gets by
// default: the variables a program needs to run (PATH, HOME, TMPDIR, TZ,
// locale, CA bundle location; their Windows counterparts), no others.
func MinimalEnv() []string {
	names, ok := minimalEnvNames[runtime.GOOS]
	if !ok {
		names = minimalEnvNames[""]
	}
	env := make([]string, 0, len(names))
	for _, name := range names {
		if v, ok := os.LookupEnv(name); ok {
			env = append(env, name+"="+v)
		}
	}
	return env
}

func hasEnv(env []string, name string) bool {
	for _, kv := range env {
		if len(kv) > len(name) && kv[len(name)] == '=' && kv[:len(name)] == name {
			return true
		}
	}
	return false
}
