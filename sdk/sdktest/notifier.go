package sdktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// NotifierConfig describes the notifier under test.
type NotifierConfig struct {
	// Command is the path of the built plugin binary; BuildPlugin makes
	// one. Build, when set instead, is called once to produce it.
	Command string
	Build   func(t testing.TB) string
	// Args are the binary's arguments, if it needs any to serve.
	Args []string
	// Env is added to the plugin's minimal environment.
	Env []string

	// ValidConfig is a JSON object the plugin accepts, as the host would
	// hand it over: it may set only attributes the schema declares, and must
	// set every required one. Required.
	ValidConfig string
	// InvalidConfig is a JSON object of the same shape that Configure must
	// reject. Required.
	InvalidConfig string

	// Notification is what the Notify check sends; the zero value means a
	// sample with every field set.
	Notification notify.Notification
	// Delivered, if set, is called after the Notify check succeeded, to
	// assert that n really arrived (read the file, ask the test receiver).
	Delivered func(t testing.TB, n notify.Notification)

	// Timeout bounds each call and the plugin's start; 0 means 10s.
	Timeout time.Duration
}

// Notifier runs the conformance suite against a notify plugin binary. Its
// subtests check, in order, that the plugin:
//
//   - NoHandshake: run by hand, without the host's handshake, exits non-zero
//     and prints nothing on stdout;
//   - Stdout: prints go-plugin's handshake line as its first line of
//     standard output and nothing else to stdout afterwards, on the real
//     file descriptor or through os.Stdout, while it is configured and
//     notifies;
//   - Start: starts as the host starts it (checksum, mTLS, minimal
//     environment) and serves the notify service; the checks below use
//     this process and are skipped if it did not start;
//   - Info: reports a name, kind "notify", an API version compatible with
//     this SDK's notify.APIVersion and a semantic plugin version;
//   - ConfigSchema: reports a valid schema whose attributes all have a
//     description, and that ValidConfig fits (no undeclared attribute, every
//     required one, values of the declared types);
//   - NotifyUnconfigured: returns an error from Notify before Configure, and
//     keeps running (a panic would kill the process);
//   - InvalidConfig: rejects InvalidConfig (the host sees
//     plugin.ErrInvalidConfig);
//   - ValidConfig: accepts ValidConfig;
//   - Notify: delivers the notification (and Delivered agrees);
//   - ConcurrentNotify: delivers several notifications sent at once;
//   - Cancel: returns context.Canceled promptly for a cancelled context and
//     context.DeadlineExceeded for an expired one, and still works
//     afterwards.
func Notifier(t *testing.T, cfg NotifierConfig) {
	t.Helper()
	for _, c := range notifierChecks(t, cfg) {
		t.Run(c.name, func(t *testing.T) { c.run(t) })
	}
}

// check is one rule of a conformance suite.
type check struct {
	name string
	run  func(t testing.TB)
}

// notifierChecks returns the suite's checks in the order they run. Those
// after Start share the plugin Start starts, which lives until t ends.
func notifierChecks(t testing.TB, cfg NotifierConfig) []check {
	t.Helper()
	if cfg.ValidConfig == "" || cfg.InvalidConfig == "" {
		t.Fatal("sdktest: NotifierConfig needs ValidConfig and InvalidConfig")
	}
	bin := cfg.Command
	if bin == "" {
		if cfg.Build == nil {
			t.Fatal("sdktest: NotifierConfig needs Command or Build")
		}
		bin = cfg.Build(t)
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	note := cfg.Notification
	if note.Event == "" {
		note = SampleNotification()
	}
	call := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), timeout)
	}
	owner := t
	var n notify.Notifier
	// started wraps the checks that need the plugin Start started.
	started := func(run func(t testing.TB)) func(t testing.TB) {
		return func(t testing.TB) {
			if n == nil {
				t.Skip("the plugin did not start")
			}
			run(t)
		}
	}

	return []check{
		{"NoHandshake", func(t testing.TB) {
			checkNoHandshake(t, bin, cfg.Args, cfg.Env, timeout)
		}},
		{"Stdout", func(t testing.TB) {
			checkStdout(t, bin, cfg.Args, cfg.Env, timeout, notify.PluginName, &notify.GRPCPlugin{},
				func(ctx context.Context, raw any) {
					n, ok := raw.(notify.Notifier)
					if !ok {
						t.Fatalf("dispensed %T, want a notify.Notifier", raw)
					}
					// Failures of the calls themselves are other checks' business.
					_, _ = n.Info(ctx)
					_, _ = n.ConfigSchema(ctx)
					if err := n.Configure(ctx, []byte(cfg.ValidConfig)); err != nil {
						t.Logf("Configure(ValidConfig): %v", err)
					} else if err := n.Notify(ctx, note); err != nil {
						t.Logf("Notify: %v", err)
					}
				})
		}},
		{"Start", func(t testing.TB) {
			raw, err := startPlugin(owner, bin, cfg.Args, cfg.Env, notify.PluginName, &notify.GRPCPlugin{})
			if err != nil {
				t.Fatalf("starting the plugin as the host does: %v", err)
			}
			var ok bool
			if n, ok = raw.(notify.Notifier); !ok {
				t.Fatalf("dispensed %T, want a notify.Notifier", raw)
			}
		}},
		{"Info", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			info, err := n.Info(ctx)
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			if info.Name == "" {
				t.Error("Info reports no name")
			}
			if info.Kind != plugin.KindNotify {
				t.Errorf("Info reports kind %q, want %q (serve it with notify.Serve)", info.Kind, plugin.KindNotify)
			}
			if err := plugin.CheckAPIVersion(notify.APIVersion, info.APIVersion); err != nil {
				t.Error(err)
			}
			if !plugin.ValidVersion(info.PluginVersion) {
				t.Errorf("Info reports plugin version %q, want a semantic version such as 1.0.0", info.PluginVersion)
			}
		})},
		{"ConfigSchema", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			schema, err := n.ConfigSchema(ctx)
			if err != nil {
				t.Fatalf("ConfigSchema: %v", err)
			}
			if err := schema.Validate(); err != nil {
				t.Error(err)
			}
			for _, a := range schema.Attributes {
				if a.Description == "" {
					t.Errorf("attribute %q has no description", a.Name)
				}
			}
			if err := fitsSchema(schema, cfg.ValidConfig); err != nil {
				t.Errorf("ValidConfig does not fit the schema the plugin reports, so the host could never send it: %v", err)
			}
		})},
		{"NotifyUnconfigured", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			if err := n.Notify(ctx, note); err == nil {
				t.Error("Notify before Configure succeeded; want an error (wrap plugin.ErrNotConfigured)")
			}
			if _, err := n.Info(ctx); err != nil {
				t.Fatalf("the plugin stopped answering after Notify before Configure (did it panic?): %v", err)
			}
		})},
		{"InvalidConfig", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			err := n.Configure(ctx, []byte(cfg.InvalidConfig))
			if err == nil {
				t.Fatal("Configure(InvalidConfig) succeeded")
			}
			if !errors.Is(err, plugin.ErrInvalidConfig) {
				t.Errorf("Configure(InvalidConfig) = %v, want an error wrapping plugin.ErrInvalidConfig", err)
			}
		})},
		{"ValidConfig", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			if err := n.Configure(ctx, []byte(cfg.ValidConfig)); err != nil {
				t.Fatalf("Configure(ValidConfig): %v", err)
			}
		})},
		{"Notify", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			if err := n.Notify(ctx, note); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if cfg.Delivered != nil {
				cfg.Delivered(t, note)
			}
		})},
		{"ConcurrentNotify", started(func(t testing.TB) {
			ctx, cancel := call()
			defer cancel()
			const parallel = 4
			var wg sync.WaitGroup
			errs := make(chan error, parallel)
			for i := range parallel {
				c := note
				c.Title = fmt.Sprintf("%s (%d of %d)", note.Title, i+1, parallel)
				wg.Go(func() { errs <- n.Notify(ctx, c) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("concurrent Notify: %v", err)
				}
			}
		})},
		{"Cancel", started(func(t testing.TB) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			start := time.Now()
			err := n.Notify(ctx, note)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Notify with a cancelled context = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Notify with a cancelled context took %s", d)
			}

			ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
			defer cancel()
			if err := n.Notify(ctx, note); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Notify with an expired deadline = %v, want context.DeadlineExceeded", err)
			}

			ctx, cancel = call()
			defer cancel()
			if err := n.Notify(ctx, note); err != nil {
				t.Errorf("Notify after cancelled calls: %v", err)
			}
		})},
	}
}

