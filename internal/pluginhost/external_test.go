package pluginhost

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// notifyLog installs the SDK's example plugin as external "notify-log".
func notifyLog(t *testing.T) func(dir string) []External {
	return func(dir string) []External {
		sum := install(t, "notify-log", dir, "notify-log")
		return []External{{Name: "notify-log", Command: "notify-log", SHA256: sum}}
	}
}

func TestExternalNotifyLog(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, notifyLog(t))
	st := h.List()
	if len(st) != 1 || st[0].State != StateStopped || st[0].PluginVersion != "" || len(st[0].Instances) != 0 {
		t.Fatalf("before first use: %+v; want one stopped plugin that never ran", st)
	}

	ctx := ctxT(t)
	n, err := h.Notifier(ctx, "notify-log")
	if err != nil {
		t.Fatal(err)
	}
	schema, err := n.ConfigSchema(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := schema.Attribute("path"); !ok {
		t.Fatalf("schema %+v has no path", schema)
	}
	out := filepath.Join(t.TempDir(), "notes.jsonl")
	if err := n.Configure(ctx, []byte(`{"path":"relative"}`)); !errors.Is(err, plugin.ErrInvalidConfig) || !strings.Contains(err.Error(), "not absolute") {
		t.Fatalf("Configure with a relative path: %v; want the plugin's ErrInvalidConfig", err)
	}
	cfg, _ := json.Marshal(map[string]string{"path": out})
	if err := n.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, note("first", "")); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, out); len(got) != 1 || !strings.Contains(got[0], `"title":"first"`) {
		t.Fatalf("notify-log wrote %q", got)
	}

	st = h.List()
	want := Status{
		Name: "notify-log", Kind: plugin.KindNotify, Source: SourceExternal,
		Path: filepath.Join(h.dir, "notify-log"), APIVersion: "1.0.0", PluginVersion: "0.1.0", State: StateRunning,
	}
	got := st[0]
	if got.Name != want.Name || got.Kind != want.Kind || got.Source != want.Source || got.APIVersion != want.APIVersion ||
		got.PluginVersion != want.PluginVersion || got.State != want.State || got.Restarts != 0 || got.LastError != "" {
		t.Errorf("List = %+v\nwant %+v", got, want)
	}
	if resolved, _ := filepath.EvalSymlinks(want.Path); got.Path != resolved {
		t.Errorf("path %q, want %q", got.Path, resolved)
	}
	if len(got.SHA256) != 64 || len(got.Instances) != 1 || got.Instances[0].PID == 0 {
		t.Errorf("sha256 %q, instances %+v", got.SHA256, got.Instances)
	}
}

func TestChecksumMismatchRefusesToStart(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, func(dir string) []External {
		install(t, "notify-log", dir, "notify-log")
		return []External{{Name: "notify-log", Command: "notify-log", SHA256: strings.Repeat("ab", 32)}}
	})
	_, err := h.Notifier(ctxT(t), "notify-log")
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("Notifier: %v; want ErrChecksum", err)
	}
	st := h.List()[0]
	if st.State != StateFailed || !strings.Contains(st.LastError, "pinned sha256") {
		t.Fatalf("status %+v; want failed with the checksum named", st)
	}
	// A failed plugin is not started again.
	if _, err := h.Notifier(ctxT(t), "notify-log"); !errors.Is(err, ErrFailed) || !errors.Is(err, ErrChecksum) {
		t.Fatalf("second Notifier: %v; want ErrFailed naming the checksum", err)
	}
}

