package runner

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

	"github.com/restic-manager/restic-manager/agent/spool"
	"github.com/restic-manager/restic-manager/internal/wire"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// logLines returns the lines of a job's log events, in order.
func logLines(t testing.TB, events []storedEvent) []string {
	t.Helper()
	var out []string
	for _, e := range events {
		if e.Kind != string(wire.EventLog) {
			continue
		}
		var d wire.LogData
		if err := json.Unmarshal(e.Data, &d); err != nil {
			t.Fatalf("log event %s: %v", e.Data, err)
		}
		out = append(out, d.Lines...)
	}
	return out
}

// scriptBackend stands in for backend-restic where the test needs output
// restic cannot be made to print: the events of script, in order, as fast
// as the agent takes them. It is no model of restic.
type scriptBackend struct {
	script []scripted
}

type scripted struct {
	ev sdk.Event
}

func (b *scriptBackend) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "script", Kind: plugin.KindBackend, APIVersion: sdk.APIVersion, PluginVersion: "0.0.0"}, nil
}

func (b *scriptBackend) ConfigSchema(context.Context) (plugin.Schema, error) {
	return plugin.Schema{}, nil
}

func (b *scriptBackend) Configure(context.Context, []byte) error { return nil }

func (b *scriptBackend) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) (sdk.Result, error) {
	if job.Kind == sdk.JobVersion {
		return sdk.Result{Output: json.RawMessage(`{"version":"0.0.0-fake"}`)}, nil
	}
	for _, s := range b.script {
		if err := ctx.Err(); err != nil {
			return sdk.Result{}, err
		}
		if err := emit(s.ev); err != nil {
			return sdk.Result{}, err
		}
	}
	return sdk.Result{}, nil
}

func logLine(stream, text string) sdk.Event {
	return sdk.Event{Time: time.Now(), Log: &sdk.LogLine{Stream: stream, Text: text}}
}

// runScript runs one job of be on a fresh agent against srv and returns
// the job's events as the server stored them.
func runScript(t *testing.T, be sdk.Backend, cfg func(*Config)) []storedEvent {
	t.Helper()
	srv := newTestServer(t)
	logs := &logBuffer{}
	c := Config{
		ServerURL: srv.URL(), Credential: srv.token, StateDir: filepath.Join(t.TempDir(), "state"),
		Backend: be, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		Spool: spool.Options{NoSync: true},
	}
	if cfg != nil {
		cfg(&c)
	}
	a, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = a.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	srv.waitConnected(1)
	srv.mustAccept(wire.JobDispatch{JobID: "script", Kind: "check", Repository: wire.Repository{URL: "/nowhere"}})
	mustSucceed(t, srv.waitFinished("script", 30*time.Second))
	srv.waitAcked("script")
	if d := srv.dupesOf("script"); d != 0 {
		t.Fatalf("%d events received twice on a steady connection", d)
	}
	return srv.stream("script")
}

// Thousands of lines printed at once reach the server in a few events of
// many lines each: every line once and in order, every seq once and
// without a gap (stream checks), no event over the bounds.
func TestManyLinesBecomeFewEvents(t *testing.T) {
	t.Parallel()
	const n = 5000
	script := make([]scripted, n)
	for i := range script {
		script[i].ev = logLine(sdk.StreamStdout, fmt.Sprintf("line %05d %s", i, strings.Repeat(".", 60)))
	}
	events := runScript(t, &scriptBackend{script: script}, nil)
	lines := logLines(t, events)
	if len(lines) != n {
		t.Fatalf("%d lines arrived, want %d", len(lines), n)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, fmt.Sprintf("line %05d ", i)) {
			t.Fatalf("line %d is %q", i, l)
		}
	}
	logEvents := 0
	for _, e := range events {
		if e.Kind != string(wire.EventLog) {
			continue
		}
		logEvents++
		var d wire.LogData
		_ = json.Unmarshal(e.Data, &d)
		size := 0
		for _, l := range d.Lines {
			size += len(l)
		}
		if len(d.Lines) > wire.LogBatchLines || size > wire.LogBatchBytes {
			t.Fatalf("a log event of %d lines, %d bytes", len(d.Lines), size)
		}
	}
	// 5000 lines of 71 bytes fill an event at 256 lines: 20 at the least.
	if logEvents > n/50 {
		t.Fatalf("%d lines took %d log events", n, logEvents)
	}
	t.Logf("%d lines in %d log events", n, logEvents)
}

