package plugin

import (
	"fmt"
	"os"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
)

// EnvLogLevel is the environment variable that sets a plugin's log level
// ("trace", "debug", "info", "warn", "error"); Logger defaults to "info".
// NewClientConfig sets it to the host logger's level.
const EnvLogLevel = "RM_PLUGIN_LOG_LEVEL"

// stderr is the process's real standard error, taken before go-plugin's
// Serve redirects os.Stderr into its stdio stream: the host parses the JSON
// log lines it reads there and re-logs them under the plugin's name.
var stderr = os.Stderr

// Logger returns the logger a plugin writes to: JSON lines on the process's
// standard error, at the level EnvLogLevel sets. A plugin logs only through
// it (or writes to stderr): its standard output belongs to go-plugin.
func Logger() hclog.Logger {
	level := hclog.LevelFromString(os.Getenv(EnvLogLevel))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	return hclog.New(&hclog.LoggerOptions{
		Level:      level,
		Output:     stderr,
		JSONFormat: true,
	})
}

// ServeConfig is what Serve needs. Plugin authors call the Serve function of
// their kind's package (notify.Serve, auth.Serve, backend.Serve), which
// fills it in.
type ServeConfig struct {
	// Kind and APIVersion are reported in Info in place of whatever Impl
	// says.
	Kind       Kind
	APIVersion string
	// Impl is the plugin.
	Impl Base
	// Plugin is the kind's go-plugin glue serving Impl, such as
	// &notify.GRPCPlugin{Impl: impl}. It is served under the kind's name.
	Plugin goplugin.Plugin
	// Logger receives go-plugin's own messages; nil means Logger().
	Logger hclog.Logger
}

// Serve serves a plugin to the host that started this process and returns
// when the host ends it (the process then exits). Started by hand, without
// the host's handshake, it prints an explanation and exits with status 1.
func Serve(cfg ServeConfig) {
	if cfg.Impl == nil || cfg.Plugin == nil || !cfg.Kind.Valid() {
		fmt.Fprintf(stderr, "restic-manager plugin: invalid ServeConfig (kind %q, impl %T, plugin %T)\n", cfg.Kind, cfg.Impl, cfg.Plugin)
		os.Exit(1)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = Logger()
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{ProtocolVersion: {
			BasePluginName:   &BasePlugin{Impl: cfg.Impl, Kind: cfg.Kind, APIVersion: cfg.APIVersion},
			string(cfg.Kind): cfg.Plugin,
		}},
		GRPCServer: goplugin.DefaultGRPCServer,
		Logger:     logger,
	})
}
