package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/restic-manager/restic-manager/plugins/backend-restic/internal/restictest"
	sdk "github.com/restic-manager/restic-manager/sdk/backend"
	"github.com/restic-manager/restic-manager/sdk/plugin"
	"github.com/restic-manager/restic-manager/sdk/sdktest"
)

// TestPluginBinary builds this plugin and runs it as the agent does: a
// subprocess pinned by SHA-256, over go-plugin's AutoMTLS, with a minimal
// environment. It backs up and lists snapshots through it, and watches
// every process on the machine meanwhile: the repository password is in
// neither the plugin's nor restic's argv, nor the plugin's environment,
// nor any event, result or log line.
func TestPluginBinary(t *testing.T) {
	t.Parallel()
	bin := sdktest.BuildPlugin(t, ".")
	resticBin := restictest.Binary(t)
	logs := &syncBuffer{}
	b := start(t, bin, logs)
	ctx := context.Background()

	info, err := b.Info(ctx)
	if err != nil || info.Name != "backend-restic" || info.Kind != plugin.KindBackend || info.APIVersion != sdk.APIVersion {
		t.Fatalf("Info = %+v, %v", info, err)
	}
	cfg, _ := json.Marshal(map[string]any{"restic_binary": resticBin, "progress_fps": 20})
	if err := b.Configure(ctx, cfg); err != nil {
		t.Fatalf("configure: %v", err)
	}

	password := restictest.Password(t)
	repo := sdk.Repository{URL: filepath.Join(t.TempDir(), "repo"), Password: password}
	var texts bytes.Buffer // everything the host received
	runJob := func(kind sdk.JobKind, args sdk.Args) sdk.Result {
		t.Helper()
		var seq uint64
		res, err := b.Run(ctx, sdk.Job{ID: "sub-" + string(kind), Kind: kind, Repository: repo, Args: args}, func(ev sdk.Event) error {
			if seq++; ev.Seq != seq {
				t.Errorf("%s: event %d has seq %d", kind, seq, ev.Seq)
			}
			js, _ := json.Marshal(ev)
			texts.Write(js)
			return nil
		})
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		texts.Write(res.Output)
		return res
	}
	runJob(sdk.JobInit, sdk.Args{})

	data := filepath.Join(t.TempDir(), "data")
	restictest.WriteFile(t, filepath.Join(data, "small.txt"), []byte("hello\n"))
	restictest.WriteRandomFile(t, filepath.Join(data, "big.bin"), 48<<20) // restic runs for a while

	watch := watchProcs(t, password, bin, data)
	res := runJob(sdk.JobBackup, sdk.Args{Paths: []string{data}})
	seen := watch()
	snapshotID := res.SnapshotID
	if len(snapshotID) != 64 {
		t.Fatalf("backup: result %+v", res)
	}
	if runtime.GOOS == "linux" {
		t.Logf("process watch: restic seen in %d scans, the plugin in %d", seen.restic, seen.plugin)
		if seen.restic == 0 || seen.plugin == 0 {
			t.Errorf("the process watch saw restic %d and the plugin %d times; want both", seen.restic, seen.plugin)
		}
		if !seen.resticEnv {
			t.Error("restic's environment never showed the password: the watch cannot see what it looks for")
		}
		for _, leak := range seen.leaks {
			t.Errorf("the password is visible in %s", leak)
		}
	}

	res = runJob(sdk.JobSnapshots, sdk.Args{})
	var snaps []struct{ ID string }
	if err := json.Unmarshal(res.Output, &snaps); err != nil || len(snaps) != 1 || snaps[0].ID != snapshotID {
		t.Fatalf("snapshots output %s (%v), want snapshot %s", res.Output, err, snapshotID)
	}

	if strings.Contains(texts.String(), password) {
		t.Error("the password is in an event or a result")
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the password is in the plugin's log")
	}
	if !strings.Contains(logs.String(), "configured") {
		t.Errorf("the plugin's log did not reach the host: %q", logs.String())
	}
}

// start starts the plugin binary the way the agent does and returns the
// Backend it serves. The plugin's log lines go to logs and to t.
func start(t *testing.T, bin string, logs io.Writer) sdk.Backend {
	t.Helper()
	content, err := os.ReadFile(bin) //nolint:gosec // G304: the plugin just built
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(content)
	cfg, err := plugin.NewClientConfig(plugin.ClientOptions{
		Path:    bin,
		SHA256:  sum[:],
		Plugins: goplugin.PluginSet{sdk.PluginName: &sdk.GRPCPlugin{}},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "plugin", Level: hclog.Debug, Output: io.MultiWriter(logs, newTestWriter(t)),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	client := goplugin.NewClient(cfg)
	t.Cleanup(client.Kill)
	rpc, err := client.Client()
	if err != nil {
		t.Fatalf("start plugin: %v", err)
	}
	raw, err := rpc.Dispense(sdk.PluginName)
	if err != nil {
		t.Fatalf("dispense: %v", err)
	}
	b, ok := raw.(sdk.Backend)
	if !ok {
		t.Fatalf("dispensed %T, want a Backend", raw)
	}
	return b
}

// procSightings is what watchProcs saw.
type procSightings struct {
	restic, plugin int      // scans that found a restic and a backend-restic process
	resticEnv      bool     // restic's environment held the password, as it should
	leaks          []string // where the password showed
}

// watchProcs scans every process every few milliseconds until the
// returned function is called. The plugin (pluginBin) and restic backing
// up backupPath are counted; any argv holding secret is a leak, as is the
// plugin's environment holding it (restic's environment carries it by
// design). Linux only.
func watchProcs(t *testing.T, secret, pluginBin, backupPath string) func() procSightings {
	t.Helper()
	var (
		mu   sync.Mutex
		seen procSightings
		stop = make(chan struct{})
		done = make(chan struct{})
	)
	if runtime.GOOS != "linux" {
		return func() procSightings { return seen }
	}
	leaked := map[string]bool{}
	go func() {
		defer close(done)
		for {
			procs, err := restictest.Procs()
			if err != nil {
				mu.Lock()
				seen.leaks = append(seen.leaks, "(cannot scan: "+err.Error()+")")
				mu.Unlock()
				return
			}
			mu.Lock()
			foundRestic, foundPlugin := false, false
			for _, p := range procs {
				name := filepath.Base(p.Argv[0])
				isPlugin := p.Argv[0] == pluginBin
				foundPlugin = foundPlugin || isPlugin
				isRestic := name == "restic" && slices.Contains(p.Argv, backupPath)
				foundRestic = foundRestic || isRestic
				seen.resticEnv = seen.resticEnv || (isRestic && p.Mentions(secret))
				where := ""
				switch {
				case strings.Contains(strings.Join(p.Argv, " "), secret):
					where = "the argv of " + name
				case isPlugin && p.Mentions(secret):
					where = "the plugin's environment"
				}
				if where != "" && !leaked[where] {
					leaked[where] = true
					seen.leaks = append(seen.leaks, where)
				}
			}
			if foundRestic {
				seen.restic++
			}
			if foundPlugin {
				seen.plugin++
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() procSightings {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// syncBuffer is a bytes.Buffer safe for the plugin's log writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// newTestWriter writes to t's log until the test ends.
func newTestWriter(t *testing.T) io.Writer {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
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
