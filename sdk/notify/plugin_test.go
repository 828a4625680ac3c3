package notify

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// connect serves impl in-process over a real gRPC connection, as go-plugin
// would in a subprocess, and returns the host's view of it.
func connect(t *testing.T, impl Notifier) Notifier {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, goplugin.PluginSet{
		plugin.BasePluginName: &plugin.BasePlugin{Impl: impl, Kind: plugin.KindNotify, APIVersion: APIVersion},
		PluginName:            &GRPCPlugin{Impl: impl},
	})
	// Close also stops the server, through go-plugin's controller service;
	// stopping it here too would race with that.
	t.Cleanup(func() { _ = client.Close() })
	raw, err := client.Dispense(PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	n, ok := raw.(Notifier)
	if !ok {
		t.Fatalf("dispensed %T, want a Notifier", raw)
	}
	return n
}

func sample() Notification {
	return Notification{
		Event:    EventJobFailed,
		Severity: SeverityCritical,
		Title:    "backup of web-1 failed",
		Body:     "restic exited with code 1\nrepository is locked",
		Host:     "web-1",
		Job:      "job_01HZX",
		Links: []Link{
			{Title: "Job", URL: "https://rm.example.com/jobs/job_01HZX"},
			{Title: "Host", URL: "https://rm.example.com/hosts/web-1"},
		},
		Time: time.Date(2025, 3, 4, 5, 6, 7, 891011, time.UTC),
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	mock := &Mock{InfoFunc: func(context.Context) (plugin.Info, error) {
		// Kind and API version are the SDK's business, whatever the plugin says.
		return plugin.Info{Name: "notify-mock", Kind: "auth", APIVersion: "9.9.9", PluginVersion: "1.2.3"}, nil
	}}
	n := connect(t, mock)
	ctx := context.Background()

	info, err := n.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := plugin.Info{Name: "notify-mock", Kind: plugin.KindNotify, APIVersion: APIVersion, PluginVersion: "1.2.3"}
	if info != want {
		t.Errorf("Info = %+v, want %+v", info, want)
	}

	schema, err := n.ConfigSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(schema, MockSchema) {
		t.Errorf("ConfigSchema = %+v, want %+v", schema, MockSchema)
	}

	config := []byte(`{"target":"ops","token":"s3cret"}`)
	if err := n.Configure(ctx, config); err != nil {
		t.Fatal(err)
	}
	if got := mock.Configs(); len(got) != 1 || string(got[0]) != string(config) {
		t.Errorf("plugin got configs %q, want [%q]", got, config)
	}

	sent := []Notification{sample(), {Event: EventTest, Severity: SeverityInfo, Title: "test"}}
	for _, s := range sent {
		if err := n.Notify(ctx, s); err != nil {
			t.Fatalf("Notify(%+v): %v", s, err)
		}
	}
	if got := mock.Notifications(); !reflect.DeepEqual(got, sent) {
		t.Errorf("plugin got\n%+v\nwant\n%+v", got, sent)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("smtp: 550 mailbox unavailable")
	tests := map[string]struct {
		mock *Mock
		call func(context.Context, Notifier) error
		is   error
		msg  string
	}{
		"configure error is an invalid config": {
			mock: &Mock{ConfigureFunc: func(context.Context, []byte) error { return errors.New("path must be absolute") }},
			call: func(ctx context.Context, n Notifier) error { return n.Configure(ctx, []byte(`{"path":"x"}`)) },
			is:   plugin.ErrInvalidConfig,
			msg:  "path must be absolute",
		},
		"configure with a config that is no object": {
			mock: &Mock{},
			call: func(ctx context.Context, n Notifier) error { return n.Configure(ctx, []byte(`["x"]`)) },
			is:   plugin.ErrInvalidConfig,
			msg:  "not a JSON object",
		},
		"notify before configure": {
			mock: &Mock{},
			call: func(ctx context.Context, n Notifier) error { return n.Notify(ctx, sample()) },
			is:   plugin.ErrNotConfigured,
			msg:  "not configured",
		},
		"notify error keeps its message": {
			mock: &Mock{NotifyFunc: func(context.Context, Notification) error { return fmt.Errorf("deliver: %w", boom) }},
			call: func(ctx context.Context, n Notifier) error { return n.Notify(ctx, sample()) },
			msg:  "deliver: smtp: 550 mailbox unavailable",
		},
		"notify denied": {
			mock: &Mock{NotifyFunc: func(context.Context, Notification) error { return fmt.Errorf("token rejected: %w", plugin.ErrDenied) }},
			call: func(ctx context.Context, n Notifier) error { return n.Notify(ctx, sample()) },
			is:   plugin.ErrDenied,
			msg:  "token rejected",
		},
		"info error": {
			mock: &Mock{InfoFunc: func(context.Context) (plugin.Info, error) { return plugin.Info{}, boom }},
			call: func(ctx context.Context, n Notifier) error { _, err := n.Info(ctx); return err },
			msg:  boom.Error(),
		},
		"schema error": {
			mock: &Mock{SchemaFunc: func(context.Context) (plugin.Schema, error) { return plugin.Schema{}, plugin.ErrUnsupported }},
			call: func(ctx context.Context, n Notifier) error { _, err := n.ConfigSchema(ctx); return err },
			is:   plugin.ErrUnsupported,
		},
		"invalid notification never leaves the host": {
			mock: &Mock{NotifyFunc: func(context.Context, Notification) error { panic("called") }},
			call: func(ctx context.Context, n Notifier) error {
				return n.Notify(ctx, Notification{Event: "x", Severity: "loud", Title: "t"})
			},
			msg: `unknown severity "loud"`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			err := tc.call(context.Background(), connect(t, tc.mock))
			if err == nil {
				t.Fatal("no error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %q is not %q", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not contain %q", err, tc.msg)
			}
		})
	}
}

func TestNotifyCancel(t *testing.T) {
	t.Parallel()
	reached := make(chan struct{})
	cancelled := make(chan error, 1)
	mock := &Mock{NotifyFunc: func(ctx context.Context, _ Notification) error {
		close(reached)
		<-ctx.Done()
		cancelled <- ctx.Err()
		return ctx.Err()
	}}
	n := connect(t, mock)

	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-reached
		cancel()
	}()
	start := time.Now()
	err := n.Notify(ctx, sample())
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Notify = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Notify took %s after cancel", d)
	}
	select {
	case err := <-cancelled:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("plugin saw %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the plugin's context was not cancelled")
	}
}

func TestNotifyDeadline(t *testing.T) {
	t.Parallel()
	mock := &Mock{NotifyFunc: func(ctx context.Context, _ Notification) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	n := connect(t, mock)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := n.Notify(ctx, sample()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Notify = %v, want context.DeadlineExceeded", err)
	}
}
