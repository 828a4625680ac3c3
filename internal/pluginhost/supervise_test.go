package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/restic-manager/restic-manager/sdk/notify"
	"github.com/restic-manager/restic-manager/sdk/plugin"
)

// configured returns a configured handle on the testnotifier "tn" of h,
// with the files it writes.
func configured(t *testing.T, h *testHost, opts ...HandleOption) (n notify.Notifier, log, pidFile string) {
	t.Helper()
	ctx := ctxT(t)
	n, err := h.Notifier(ctx, "tn", opts...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	log, pidFile = filepath.Join(dir, "log"), filepath.Join(dir, "pid")
	if err := n.Configure(ctx, tnConfig(t, log, pidFile)); err != nil {
		t.Fatal(err)
	}
	return n, log, pidFile
}

func TestKillDashNineMidCall(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	n, log, pidFile := configured(t, h)
	ctx := ctxT(t)

	errc := make(chan error, 1)
	go func() { errc <- n.Notify(ctx, note("blocked", "block")) }()
	pid := waitPID(t, pidFile)
	kill9(t, pid)
	select {
	case err := <-errc:
		if !errors.Is(err, plugin.ErrUnavailable) {
			t.Fatalf("call in flight: %v; want plugin.ErrUnavailable", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the call in flight did not return after its plugin was killed")
	}
	if st := h.List()[0]; st.State != StateRestarting {
		t.Errorf("after the crash: %s, want restarting", st.State)
	}

	// The next call restarts the plugin, configured as before.
	if err := n.Notify(ctx, note("after restart", "")); err != nil {
		t.Fatalf("call after the crash: %v", err)
	}
	if got := lines(t, log); len(got) != 1 || got[0] != "after restart" {
		t.Fatalf("log %q", got)
	}
	if newPID := waitPID(t, pidFile); newPID == pid {
		t.Fatalf("still pid %d: not restarted", pid)
	}
	st := h.List()[0]
	if st.State != StateRunning || st.Restarts != 1 || !strings.Contains(st.LastError, "crashed during the call") {
		t.Errorf("status %+v; want running after 1 restart, with the crash as last error", st)
	}
	for _, want := range []string{"plugin crashed; it restarts on its next call", "restarting plugin"} {
		if !strings.Contains(h.log.String(), want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestHungCallIsKilledAndRestarted(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"), func(o *Options) { o.CallTimeout = 2 * time.Second })
	n, log, pidFile := configured(t, h)
	ctx := ctxT(t)

	start := time.Now()
	err := n.Notify(ctx, note("hung", "hang"))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "did not answer within 2s") {
		t.Fatalf("hung call: %v; want a deadline error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the hung call took %s", d)
	}
	pid := waitPID(t, pidFile)
	waitGone(t, pid)
	if err := n.Notify(ctx, note("next", "")); err != nil {
		t.Fatalf("call after the hang: %v", err)
	}
	if got := lines(t, log); len(got) != 1 || got[0] != "next" {
		t.Fatalf("log %q", got)
	}
}

func TestCallerCancelKeepsAHealthyPlugin(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	n, _, pidFile := configured(t, h)
	ctx, cancel := context.WithTimeout(ctxT(t), 300*time.Millisecond)
	defer cancel()
	if err := n.Notify(ctx, note("blocked", "block")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Notify: %v", err)
	}
	pid := waitPID(t, pidFile)
	time.Sleep(200 * time.Millisecond) // the probe's time
	if err := n.Notify(ctxT(t), note("next", "")); err != nil {
		t.Fatal(err)
	}
	if again := waitPID(t, pidFile); again != pid {
		t.Fatalf("pid %d became %d: a healthy plugin was restarted", pid, again)
	}
	if st := h.List()[0]; st.Restarts != 0 {
		t.Fatalf("restarts %d", st.Restarts)
	}
}

func TestRestartsAreCapped(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"), func(o *Options) { o.MaxRestarts = 2 })
	n, log, _ := configured(t, h)
	ctx := ctxT(t)
	for i := range 3 {
		err := n.Notify(ctx, note("crash", "exit"))
		if !errors.Is(err, plugin.ErrUnavailable) {
			t.Fatalf("crash %d: %v; want ErrUnavailable", i+1, err)
		}
	}
	st := h.List()[0]
	if st.State != StateFailed || st.Restarts != 2 || !strings.Contains(st.LastError, "crashed 3 times") {
		t.Fatalf("status %+v; want failed after 2 restarts", st)
	}
	err := n.Notify(ctx, note("refused", ""))
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "crashed during the call") {
		t.Fatalf("call to a failed plugin: %v; want ErrFailed naming the cause", err)
	}
	if !strings.Contains(h.log.String(), "too many crashes") {
		t.Error("the failure is not logged")
	}

	if err := h.Reset("tn"); err != nil {
		t.Fatal(err)
	}
	if err := n.Notify(ctx, note("after reset", "")); err != nil {
		t.Fatalf("call after Reset: %v", err)
	}
	if got := lines(t, log); len(got) != 1 || got[0] != "after reset" {
		t.Fatalf("log %q", got)
	}
}

func TestPanicInPluginIsACrash(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	n, _, _ := configured(t, h)
	ctx := ctxT(t)
	if err := n.Notify(ctx, note("boom", "panic")); !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("Notify: %v", err)
	}
	if err := n.Notify(ctx, note("fine", "")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.log.String(), "asked to panic") {
		t.Error("the plugin's panic is not in the log")
	}
}

func TestConcurrentCallsAcrossACrash(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	ctx := ctxT(t)
	n, err := h.Notifier(ctx, "tn")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	calls, pidFile := filepath.Join(dir, "calls"), filepath.Join(dir, "pid")
	cfg, _ := json.Marshal(map[string]string{"log": filepath.Join(dir, "log"), "pid_file": pidFile, "calls_file": calls})
	if err := n.Configure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- n.Notify(ctx, note("blocked", "block"))
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for b, _ := os.ReadFile(calls); strings.Count(string(b), "\n") < 10; b, _ = os.ReadFile(calls) {
		if time.Now().After(deadline) {
			t.Fatalf("only %d calls arrived", strings.Count(string(b), "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	kill9(t, waitPID(t, pidFile))
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, plugin.ErrUnavailable) {
			t.Errorf("call: %v", err)
		}
	}
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Notify(ctx, note("ok", "")); err != nil {
				t.Errorf("after restart: %v", err)
			}
		}()
	}
	wg.Wait()
	if st := h.List()[0]; st.Restarts != 1 {
		t.Errorf("restarts %d, want one restart for one crash", st.Restarts)
	}
}

func TestStderrIsReloggedUnderPluginName(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	configured(t, h)
	// testnotifier logs "configured" with the SDK's logger on stderr.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(h.log.String(), "test.plugin.tn: configured") {
		if time.Now().After(deadline) {
			t.Fatalf("no \"test.plugin.tn: configured\" line in:\n%s", h.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInstancesKeepTheirOwnConfiguration(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	a, logA, _ := configured(t, h, Instance("a"))
	b, logB, _ := configured(t, h, Instance("b"))
	ctx := ctxT(t)
	if err := a.Notify(ctx, note("to a", "")); err != nil {
		t.Fatal(err)
	}
	if err := b.Notify(ctx, note("to b", "")); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, logA); len(got) != 1 || got[0] != "to a" {
		t.Errorf("a got %q", got)
	}
	if got := lines(t, logB); len(got) != 1 || got[0] != "to b" {
		t.Errorf("b got %q", got)
	}
	st := h.List()[0]
	if len(st.Instances) != 2 || st.Instances[0].Instance != "a" || st.Instances[0].PID == st.Instances[1].PID {
		t.Errorf("instances %+v", st.Instances)
	}
}

func TestIdlePluginsStopAndComeBack(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"), func(o *Options) { o.IdleTimeout = 200 * time.Millisecond })
	n, log, _ := configured(t, h)
	deadline := time.Now().Add(10 * time.Second)
	for h.List()[0].State != StateStopped {
		if time.Now().After(deadline) {
			t.Fatalf("idle plugin still %s", h.List()[0].State)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := n.Notify(ctxT(t), note("woken", "")); err != nil {
		t.Fatal(err)
	}
	if got := lines(t, log); len(got) != 1 || got[0] != "woken" {
		t.Fatalf("log %q", got)
	}
	if st := h.List()[0]; st.Restarts != 0 || st.LastError != "" {
		t.Errorf("an idle stop counted as a crash: %+v", st)
	}
}

func TestClosedHostRefusesCalls(t *testing.T) {
	t.Parallel()
	h := newTestHost(t, testNotifier(t, "tn"))
	n, _, pidFile := configured(t, h)
	if err := n.Notify(ctxT(t), note("one", "")); err != nil {
		t.Fatal(err)
	}
	pid := waitPID(t, pidFile)
	h.Close()
	waitGone(t, pid)
	if err := n.Notify(ctxT(t), note("two", "")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
	if _, err := h.Notifier(ctxT(t), "tn"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Notifier after Close: %v", err)
	}
}
