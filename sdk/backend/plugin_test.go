package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// connect serves impl in-process over a real gRPC connection and returns
// the host's view of it.
func connect(t *testing.T, impl Backend) Backend {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, goplugin.PluginSet{
		plugin.BasePluginName: &plugin.BasePlugin{Impl: impl, Kind: plugin.KindBackend, APIVersion: APIVersion},
		PluginName:            &GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller service.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	b, ok := raw.(Backend)
	if !ok {
		t.Fatalf("dispensed %T, want a Backend", raw)
	}
	return b
}

// configured returns a Backend served from mock, already configured.
func configured(t *testing.T, mock *Mock) Backend {
	t.Helper()
	b := connect(t, mock)
	if err := b.Configure(context.Background(), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	return b
}

// collect returns an emit func that appends to *events.
func collect(events *[]Event) func(Event) error {
	return func(ev Event) error {
		*events = append(*events, ev)
		return nil
	}
}

func fullJob() Job {
	return Job{
		ID:   "job_01HZX",
		Kind: JobForget,
		Repository: Repository{
			URL:      "sftp:backup@nas:/srv/restic",
			Password: "correct horse battery staple",
			Env:      map[string]string{"AWS_ACCESS_KEY_ID": "AKIA", "RESTIC_COMPRESSION": "max"},
		},
		ToRepository: &Repository{
			URL:      "s3:s3.amazonaws.com/offsite",
			Password: "second secret",
			Env:      map[string]string{"AWS_SECRET_ACCESS_KEY": "wJalr"},
		},
		Args: Args{
			Paths:            []string{"/etc", "/home"},
			Excludes:         []string{"*.tmp"},
			Tags:             []string{"daily", "web"},
			Host:             "web-1",
			Snapshots:        []string{"abc123", "def456"},
			Target:           "/restore",
			Includes:         []string{"/etc/hosts"},
			Retention:        &Retention{KeepLast: 1, KeepHourly: 2, KeepDaily: 7, KeepWeekly: 4, KeepMonthly: 12, KeepYearly: 3, KeepWithin: "1y6m", KeepTags: []string{"keep"}, GroupBy: "host"},
			LimitUploadKiB:   1024,
			LimitDownloadKiB: 2048,
			DryRun:           true,
			Prune:            true,
			ReadDataSubset:   "10%",
			ToRepository:     "repo_offsite",
			Extra:            json.RawMessage(`{"compression":"max"}`),
		},
		NewPassword: "new key's secret",
	}
}

func TestRunRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 6, time.UTC)
	events := []Event{
		{Time: at, Progress: &Progress{PercentDone: 0.5, FilesDone: 1, TotalFiles: 2, BytesDone: 3, TotalBytes: 4, ErrorCount: 5, SecondsElapsed: 6, SecondsRemaining: 7, CurrentFiles: []string{"/etc/hosts", "/etc/passwd"}}},
		{Time: at, Log: &LogLine{Stream: StreamStderr, Text: "unable to open config file"}},
		{Time: at, Error: &ErrorEvent{Message: "permission denied", Item: "/root/secret", During: "archival"}},
		{Time: at, Summary: &Summary{Raw: json.RawMessage(`{"message_type":"summary","files_new":1}`), SnapshotID: "abc123", FilesNew: 1, FilesChanged: 2, FilesUnmodified: 3, DirsNew: 4, DirsChanged: 5, DirsUnmodified: 6, DataAdded: 7, TotalFilesProcessed: 8, TotalBytesProcessed: 9, DurationSeconds: 1.5}},
	}
	result := Result{ExitCode: 3, SnapshotID: "abc123", Output: json.RawMessage(`[{"id":"abc123"}]`)}
	mock := &Mock{Events: events, Result: result}
	b := connect(t, mock)
	ctx := context.Background()

	info, err := b.Info(ctx)
	if err != nil || info != MockInfo {
		t.Errorf("Info = %+v, %v; want %+v", info, err, MockInfo)
	}
	schema, err := b.ConfigSchema(ctx)
	if err != nil || !reflect.DeepEqual(schema, MockSchema) {
		t.Errorf("ConfigSchema = %+v, %v; want %+v", schema, err, MockSchema)
	}
	if err := b.Configure(ctx, []byte(`{"restic_path":"/usr/bin/restic"}`)); err != nil {
		t.Fatal(err)
	}

	job := fullJob()
	var got []Event
	res, err := b.Run(ctx, job, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, result) {
		t.Errorf("result = %+v, want %+v", res, result)
	}
	if jobs := mock.Jobs(); len(jobs) != 1 || !reflect.DeepEqual(jobs[0], job) {
		t.Errorf("plugin got job\n%#v\nwant\n%#v", jobs, job)
	}
	want := make([]Event, len(events))
	for i, ev := range events {
		ev.Seq = uint64(i + 1)
		want[i] = ev
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events\n%+v\nwant\n%+v", got, want)
	}
}

