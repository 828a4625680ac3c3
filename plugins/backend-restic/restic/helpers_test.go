package restic

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// agentCanary is set in this test process's environment; no restic child
// may inherit it (the agent's own variables must not leak to restic).
const (
	agentCanaryName  = "RM_AGENT_TEST_CANARY"
	agentCanaryValue = "agent-private-canary-7f3a"
)

func TestMain(m *testing.M) {
	_ = os.Setenv(agentCanaryName, agentCanaryValue)
	os.Exit(m.Run())
}

var (
	resticOnce sync.Once
	resticPath string
	resticErr  error
)

// resticBinary finds the real restic the tests drive: $RESTIC_BINARY, else
// $PATH, else $(go env GOPATH)/bin. None found fails the test.
func resticBinary(t *testing.T) string {
	t.Helper()
	resticOnce.Do(func() {
		var tried []string
		cands := []string{}
		if p := os.Getenv("RESTIC_BINARY"); p != "" {
			cands = append(cands, p)
		}
		cands = append(cands, "restic")
		exe := "restic"
		if runtime.GOOS == "windows" {
			exe += ".exe"
		}
		for _, gp := range filepath.SplitList(build.Default.GOPATH) {
			cands = append(cands, filepath.Join(gp, "bin", exe))
		}
		for _, c := range cands {
			p, err := Find(c)
			if err == nil {
				resticPath = p
				return
			}
			tried = append(tried, c)
		}
		resticErr = fmt.Errorf("no restic binary (tried %s): run scripts/install-restic.sh "+
			"and set RESTIC_BINARY to the path it prints", strings.Join(tried, ", "))
	})
	if resticErr != nil {
		t.Fatal(resticErr)
	}
	return resticPath
}

func newRunner(t *testing.T, mod ...func(*Config)) *Runner {
	t.Helper()
	cfg := Config{Binary: resticBinary(t), ProgressFPS: 20, KillGrace: 10 * time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func randomPassword(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "pw-" + hex.EncodeToString(b)
}

// newRepo creates and initialises a repository in a temp dir.
func newRepo(t *testing.T, r *Runner) Repository {
	t.Helper()
	repo := Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: randomPassword(t)}
	evs := &recorder{}
	res, err := r.Run(context.Background(), repo, InitJob{}, evs.emit)
	if err != nil {
		t.Fatalf("init: %v (events: %s)", err, evs.dump())
	}
	sum := res.Summary
	if sum == nil || sum.Init == nil || sum.Init.ID == "" {
		t.Fatalf("init: no initialized summary; events: %s", evs.dump())
	}
	return repo
}

// recorder collects events and checks their sequence numbers.
type recorder struct {
	mu  sync.Mutex
	evs []Event
	bad string
}

func (r *recorder) emit(ev Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := uint64(len(r.evs) + 1); ev.EventSeq() != want && r.bad == "" {
		r.bad = fmt.Sprintf("event %d has seq %d", want, ev.EventSeq())
	}
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.evs...)
}

func (r *recorder) dump() string {
	var b strings.Builder
	for _, ev := range r.all() {
		fmt.Fprintf(&b, "\n  %T %+v", ev, ev)
	}
	return b.String()
}

func (r *recorder) checkSeq(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad != "" {
		t.Error(r.bad)
	}
}

func eventsOf[T Event](r *recorder) []T {
	var out []T
	for _, ev := range r.all() {
		if e, ok := ev.(T); ok {
			out = append(out, e)
		}
	}
	return out
}

// run runs a job that must succeed and returns its events.
func run(t *testing.T, r *Runner, repo Repository, job Job) (*recorder, Result) {
	t.Helper()
	evs := &recorder{}
	start := time.Now()
	res, err := r.Run(context.Background(), repo, job, evs.emit)
	t.Logf("%s took %v", job.Kind(), time.Since(start))
	if err != nil {
		t.Fatalf("%s: %v; events: %s", job.Kind(), err, evs.dump())
	}
	evs.checkSeq(t)
	if res.Events != uint64(len(evs.all())) {
		t.Errorf("%s: Result.Events = %d, emitted %d", job.Kind(), res.Events, len(evs.all()))
	}
	return evs, res
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// resticProcs lists live (not zombie) processes whose argv or environment
// mention needle. Linux only.
func resticProcs(t *testing.T, needle string) []procInfo {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatalf("read /proc: %v", err)
	}
	var out []procInfo
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		dir := filepath.Join("/proc", e.Name())
		cmdline, err1 := os.ReadFile(filepath.Join(dir, "cmdline"))
		environ, err2 := os.ReadFile(filepath.Join(dir, "environ"))
		stat, err3 := os.ReadFile(filepath.Join(dir, "stat"))
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if !bytes.Contains(cmdline, []byte(needle)) && !bytes.Contains(environ, []byte(needle)) {
			continue
		}
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		out = append(out, procInfo{
			pid:     pid,
			argv:    strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00"),
			environ: strings.Split(strings.TrimRight(string(environ), "\x00"), "\x00"),
		})
	}
	return out
}

type procInfo struct {
	pid     int
	argv    []string
	environ []string
}

// requireLinux skips tests that read /proc.
func requireLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc; Linux only")
	}
}
