// Package config reads and writes the agent's HCL configuration file:
//
//	agent {
//	  server_url         = "https://backup.example.com"
//	  host_id            = "3f1c…"
//	  credential         = "rma_…"          # or credential_file = "…"
//	  server_fingerprint = "ab12…"          # hex SHA-256 of the server's TLS certificate
//	  state_dir          = "/var/lib/restic-manager-agent"
//	  restic_binary      = "/usr/bin/restic"
//	  hook_shell         = ["/bin/bash", "-c"]  # default: sh -c (PowerShell on Windows)
//	  log {
//	    level  = "info"
//	    format = "text"
//	  }
//	}
//
// "restic-manager-agent enroll" writes it; "restic-manager-agent run"
// reads it. The file holds the agent's credential, so Write makes it 0600.
// The package imports nothing of the server.
package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// Defaults for what a file leaves out.
const (
	DefaultLogLevel  = "info"
	DefaultLogFormat = "text"
	// CredentialPrefix starts every agent credential.
	CredentialPrefix = "rma_"
	fileName         = "agent.hcl"
	dirName          = "restic-manager-agent"
)

// Config is the agent block.
type Config struct {
	// ServerURL is the server's base URL, http(s)://host[:port][/prefix].
	ServerURL string
	// HostID is this host's id on the server.
	HostID string
	// Credential is the agent's secret; empty when CredentialFile holds it.
	// Use ReadCredential rather than reading either field.
	Credential Secret
	// CredentialFile is a file holding the credential (relative paths are
	// resolved against the configuration file's directory on Load).
	CredentialFile string
	// ServerFingerprint is the lower-case hex SHA-256 of the server's TLS
	// leaf certificate, pinned on every connection; empty means normal
	// certificate verification (or plain HTTP).
	ServerFingerprint string
	// StateDir holds the agent's spool and schedules; DefaultStateDir when
	// not set.
	StateDir string
	// ResticBinary is the restic executable; empty means find it on PATH.
	ResticBinary string
	// HookShell is the shell's argv that runs hooks, before the command
	// (["/bin/bash", "-c"]); empty is sh -c, or PowerShell on Windows.
	HookShell []string
	// AllowInsecure lets the agent send its credential over plain HTTP to a
	// server that is not on the loopback interface.
	AllowInsecure bool
	Log           Log
}

// Log is the log block inside agent.
type Log struct {
	// Level is one of trace, debug, info, warn, error.
	Level string `hcl:"level,optional"`
	// Format is text or json.
	Format string `hcl:"format,optional"`
}

// Secret is a string that never shows in fmt output, so a logged or
// printed Config does not leak the credential. Convert it with string()
// where the value is needed.
type Secret string

// String hides the value.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// DefaultPath is where the agent's configuration file lives unless
// --config says otherwise: /etc/restic-manager-agent/agent.hcl, or
// %ProgramData%\restic-manager-agent\agent.hcl on Windows.
func DefaultPath() string {
	return defaultPath(runtime.GOOS, os.Getenv)
}

// DefaultStateDir is the state directory unless state_dir says otherwise:
// /var/lib/restic-manager-agent, or %ProgramData%\restic-manager-agent on
// Windows.
func DefaultStateDir() string {
	return defaultStateDir(runtime.GOOS, os.Getenv)
}

func defaultPath(goos string, getenv func(string) string) string {
	if goos == "windows" {
		return windowsDir(getenv) + `\` + fileName
	}
	return "/etc/" + dirName + "/" + fileName
}

func defaultStateDir(goos string, getenv func(string) string) string {
	if goos == "windows" {
		return windowsDir(getenv)
	}
	return "/var/lib/" + dirName
}

// windowsDir is %ProgramData%\restic-manager-agent, written with
// backslashes whatever system the code runs on.
func windowsDir(getenv func(string) string) string {
	base := strings.TrimRight(getenv("ProgramData"), `\/`)
	if base == "" {
		base = `C:\ProgramData`
	}
	return base + `\` + dirName
}

// resolve makes a relative path relative to dir.
func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}