func TestBinarySwappedAfterRegistrationNeverRuns(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		// swap replaces the binary at path with other and leaves the
		// host to start it again.
		swap func(t *testing.T, h *testHost, path string, other []byte)
	}{
		"rewritten while stopped": {swap: func(t *testing.T, h *testHost, path string, other []byte) {
			h.StopIdle()
			if err := os.WriteFile(path, other, 0o755); err != nil {
				t.Fatal(err)
			}
		}},
		"renamed over while running, then crashed": {swap: func(t *testing.T, h *testHost, path string, other []byte) {
			tmp := path + ".new"
			if err := os.WriteFile(tmp, other, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			pid := h.List()[0].Instances[0].PID
			kill9(t, pid)
		}},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			h := newTestHost(t, notifyLog(t))
			n, err := h.Notifier(ctx, "notify-log")
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "notes.jsonl")
			cfg, _ := json.Marshal(map[string]string{"path": out})
			if err := n.Configure(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			// The replacement is a plugin that would happily serve.
			other, err := os.ReadFile(program(t, "testnotifier"))
			if err != nil {
				t.Fatal(err)
			}
			tt.swap(t, h, filepath.Join(h.dir, "notify-log"), other)

			var notifyErr error
			for range 3 { // a crash may need a call to be noticed
				if notifyErr = n.Notify(ctx, note("after swap", "")); errors.Is(notifyErr, ErrChecksum) {
					break
				}
			}
			if !errors.Is(notifyErr, ErrChecksum) {
				t.Fatalf("Notify after the swap: %v; want ErrChecksum", notifyErr)
			}
			if _, statErr := os.Stat(out); !os.IsNotExist(statErr) {
				t.Fatalf("something was delivered after the swap: %v", statErr)
			}
			if st := h.List()[0]; st.State != StateFailed {
				t.Fatalf("state %s, want failed", st.State)
			}
			if !strings.Contains(h.log.String(), "pinned sha256") {
				t.Errorf("the refusal is not logged:\n%s", h.log.String())
			}
		})
	}
}

func TestCommandOutsidePluginDirIsRefused(t *testing.T) {
	t.Parallel()
	tests := map[string]func(t *testing.T, dir string) External{
		"absolute": func(t *testing.T, _ string) External {
			return External{Name: "p", Command: program(t, "notify-log"), SHA256: strings.Repeat("0", 64)}
		},
		"dot dot": func(t *testing.T, dir string) External {
			sum := install(t, "notify-log", filepath.Dir(dir), filepath.Base(dir)+"-x")
			return External{Name: "p", Command: "../" + filepath.Base(dir) + "-x", SHA256: sum}
		},
		"dot dot inside": func(t *testing.T, dir string) External {
			sum := install(t, "notify-log", dir, "p")
			return External{Name: "p", Command: "sub/../p", SHA256: sum}
		},
		"symlink out": func(t *testing.T, dir string) External {
			outside := t.TempDir()
			sum := install(t, "notify-log", outside, "p")
			if err := os.Symlink(filepath.Join(outside, "p"), filepath.Join(dir, "p")); err != nil {
				t.Fatal(err)
			}
			return External{Name: "p", Command: "p", SHA256: sum}
		},
		"directory": func(t *testing.T, dir string) External {
			if err := os.Mkdir(filepath.Join(dir, "p"), 0o755); err != nil {
				t.Fatal(err)
			}
			return External{Name: "p", Command: "p", SHA256: strings.Repeat("0", 64)}
		},
	}
	for name, setup := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "plugins")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			_, err := New(Options{PluginDir: dir, Externals: []External{setup(t, dir)}})
			var pe *PluginError
			if !errors.As(err, &pe) || pe.Name != "p" {
				t.Fatalf("New: %v; want a *PluginError for p", err)
			}
			if name != "directory" && !errors.Is(err, ErrOutsideDir) {
				t.Fatalf("New: %v; want ErrOutsideDir", err)
			}
		})
	}
}

func TestSymlinkRepointedOutsideAfterRegistration(t *testing.T) {
	t.Parallel()
	outside := t.TempDir()
	h := newTestHost(t, func(dir string) []External {
		sum := install(t, "notify-log", dir, "resolved/notify-log")
		install(t, "notify-log", outside, "notify-log")
		if err := os.Symlink("resolved/notify-log", filepath.Join(dir, "link")); err != nil {
			t.Fatal(err)
		}
		return []External{{Name: "notify-log", Command: "link", SHA256: sum}}
	})
	link := filepath.Join(h.dir, "link")
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "notify-log"), link); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Notifier(ctxT(t), "notify-log"); !errors.Is(err, ErrOutsideDir) {
		t.Fatalf("Notifier through a re-pointed symlink: %v; want ErrOutsideDir", err)
	}
}

