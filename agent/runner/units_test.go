package runner

import (
	"context"
	"encoding/json"
	"errors"
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

func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	_, err := New(Config{ServerURL: "ftp://x"})
	if !errors.Is(err, ErrConfig) {
		t.Fatalf("New: %v", err)
	}
	for _, want := range []string{"scheme", "credential", "state dir", "backend"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in    string
		limit int
		want  string
	}{
		"plain":        {"restic failed", 100, "restic failed"},
		"newlines":     {"Fatal: wrong password\nor no key found\r\n", 100, "Fatal: wrong password or no key found"},
		"control":      {"a\x00b\x1bc", 100, "a b c"},
		"invalid utf8": {"a\xffb", 100, "a\uFFFDb"},
		"cut on rune":  {strings.Repeat("é", 10), 9, "ééé…"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := cleanText(tc.in, tc.limit)
			if got != tc.want {
				t.Fatalf("cleanText(%q, %d) = %q, want %q", tc.in, tc.limit, got, tc.want)
			}
			if len(got) > tc.limit {
				t.Fatalf("%d bytes, limit %d", len(got), tc.limit)
			}
			if err := (wire.JobFinished{JobID: "j", Seq: 1, Status: "failed", Error: got}).Validate(); err != nil {
				t.Fatalf("the receiver refuses it: %v", err)
			}
		})
	}
}

func TestDecodeArgs(t *testing.T) {
	t.Parallel()
	args, err := decodeArgs(json.RawMessage(`{"paths":["/etc"],"tags":["n"],"limit_upload_kib":100,"retention":{"keep_daily":7},"extra":{"one_file_system":true}}`))
	if err != nil || args.Paths[0] != "/etc" || args.LimitUploadKiB != 100 || args.Retention.KeepDaily != 7 || len(args.Extra) == 0 {
		t.Fatalf("decodeArgs: %+v, %v", args, err)
	}
	for _, bad := range []string{`{"path":["/etc"]}`, `{"paths":"/etc"}`, `{"paths":[]} {}`, `[1]`} {
		if _, err := decodeArgs(json.RawMessage(bad)); err == nil {
			t.Errorf("decodeArgs(%s) accepted", bad)
		}
	}
	for _, empty := range []string{``, `null`, ` {} `} {
		if _, err := decodeArgs(json.RawMessage(empty)); err != nil {
			t.Errorf("decodeArgs(%q): %v", empty, err)
		}
	}
}

