package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/build"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/restic-manager/restic-manager/internal/pluginhost"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// buildDir holds the agent binary the tests build once.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "runner-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

var agentBuild struct {
	once sync.Once
	path string
	err  error
}

// agentBinary builds restic-manager-agent (CGO_ENABLED=0, as released) once
// per test run: the plugin host re-executes it to serve backend-restic, and
// the crash tests run it as the agent itself.
func agentBinary(t testing.TB) string {
	t.Helper()
	agentBuild.once.Do(func() {
		out := filepath.Join(buildDir, "restic-manager-agent")
		if runtime.GOOS == "windows" {
			out += ".exe"
		}
		cmd := exec.Command("go", "build", "-o", out, "github.com/restic-manager/restic-manager/agent/cmd/restic-manager-agent")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			agentBuild.err = fmt.Errorf("go build the agent: %w\n%s", err, b)
			return
		}
		agentBuild.path = out
	})
	if agentBuild.err != nil {
		t.Fatal(agentBuild.err)
	}
	return agentBuild.path
}

var resticFind struct {
	once sync.Once
	path string
	err  error
}

// resticBinary finds the real restic: $RESTIC_BINARY, restic in PATH, or
// $(go env GOPATH)/bin/restic.
func resticBinary(t testing.TB) string {
	t.Helper()
	resticFind.once.Do(func() {
		var cands []string
		if p := os.Getenv("RESTIC_BINARY"); p != "" {
			cands = append(cands, p)
		}
		cands = append(cands, "restic")
		for _, gp := range filepath.SplitList(build.Default.GOPATH) {
			cands = append(cands, filepath.Join(gp, "bin", "restic"))
		}
		for _, c := range cands {
			if p, err := exec.LookPath(c); err == nil {
				if abs, err := filepath.Abs(p); err == nil {
					resticFind.path = abs
					return
				}
			}
		}
		resticFind.err = fmt.Errorf("no restic binary (tried %s): run scripts/install-restic.sh "+
			"and set RESTIC_BINARY to the path it prints", strings.Join(cands, ", "))
	})
	if resticFind.err != nil {
		t.Fatal(resticFind.err)
	}
	return resticFind.path
}

// logBuffer collects an agent's log output from every goroutine.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testRepo is a restic repository in a temp dir with a random password and
// a secret in its environment, which must never show in a log.
type testRepo struct {
	wire.Repository
	password, envSecret string
}

func newRepo(t testing.TB, name string) testRepo {
	t.Helper()
	pw := "pw-" + randomHex(t, 12)
	envSecret := "env-secret-" + randomHex(t, 12)
	return testRepo{
		Repository: wire.Repository{
			ID:       "repo-" + name,
			Name:     name,
			URL:      filepath.Join(t.TempDir(), "repo-"+name),
			Password: wire.NewSecret(pw),
			Env:      map[string]wire.Secret{"RM_TEST_BACKEND_KEY": wire.NewSecret(envSecret)},
		},
		password:  pw,
		envSecret: envSecret,
	}
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// writeData writes files random files of size bytes each under a new
// directory and returns it. Random data neither compresses nor dedups.
func writeData(t testing.TB, files, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	buf := make([]byte, size)
	for i := range files {
		if _, err := rand.Read(buf); err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, fmt.Sprintf("d%02d", i%20))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, fmt.Sprintf("f%05d.bin", i)), buf, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// newBackend starts the real backend-restic plugin: the plugin host
// re-executes the built agent binary as "plugin serve backend-restic".
func newBackend(t testing.TB, logger hclog.Logger) sdk.Backend {
	t.Helper()
	host, err := pluginhost.New(pluginhost.Options{
		Builtins: []pluginhost.Builtin{{
			Name: "backend-restic", Kind: plugin.KindBackend,
			Serve: func() { panic("served by the agent binary, not the test") },
		}},
		Executable: agentBinary(t),
		Logger:     logger,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(host.Close)
	be, err := host.Backend(context.Background(), "backend-restic")
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// testAgent is an agent running in the test process against a testServer
// with the real plugin and restic.
type testAgent struct {
	*Agent
	logs     *logBuffer
	stateDir string
	stop     func()
}

type agentOption func(*Config)

func withProgressFPS(fps float64) agentOption {
	return func(c *Config) {
		c.BackendConfig, _ = json.Marshal(map[string]any{"restic_binary": resticFromConfig(c), "progress_fps": fps})
	}
}

func resticFromConfig(c *Config) string {
	var m map[string]any
	_ = json.Unmarshal(c.BackendConfig, &m)
	s, _ := m["restic_binary"].(string)
	return s
}

func startAgent(t *testing.T, srv *testServer, opts ...agentOption) *testAgent {
	t.Helper()
	logs := &logBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Name: "agent", Level: hclog.Debug, Output: logs})
	bcfg, _ := json.Marshal(map[string]any{"restic_binary": resticBinary(t)})
	cfg := Config{
		ServerURL:     srv.URL(),
		Credential:    srv.token,
		StateDir:      filepath.Join(t.TempDir(), "state"),
		Backend:       newBackend(t, logger),
		BackendConfig: bcfg,
		Logger:        logger,
		Hostname:      "test-host",
		ReconnectBase: 20 * time.Millisecond,
		ReconnectMax:  200 * time.Millisecond,
	}
	for _, o := range opts {
		o(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	ta := &testAgent{Agent: a, logs: logs, stateDir: cfg.StateDir}
	ta.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("agent Run: %v", err)
				}
			case <-time.After(60 * time.Second):
				t.Errorf("agent did not stop")
			}
		})
	}
	t.Cleanup(func() {
		ta.stop()
		if t.Failed() || os.Getenv("RM_TEST_AGENT_LOG") != "" {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	return ta
}

// assertNoSecrets fails if any secret appears in text.
func assertNoSecrets(t testing.TB, what, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s contains a secret (%.6s…)", what, s)
		}
	}
}

