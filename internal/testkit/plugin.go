// Package testkit holds fixtures that tests in several of the module's
// packages share. Only test code imports it.
package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// build is one plugin binary built for this test process.
type build struct {
	once sync.Once
	bin  []byte
	err  error
}

var (
	buildsMu sync.Mutex
	builds   = map[string]*build{}
)

// PluginBinary builds the main package at the import path pkg with
// `go build` (CGO off, as releases are built) once per test process and
// returns the executable's bytes. A failed build fails t.
func PluginBinary(t testing.TB, pkg string) []byte {
	t.Helper()
	buildsMu.Lock()
	b, ok := builds[pkg]
	if !ok {
		b = &build{}
		builds[pkg] = b
	}
	buildsMu.Unlock()
	b.once.Do(func() { b.bin, b.err = goBuild(pkg) })
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.bin
}

func goBuild(pkg string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "testkit-plugin")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg) //nolint:gosec // G204: the test names a package of this module
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return os.ReadFile(out) //nolint:gosec // G304: the binary just built
}

// InstallPlugin builds the plugin at the import path pkg (once, see
// PluginBinary), installs it as name into a new plugin_dir, as an operator
// does, and returns that directory and the server.hcl that registers it:
// a server block with plugin_dir, a blank line, and a plugin block with
// the command and its SHA-256 pin on lines 5 to 8.
func InstallPlugin(t testing.TB, pkg, name string) (pluginDir, hcl string) {
	t.Helper()
	bin := PluginBinary(t, pkg)
	pluginDir = t.TempDir()
	if err := os.WriteFile(filepath.Join(pluginDir, name), bin, 0o755); err != nil { //nolint:gosec // G306: a plugin must be executable
		t.Fatal(err)
	}
	sum := sha256.Sum256(bin)
	hcl = fmt.Sprintf("server {\n  plugin_dir = %q\n}\n\nplugin %q {\n  command = %q\n  sha256  = %q\n}\n",
		pluginDir, name, name, hex.EncodeToString(sum[:]))
	return pluginDir, hcl
}
