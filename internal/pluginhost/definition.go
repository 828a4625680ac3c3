package pluginhost

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// Source says where a plugin comes from.
type Source string

// The plugin sources.
const (
	SourceBuiltin  Source = "builtin"
	SourceExternal Source = "external"
)

// External registers a plugin binary that lives in the host's plugin_dir:
// the HCL block `plugin "NAME" { command = "…" args = […] sha256 = "…" }`.
type External struct {
	Name string
	// Command is the binary's path relative to plugin_dir.
	Command string
	Args    []string
	// SHA256 is the binary's pinned SHA-256, 64 hex digits.
	SHA256 string
}

// namePattern is what a plugin's name looks like: it appears in logger
// names, CLI output and config references.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)

// maxNameLen bounds a plugin name.
const maxNameLen = 64

// ValidName reports whether name can name a plugin: lower-case letters,
// digits and dashes, starting with a letter or digit, at most 64 bytes.
func ValidName(name string) bool {
	return len(name) <= maxNameLen && namePattern.MatchString(name)
}

// ParseSHA256 decodes a pinned SHA-256 written as 64 hex digits.
func ParseSHA256(s string) ([]byte, error) {
	if len(s) != 2*sha256.Size {
		return nil, fmt.Errorf("sha256 must be 64 hex digits, got %d characters", len(s))
	}
	sum, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("sha256 must be 64 hex digits: %w", err)
	}
	return sum, nil
}

// definition is one plugin the host knows, built-in or external.
type definition struct {
	name    string
	source  Source
	command string   // external: as configured, relative to dir
	dir     string   // external: plugin_dir, absolute
	args    []string // external: the configured arguments
	sum     []byte   // external: the pinned SHA-256

	mu   sync.Mutex
	kind plugin.Kind // built-in: declared; external: "" until first started
	path string      // the binary as last resolved
	info plugin.Info // what the plugin last reported
}

func (d *definition) knownKind() plugin.Kind {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.kind
}

func (d *definition) setInfo(path string, info plugin.Info) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.path = path
	d.info = info
	if d.kind == "" {
		d.kind = info.Kind
	}
}

// resolveCommand returns the resolved path of command inside dir. It refuses an
// absolute command, any ".." element, and a path that leaves dir once every
// symlink is resolved; the result is a regular file.
func resolveCommand(dir, command string) (string, error) {
	switch {
	case command == "":
		return "", fmt.Errorf("%w: command is empty", ErrOutsideDir)
	case strings.ContainsRune(command, 0):
		return "", fmt.Errorf("%w: command contains a NUL byte", ErrOutsideDir)
	case filepath.IsAbs(command) || filepath.VolumeName(command) != "" ||
		strings.HasPrefix(command, "/") || strings.HasPrefix(command, `\`):
		return "", fmt.Errorf("%w: command %q is absolute; give it relative to plugin_dir", ErrOutsideDir, command)
	}
	for _, part := range strings.FieldsFunc(command, func(r rune) bool { return r == '/' || r == '\\' }) {
		if part == ".." {
			return "", fmt.Errorf("%w: command %q contains \"..\"", ErrOutsideDir, command)
		}
	}
	if dir == "" {
		return "", fmt.Errorf("%w: plugin_dir is not set", ErrOutsideDir)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("plugin_dir: %w", err)
	}
	resolved, err := filepath.EvalSymlinks(filepath.Join(realDir, command))
	if err != nil {
		return "", fmt.Errorf("plugin binary: %w", err)
	}
	rel, err := filepath.Rel(realDir, resolved)
	if err != nil || rel == "." || rel == ".." || filepath.IsAbs(rel) ||
		strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", fmt.Errorf("%w: command %q resolves to %s, outside %s", ErrOutsideDir, command, resolved, realDir)
	}
	fi, err := os.Stat(resolved)
	if err != nil {
		return "", fmt.Errorf("plugin binary: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("plugin binary %s is not a regular file", resolved)
	}
	return resolved, nil
}

// fileSHA256 hashes the file at path.
func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the host's own executable or a registered plugin binary
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
