package pluginhost

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/sdk/notify"
)

// binDir holds the test binaries, built once for the package's tests.
var binDir string

// The packages built for the tests, by the file name they get.
var testPrograms = map[string]string{
	"notify-log":   "github.com/restic-manager/restic-manager/sdk/examples/notify-log",
	"testnotifier": "./testdata/testnotifier",
	"builtinhost":  "./testdata/builtinhost",
}

var (
	buildMu   sync.Mutex
	buildErrs = map[string]error{}
	built     = map[string]bool{}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "pluginhost-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// program returns the path of the built test program name, building it on
// first use.
func program(t *testing.T, name string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	out := filepath.Join(binDir, name)
	if !built[name] {
		cmd := exec.Command("go", "build", "-o", out, testPrograms[name])
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErrs[name] = fmt.Errorf("go build %s: %w\n%s", testPrograms[name], err, b)
		}
		built[name] = true
	}
	if err := buildErrs[name]; err != nil {
		t.Fatal(err)
	}
	return out
}

// install copies the test program name into dir as file and returns the
// copy's SHA-256 in hex.
func install(t *testing.T, name, dir, file string) string {
	t.Helper()
	src, err := os.ReadFile(program(t, name))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, file)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, src, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(src)
	return hex.EncodeToString(sum[:])
}

// logBuffer collects a host's log for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testHost is a host under test with its plugin_dir and log.
type testHost struct {
	*Host
	dir string
	log *logBuffer
}

// newTestHost starts a host with the given externals in a fresh plugin_dir
// that setup fills first. Timeouts and backoffs are short.
func newTestHost(t *testing.T, setup func(dir string) []External, adjust ...func(*Options)) *testHost {
	t.Helper()
	dir := t.TempDir()
	log := &logBuffer{}
	opts := Options{
		PluginDir:    dir,
		Externals:    setup(dir),
		Logger:       hclog.New(&hclog.LoggerOptions{Name: "test", Level: hclog.Debug, Output: io.MultiWriter(log, testWriter{t})}),
		CallTimeout:  10 * time.Second,
		StartTimeout: 20 * time.Second,
		MinBackoff:   50 * time.Millisecond,
		MaxBackoff:   200 * time.Millisecond,
	}
	for _, f := range adjust {
		f(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(h.Close)
	return &testHost{Host: h, dir: dir, log: log}
}

// testWriter writes to the test's log while the test runs.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // a late line after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// testNotifier installs the testnotifier program as external plugin name,
// started with args.
func testNotifier(t *testing.T, name string, args ...string) func(dir string) []External {
	return func(dir string) []External {
		sum := install(t, "testnotifier", dir, name)
		return []External{{Name: name, Command: name, Args: args, SHA256: sum}}
	}
}

// plugins combines setups.
func plugins(setups ...func(dir string) []External) func(dir string) []External {
	return func(dir string) []External {
		var all []External
		for _, s := range setups {
			all = append(all, s(dir)...)
		}
		return all
	}
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// tnConfig is the configuration of testnotifier: it appends to log and
// writes its pid to pidFile.
func tnConfig(t *testing.T, log, pidFile string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"log": log, "pid_file": pidFile})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func note(title, body string) notify.Notification {
	return notify.Notification{Event: notify.EventTest, Severity: notify.SeverityInfo, Title: title, Body: body, Time: time.Now()}
}

// waitPID waits for path to hold a process id and returns it.
func waitPID(t *testing.T, path string) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			pid, err := strconv.Atoi(string(b))
			if err == nil {
				return pid
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no pid in %s", path)
	return 0
}

// lines returns the lines of the file at path.
func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimRight(string(b), "\n"), "\n")
}

// kill9 kills the process pid at once (SIGKILL on Unix).
func kill9(t *testing.T, pid int) {
	t.Helper()
	proc, err := os.FindProcess(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Kill(); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
}

// waitGone waits for the process pid to exit.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d is still running", pid)
}