func TestRunManyEvents(t *testing.T) {
	t.Parallel()
	const n = 10000
	events := make([]Event, n)
	for i := range events {
		events[i] = Event{Log: &LogLine{Stream: StreamStdout, Text: fmt.Sprintf("line %d", i)}}
	}
	b := configured(t, &Mock{Events: events, Result: Result{SnapshotID: "s"}})
	var got []Event
	res, err := b.Run(context.Background(), Job{ID: "j", Kind: JobLs}, collect(&got))
	if err != nil {
		t.Fatal(err)
	}
	if res.SnapshotID != "s" {
		t.Errorf("result = %+v", res)
	}
	if len(got) != n {
		t.Fatalf("got %d events, want %d", len(got), n)
	}
	for i, ev := range got {
		if ev.Seq != uint64(i+1) || ev.Log.Text != fmt.Sprintf("line %d", i) || ev.Time.IsZero() {
			t.Fatalf("event %d = seq %d %+v at %v", i, ev.Seq, ev.Log, ev.Time)
		}
	}
}

func TestRunConcurrentEmit(t *testing.T) {
	t.Parallel()
	const writers, each = 4, 250
	mock := &Mock{RunFunc: func(ctx context.Context, _ Job, emit func(Event) error) (Result, error) {
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Go(func() {
				for i := range each {
					if err := emit(Event{Log: &LogLine{Stream: StreamStdout, Text: fmt.Sprintf("%d %d", w, i)}}); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		return Result{}, <-errs
	}}
	b := configured(t, mock)
	var got []Event
	if _, err := b.Run(context.Background(), Job{Kind: JobBackup}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	if len(got) != writers*each {
		t.Fatalf("got %d events, want %d", len(got), writers*each)
	}
	next := make([]int, writers)
	for i, ev := range got {
		if ev.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, ev.Seq)
		}
		var w, n int
		if _, err := fmt.Sscanf(ev.Log.Text, "%d %d", &w, &n); err != nil || n != next[w] {
			t.Fatalf("event %q out of order (want %d from writer %d)", ev.Log.Text, next[w], w)
		}
		next[w]++
	}
}

func TestRunCancel(t *testing.T) {
	t.Parallel()
	stopped := make(chan error, 1)
	mock := &Mock{RunFunc: func(ctx context.Context, _ Job, emit func(Event) error) (Result, error) {
		for i := 0; ; i++ {
			if err := emit(Event{Progress: &Progress{FilesDone: uint64(i)}}); err != nil {
				stopped <- ctx.Err()
				return Result{}, err
			}
		}
	}}
	b := configured(t, mock)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	start := time.Now()
	_, err := b.Run(ctx, Job{Kind: JobBackup}, func(Event) error {
		if n++; n == 100 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %s", d)
	}
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("plugin stopped with ctx error %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's Run was not cancelled")
	}
}

func TestRunEmitErrorStopsPlugin(t *testing.T) {
	t.Parallel()
	stopped := make(chan struct{})
	mock := &Mock{RunFunc: func(ctx context.Context, _ Job, emit func(Event) error) (Result, error) {
		defer close(stopped)
		for {
			if err := emit(Event{Log: &LogLine{Text: "x"}}); err != nil {
				return Result{}, err
			}
		}
	}}
	b := configured(t, mock)
	errSpoolFull := errors.New("spool full")
	n := 0
	_, err := b.Run(context.Background(), Job{Kind: JobBackup}, func(Event) error {
		if n++; n == 10 {
			return errSpoolFull
		}
		return nil
	})
	if !errors.Is(err, errSpoolFull) {
		t.Fatalf("Run = %v, want the emit callback's error", err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's Run did not stop")
	}
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		mock    *Mock
		noSetup bool
		job     Job
		result  Result
		is      error
		msg     string
	}{
		"not configured": {
			mock: &Mock{}, noSetup: true, job: Job{Kind: JobCheck},
			is: plugin.ErrNotConfigured,
		},
		"unsupported kind": {
			mock: &Mock{RunFunc: func(context.Context, Job, func(Event) error) (Result, error) {
				return Result{}, fmt.Errorf("diff needs restic 0.16: %w", plugin.ErrUnsupported)
			}},
			job: Job{Kind: JobDiff},
			is:  plugin.ErrUnsupported, msg: "diff needs restic 0.16",
		},
		"failure with a result": {
			mock:   &Mock{Result: Result{ExitCode: 12}, Err: errors.New("restic: wrong password or no key found")},
			job:    Job{Kind: JobSnapshots},
			result: Result{ExitCode: 12},
			msg:    "wrong password",
		},
		"unknown kind never leaves the host": {
			mock: &Mock{RunFunc: func(context.Context, Job, func(Event) error) (Result, error) { panic("called") }},
			job:  Job{Kind: "rm -rf"},
			msg:  `unknown job kind "rm -rf"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var b Backend
			if tc.noSetup {
				b = connect(t, tc.mock)
			} else {
				b = configured(t, tc.mock)
			}
			res, err := b.Run(context.Background(), tc.job, nil)
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
			if !reflect.DeepEqual(res, tc.result) {
				t.Errorf("result = %+v, want %+v", res, tc.result)
			}
		})
	}
}

func TestEmitRules(t *testing.T) {
	t.Parallel()
	var late func(Event) error
	errs := make(chan error, 2)
	mock := &Mock{RunFunc: func(_ context.Context, _ Job, emit func(Event) error) (Result, error) {
		late = emit
		errs <- emit(Event{})
		errs <- emit(Event{Log: &LogLine{}, Error: &ErrorEvent{}})
		return Result{}, emit(Event{Log: &LogLine{Text: "ok"}})
	}}
	b := configured(t, mock)
	var got []Event
	if _, err := b.Run(context.Background(), Job{Kind: JobUnlock}, collect(&got)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := <-errs; !errors.Is(err, errEventPayload) {
			t.Errorf("emit of a malformed event = %v", err)
		}
	}
	if len(got) != 1 || got[0].Seq != 1 {
		t.Errorf("events = %+v, want the one well-formed event as seq 1", got)
	}
	if err := late(Event{Log: &LogLine{}}); !errors.Is(err, errRunOver) {
		t.Errorf("emit after Run = %v, want errRunOver", err)
	}
}

func TestRepositorySecretsNotPrinted(t *testing.T) {
	t.Parallel()
	job := fullJob()
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, job)
		for _, secret := range []string{job.Repository.Password, "AKIA"} {
			if strings.Contains(out, secret) {
				t.Errorf("Sprintf(%q, job) shows a secret: %s", format, out)
			}
		}
		if !strings.Contains(out, job.Repository.URL) {
			t.Errorf("Sprintf(%q, job) lost the URL: %s", format, out)
		}
	}
}

func TestEventKind(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		ev   Event
		want EventKind
	}{
		"progress": {Event{Progress: &Progress{}}, EventProgress},
		"log":      {Event{Log: &LogLine{}}, EventLog},
		"summary":  {Event{Summary: &Summary{}}, EventSummary},
		"error":    {Event{Error: &ErrorEvent{}}, EventError},
		"none":     {Event{}, ""},
		"two":      {Event{Log: &LogLine{}, Summary: &Summary{}}, ""},
	}
	for name, tc := range tests {
		if got := tc.ev.Kind(); got != tc.want {
			t.Errorf("%s: Kind() = %q, want %q", name, got, tc.want)
		}
	}
}