// StartNotifier starts the notify plugin binary at path as a subprocess,
// the way the host does, and returns it; it is killed when the test ends.
// It is for a plugin's own tests beyond the conformance suite.
func StartNotifier(t testing.TB, path string, args, env []string) notify.Notifier {
	t.Helper()
	raw, err := startPlugin(t, path, args, env, notify.PluginName, &notify.GRPCPlugin{})
	if err != nil {
		t.Fatalf("sdktest: %v", err)
	}
	n, ok := raw.(notify.Notifier)
	if !ok {
		t.Fatalf("sdktest: dispensed %T, want a notify.Notifier", raw)
	}
	return n
}

// SampleNotification returns the notification the suite sends by default:
// every field set, a body of two lines, two links.
func SampleNotification() notify.Notification {
	return notify.Notification{
		Event:    notify.EventTest,
		Severity: notify.SeverityWarning,
		Title:    "sdktest: test notification",
		Body:     "Sent by the restic-manager plugin conformance suite.\nIt has two lines.",
		Host:     "sdktest-host",
		Job:      "job_sdktest",
		Links: []notify.Link{
			{Title: "Job", URL: "https://restic-manager.invalid/jobs/job_sdktest"},
			{Title: "Host", URL: "https://restic-manager.invalid/hosts/sdktest-host"},
		},
		Time: time.Date(2025, 6, 1, 12, 30, 45, 0, time.UTC),
	}
}

// fitsSchema reports whether the JSON object config could come from the
// host decoding a block against schema.
func fitsSchema(schema plugin.Schema, config string) error {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal([]byte(config), &obj); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	var errs []error
	for name, raw := range obj {
		a, ok := schema.Attribute(name)
		if !ok {
			errs = append(errs, fmt.Errorf("attribute %q is not in the schema", name))
			continue
		}
		if !fitsType(a.Type, raw) {
			errs = append(errs, fmt.Errorf("attribute %q is not a %s: %s", name, a.Type, raw))
		}
	}
	for _, a := range schema.Attributes {
		if _, ok := obj[a.Name]; a.Required && !ok {
			errs = append(errs, fmt.Errorf("required attribute %q is missing", a.Name))
		}
	}
	return errors.Join(errs...)
}

func fitsType(typ plugin.Type, raw json.RawMessage) bool {
	var err error
	switch typ {
	case plugin.TypeString:
		var v string
		err = json.Unmarshal(raw, &v)
	case plugin.TypeNumber:
		var v float64
		err = json.Unmarshal(raw, &v)
	case plugin.TypeBool:
		var v bool
		err = json.Unmarshal(raw, &v)
	case plugin.TypeListString:
		var v []string
		err = json.Unmarshal(raw, &v)
	case plugin.TypeMapString:
		var v map[string]string
		err = json.Unmarshal(raw, &v)
	default:
		return false
	}
	return err == nil && string(raw) != "null"
}