func (r testRepo) secrets() []string { return []string{r.password, r.envSecret} }

// dispatchOf builds a job_dispatch.
func dispatchOf(id, kind string, repo testRepo, params any) wire.JobDispatch {
	d := wire.JobDispatch{JobID: id, Kind: kind, Repository: repo.Repository}
	if params != nil {
		raw, err := json.Marshal(params)
		if err != nil {
			panic(err)
		}
		d.Params = raw
	}
	return d
}

// runJob dispatches a job and waits for it to finish.
func runJob(t *testing.T, srv *testServer, d wire.JobDispatch, timeout time.Duration) wire.JobFinished {
	t.Helper()
	srv.mustAccept(d)
	return srv.waitFinished(d.JobID, timeout)
}

func mustSucceed(t testing.TB, f wire.JobFinished) {
	t.Helper()
	if f.Status != wire.StatusSucceeded {
		t.Fatalf("job %s: %s (exit %d): %s", f.JobID, f.Status, f.ExitCode, f.Error)
	}
}

// initRepo runs restic init through the agent.
func initRepo(t *testing.T, srv *testServer, repo testRepo) {
	t.Helper()
	mustSucceed(t, runJob(t, srv, dispatchOf("init-"+repo.Name+"-"+randomHex(t, 4), "init", repo, nil), 60*time.Second))
}

// snapshotCount counts the repository's snapshots with restic itself.
func snapshotCount(t testing.TB, repo testRepo) int {
	t.Helper()
	cmd := exec.Command(resticBinary(t), "-r", repo.URL, "snapshots", "--json", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+repo.password)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("restic snapshots: %v: %s", err, ee.Stderr)
		}
		t.Fatal(err)
	}
	var snaps []json.RawMessage
	if err := json.Unmarshal(out, &snaps); err != nil {
		t.Fatalf("restic snapshots: %v: %s", err, out)
	}
	return len(snaps)
}

// snapshotID is the snapshot a backup's job_finished summary names.
func snapshotID(t testing.TB, f wire.JobFinished) string {
	t.Helper()
	var s struct {
		SnapshotID string `json:"snapshot_id"`
	}
	if err := json.Unmarshal(f.Summary, &s); err != nil || s.SnapshotID == "" {
		t.Fatalf("job %s: summary %s has no snapshot_id (%v)", f.JobID, f.Summary, err)
	}
	return s.SnapshotID
}

var template struct {
	once     sync.Once
	dir      string
	password string
	err      error
}

// seedRepo returns a fresh initialised repository: a copy of one that
// restic init made once per test run (restic init pays for its key
// derivation; a copy costs nothing). Copies share the password and keys.
func seedRepo(t testing.TB, name string) testRepo {
	t.Helper()
	template.once.Do(func() {
		template.dir = filepath.Join(buildDir, "template-repo")
		template.password = "pw-" + randomHex(t, 12)
		cmd := exec.Command(resticBinary(t), "init", "-r", template.dir)
		cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+template.password)
		if out, err := cmd.CombinedOutput(); err != nil {
			template.err = fmt.Errorf("restic init: %w: %s", err, out)
		}
	})
	if template.err != nil {
		t.Fatal(template.err)
	}
	repo := newRepo(t, name)
	repo.password = template.password
	repo.Password = wire.NewSecret(template.password)
	if err := copyDir(template.dir, repo.URL); err != nil {
		t.Fatal(err)
	}
	return repo
}

func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(path) //nolint:gosec // G122: a test's own temp dir
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
}

// resticLocks lists the repository's locks with restic itself.
func resticLocks(t testing.TB, repo testRepo) []string {
	t.Helper()
	cmd := exec.Command(resticBinary(t), "-r", repo.URL, "list", "locks", "--no-lock")
	cmd.Env = append(os.Environ(), "RESTIC_PASSWORD="+repo.password)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("restic list locks: %v", err)
	}
	return strings.Fields(string(out))
}

func withStateDir(dir string) agentOption { return func(c *Config) { c.StateDir = dir } }
