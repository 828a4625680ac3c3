package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// testLogger logs to t until the test ends (the plugin side may still
// log while a cancelled job winds down).
func testLogger(t *testing.T) hclog.Logger {
	t.Helper()
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return hclog.New(&hclog.LoggerOptions{Name: "backend-restic", Level: hclog.Debug, Output: w})
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
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

// connect serves a new Backend in-process over a real gRPC connection, the
// SDK's own adapters on both sides, and returns the host's view of it.
func connect(t *testing.T) sdk.Backend {
	t.Helper()
	impl := New(testLogger(t))
	client, _ := goplugin.TestPluginGRPCConn(t, false, goplugin.PluginSet{
		plugin.BasePluginName: &plugin.BasePlugin{Impl: impl, Kind: plugin.KindBackend, APIVersion: sdk.APIVersion},
		sdk.PluginName:        &sdk.GRPCPlugin{Impl: impl},
	})
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	b, ok := raw.(sdk.Backend)
	if !ok {
		t.Fatalf("dispensed %T, want a Backend", raw)
	}
	return b
}

// configured returns a connected Backend configured for the real restic,
// with frequent progress events and a short kill grace.
func configured(t *testing.T) sdk.Backend {
	t.Helper()
	b := connect(t)
	cfg, _ := json.Marshal(map[string]any{
		"restic_binary": restictest.Binary(t),
		"progress_fps":  20,
		"kill_grace":    "5s",
		"cache_dir":     filepath.Join(t.TempDir(), "cache"),
	})
	if err := b.Configure(context.Background(), cfg); err != nil {
		t.Fatalf("configure: %v", err)
	}
	return b
}

// newRepository initialises a repository in a temp dir.
func newRepository(t *testing.T, b sdk.Backend) sdk.Repository {
	t.Helper()
	repo := sdk.Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: restictest.Password(t)}
	evs, res := mustRun(t, b, sdk.Job{ID: "init", Kind: sdk.JobInit, Repository: repo})
	if res.ExitCode != 0 {
		t.Fatalf("init: %+v; events: %s", res, evs.dump())
	}
	return repo
}

// recorder collects the events the host receives and checks their order.
type recorder struct {
	mu  sync.Mutex
	evs []sdk.Event
	bad string
}

func (r *recorder) emit(ev sdk.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if want := uint64(len(r.evs) + 1); ev.Seq != want && r.bad == "" {
		r.bad = fmt.Sprintf("event %d has seq %d", want, ev.Seq)
	}
	if ev.Kind() == "" && r.bad == "" {
		r.bad = fmt.Sprintf("event %d carries no single payload", ev.Seq)
	}
	if ev.Time.IsZero() && r.bad == "" {
		r.bad = fmt.Sprintf("event %d has no time", ev.Seq)
	}
	r.evs = append(r.evs, ev)
	return nil
}

func (r *recorder) all() []sdk.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]sdk.Event(nil), r.evs...)
}

func (r *recorder) dump() string {
	var b strings.Builder
	for _, ev := range r.all() {
		js, _ := json.Marshal(ev)
		fmt.Fprintf(&b, "\n  %s", js)
	}
	return b.String()
}

// text is every text the events carry, for secret checks.
func (r *recorder) text() string { return r.dump() }

func (r *recorder) progress() []*sdk.Progress {
	var out []*sdk.Progress
	for _, ev := range r.all() {
		if ev.Progress != nil {
			out = append(out, ev.Progress)
		}
	}
	return out
}

func (r *recorder) summaries() []*sdk.Summary {
	var out []*sdk.Summary
	for _, ev := range r.all() {
		if ev.Summary != nil {
			out = append(out, ev.Summary)
		}
	}
	return out
}

func (r *recorder) errors() []*sdk.ErrorEvent {
	var out []*sdk.ErrorEvent
	for _, ev := range r.all() {
		if ev.Error != nil {
			out = append(out, ev.Error)
		}
	}
	return out
}

// data returns the data lines of the given message type, decoded.
func (r *recorder) data(t *testing.T, messageType string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, ev := range r.all() {
		if ev.Log == nil || ev.Log.Stream != sdk.StreamStdout || !strings.HasPrefix(ev.Log.Text, "{") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(ev.Log.Text), &m); err != nil {
			t.Errorf("stdout line %q is not JSON: %v", ev.Log.Text, err)
			continue
		}
		if m["message_type"] == messageType {
			out = append(out, m)
		}
	}
	return out
}

func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bad != "" {
		t.Error(r.bad)
	}
}

// run runs job and returns what the host saw.
func run(t *testing.T, b sdk.Backend, job sdk.Job) (*recorder, sdk.Result, error) {
	t.Helper()
	evs := &recorder{}
	start := time.Now()
	res, err := b.Run(context.Background(), job, evs.emit)
	t.Logf("%s took %v: %d events, exit code %d", job.Kind, time.Since(start).Round(time.Millisecond), len(evs.all()), res.ExitCode)
	evs.check(t)
	return evs, res, err
}

// mustRun runs a job that must succeed.
func mustRun(t *testing.T, b sdk.Backend, job sdk.Job) (*recorder, sdk.Result) {
	t.Helper()
	evs, res, err := run(t, b, job)
	if err != nil {
		t.Fatalf("%s: %v; events: %s", job.Kind, err, evs.dump())
	}
	return evs, res
}