func TestGarbageOnStdoutFailsTheStartOnly(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, plugins(testNotifier(t, "garbage", "garbage"), notifyLog(t)))
	ctx := ctxT(t)
	_, err := h.Notifier(ctx, "garbage")
	if err == nil || !strings.Contains(err.Error(), "hello from a plugin") {
		t.Fatalf("Notifier of a plugin that writes to stdout: %v; want a handshake error", err)
	}
	if st := h.List()[0]; st.Name != "garbage" || st.State != StateRestarting || st.LastError == "" {
		t.Errorf("status %+v; want restarting with the error", st)
	}
	// The host carries on.
	n, err := h.Notifier(ctx, "notify-log")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Info(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestKindMismatch(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "bk", "backend"), func(o *Options) {
		o.Builtins = []Builtin{{Name: "builtin-backend", Kind: plugin.KindBackend, Serve: func() {}}}
	})
	ctx := ctxT(t)
	_, err := h.Notifier(ctx, "bk")
	if !errors.Is(err, ErrWrongKind) || !strings.Contains(err.Error(), `"bk" is a backend plugin, not a notify plugin`) {
		t.Fatalf("Notifier of a backend: %v", err)
	}
	if k, _ := h.Kind("bk"); k != plugin.KindBackend {
		t.Errorf("Kind = %q, want backend", k)
	}
	b, err := h.Backend(ctx, "bk")
	if err != nil {
		t.Fatalf("Backend: %v", err)
	}
	if info, err := b.Info(ctx); err != nil || info.Kind != plugin.KindBackend {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	// A built-in's kind is known without starting it.
	if _, err := h.Authenticator(ctx, "builtin-backend"); !errors.Is(err, ErrWrongKind) {
		t.Fatalf("Authenticator of a built-in backend: %v", err)
	}
}

func TestIncompatibleAPIVersion(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "future", "api2"))
	_, err := h.Notifier(ctxT(t), "future")
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), "2.0.0") {
		t.Fatalf("Notifier: %v; want ErrIncompatible naming 2.0.0", err)
	}
	if st := h.List()[0]; st.State != StateFailed {
		t.Errorf("state %s, want failed", st.State)
	}
}

func TestUnknownPlugin(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, func(string) []External { return nil })
	if _, err := h.Notifier(ctxT(t), "nope"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("Notifier: %v", err)
	}
	if err := h.Reset("nope"); !errors.Is(err, ErrUnknownPlugin) {
		t.Fatalf("Reset: %v", err)
	}
}

func TestNewRefusesBadRegistrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sum := install(t, "notify-log", dir, "notify-log")
	serve := func() {}
	tests := map[string]struct {
		opts Options
		want string
	}{
		"bad name":     {Options{PluginDir: dir, Externals: []External{{Name: "Notify_Log", Command: "notify-log", SHA256: sum}}}, "not lower-case"},
		"short sha":    {Options{PluginDir: dir, Externals: []External{{Name: "n", Command: "notify-log", SHA256: "abc"}}}, "64 hex digits"},
		"hex sha":      {Options{PluginDir: dir, Externals: []External{{Name: "n", Command: "notify-log", SHA256: strings.Repeat("zz", 32)}}}, "64 hex digits"},
		"missing file": {Options{PluginDir: dir, Externals: []External{{Name: "n", Command: "absent", SHA256: sum}}}, "no such file"},
		"no dir":       {Options{Externals: []External{{Name: "n", Command: "notify-log", SHA256: sum}}}, "plugin_dir is not set"},
		"twice": {Options{PluginDir: dir, Externals: []External{
			{Name: "n", Command: "notify-log", SHA256: sum}, {Name: "n", Command: "notify-log", SHA256: sum},
		}}, "registered twice"},
		"shadows built-in": {Options{
			PluginDir: dir, Builtins: []Builtin{{Name: "n", Kind: plugin.KindNotify, Serve: serve}},
			Externals: []External{{Name: "n", Command: "notify-log", SHA256: sum}},
		}, "built-in plugin has this name"},
		"built-in kind": {Options{Builtins: []Builtin{{Name: "b", Kind: "mail", Serve: serve}}}, `unknown kind "mail"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h, err := New(tt.opts)
			if err == nil {
				h.Close()
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v; want it to say %q", err, tt.want)
			}
		})
	}
}