// Batching never reorders a job's events: lines wait for no other kind of
// event, and a change of stream starts a new event. (The linger is an hour
// here, so that only those rules split the lines.)
func TestLogLinesKeepTheirPlaceAmongEvents(t *testing.T) {
	t.Parallel()
	script := []scripted{
		{ev: logLine(sdk.StreamStdout, "open repository")},
		{ev: logLine(sdk.StreamStdout, "lock repository")},
		{ev: logLine(sdk.StreamStderr, "warning: something odd")},
		{ev: sdk.Event{Time: time.Now(), Error: &sdk.ErrorEvent{Message: "permission denied", Item: "/x"}}},
		{ev: logLine(sdk.StreamStderr, "after the error")},
		{ev: logLine(sdk.StreamStderr, "and more")},
		{ev: sdk.Event{Time: time.Now(), Summary: &sdk.Summary{Raw: json.RawMessage(`{"message_type":"summary"}`)}}},
		{ev: logLine(sdk.StreamStdout, "last line")},
	}
	events := runScript(t, &scriptBackend{script: script}, func(c *Config) { c.LogLinger = time.Hour })
	var got []string
	for _, e := range events {
		if e.Kind != string(wire.EventLog) {
			got = append(got, e.Kind)
			continue
		}
		var d wire.LogData
		_ = json.Unmarshal(e.Data, &d)
		got = append(got, d.Stream+":"+strings.Join(d.Lines, "|"))
	}
	want := []string{
		"status",
		"stdout:open repository|lock repository",
		"stderr:warning: something odd",
		"error",
		"stderr:after the error|and more",
		"summary",
		"stdout:last line",
		kindFinished,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A line waits no longer than the linger, even when nothing follows it:
// the live tail stays live.
func TestALoneLineGoesOutAfterTheLinger(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		got []spool.Event
	)
	written := make(chan time.Time, 10)
	b := newLogBatch(&mu, func(ev spool.Event) error {
		got = append(got, ev)
		written <- time.Now()
		return nil
	}, 20*time.Millisecond, 10, 1<<10)
	mu.Lock()
	start := time.Now()
	if err := b.add(sdk.StreamStdout, "alone", time.Time{}); err != nil {
		t.Fatal(err)
	}
	mu.Unlock()
	select {
	case at := <-written:
		if d := at.Sub(start); d < 20*time.Millisecond {
			t.Fatalf("the line went out after %s, before the linger", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a lone line was never written")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || !strings.Contains(string(got[0].Data), `"lines":["alone"]`) || got[0].Time.IsZero() {
		t.Fatalf("written: %+v", got)
	}
}

// The bounds on an event's lines and bytes hold however fast lines come,
// and a line longer than the byte bound travels alone.
func TestLogBatchBounds(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		lines     []string
		maxLines  int
		maxBytes  int
		wantSizes []int
	}{
		"line bound": {lines: strings.Split("a b c d e f g", " "), maxLines: 3, maxBytes: 1 << 10, wantSizes: []int{3, 3, 1}},
		"byte bound": {lines: []string{"aaaa", "bbbb", "cccc", "dd"}, maxLines: 100, maxBytes: 8, wantSizes: []int{2, 2}},
		"long line":  {lines: []string{"a", strings.Repeat("x", 20), "b"}, maxLines: 100, maxBytes: 8, wantSizes: []int{1, 1, 1}},
		"under both": {lines: []string{"a", "b"}, maxLines: 3, maxBytes: 8, wantSizes: []int{2}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var sizes []int
			var all []string
			b := newLogBatch(&mu, func(ev spool.Event) error {
				var d wire.LogData
				if err := json.Unmarshal(ev.Data, &d); err != nil {
					return err
				}
				sizes = append(sizes, len(d.Lines))
				all = append(all, d.Lines...)
				return nil
			}, time.Hour, tc.maxLines, tc.maxBytes)
			mu.Lock()
			defer mu.Unlock()
			for _, l := range tc.lines {
				if err := b.add(sdk.StreamStdout, l, time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.close(); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tc.wantSizes) || strings.Join(all, ",") != strings.Join(tc.lines, ",") {
				t.Fatalf("events of %v lines carrying %q, want %v", sizes, all, tc.wantSizes)
			}
		})
	}
}

// BenchmarkJobLogLines measures a job's log lines through the agent: from
// the backend's first line until the server (the in-process test server,
// over a real WebSocket) has acknowledged the job's end, which follows
// every line. The spool syncs to disk as in production. Each op is one line.
func BenchmarkJobLogLines(b *testing.B) {
	script := make([]scripted, b.N)
	for i := range script {
		script[i].ev = logLine(sdk.StreamStdout, fmt.Sprintf(`{"message_type":"node","path":"/srv/d%04d/f%07d","type":"file","size":0}`, i/1000, i))
	}
	srv := newTestServer(b)
	a, err := New(Config{
		ServerURL: srv.URL(), Credential: srv.token, StateDir: filepath.Join(b.TempDir(), "state"),
		Backend: &scriptBackend{script: script},
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = a.Run(ctx)
	}()
	defer func() {
		cancel()
		wg.Wait()
	}()
	srv.waitConnected(1)
	b.ResetTimer()
	start := time.Now()
	srv.mustAccept(wire.JobDispatch{JobID: "lines", Kind: "check", Repository: wire.Repository{URL: "/nowhere"}})
	srv.waitFinished("lines", 10*time.Minute)
	srv.waitAcked("lines")
	elapsed := time.Since(start)
	b.StopTimer()
	events := len(srv.stream("lines"))
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(b.N)/float64(max(1, events-2)), "lines/event")
}