func TestSpoolEventsBecomeProtocolEvents(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	tests := map[string]struct {
		ev       sdk.Event
		kind     wire.EventKind
		contains string
	}{
		"progress": {sdk.Event{Progress: &sdk.Progress{PercentDone: 0.5, FilesDone: 3}}, wire.EventProgress, `"message_type":"status","percent_done":0.5,"files_done":3`},
		"log":      {sdk.Event{Log: &sdk.LogLine{Stream: "stderr", Text: "warning"}}, wire.EventLog, `{"stream":"stderr","lines":["warning"]}`},
		"summary":  {sdk.Event{Summary: &sdk.Summary{Raw: json.RawMessage(`{"message_type":"summary","snapshot_id":"ab"}`)}}, wire.EventSummary, `"snapshot_id":"ab"`},
		"error":    {sdk.Event{Error: &sdk.ErrorEvent{Message: "permission denied", Item: "/x", During: "archival"}}, wire.EventError, `{"message_type":"error","error":{"message":"permission denied"},"during":"archival","item":"/x"}`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tc.ev.Time = now
			se, err := spoolEvent(tc.ev)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := wireMessage(spool.Entry{JobID: "j1", Seq: 7, Event: se})
			if err != nil {
				t.Fatal(err)
			}
			ev, ok := msg.payload.(wire.JobEvent)
			if msg.typ != wire.TypeJobEvent || !ok || ev.Kind != tc.kind || ev.Seq != 7 || ev.JobID != "j1" || !ev.Time.Equal(now) {
				t.Fatalf("wire message %s %+v", msg.typ, msg.payload)
			}
			if !strings.Contains(string(ev.Data), tc.contains) {
				t.Fatalf("data %s lacks %s", ev.Data, tc.contains)
			}
			if err := ev.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := spoolEvent(sdk.Event{}); err == nil {
		t.Fatal("an event without payload was accepted")
	}
}

func TestFinishedEventRoundTrip(t *testing.T) {
	t.Parallel()
	f := wire.JobFinished{
		JobID: "j", Seq: 99, Status: wire.StatusSucceeded, ExitCode: 3, Error: exitCode3Warning,
		Summary: json.RawMessage(`{"snapshot_id":"x"}`), StartedAt: time.Unix(10, 0).UTC(), FinishedAt: time.Unix(20, 0).UTC(),
	}
	se, err := finishedEvent(f)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := wireMessage(spool.Entry{JobID: "j", Seq: 12, Event: se})
	if err != nil {
		t.Fatal(err)
	}
	got := msg.payload.(wire.JobFinished)
	f.Seq = 12
	if msg.typ != wire.TypeJobFinished || got.Seq != 12 || got.Status != f.Status || got.Error != f.Error ||
		string(got.Summary) != string(f.Summary) || !got.FinishedAt.Equal(f.FinishedAt) {
		t.Fatalf("round trip %+v, want %+v", got, f)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestJobSummary(t *testing.T) {
	t.Parallel()
	line := json.RawMessage(`{"message_type":"summary","snapshot_id":"s1"}`)
	if got := jobSummary(sdk.Result{Output: json.RawMessage(`[{"id":"a"}]`)}, line); string(got) != `[{"id":"a"}]` {
		t.Errorf("output first: %s", got)
	}
	if got := jobSummary(sdk.Result{}, line); string(got) != string(line) {
		t.Errorf("summary line: %s", got)
	}
	if got := jobSummary(sdk.Result{SnapshotID: "s2"}, nil); string(got) != `{"snapshot_id":"s2"}` {
		t.Errorf("snapshot id alone: %s", got)
	}
	big := json.RawMessage(`["` + strings.Repeat("x", maxSummaryBytes) + `"]`)
	if got := jobSummary(sdk.Result{Output: big, SnapshotID: "s3"}, nil); len(got) > 1024 || !strings.Contains(string(got), "summary_omitted") {
		t.Errorf("oversized output kept: %d bytes", len(got))
	}
}

func TestRepoLocks(t *testing.T) {
	t.Parallel()
	l := newRepoLocks()
	ctx := context.Background()
	relA, waited, err := l.acquire(ctx, "a")
	if err != nil || waited {
		t.Fatal(err, waited)
	}
	relB, waited, err := l.acquire(ctx, "b")
	if err != nil || waited {
		t.Fatal("a different repository waited", err)
	}
	got := make(chan bool, 1)
	go func() {
		rel, waited, err := l.acquire(ctx, "a")
		if err == nil {
			rel()
		}
		got <- waited
	}()
	select {
	case <-got:
		t.Fatal("a second job on the same repository did not wait")
	case <-time.After(50 * time.Millisecond):
	}
	relA()
	relA() // a second release is harmless
	if !<-got {
		t.Fatal("the second job did not report waiting")
	}
	cctx, cancel := context.WithCancelCause(ctx)
	cancel(errShutdown)
	if _, _, err := l.acquire(cctx, "b"); !errors.Is(err, errShutdown) {
		t.Fatalf("a cancelled wait returned %v", err)
	}
	relB()
	l.mu.Lock()
	n := len(l.locks)
	l.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d lock entries left", n)
	}
}

// fakeFloodBackend stands in for backend-restic where restic cannot do what
// the test needs: print thousands of lines on cue, while the agent is
// disconnected. It is no model of restic.
type fakeFloodBackend struct {
	lines   int
	release chan struct{}
}

func (b *fakeFloodBackend) Info(context.Context) (plugin.Info, error) {
	return plugin.Info{Name: "fake", Kind: plugin.KindBackend, APIVersion: sdk.APIVersion, PluginVersion: "0.0.0"}, nil
}

func (b *fakeFloodBackend) ConfigSchema(context.Context) (plugin.Schema, error) {
	return plugin.Schema{}, nil
}

func (b *fakeFloodBackend) Configure(context.Context, []byte) error { return nil }

func (b *fakeFloodBackend) Run(ctx context.Context, job sdk.Job, emit func(sdk.Event) error) (sdk.Result, error) {
	if job.Kind == sdk.JobVersion {
		return sdk.Result{Output: json.RawMessage(`{"version":"0.0.0-fake"}`)}, nil
	}
	select {
	case <-b.release:
	case <-ctx.Done():
		return sdk.Result{}, ctx.Err()
	}
	for i := range b.lines {
		if err := emit(sdk.Event{Log: &sdk.LogLine{Stream: "stdout", Text: fmt.Sprintf("line %05d %s", i, strings.Repeat(".", 60))}}); err != nil {
			return sdk.Result{}, err
		}
	}
	return sdk.Result{}, nil
}

// When the spool fills while the server is away, it drops log events; the
// server still receives an unbroken sequence: stand-ins for the dropped
// seqs, the agent's marker, and job_finished last.
func TestFullSpoolKeepsTheSequenceUnbroken(t *testing.T) {
	t.Parallel()
	srv := newTestServer(t)
	be := &fakeFloodBackend{lines: 3000, release: make(chan struct{})}
	logs := &logBuffer{}
	a, err := New(Config{
		ServerURL: srv.URL(), Credential: srv.token, StateDir: filepath.Join(t.TempDir(), "state"),
		Backend: be, Logger: hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
		ReconnectBase: 20 * time.Millisecond, ReconnectMax: 100 * time.Millisecond,
		// An event of up to 1 KiB of lines (about 12 lines) and a writer
		// batch of up to 10 events stay well over the spool's minimum drop
		// chunk (MaxBytes/64, 1 KiB) and well under its whole 64 KiB cap,
		// which a batch must fit for dropping to make room.
		Spool: spool.Options{MaxBytes: 64 << 10, NoSync: true}, EventBuffer: 10, LogBatchBytes: 1 << 10,
	})
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
	defer func() {
		cancel()
		wg.Wait()
	}()
	srv.waitConnected(1)
	srv.mustAccept(wire.JobDispatch{JobID: "flood", Kind: "check", Repository: wire.Repository{URL: "/nowhere"}})
	srv.waitEvent("flood", "status", 10*time.Second)

	srv.setRefuse(true)
	srv.drop(true)
	close(be.release)
	for a.isRunning("flood") {
		time.Sleep(10 * time.Millisecond)
	}
	srv.setRefuse(false)

	f := srv.waitFinished("flood", 30*time.Second)
	if f.Status != wire.StatusSucceeded {
		t.Logf("agent log:\n%s", logs.String())
	}
	mustSucceed(t, f)
	srv.waitAcked("flood")
	events := srv.stream("flood")
	var standIns, markers int
	for _, e := range events {
		s := string(e.Data)
		if strings.Contains(s, "were dropped because the agent's spool was full") {
			standIns++
		}
		if strings.Contains(s, "log output dropped") && strings.Contains(s, "restic-manager agent") {
			markers++
		}
	}
	// The lines that were kept arrive once each and in order, the newest
	// among them; the others were dropped whole events at a time.
	var kept []int
	for _, line := range logLines(t, events) {
		var n int
		if _, err := fmt.Sscanf(line, "line %05d", &n); err == nil {
			kept = append(kept, n)
		}
	}
	for i := 1; i < len(kept); i++ {
		if kept[i] <= kept[i-1] {
			t.Fatalf("line %d follows line %d", kept[i], kept[i-1])
		}
	}
	if standIns == 0 || markers == 0 || len(kept) == 0 || len(kept) >= 3000 || kept[len(kept)-1] != 2999 {
		t.Fatalf("%d events with %d stand-in runs and %d markers, %d of 3000 lines kept", len(events), standIns, markers, len(kept))
	}
}
