// Package config loads and validates the server's HCL configuration file.
//
// A file is parsed with hclparse, decoded with gohcl into the types below
// (pre-filled with Default, so a missing attribute keeps its default), and
// then validated. Every problem is reported as an hcl.Diagnostic whose
// Subject points at the offending source, and WriteDiagnostics prints them
// with file:line:col, the source line and a caret.
//
// Relative paths (data_dir, secret_key_file, tls files) are kept as written
// and resolve against the process working directory, not the directory of
// the configuration file. Only the file() function resolves its argument
// against the configuration file's directory.
package config

import "path/filepath"

// Defaults of the embedded configuration, used for every attribute a file
// leaves out.
const (
	defaultListen    = "127.0.0.1:8080"
	defaultDataDir   = "./data"
	defaultLogLevel  = "info"
	defaultLogFormat = "text"
	secretKeyName    = "secret.key"
)

// Config is the whole server configuration.
//
// A new top-level block is a field here, a field in fileRoot (load.go) and
// its validation (validate.go).
type Config struct {
	Server Server
	Log    Log
	// Plugins are the plugin blocks: external plugins in plugin_dir.
	Plugins []Plugin
	// Channels are the channel blocks: notification channels.
	Channels []Channel
	// Alerts are the alert blocks: alert rules (alerts.go).
	Alerts []Alert
	// Alerting is the alerting block: how the alert engine runs.
	Alerting Alerting
}

// Server is the server block: where the server listens and keeps its state.
type Server struct {
	// Listen is the host:port the HTTP server binds; an empty host means
	// every interface.
	Listen string `hcl:"listen,optional"`
	// PublicURL is the absolute http(s) URL agents and the UI reach the
	// server at; empty when not set.
	PublicURL string `hcl:"public_url,optional"`
	// DataDir holds the database and everything else the server writes.
	DataDir string `hcl:"data_dir,optional"`
	// SecretKeyFile holds the key that seals stored secrets; it defaults to
	// filepath.Join(DataDir, "secret.key").
	SecretKeyFile string `hcl:"secret_key_file,optional"`
	// TLS is nil when the server speaks plain HTTP.
	TLS *TLS `hcl:"tls,block"`
	// PluginDir is the directory of external plugin binaries (plugin
	// blocks); empty when not set.
	PluginDir string `hcl:"plugin_dir,optional"`
	// BrowseCacheSnapshots bounds the snapshot listings the snapshot
	// browser caches (core/browse); 0 means browse.DefaultMaxSnapshots.
	BrowseCacheSnapshots int `hcl:"browse_cache_snapshots,optional"`
	// DownloadLimitMiB caps one download from the snapshot browser (a
	// file, or a folder's archive) in MiB; 0 means DefaultDownloadLimitMiB.
	DownloadLimitMiB int64 `hcl:"download_limit_mib,optional"`
	// TrustedProxies are the addresses and networks of reverse proxies in
	// front of the server, whose X-Forwarded-For the server believes for
	// the client address (rate limits, audit entries, logs).
	TrustedProxies []string `hcl:"trusted_proxies,optional"`
}

// DefaultDownloadLimitMiB is the download limit when the server block
// sets none: 4 GiB.
const DefaultDownloadLimitMiB = 4096

// maxDownloadLimitMiB is the largest download_limit_mib accepted: 1 TiB.
const maxDownloadLimitMiB = 1 << 20

// DownloadLimit is the download limit in bytes.
func (s Server) DownloadLimit() int64 {
	if s.DownloadLimitMiB <= 0 {
		return DefaultDownloadLimitMiB << 20
	}
	return s.DownloadLimitMiB << 20
}

// TLS is the optional tls block inside server: the certificate and key the
// server serves HTTPS with.
type TLS struct {
	// CertFile and KeyFile are required; validation reports them missing
	// or empty in one way.
	CertFile string `hcl:"cert_file,optional"`
	KeyFile  string `hcl:"key_file,optional"`
}

// Log is the log block: how verbose the server's log is and how it is
// encoded.
type Log struct {
	// Level is one of trace, debug, info, warn, error.
	Level string `hcl:"level,optional"`
	// Format is text or json.
	Format string `hcl:"format,optional"`
}

// Default returns the configuration the server runs with when it is given
// no file: listen on 127.0.0.1:8080, state in ./data, the secret key in
// ./data/secret.key, info logs as text.
func Default() *Config {
	return &Config{
		Server: Server{
			Listen:        defaultListen,
			DataDir:       defaultDataDir,
			SecretKeyFile: filepath.Join(defaultDataDir, secretKeyName),
		},
		Log: Log{
			Level:  defaultLogLevel,
			Format: defaultLogFormat,
		},
	}
}
