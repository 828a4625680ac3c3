// Package sdktest is the conformance suite for restic-manager plugins. A
// plugin author runs it from the plugin's own tests against the built
// binary, which it starts as a real subprocess exactly as the host does
// (go-plugin handshake, SHA-256 pin, automatic mTLS, minimal environment):
//
//	func TestConformance(t *testing.T) {
//		sdktest.Notifier(t, sdktest.NotifierConfig{
//			Command:       sdktest.BuildPlugin(t, "."),
//			ValidConfig:   `{"url":"https://example.com/hook"}`,
//			InvalidConfig: `{"url":"not a url"}`,
//		})
//	}
//
// Each check is a subtest named after what it checks, so a failure says
// which rule the plugin breaks.
package sdktest

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// BuildPlugin builds the main package pkg (an import path, or a directory
// such as "." relative to the test's working directory) with `go build`
// into a temporary directory and returns the binary's absolute path.
func BuildPlugin(t testing.TB, pkg string) string {
	t.Helper()
	name := filepath.Base(pkg)
	if pkg == "." || pkg == "./" {
		wd, err := os.Getwd()
		if err != nil {
			t.Fatalf("sdktest: %v", err)
		}
		name = filepath.Base(wd)
	}
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, pkg) //nolint:gosec // G204: building the test's own package
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sdktest: go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// startPlugin starts the plugin binary at path the way the host does and
// returns the dispensed plugin of the given name. The process is killed
// when owner ends.
func startPlugin(owner testing.TB, path string, args, env []string, name string, glue goplugin.Plugin) (any, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	sum, err := fileSHA256(abs)
	if err != nil {
		return nil, err
	}
	logger := testLogger(owner)
	cfg, err := plugin.NewClientConfig(plugin.ClientOptions{
		Path:    abs,
		Args:    args,
		SHA256:  sum,
		Env:     append(plugin.MinimalEnv(), env...),
		Plugins: goplugin.PluginSet{name: glue},
		Logger:  logger,
	})
	if err != nil {
		return nil, err
	}
	client := goplugin.NewClient(cfg)
	owner.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		return nil, fmt.Errorf("starting plugin %s: %w", abs, err)
	}
	raw, err := rpc.Dispense(name)
	if err != nil {
		return nil, fmt.Errorf("dispensing %s from %s: %w", name, abs, err)
	}
	return raw, nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path) //nolint:gosec // G304: the plugin binary under test
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

// testLogger returns a logger that writes to t's log until the test's
// cleanup, after the plugin processes it started have been ended.
func testLogger(t testing.TB) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:   "plugin",
		Level:  hclog.Info,
		Output: newTestWriter(t),
	})
}

// newTestWriter returns a writer to t's log that stops writing at the
// test's cleanup.
func newTestWriter(t testing.TB) io.Writer {
	w := &testWriter{t: t}
	t.Cleanup(w.close)
	return w
}

type testWriter struct {
	mu   sync.Mutex
	t    testing.TB
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *testWriter) close() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
